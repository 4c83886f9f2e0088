"""Materials Project-like documents, built with pymatgen and emmet when installed."""

from __future__ import annotations

import datetime as dt
import functools

import numpy as np
import pytest

pytest.importorskip("pymatgen.core")
pytest.importorskip("emmet.core")

from emmet.core.vasp.calc_types import RunType, TaskType
from pymatgen.core import Lattice, Structure
from pymatgen.electronic_structure.core import Spin
from pymatgen.electronic_structure.dos import Dos


def fe2o3_like() -> Structure:
    """A small magnetic structure with site properties (magmom)."""
    lattice = Lattice.from_parameters(5.0, 5.1, 5.4, 90, 95, 120)
    return Structure(lattice, ["Fe", "Fe", "O", "O", "O"],
                     [[0, 0, 0], [0.5, 0.5, 0.5], [0.25, 0, 0.1], [0, 0.25, 0.6],
                      [0.75, 0.75, 0.3]],
                     site_properties={"magmom": [4.1, -4.1, 0.0, 0.1, 0.0]})


@functools.cache
def _nacl() -> Structure:
    # from_spacegroup builds the group's 192 operations and compares them pairwise: 0.3 s
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"],
                                     [[0, 0, 0], [0.5, 0.5, 0.5]])


def nacl() -> Structure:
    """A fresh copy each call, so no test sees another's changes."""
    return _nacl().copy()


def dos() -> Dos:
    energies = np.linspace(-5, 5, 50)
    return Dos(0.0, energies, {Spin.up: np.abs(np.sin(energies)),
                               Spin.down: np.abs(np.cos(energies))})


def task_doc(task_id: str = "mp-1", structure: Structure | None = None) -> dict:
    """The fields a user stores: objects as their as_dict, enums as objects."""
    return {
        "task_id": task_id,
        "formula": "Fe2O3",
        "structure": (structure or fe2o3_like()).as_dict(),
        "dos": dos().as_dict(),
        "task_type": TaskType.Static,
        "run_type": RunType.GGA,
        "energies": np.linspace(0, 1, 5),
        "completed_at": dt.datetime(2024, 5, 1, 12, 0),
    }


__all__ = ["RunType", "Spin", "Structure", "TaskType", "dos", "fe2o3_like", "nacl",
           "task_doc"]
