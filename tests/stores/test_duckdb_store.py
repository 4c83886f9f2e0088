"""DuckDBStore on its own: exact round trips, MongoDB semantics where mongomock departs from
them, a growing schema, the frames hooks, one writer per file, and S3Store on a DuckDB index.
(The shared index-store tests run on DuckDBStore too; test_duckdb_oracle.py compares random
queries with MemoryStore.)"""

from __future__ import annotations

import datetime as dt
import pickle
import subprocess
import sys
import threading

import numpy as np
import pytest

from s3explore import (
    ConfigurationError,
    DuckDBStore,
    InvalidDocumentError,
    MemoryStore,
    QueryError,
    StoreConnectionError,
)
from s3explore._query import Query

UTC2 = dt.timezone(dt.timedelta(hours=2))


@pytest.fixture
def store():
    with DuckDBStore("t") as s:
        yield s


def keys(docs) -> list:
    return [d["task_id"] for d in docs]


def test_documents_round_trip_exactly(store):
    doc = {"task_id": "a", "i": 3, "f": 3.0, "big": 2**62 + 1, "neg": -7, "s": "Fe\x00Ω",
           "none": None, "t": True, "nested": {"x": [1, 2.5, {"y": None}], "empty": {}},
           "when": dt.datetime(2024, 5, 6, 7, 8, 9, 123456), "raw": b"\x00\xff",
           "list": [], "lists": [[1], ["a"]]}
    store.update(doc)
    back = store.query_one()
    assert back == doc
    assert [type(back[k]) for k in ("i", "f", "big", "t")] == [int, float, int, bool]
    assert back["when"].microsecond == 123456  # microseconds kept (MongoDB keeps millis)


def test_aware_datetimes_come_back_utc_aware_as_from_memory_store(store):
    # the whole rule on every engine: tests/stores/test_timezones.py
    aware = dt.datetime(2024, 1, 1, 12, tzinfo=UTC2)
    memory = MemoryStore("m")
    memory.connect()
    for s in (store, memory):
        s.update({"task_id": "a", "when": aware})
    utc = dt.datetime(2024, 1, 1, 10, tzinfo=dt.UTC)
    assert store.query_one()["when"] == memory.query_one()["when"] == utc
    assert store.query_one()["when"].tzinfo is memory.query_one()["when"].tzinfo is dt.UTC
    assert store.count({"when": {"$gte": aware}}) == 1  # operands are converted the same way


def test_numpy_values_are_stored_as_python_values(store):
    store.update({"task_id": "a", "n": np.int64(4), "x": np.float32(0.5), "v": np.arange(3)})
    assert store.query_one() == {"task_id": "a", "n": 4, "x": 0.5, "v": [0, 1, 2]}
    assert store.count({"v": 2}) == 1


def test_values_the_index_cannot_hold_are_refused_naming_the_document(store):
    with pytest.raises(InvalidDocumentError, match="'a'"):
        store.update({"task_id": "a", "when": dt.date(2024, 1, 1)})
    with pytest.raises(InvalidDocumentError, match="field names must be strings"):
        store.update({"task_id": "b", "x": {1: "one"}})
    assert store.count() == 0


@pytest.mark.parametrize(("criteria", "expected"), [
    ({"flag": 1}, []),  # mongomock: True == 1
    ({"tags": {"$all": []}}, []),  # mongomock: everything
    ({"sub": {}}, ["e"]),  # mongomock: also documents without sub
    ({"sub.x": None}, ["a", "b", "c", "d", "e"]),  # mongomock: not when sub is a scalar
    ({"sub": {"$size": 1}}, []),  # mongomock: counts keys of dicts, and truthy scalars
    ({"n": {"$gte": None}}, ["a", "b", "d", "e"]),  # MongoDB: $gte null is equality
])
def test_mongodb_semantics_where_mongomock_differs(store, criteria, expected):
    store.update([{"task_id": "a", "flag": True, "tags": ["x"], "sub": 5},
                  {"task_id": "b", "flag": False, "sub": {"y": 2}},
                  {"task_id": "c", "n": 3, "sub": {"x": None}},
                  {"task_id": "d", "n": None},
                  {"task_id": "e", "sub": {}}])
    assert keys(store.query(criteria)) == expected


