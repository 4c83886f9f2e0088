"""DuckDBStore's fields(): distinct counts in SQL, the key's counted from the entries' own
unique keys only when the file shows they are the key's strings."""

from __future__ import annotations

from s3explore import DuckDBStore, MemoryStore
from s3explore._stores._duckdb._arrow import path_is_key

FAST = {"threads": 1}
DOCS = [{"task_id": f"mp-{i}", "formula": ["Si", "O2", "Fe"][i % 3], "n": i % 4,
         "lists": [i % 2, "x"], "sub": {"a": i % 5} if i % 2 else i} for i in range(30)]


def _distinct(store) -> dict:
    return store.fields().set_index("field")["distinct"].to_dict()


def test_distinct_counts_as_from_the_documents():
    duck = DuckDBStore("inv", duckdb_config=FAST)
    memory = MemoryStore("inv")
    for store in (duck, memory):
        store.connect()
        store.update(DOCS)
    assert _distinct(duck) == _distinct(memory)
    assert _distinct(duck)["task_id"] == 30
    assert path_is_key(duck, duck._catalog.get("task_id"), "task_id")
    assert not path_is_key(duck, duck._catalog.get("formula"), "task_id")


def test_keys_holding_nul_are_counted_one_by_one():
    duck = DuckDBStore("nul", duckdb_config=FAST)
    duck.connect()
    duck.update([{"task_id": f"a\x00{i}", "v": 1} for i in range(5)] + [{"task_id": "b"}])
    assert _distinct(duck)["task_id"] == 6
    assert not path_is_key(duck, duck._catalog.get("task_id"), "task_id")  # encoded apart


def test_a_file_opened_with_another_key(tmp_path):
    """The index was built by task_id; opened by formula, formula's strings are not the
    entries' keys, so they are counted, not assumed distinct."""
    path = str(tmp_path / "index.duckdb")
    with DuckDBStore("inv", path=path, duckdb_config=FAST) as built:
        built.update(DOCS)
    with DuckDBStore("inv", path=path, key="formula", duckdb_config=FAST) as other:
        distinct = _distinct(other)
        assert not path_is_key(other, other._catalog.get("formula"), "formula")
    assert (distinct["formula"], distinct["task_id"]) == (3, 30)
