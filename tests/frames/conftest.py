"""Shared documents and stores for the DataFrame layer's tests."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

from s3explore import MemoryStore, Store
from tests.backends import FRAME_BACKENDS, drop_index, make_index

_names = itertools.count()


def _docs(n: int = 6) -> list[dict]:
    """Documents with the shapes an index holds: nested, sparse, lists, datetimes."""
    return [
        {
            "task_id": f"mp-{i}",
            "formula": ["Si", "GaAs", "NaCl"][i % 3],
            "nsites": i + 1,
            "band_gap": 0.5 * i,
            "is_metal": i % 2 == 0,
            "calc": {"encut": 520 + i, "kpoints": {"density": 1000 * (i + 1)}},
            "elements": ["Si"] if i % 3 == 0 else ["Ga", "As"],
            "when": dt.datetime(2024, 1, 1 + i, 12, 30),
            **({"magmom": i} if i % 2 else {}),  # an integer with gaps
            **({"spin": i > 2} if i % 3 else {}),  # a boolean with gaps
        }
        for i in range(n)
    ]


@contextmanager
def filled_index(backend: str, prefix: str, tmp_path, docs: list[dict]) -> Iterator[Store]:
    """An index store of ``backend`` holding ``docs``, dropped afterwards."""
    store = make_index(backend, f"{prefix}-{next(_names)}", tmp_path)
    store.connect()
    store.update(docs)
    try:
        yield store
    finally:
        drop_index(backend, store)


@pytest.fixture(params=FRAME_BACKENDS)
def index(request, tmp_path) -> Store:
    with filled_index(request.param, "frames", tmp_path, _docs()) as store:
        yield store


@pytest.fixture
def memory() -> MemoryStore:
    store = MemoryStore(f"frames-{next(_names)}")
    store.connect()
    store.update(_docs())
    return store


def _s3_docs(n: int = 8) -> list[dict]:
    return [
        {
            "task_id": f"obj-{i}",
            "formula": "Si",
            "nsites": i,
            "dos": {"energies": np.linspace(0, 1, i + 2)},
            "output": {"energy": -1.5 * i, "forces": [[0.0, 0.1 * i]]},
            **({"rare": i} if i == 3 else {}),
        }
        for i in range(n)
    ]


def _batchy_docs() -> list[dict]:
    """10 documents whose types only settle across batches of 3."""
    docs = []
    for i in range(10):
        doc = {"task_id": f"b{i:02d}", "n": i}
        if i >= 4:
            doc["late"] = i  # null-only in the first batch
        doc["x"] = i if i < 3 else i + 0.5  # int in batch 1, float later
        if i == 7:
            doc["nested"] = {"deep": "yes"}  # a column that appears in one batch only
        docs.append(doc)
    return docs