def test_arrays_match_by_element_size_all_and_elem_match(store):
    store.update([
        {"task_id": "a", "elements": ["Fe", "O"], "runs": [{"e": -1.5, "ok": True}, {"e": 2}]},
        {"task_id": "b", "elements": ["Na", "Cl"], "runs": [{"e": 3, "ok": False}]},
        {"task_id": "c", "elements": "Si", "runs": {"e": -4}},
    ])
    assert keys(store.query({"elements": "Fe"})) == ["a"]
    assert keys(store.query({"elements": ["Na", "Cl"]})) == ["b"]
    assert keys(store.query({"elements": {"$size": 2}})) == ["a", "b"]
    assert keys(store.query({"elements": {"$all": ["O", "Fe"]}})) == ["a"]
    assert keys(store.query({"runs.e": {"$lt": 0}})) == ["a", "c"]
    assert keys(store.query({"runs": {"$elemMatch": {"e": {"$gt": 0}, "ok": False}}})) == ["b"]
    assert keys(store.query({"elements.0": "Na"})) == ["b"]  # positional
    assert keys(store.query({"elements": {"$regex": "^f", "$options": "i"}})) == ["a"]
    assert keys(store.query({"elements": {"$regex": "(?<=N)a"}})) == ["b"]  # not in RE2


def test_sort_follows_mongodb_type_order_with_ints_and_floats_together(store):
    values = [True, "b", 2.5, None, dt.datetime(2024, 1, 1), {"x": 1}, 2, "a", -1, [0, 9]]
    store.update([{"task_id": i, "v": v} for i, v in enumerate(values)] + [{"task_id": 99}])
    ordered = [d.get("v", "missing") for d in store.query(sort={"v": 1, "task_id": 1})]
    assert ordered == [None, "missing", -1, [0, 9], 2, 2.5, "a", "b", {"x": 1}, True,
                       dt.datetime(2024, 1, 1)]
    # numbers only, and arrays holding one; [0, 9] sorts by its first element
    assert keys(store.query({"v": {"$gt": 1}}, sort={"v": -1})) == [2, 6, 9]
    assert keys(store.query({"v": {"$gt": 1}}, sort={"v": -1}, skip=1, limit=1)) == [6]


def test_schema_grows_and_a_path_that_turns_into_an_array_keeps_its_old_rows(store):
    store.update([{"task_id": "a", "x": 1}, {"task_id": "b", "x": "one"}])
    store.update([{"task_id": "c", "x": [1, 3], "new": {"deep": True}}])
    assert keys(store.query({"x": 1})) == ["a", "c"]
    assert keys(store.query({"x": {"$gte": 3}})) == ["c"]
    assert keys(store.query({"new.deep": True})) == ["c"]
    assert keys(store.query(sort={"x": -1, "task_id": 1})) == ["b", "a", "c"]
    reopened = store.connection.execute(
        "SELECT count(*) FROM s3x_paths_1 WHERE multi").fetchone()[0]
    assert reopened == 1


def test_one_entry_per_key_whatever_the_batches_and_threads(store):
    store.update([{"task_id": 1, "v": "first"}, {"task_id": 1.0, "v": "last"}])
    assert store.query(properties=["v"]).__next__() == {"v": "last"}

    def writer(n: int) -> None:
        for i in range(20):
            store.update([{"task_id": f"k{i % 5}", "by": n, "i": i}])

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count() == 6
    assert sorted(store.distinct("task_id"), key=str) == [1, "k0", "k1", "k2", "k3", "k4"]


def test_large_updates_are_written_chunk_by_chunk_in_order(store, monkeypatch):
    from s3explore._stores._duckdb import _store

    monkeypatch.setattr(_store, "CHUNK", 4)
    store.update([{"task_id": i % 7, "v": i, "x": [i] if i > 8 else i} for i in range(15)])
    assert [(d["task_id"], d["v"]) for d in store.query()] == [
        (0, 14), (1, 8), (2, 9), (3, 10), (4, 11), (5, 12), (6, 13)]
    assert keys(store.query({"x": {"$gte": 12}})) == [0, 5, 6]  # replaced in place
    bad = {"task_id": "bad", "d": dt.date.today()}
    with pytest.raises(InvalidDocumentError):  # a bad chunk stops the update there
        store.update([{"task_id": f"n{i}"} for i in range(6)] + [bad])
    assert store.count({"task_id": {"$regex": "^n"}}) == 4


