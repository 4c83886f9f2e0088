"""The DataFrame layer: query_df, fields, to_arrow and to_parquet on every kind of store."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import sys
import types
import warnings

import mongomock_ng
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pymongo
import pytest

import s3explore
from s3explore import (
    ConfigurationError,
    MemoryStore,
    MongoStore,
    QueryError,
    S3Store,
    Store,
    _stores,
)
from s3explore._stores import _mongo_arrow
from s3explore.local_s3 import LocalS3
from tests.backends import EMBEDDED, make_index

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


@pytest.fixture(params=EMBEDDED)
def index(request, tmp_path) -> Store:
    store = make_index(request.param, f"frames-{next(_names)}", tmp_path)
    store.connect()
    store.update(_docs())
    yield store
    store.close()


@pytest.fixture
def memory() -> MemoryStore:
    store = MemoryStore(f"frames-{next(_names)}")
    store.connect()
    store.update(_docs())
    return store


# ---------------------------------------------------------------- spying on the collection


class _SpyCollection:
    """A mongomock collection that records every find() and cursor call it is asked for."""

    def __init__(self, collection, calls: list) -> None:
        self._collection = collection
        self.calls = calls

    def find(self, *args, **kwargs):
        self.calls.append(("find", args, kwargs))
        return _SpyCursor(self._collection.find(*args, **kwargs), self.calls)

    def __getattr__(self, name):
        return getattr(self._collection, name)


class _SpyCursor:
    def __init__(self, cursor, calls: list) -> None:
        self._cursor = cursor
        self.calls = calls

    def __getattr__(self, name):
        method = getattr(self._cursor, name)
        if name not in ("sort", "skip", "limit"):
            return method

        def record(*args):
            self.calls.append((name, args, {}))
            return _SpyCursor(method(*args), self.calls)

        return record

    def __iter__(self):
        return iter(self._cursor)


class _SpyClient:
    def __init__(self) -> None:
        self.client = mongomock_ng.MongoClient()
        self.calls: list = []

    def __getitem__(self, database):
        spy = self

        class _Database:
            def __getitem__(self, collection):
                return _SpyCollection(spy.client[database][collection], spy.calls)

        return _Database()


@pytest.fixture
def spied() -> tuple[MongoStore, list]:
    client = _SpyClient()
    store = MongoStore("db", f"spied-{next(_names)}", client=client)
    store.connect()
    store.update(_docs())
    client.calls.clear()
    return store, client.calls


# ---------------------------------------------------------------- dtypes and flattening


def test_dtypes_flattening_and_column_order(index):
    df = index.query_df(sort={"nsites": 1})
    docs = _docs()
    assert list(df.columns) == [
        "task_id", "band_gap", "calc.encut", "calc.kpoints.density", "elements", "formula",
        "is_metal", "magmom", "nsites", "spin", "when",
    ]
    assert df["task_id"].tolist() == [d["task_id"] for d in docs]
    assert df["nsites"].dtype == np.int64
    assert df["calc.encut"].tolist() == [d["calc"]["encut"] for d in docs]
    assert df["calc.kpoints.density"].tolist() == [d["calc"]["kpoints"]["density"] for d in docs]
    assert df["band_gap"].dtype == np.float64
    assert df["is_metal"].dtype == bool
    assert df["formula"].dtype == "str"
    assert df["when"].dtype.kind == "M"
    assert df["when"].tolist() == [pd.Timestamp(d["when"]) for d in docs]
    # integers and booleans with gaps stay integers and booleans, with <NA> in the gaps
    assert df["magmom"].dtype == pd.Int64Dtype()
    assert df["magmom"].tolist() == [d.get("magmom", pd.NA) for d in docs]
    assert df["spin"].dtype == pd.BooleanDtype()
    assert df["spin"].isna().tolist() == ["spin" not in d for d in docs]
    # lists are values, not columns
    assert df["elements"].tolist() == [d["elements"] for d in docs]


def test_flatten_false_keeps_subdocuments(memory):
    df = memory.query_df(fields=["calc"], flatten=False, sort={"nsites": 1})
    assert list(df.columns) == ["task_id", "calc"]
    assert df["calc"].tolist() == [d["calc"] for d in _docs()]


def test_sparse_subdocument_keys_are_not_invented(memory):
    memory.update([{"task_id": "odd", "nsites": 99, "calc": {"ismear": -5}}])
    df = memory.query_df({"task_id": "odd"}, flatten=False)
    assert df["calc"].tolist() == [{"ismear": -5}]  # no encut: None added by Arrow


def test_flatten_false_with_dotted_fields_gives_the_parent(memory):
    df = memory.query_df(fields=["calc.encut"], flatten=False, sort={"nsites": 1})
    assert list(df.columns) == ["task_id", "calc"]
    assert df["calc"].tolist() == [{"encut": d["calc"]["encut"]} for d in _docs()]
    with pytest.raises(QueryError, match="unknown field 'calc.encutt'"):
        memory.query_df(fields=["calc.encutt"], flatten=False)


def test_small_batches_give_the_same_frame(memory):
    memory.remove_docs({})
    memory.update(_batchy_docs())
    whole = memory.query_df(sort={"n": 1})
    batched = memory.query_df(sort={"n": 1}, batch_size=3)
    pd.testing.assert_frame_equal(batched, whole)
    assert batched["late"].dtype == pd.Int64Dtype()  # null in the first batch, ints later
    assert batched["x"].dtype == np.float64  # ints in the first batch, floats later
    assert batched["nested.deep"].dtype == "str"  # a column seen in one batch only
    assert [None if pd.isna(v) else v for v in batched["nested.deep"]] == [
        d.get("nested", {}).get("deep") for d in _batchy_docs()]


def test_column_order_is_stable_across_pages(memory):
    # a later document with its fields in another order and an extra one
    memory.update([{"zeta": 1, "nsites": 50, "task_id": "zz", "formula": "Fe"}])
    pages = [memory.query_df(sort={"nsites": -1}, skip=skip, limit=2) for skip in (0, 2, 4)]
    fields = ["formula", "nsites", "zeta"]
    paged = [memory.query_df(fields=fields, sort={"nsites": -1}, skip=s, limit=2)
             for s in (0, 2, 4)]
    assert {tuple(p.columns) for p in paged} == {("task_id", "formula", "nsites", "zeta")}
    assert pages[0].columns[0] == "task_id"
    for page in pages:
        assert list(page.columns[1:]) == sorted(page.columns[1:])


def test_fields_select_in_the_order_given_and_key_first(memory):
    df = memory.query_df(fields=["nsites", "calc.kpoints", "formula"], sort={"nsites": 1})
    assert list(df.columns) == ["task_id", "nsites", "calc.kpoints.density", "formula"]
    assert df["nsites"].tolist() == [d["nsites"] for d in _docs()]


def test_mixed_types_stay_python_objects_in_query_df(memory):
    memory.update([{"task_id": "x1", "nsites": 100, "tag": 7},
                   {"task_id": "x2", "nsites": 101, "tag": "seven"}])
    df = memory.query_df({"nsites": {"$gte": 100}}, fields=["tag"], sort={"nsites": 1})
    assert df["tag"].dtype == object
    assert df["tag"].tolist() == [7, "seven"]


def test_empty_result_keeps_requested_columns(memory):
    df = memory.query_df({"nsites": {"$gt": 1000}}, fields=["formula", "calc.encut"])
    assert list(df.columns) == ["task_id", "formula", "calc.encut"]
    assert len(df) == 0


def test_requested_field_absent_from_page_is_a_null_column(memory):
    df = memory.query_df({"nsites": 1}, fields=["magmom"])  # mp-0 has no magmom
    assert df["task_id"].tolist() == ["mp-0"]
    assert df["magmom"].isna().all()


# ---------------------------------------------------------------- projection pushdown


def test_projection_sort_and_paging_reach_the_collection(spied):
    store, calls = spied
    df = store.query_df({"nsites": {"$gt": 1}}, fields=["formula", "calc.encut"],
                        sort={"nsites": -1}, skip=1, limit=2)
    finds = [c for c in calls if c[0] == "find"]
    assert len(finds) == 1
    criteria, projection = finds[0][1]
    assert criteria == {"nsites": {"$gt": 1}}
    assert projection == {"task_id": 1, "formula": 1, "calc.encut": 1, "_id": 0}
    assert ("sort", ([("nsites", -1)],), {}) in calls
    assert ("skip", (1,), {}) in calls
    assert ("limit", (2,), {}) in calls
    assert df["task_id"].tolist() == ["mp-4", "mp-3"]
    assert list(df.columns) == ["task_id", "formula", "calc.encut"]


def test_projection_drops_paths_inside_a_selected_parent(spied):
    store, calls = spied
    df = store.query_df(fields=["calc", "calc.encut"])
    projection = calls[0][1][1]
    assert projection == {"task_id": 1, "calc": 1, "_id": 0}  # no MongoDB path collision
    assert list(df.columns) == ["task_id", "calc.encut", "calc.kpoints.density"]


def test_s3store_pushes_the_projection_to_its_index(make_store):
    client = _SpyClient()
    index = MongoStore("db", f"s3-index-{next(_names)}", client=client)
    store = make_store(index=index, searchable_fields=["formula", "nsites"])
    store.update(_docs(4))
    client.calls.clear()
    df = store.query_df(fields=["formula"])
    finds = [c for c in client.calls if c[0] == "find"]
    assert [f[1][1] for f in finds] == [{"task_id": 1, "formula": 1, "_id": 0}]
    assert df["formula"].tolist() == [d["formula"] for d in _docs(4)]


# ---------------------------------------------------------------- S3Store and fetch


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


def test_s3store_frames_hide_bookkeeping_unless_asked(store):
    store.update([{"task_id": "a", "formula": "Si", "nsites": 2, "band_gap": 1.1}])
    df = store.query_df()
    assert list(df.columns) == ["task_id", "band_gap", "formula", "nsites"]
    asked = store.query_df(fields=["obj_hash", "compression"])
    assert asked["compression"].tolist() == ["zlib"]
    assert len(asked["obj_hash"][0]) == 40


def test_fetch_reads_paths_from_the_objects(make_store):
    store = make_store(searchable_fields=["formula", "nsites"])
    docs = _s3_docs()
    store.update(docs)
    df = store.query_df(fetch=["dos.energies", "output.energy", "rare"], sort={"nsites": 1})
    assert list(df.columns) == ["task_id", "formula", "nsites", "dos.energies",
                                "output.energy", "rare"]
    # arrays stay the numpy arrays the objects decode to
    assert all(isinstance(a, np.ndarray) for a in df["dos.energies"])
    assert [a.tolist() for a in df["dos.energies"]] == [d["dos"]["energies"].tolist()
                                                        for d in docs]
    assert df["output.energy"].dtype == np.float64
    assert df["output.energy"].tolist() == [d["output"]["energy"] for d in docs]
    # a path most objects lack is null there
    assert df["rare"].dtype == pd.Int64Dtype()
    assert df["rare"].tolist() == [3 if i == 3 else pd.NA for i in range(len(docs))]


def test_fetch_of_a_subdocument_is_flattened_and_wins_over_the_index(make_store):
    store = make_store(searchable_fields=["nsites", "output"])
    docs = _s3_docs(3)
    store.update(docs)
    store.index.update([{**store.index.query_one({"task_id": "obj-1"}), "output": {"energy": 9}}])
    df = store.query_df(fetch=["output"], sort={"nsites": 1})
    assert list(df.columns) == ["task_id", "nsites", "output.energy", "output.forces"]
    assert df["output.energy"].tolist() == [d["output"]["energy"] for d in docs]
    assert df["output.forces"].tolist() == [d["output"]["forces"] for d in docs]


def test_fetch_missing_object_is_null_with_a_warning_naming_it(make_store, s3_server, bucket):
    store = make_store(searchable_fields=["nsites"])
    store.update(_s3_docs(5))
    s3_server.client().delete_object(Bucket=bucket, Key="obj-2")
    with pytest.warns(UserWarning, match="obj-2") as record:
        df = store.query_df(fetch=["output.energy"], sort={"nsites": 1})
    named = [m for m in record if "obj-2" in str(m.message)]
    assert len(named) == 1
    assert named[0].filename == __file__  # points at the caller, not at s3explore
    assert len(df) == 5
    assert df["output.energy"].isna().tolist() == [False, False, True, False, False]
    assert df["task_id"].tolist() == [f"obj-{i}" for i in range(5)]


def test_fetch_path_in_no_object_warns(make_store):
    store = make_store(searchable_fields=["nsites"])
    store.update(_s3_docs(2))
    with pytest.warns(UserWarning, match="'output.enrgy' is in none") as record:
        df = store.query_df(fetch=["output.enrgy"])
    assert [w.filename for w in record] == [__file__]  # the caller's line
    assert df["output.enrgy"].isna().all()


def test_fetch_runs_in_parallel(make_store):
    with LocalS3(latency=0.05) as slow:  # moto's buckets are per process: the fixture's is here
        store = make_store(endpoint=slow, searchable_fields=["nsites"], s3_workers=4)
        store.update(_s3_docs(12))
        slow.reset_counters()
        df = store.query_df(fetch=["nsites"], sort={"nsites": 1})
        assert df["nsites"].tolist() == list(range(12))
        assert slow.requests  # the objects were read, not the index copy
        assert slow.max_in_flight > 1


def test_fetch_on_an_index_store_is_refused(memory):
    with pytest.raises(ConfigurationError, match="fetch= reads fields from the S3 objects"):
        memory.query_df(fetch=["dos"])


def test_s3store_unknown_field_points_to_fetch(make_store):
    store = make_store(searchable_fields=["nsites"])
    store.update(_s3_docs(2))
    with pytest.raises(QueryError, match="'formula'.*fetch="):
        store.query_df(fields=["formula"])


# ---------------------------------------------------------------- Arrow and Parquet


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


def test_to_arrow_unifies_types_across_batches(memory):
    memory.remove_docs({})
    memory.update(_batchy_docs())
    table = memory.to_arrow(batch_size=3)
    assert table.column_names == ["task_id", "late", "n", "nested.deep", "x"]
    assert table.schema.field("x").type == pa.float64()
    assert table.schema.field("late").type == pa.int64()
    assert table.num_rows == 10
    rows = {r["task_id"]: r for r in table.to_pylist()}
    for doc in _batchy_docs():
        row = rows[doc["task_id"]]
        assert row["x"] == doc["x"]
        assert row["late"] == doc.get("late")
        assert row["nested.deep"] == doc.get("nested", {}).get("deep")


def test_to_parquet_streams_in_batches(memory, tmp_path):
    memory.remove_docs({})
    memory.update(_batchy_docs())
    path = tmp_path / "index.parquet"
    assert memory.to_parquet(path, batch_size=3) == 10
    assert pq.ParquetFile(path).metadata.num_row_groups == 4  # one per batch of 3
    assert pq.read_table(path).equals(memory.to_arrow())
    assert [p.name for p in tmp_path.iterdir()] == ["index.parquet"]  # spill files gone


def test_to_parquet_with_criteria_and_fields(memory, tmp_path):
    path = tmp_path / "some.parquet"
    memory.to_parquet(path, {"formula": "Si"}, ["nsites", "calc.encut"], batch_size=1)
    table = pq.read_table(path)
    si = [d for d in _docs() if d["formula"] == "Si"]
    assert table.column_names == ["task_id", "nsites", "calc.encut"]
    assert sorted(table.column("nsites").to_pylist()) == [d["nsites"] for d in si]


def test_export_writes_mixed_types_as_strings_with_a_warning(memory, tmp_path):
    memory.update([{"task_id": "m1", "nsites": 1, "tag": 7},
                   {"task_id": "m2", "nsites": 1, "tag": "seven"}])
    with pytest.warns(UserWarning, match="'tag' mixes types") as record:
        table = memory.to_arrow({"nsites": 1}, ["tag"])
    assert [w.filename for w in record] == [__file__]  # the caller's line
    assert table.schema.field("tag").type == pa.string()
    assert sorted(v for v in table.column("tag").to_pylist() if v) == ["7", "seven"]
    # the conflict between batches (int in one, str in the next) is caught too
    with pytest.warns(UserWarning, match="'tag' mixes types") as record:
        memory.to_parquet(tmp_path / "t.parquet", {"task_id": {"$in": ["m1", "m2"]}}, ["tag"],
                          batch_size=1)
    assert [w.filename for w in record] == [__file__]
    assert pq.read_table(tmp_path / "t.parquet").schema.field("tag").type == pa.string()


def test_to_parquet_into_a_missing_folder_is_refused(memory, tmp_path):
    with pytest.raises(ConfigurationError, match="does not exist"):
        memory.to_parquet(tmp_path / "nope" / "x.parquet")


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


# ---------------------------------------------------------------- bad input


def test_unknown_field_is_named_with_close_matches(index):
    with pytest.raises(QueryError, match=r"unknown field 'nsite'.*did you mean \['nsites'"):
        index.query_df(fields=["nsite"])


def test_unknown_field_on_an_empty_result_is_still_unknown(memory):
    with pytest.raises(QueryError, match="unknown field 'bnad_gap'"):
        memory.query_df({"nsites": {"$gt": 1000}}, fields=["bnad_gap"])


def test_unknown_field_in_exports(memory, tmp_path):
    with pytest.raises(QueryError, match="unknown field 'xyz'"):
        memory.to_arrow(fields=["xyz"])
    with pytest.raises(QueryError, match="unknown field 'xyz'"):
        memory.to_parquet(tmp_path / "x.parquet", fields=["xyz"])
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("criteria", "match"),
    [
        ("nsites > 2", "criteria must be a dict"),
        ({"$and": {"nsites": 2}}, r"\$and takes a non-empty list"),
        ({"$or": []}, r"\$or takes a non-empty list"),
        ({"nsites": {"$gt": 1, "foo": 2}}, "mix operators and field names"),
        ({"formula": {"$in": "Si"}}, r"\$in on 'formula' takes a list"),
        ({"$or": [{"x": {"$nin": 3}}]}, r"\$nin on 'x' takes a list"),
        ({"nsites": {"$gtx": 1}}, r"does not support the operator\(s\) \['\$gtx'\]"),
        ({"$where": "this.nsites > 1"}, r"\['\$where'\]"),
    ],
)
def test_malformed_or_unsupported_criteria(index, criteria, match):
    with pytest.raises(QueryError, match=match):
        index.query_df(criteria)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"fields": ["formula", 3]}, QueryError, "holds 3, which is not a field name"),
        ({"fields": ["a..b"]}, QueryError, "'a..b'"),
        ({"fields": 5}, QueryError, "fields must be a list"),
        ({"fields": ["$x"]}, QueryError, "not a field name"),
        ({"sort": {"nsites": 2}}, QueryError, "sort direction"),
        ({"skip": -1}, QueryError, "skip"),
        ({"limit": 1.5}, QueryError, "limit"),
        ({"batch_size": 0}, ConfigurationError, "batch_size"),
    ],
)
def test_bad_arguments(memory, kwargs, error, match):
    with pytest.raises(error, match=match):
        memory.query_df(**kwargs)


def test_unsupported_operator_on_s3store_index(store):
    with pytest.raises(QueryError, match=r"\$text"):
        store.query_df({"$text": {"$search": "Si"}})


# ---------------------------------------------------------------- composition


def test_public_classes_compose_the_frames(make_store):
    for cls in (s3explore.MemoryStore, s3explore.MontyStore, s3explore.MongoStore,
                s3explore.MongograntStore, s3explore.S3Store):
        assert hasattr(cls, "query_df") and cls.__doc__
        assert cls.__name__ == getattr(_stores, cls.__name__).__name__
    assert issubclass(s3explore.MongograntStore, s3explore.MongoStore)
    assert repr(MemoryStore("abc")) == "MemoryStore('abc', key='task_id')"
    plain_index = _stores.MemoryStore(f"plain-{next(_names)}")
    store = make_store(index=plain_index, searchable_fields=["nsites"])
    assert isinstance(store, S3Store)
    store.update(_s3_docs(2))
    assert store.query_df(fetch=["output.energy"])["output.energy"].tolist() == [0.0, -1.5]


# ---------------------------------------------------------------- pymongoarrow, when present


def test_pymongoarrow_is_used_only_for_a_real_mongodb(memory, monkeypatch):
    seen = []

    def find_arrow_all(collection, query, **kwargs):
        seen.append((collection, query, kwargs))
        return pa.table({
            "_id": [1, 2],
            "task_id": ["a", "b"],
            "calc": pa.array([{"encut": 520, "grid": {"n": 3}}, {"encut": None, "grid": None}]),
            "n": pa.array([1, None], pa.int64()),
        })

    fake = types.ModuleType("pymongoarrow")
    fake.api = types.SimpleNamespace(find_arrow_all=find_arrow_all)
    monkeypatch.setitem(sys.modules, "pymongoarrow", fake)
    monkeypatch.setitem(sys.modules, "pymongoarrow.api", fake.api)

    memory.query_df()  # mongomock: the dict path, pymongoarrow not asked
    assert seen == []

    client = pymongo.MongoClient("mongodb://127.0.0.1:9", connect=False)
    real = MongoStore("db", "coll", client=client)
    real.connect()
    try:
        df = real.query_df({"n": {"$gt": 0}}, fields=["calc", "n"], sort={"n": -1}, limit=5)
    finally:
        client.close()
    collection, query, kwargs = seen[0]
    assert isinstance(collection, pymongo.collection.Collection)
    assert query == {"n": {"$gt": 0}}
    assert kwargs == {"projection": {"task_id": 1, "calc": 1, "n": 1, "_id": 0},
                      "sort": [("n", -1)], "limit": 5}
    assert list(df.columns) == ["task_id", "calc.encut", "calc.grid.n", "n"]
    assert df["n"].dtype == pd.Int64Dtype()
    assert df["calc.encut"].tolist()[0] == 520

    # switched off: the dict path, which asks the (absent) server itself
    monkeypatch.setattr(_mongo_arrow, "USE_PYMONGOARROW", False)
    client = pymongo.MongoClient("mongodb://127.0.0.1:9", connect=False,
                                 serverSelectionTimeoutMS=100)
    real = MongoStore("db", "coll", client=client)
    real.connect()
    with pytest.raises(s3explore.StoreConnectionError):
        real.query_df()
    client.close()
    assert len(seen) == 1


def test_warnings_are_not_raised_for_clean_frames(memory):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        memory.query_df()
        memory.to_arrow()
