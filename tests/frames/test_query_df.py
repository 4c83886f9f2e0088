"""query_df: dtypes, flattening, column order, and what reaches the index (projection, paging)."""

from __future__ import annotations

import mongomock_ng
import numpy as np
import pandas as pd
import pytest

from s3explore import MongoStore, QueryError
from s3explore._stores._timezones import AWARE_FIELD
from tests.frames.conftest import _batchy_docs, _docs, _names

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


def test_flatten_false_gives_the_same_dicts_on_every_index(index, memory):
    for store in (index, memory):
        store.update([{"task_id": "odd", "nsites": 99, "calc": {"ismear": -5}}])
    df = index.query_df(flatten=False, sort={"nsites": 1})
    assert list(df.columns) == ["task_id", "band_gap", "calc", "elements", "formula",
                                "is_metal", "magmom", "nsites", "spin", "when"]
    assert df["calc"].tolist() == [d["calc"] for d in _docs()] + [{"ismear": -5}]
    pd.testing.assert_frame_equal(df, memory.query_df(flatten=False, sort={"nsites": 1}))


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
    # AWARE_FIELD: which datetimes were aware (see tests/stores/test_timezones.py)
    assert projection == {"task_id": 1, "formula": 1, "calc.encut": 1, "_id": 0,
                          AWARE_FIELD: 1}
    assert ("sort", ([("nsites", -1)],), {}) in calls
    assert ("skip", (1,), {}) in calls
    assert ("limit", (2,), {}) in calls
    assert df["task_id"].tolist() == ["mp-4", "mp-3"]
    assert list(df.columns) == ["task_id", "formula", "calc.encut"]


def test_projection_drops_paths_inside_a_selected_parent(spied):
    store, calls = spied
    df = store.query_df(fields=["calc", "calc.encut"])
    projection = calls[0][1][1]
    assert projection == {"task_id": 1, "calc": 1, "_id": 0, AWARE_FIELD: 1}  # no collision
    assert list(df.columns) == ["task_id", "calc.encut", "calc.kpoints.density"]


def test_s3store_pushes_the_projection_to_its_index(make_store):
    client = _SpyClient()
    index = MongoStore("db", f"s3-index-{next(_names)}", client=client)
    store = make_store(index=index, searchable_fields=["formula", "nsites"])
    store.update(_docs(4))
    client.calls.clear()
    df = store.query_df(fields=["formula"])
    finds = [c for c in client.calls if c[0] == "find"]
    assert [f[1][1] for f in finds] == [{"task_id": 1, "formula": 1, "_id": 0, AWARE_FIELD: 1}]
    assert df["formula"].tolist() == [d["formula"] for d in _docs(4)]


