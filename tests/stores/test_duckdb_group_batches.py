"""DuckDBStore.groupby reads members in Arrow batches and builds them column by column: the
same groups as row by row, whatever the batch size (groups spanning batches, batches holding
several groups), with every value's Python type kept, whether each group is read by a query of
its own (a few groups) or all of them by one joined query (many)."""

from __future__ import annotations

import datetime as dt

import pytest

from s3explore import DuckDBStore, MemoryStore
from s3explore._stores._duckdb import _group
from tests.stores import test_duckdb_oracle as oracle_tests

FAST = {"threads": 1}


def _docs() -> list[dict]:
    docs = []
    for i in range(40):
        doc = {"task_id": f"t{i:02d}", "system": ["cubic", "hexagonal", "triclinic"][i % 3],
               "n": i if i % 4 else float(i) + 0.5, "flag": i % 5 == 0,
               "when": dt.datetime(2024, 1, 1) + dt.timedelta(hours=i),
               "sym": {"number": i % 7, "name": f"s{i % 2}"}}
        if i % 6 == 0:
            del doc["n"]  # a field some members lack
        if i % 9 == 0:
            doc["sym"] = None  # null where others hold a dict
        if i % 11 == 0:
            doc["flag"] = None
        docs.append(doc)
    return docs


@pytest.fixture(scope="module")
def stores():
    duck = DuckDBStore("groups", duckdb_config=FAST)
    memory = MemoryStore("groups")
    for store in (duck, memory):
        store.connect()
        store.update(_docs())
    return duck, memory


def _typed(groups) -> list:
    # repr: 1 and 1.0 (and True and 1) compare equal, their types must not change
    return [(repr(key), [repr(sorted(doc.items())) for doc in docs]) for key, docs in groups]


PROPERTIES = [["task_id"], ["n"], ["sym.number", "flag"],
              ["when", "sym.name", "n", "flag", "_id"], ["sym", "n"], None]
KEYS = [["system"], ["flag"], ["sym.name", "system"]]
# MongoDB (and the MemoryStore oracle) refuse a projection of sym beside a key on sym.name
CASES = [(p, k) for p in PROPERTIES for k in KEYS
         if not (p and "sym" in p and "sym.name" in k)]


# FEW_GROUPS: 0 reads every grouping through the joined query, 16 each group by its own
@pytest.mark.parametrize("few", [0, 16])
@pytest.mark.parametrize("batch", [1, 2, 7, 1000])
@pytest.mark.parametrize(("properties", "keys"), CASES)
def test_groups_alike_at_any_batch_size(stores, monkeypatch, batch, properties, keys, few):
    duck, memory = stores
    monkeypatch.setattr(_group, "FETCH_ARROW", batch)
    monkeypatch.setattr(_group, "FEW_GROUPS", few)
    sort = {"n": -1, "task_id": 1}
    got = list(duck.groupby(keys, {"task_id": {"$ne": "t03"}}, properties, sort))
    expected = list(memory.groupby(keys, {"task_id": {"$ne": "t03"}}, properties, sort))
    if properties is not None and "_id" in properties:  # numbers of the engine's own
        got = [(k, [{f: v for f, v in d.items() if f != "_id"} for d in docs])
               for k, docs in got]
        expected = [(k, [{f: v for f, v in d.items() if f != "_id"} for d in docs])
                    for k, docs in expected]
    assert _typed(got) == _typed(expected)
    assert sum(len(docs) for _, docs in got) > 0


@pytest.mark.parametrize("few", [0, 16])
@pytest.mark.parametrize("batch", [1, 3])
def test_skip_and_limit_count_groups_across_batches(stores, monkeypatch, batch, few):
    duck, memory = stores
    monkeypatch.setattr(_group, "FETCH_ARROW", batch)
    monkeypatch.setattr(_group, "FEW_GROUPS", few)
    for skip, limit in [(0, 1), (1, 1), (1, 5), (2, 0), (3, 2)]:
        got = list(duck.groupby("system", properties=["n"], skip=skip, limit=limit))
        expected = list(memory.groupby("system", properties=["n"], skip=skip, limit=limit))
        assert _typed(got) == _typed(expected), (skip, limit)


def test_members_are_separate_dicts(stores, monkeypatch):
    """Values shared between members (one key string for a whole batch) are immutable; the
    dicts holding them are each member's own (batches of 4: most hold a dict in every row,
    and are built column by column)."""
    duck, _ = stores
    monkeypatch.setattr(_group, "FETCH_ARROW", 4)
    (_, docs), *_ = duck.groupby("system", properties=["sym.name"])
    docs = [d for d in docs if "sym" in d]
    docs[0]["sym"]["name"] = "changed"
    assert len(docs) > 5 and all(d["sym"]["name"] != "changed" for d in docs[1:])


@pytest.mark.slow
@pytest.mark.parametrize("few", [0, 16])
def test_oracle_groups_with_tiny_batches(monkeypatch, few):
    """The oracle's random groupings, every member in a batch of its own or a pair."""
    monkeypatch.setattr(_group, "FETCH_ARROW", 2)
    monkeypatch.setattr(_group, "FEW_GROUPS", few)
    oracle_tests.test_same_groups_as_mongomock()


@pytest.mark.parametrize("few", [0, 16])
def test_a_grouping_reads_one_snapshot(monkeypatch, few):
    """Entries written while the groups are read (after the first of six groups: the next
    ones are queried later, on both of a few-groups reading's cursors) change none of them:
    every query of a groupby reads the snapshot of its start."""
    monkeypatch.setattr(_group, "FETCH_ARROW", 2)
    monkeypatch.setattr(_group, "FEW_GROUPS", few)
    docs = [{**doc, "g": i % 6} for i, doc in enumerate(_docs())]
    with DuckDBStore("snapshot", duckdb_config=FAST) as store:
        store.update(docs)
        before = _typed(store.groupby("g", properties=["n"]))
        groups = store.groupby("g", properties=["n"])
        first = next(groups)
        store.update([{"task_id": f"new{i}", "g": i, "n": -1} for i in range(7)])
        store.remove_docs({"task_id": {"$in": ["t01", "t02", "t03", "t04", "t05"]}})
        assert _typed([first, *groups]) == before
        assert _typed(store.groupby("g", properties=["n"])) != before
        # written before the first group is asked for: the snapshot is that of the call
        now = _typed(store.groupby("g", properties=["n"]))
        groups = store.groupby("g", properties=["n"])
        store.update([{"task_id": f"newer{i}", "g": i, "n": -2} for i in range(7)])
        assert _typed(groups) == now


def test_an_abandoned_grouping_lets_go(monkeypatch):
    """A groupby left after its first group (and one that is closed) ends its side thread
    and its cursor: the store writes and closes as usual."""
    import threading

    monkeypatch.setattr(_group, "FETCH_ARROW", 2)
    with DuckDBStore("abandon", duckdb_config=FAST) as store:
        store.update(_docs())
        groups = store.groupby("system", properties=["n"])
        next(groups)
        groups.close()
        assert not [t for t in threading.enumerate() if t.name.startswith("s3x-duckdb-groups")]
        store.update([{"task_id": "after", "system": "cubic"}])
        assert store.count({"system": "cubic"}) == 15