def test_batches_of_new_keys_and_of_stored_keys_alternate(store, tmp_path):
    """New keys go in by plain INSERT, stored ones replace their entries in place: a batch
    that meets stored keys (and adds a field) is written again as an upsert, whole."""
    file_store = DuckDBStore("t", path=tmp_path / "i.duckdb")
    file_store.connect()
    for s in (store, file_store):
        s.update([{"task_id": i, "v": i} for i in range(4)])
        s.update([{"task_id": 1, "v": "one", "new": [1]}, {"task_id": 9, "v": 9}])  # mixed
        s.update([{"task_id": 10, "v": 10}])  # after an upsert: new keys only
        s.update([{"task_id": 11, "v": 11}])
        s.update([{"task_id": 2, "v": "two"}])
        assert [(d["task_id"], d["v"]) for d in s.query()] == [
            (0, 0), (1, "one"), (2, "two"), (3, 3), (9, 9), (10, 10), (11, 11)]
        assert keys(s.query({"new": 1})) == [1]
        assert s.count() == 7
    file_store.close()
    with DuckDBStore("t", path=tmp_path / "i.duckdb", read_only=True) as again:
        assert [d["v"] for d in again.query({"task_id": {"$in": [1, 2, 11]}})] == [
            "one", "two", 11]


ELEM_DOCS = [{"task_id": 1, "tags": [1, 5, 9]}, {"task_id": 2, "tags": 7},
             {"task_id": 3, "tags": ["b", "a"], "recs": {"x": 7}},
             {"task_id": 4, "recs": [{"x": 5}, {"x": [6, 7]}, 3]},
             {"task_id": 6, "recs": [{"y": 1}, {"x": "a"}, {"x": None}]}]
ELEM_CRITERIA = [{"tags": {"$elemMatch": {"$gt": 6}}}, {"tags": {"$elemMatch": {"$eq": 7}}},
                 {"tags": {"$elemMatch": {"$in": [5, "a"]}}}, {"recs": {"$elemMatch": {"x": 7}}},
                 {"recs": {"$elemMatch": {"x": {"$gte": 5}}}}, {"recs": {"$elemMatch": {"x": "a"}}},
                 {"recs": {"$elemMatch": {"z": 1}}},
                 {"tags": {"$all": [{"$elemMatch": {"$lt": 2}}]}}]


@pytest.mark.parametrize("nested", [False, True])
def test_elem_match_with_one_condition_runs_in_sql(nested):
    """One condition on an array's items or on one field of its documents: SQL; several,
    or arrays inside arrays (matched item by item): the document. Same answers as mongomock."""
    docs = [*ELEM_DOCS, {"task_id": 9, "tags": [[7, 8]], "recs": [{"x": 5, "y": 1}]}][
        : None if nested else len(ELEM_DOCS)]
    store, oracle = DuckDBStore("elem"), MemoryStore("elem")
    for s in (store, oracle):
        s.connect()
        s.update(docs)
    for criteria in [*ELEM_CRITERIA, {"recs": {"$elemMatch": {"x": 5, "y": 1}}}]:
        assert keys(store.query(criteria)) == keys(oracle.query(criteria)), criteria
    sql = [store._translator().where(c) for c in ELEM_CRITERIA]
    in_python = ["s3x_match" in s for s in sql]
    assert in_python == [nested, nested, nested, False, False, False, False, nested]


def test_unknown_operators_and_bad_arguments_are_query_errors(store):
    store.update({"task_id": "a", "n": 1})
    with pytest.raises(QueryError, match=r"\$where"):
        store.count({"$where": "this.n > 1"})
    with pytest.raises(QueryError, match=r"\$size on 'n'"):
        store.count({"n": {"$size": "two"}})
    with pytest.raises(QueryError, match=r"\$type on 'n'"):
        store.count({"n": {"$type": "decimal-ish"}})


def test_criteria_values_and_field_names_are_never_sql(store):
    hostile = "x'); DROP TABLE s3x_data_1; --"
    store.update([{"task_id": hostile, hostile: hostile, "n": 1}])
    assert keys(store.query({hostile: hostile})) == [hostile]
    assert store.count({"n": {"$in": [hostile, 1]}}) == 1
    assert store.query_one(properties=[hostile]) == {hostile: hostile}


def test_update_by_other_fields_replaces_in_place(store):
    store.update([{"task_id": "a", "f": "Si"}, {"task_id": "b", "f": "Ge"}])
    store.update({"task_id": "c", "f": "Si", "v": 2}, key="f")
    assert [(d["task_id"], d["f"]) for d in store.query()] == [("c", "Si"), ("b", "Ge")]


