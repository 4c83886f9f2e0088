"""Documents the browser-test notebook seeds and uploads; the tests compute expectations here.

Deterministic (no randomness), so the notebook's kernel and the test process agree.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

FORMULAS = ["Fe2O3", "LiFePO4", "NaCl", "SiO2", "TiO2", "GaAs", "MgO", "ZnS", "CuO", "Al2O3",
            "BaTiO3", "LiCoO2", "CaF2"]
# energy_above_hull: a long header over short numbers; created: datetimes (19 characters)
FIELDS = ["formula", "nsites", "band_gap", "energy_above_hull", "is_stable", "created"]
SEARCHABLE = [*FIELDS, "energy_per_atom"]


def _elements(formula: str) -> list[str]:
    out, word = [], ""
    for char in formula:
        if char.isupper() and word:
            out.append(word)
            word = ""
        if char.isalpha():
            word += char
    return sorted({*out, word})


def make_doc(i: int, prefix: str = "mp") -> dict:
    formula = FORMULAS[i % len(FORMULAS)]
    nsites = 1 + (i * 7) % 24
    lattice = np.eye(3) * (3.5 + (i % 5) * 0.25)
    return {
        "task_id": f"{prefix}-{i:05d}",
        "formula": formula,
        "elements": _elements(formula),
        "nsites": nsites,
        "band_gap": round((i * 37 % 100) / 17.0, 3),
        "energy_per_atom": round(-3.0 - (i % 11) * 0.41, 4),
        "energy_above_hull": round((i % 7) * 0.013, 3),
        "is_stable": i % 4 == 0,
        "created": dt.datetime(2024, 1, 1) + dt.timedelta(hours=7 * i, minutes=41 * i % 60),
        "structure": {
            "lattice": lattice,
            "sites": [{"species": _elements(formula)[s % len(_elements(formula))],
                       "xyz": [round(s / nsites, 3), 0.25, 0.5]} for s in range(min(nsites, 4))],
        },
        "dos": np.round(np.sin(np.linspace(0, 12, 1500) + i) ** 2, 4),
        "history": [f"step {k}" for k in range(14)],
    }


def make_docs(n: int) -> list[dict]:
    return [make_doc(i) for i in range(n)]


def upload_docs(n: int) -> list[dict]:
    return [make_doc(i, prefix="new") for i in range(n)]
