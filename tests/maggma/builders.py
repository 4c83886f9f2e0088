"""maggma Builders used by the interop tests (importable by mrun's processes)."""

from __future__ import annotations

import numpy as np
from maggma.builders import GroupBuilder, MapBuilder


class DosSummary(MapBuilder):
    """One summary per material: numpy arrays in, plain numbers out."""

    def unary_function(self, item: dict) -> dict:
        if item.get("fail"):
            raise ValueError(f"told to fail on {item['task_id']}")
        densities = item["dos"]["densities"]
        assert isinstance(densities, np.ndarray), type(densities)
        return {"formula": item["formula"], "dos_max": float(densities.max()),
                "lattice_a": float(item["structure"]["lattice"][0][0]),
                "notes": item.get("notes", "")}


class ByElementCount(GroupBuilder):
    """One document per number of elements, listing the formulas."""

    def unary_function(self, items: list[dict]) -> dict:
        return {"nelements": items[0]["nelements"],
                "formulas": sorted(d["formula"] for d in items)}