def test_frames_hooks_read_arrow_the_inventory_and_samples(store):
    store.update([{"task_id": f"k{i}", "n": i, "x": i / 2, "s": "Fe" if i % 2 else "O",
                   "when": dt.datetime(2024, 1, 1 + i), "calc": {"encut": 500 + i},
                   "el": ["Fe", "O"][: i % 3], "mixed": i if i % 2 else "odd"}
                  for i in range(10)])
    table = store._find_arrow(Query({"n": {"$gte": 5}}, ["n", "calc", "el", "when"],
                                    [("n", -1)], 1, 3))
    assert table.column_names == ["n", "calc.encut", "el", "when"]
    assert table.to_pydict()["n"] == [8, 7, 6] and str(table.schema.field("n").type) == "int64"
    assert table.to_pydict()["el"] == [["Fe", "O"], ["Fe"], []]
    assert store._find_arrow(Query({}, ["mixed"])) is None  # mixed types: built from dicts
    inventory = store._inventory().set_index("field")
    assert inventory.loc["mixed", "types"] == "int, str"
    assert inventory.loc["el", "types"] == "list[str]"
    assert (inventory.loc["s", "distinct"], inventory.loc["n", "count"]) == (2, 10)
    assert inventory.index[0] == "task_id" and inventory.attrs["sampled"] == 10
    assert len(store._sample(4)) == 4 and len(store._sample(50)) == 10


@pytest.mark.slow
def test_a_second_process_cannot_open_the_file_for_writing(tmp_path):
    path = tmp_path / "idx.duckdb"
    code = ("import sys; from s3explore import DuckDBStore, StoreConnectionError\n"
            "s = DuckDBStore('index', path=sys.argv[1], read_only=sys.argv[2] == 'ro')\n"
            "try:\n    s.connect(); print('opened', s.count())\n"
            "except StoreConnectionError as e:\n    print('refused', e)\n")

    def other(mode: str) -> str:
        return subprocess.run([sys.executable, "-c", code, str(path), mode], text=True,
                              capture_output=True, check=True, timeout=120).stdout

    with DuckDBStore("index", path=path) as writer:
        writer.update({"task_id": "a"})
        answer = other("rw")
        assert answer.startswith("refused") and "one writer per file" in answer
        assert "refused" in other("ro")
    assert other("ro").strip() == "opened 1"
    assert other("rw").strip() == "opened 1"
    with DuckDBStore("index", path=path, read_only=True) as reader:
        assert reader.count() == 1
        with pytest.raises(StoreConnectionError, match="read-only"):
            reader.update({"task_id": "b"})


def test_a_file_index_survives_reopening_and_pickles_by_its_path(tmp_path):
    path = str(tmp_path / "idx.duckdb")
    with DuckDBStore("runs", path=path) as store:
        store.update([{"task_id": "a", "x": [1, 2]}, {"task_id": "b", "x": 3}])
        copy = pickle.loads(pickle.dumps(store))
    with copy:
        assert keys(copy.query({"x": 2})) == ["a"]
        assert copy == DuckDBStore("runs", path=path)
    memory = DuckDBStore("m")
    with memory:
        memory.update({"task_id": "a"})
        with pickle.loads(pickle.dumps(memory)) as arrived:
            assert arrived.count() == 0  # an in-memory index does not travel


def test_constructor_validation(tmp_path):
    with pytest.raises(ConfigurationError, match="collection_name"):
        DuckDBStore("")
    with pytest.raises(ConfigurationError, match="read_only"):
        DuckDBStore("x", read_only=True)
    with pytest.raises(StoreConnectionError, match="does not exist"):
        DuckDBStore("x", path=tmp_path / "none.duckdb", read_only=True).connect()
    with pytest.raises(StoreConnectionError, match="folder"):
        DuckDBStore("x", path=tmp_path / "no" / "idx.duckdb").connect()


def test_s3store_on_a_duckdb_index(make_store, tmp_path):
    store = make_store(index=DuckDBStore("objects", path=tmp_path / "idx.duckdb"),
                       searchable_fields=["formula", "nsites"])
    docs = [{"task_id": f"mp-{i}", "formula": ["Fe2O3", "Si"][i % 2], "nsites": i,
             "sites": list(range(i))} for i in range(12)]
    assert store.update(docs).ok
    assert keys(store.query({"formula": "Si"}, sort={"nsites": -1}, limit=2)) == ["mp-11",
                                                                                 "mp-9"]
    assert store.query_one({"task_id": "mp-4"})["sites"] == [0, 1, 2, 3]
    store.index.remove_docs({"task_id": "mp-3"})
    report = store.verify(repair=True)
    assert report.orphans == ["mp-3"] and store.verify().ok
    assert store.count({"nsites": {"$gte": 6}}) == 6
