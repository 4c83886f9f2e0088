"""fields(): the inventory of an index's dotted paths."""

from __future__ import annotations

import math

import pytest

from s3explore import ConfigurationError, MemoryStore
from tests.frames.conftest import _names

# ---------------------------------------------------------------- fields()


def test_fields_inventory(memory):
    memory.update([{"task_id": "n1", "nsites": 3.5, "when": None}])
    inv = memory.fields().set_index("field")
    assert inv.index[0] == "task_id"
    assert inv.loc["nsites", "types"] == "float, int"
    assert inv.loc["magmom", "count"] == 3
    assert math.isclose(inv.loc["magmom", "fraction"], 3 / 7)
    assert inv.loc["formula", "distinct"] == 3
    assert inv.loc["elements", "types"] == "list[str]"
    assert inv.loc["elements", "distinct"] == 2
    assert inv.loc["when", "types"] == "datetime, null"
    assert inv.loc["calc.kpoints.density", "example"] in {1000 * i for i in range(1, 7)}
    assert inv.attrs["sampled"] == 7


def test_fields_samples_at_most_sample_documents(index):
    inv = index.fields(sample=4)
    if getattr(index, "_inventory", lambda: None)() is not None:
        # an engine that computes the inventory itself counts everything, and says so
        assert inv.attrs["complete"] and inv.attrs["sampled"] == index.count() > 4
        return
    assert inv.attrs["sampled"] == 4
    assert (inv["count"] <= 4).all()
    assert inv.set_index("field").loc["task_id", "count"] == 4


def test_fields_of_an_s3store_lists_index_fields_only(store):
    store.update([{"task_id": "a", "formula": "Si", "nsites": 2, "secret_body": 1}])
    assert store.fields()["field"].tolist() == ["task_id", "formula", "nsites"]


def test_fields_of_an_empty_index():
    empty = MemoryStore(f"empty-{next(_names)}")
    empty.connect()
    inv = empty.fields()
    assert list(inv.columns) == ["field", "types", "count", "fraction", "distinct", "example"]
    assert len(inv) == 0
    assert len(empty.query_df()) == 0


@pytest.mark.parametrize("sample", [0, -1, 2.5, True, "10"])
def test_fields_rejects_bad_sample(memory, sample):
    with pytest.raises(ConfigurationError, match="sample"):
        memory.fields(sample=sample)


