"""to_dask and map_objects on Dask's threaded scheduler: this process, any index."""

from __future__ import annotations

import subprocess
import sys

import dask
import pandas as pd
import pytest

from s3explore import ConfigurationError, DuckDBStore, MemoryStore, QueryError
from s3explore._frames._dask import plan
from s3explore._frames._inventory import inventory
from tests.dask.conftest import document


@pytest.fixture(autouse=True)
def _threads():
    with dask.config.set(scheduler="threads"):
        yield


@pytest.fixture
def s3(make_store):
    store = make_store(compress=True, searchable_fields=["formula", "nsites", "band_gap",
                                                         "tags", "calc"])
    store.update([document(i) for i in range(60)])
    return store


def test_importing_s3explore_does_not_import_dask():
    code = ("import sys, s3explore; s3explore.MemoryStore('x').connect(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("kwargs", [{}, {"fields": ["calc", "tags"]},
                                    {"criteria": {"nsites": {"$gt": 2}},
                                     "fetch": ["dos.efermi", "dos.densities"]},
                                    {"fetch": ["dos"], "flatten": False}])
def test_a_memory_index_works_in_this_process(s3, kwargs):
    frame = s3.to_dask(partition_size=7, **kwargs)
    want = s3.query_df(sort={"task_id": 1}, **kwargs)
    assert frame.dtypes.to_dict() == want.dtypes.to_dict()
    pd.testing.assert_frame_equal(frame.compute(), want)


def test_map_objects_on_threads(s3):
    got = s3.map_objects(lambda d: (d["task_id"], d["dos"]["efermi"]), {"formula": "Si"},
                         partition_size=4).compute()
    assert got == [(d["task_id"], d["dos"]["efermi"]) for d in map(document, range(60))
                   if d["formula"] == "Si"]


def test_index_stores_too(tmp_path):
    index = DuckDBStore("index", path=tmp_path / "i.duckdb")
    with index:
        index.update([{"task_id": i, "x": i * 1.5, **({"y": "odd"} if i % 2 else {})}
                      for i in range(50)])
        frame = index.to_dask(partition_size=8)
        pd.testing.assert_frame_equal(frame.compute(), index.query_df(sort={"task_id": 1}))
        assert index.map_objects(lambda d: d["x"], partition_size=8).sum().compute() == \
            sum(i * 1.5 for i in range(50))


def test_partitions_are_key_ranges_and_cover_every_entry_once():
    index = MemoryStore("ranges")
    with index:
        index.update([{"task_id": f"k{i:03d}", "n": i % 3} for i in range(25)])
        slices = plan(index, {"n": 1}, 3)
        keys = [d["task_id"] for s in slices for d in index.query(s.criteria, ["task_id"])]
        assert sorted(keys) == sorted(d["task_id"] for d in index.query({"n": 1}))
        assert len(keys) == len(set(keys)) == sum(s.rows for s in slices)
        assert all("$gte" in s.criteria["$and"][1]["task_id"] for s in slices)
        assert [s.start for s in slices] == [0, 3, 6]


def test_mixed_key_types_and_entries_without_a_key_are_kept():
    index = MemoryStore("mixed")
    with index:
        index.update([{"task_id": 1, "v": 1}, {"task_id": "2", "v": 2}, {"task_id": 3, "v": 3}])
        index.update([{"other": "x", "v": 4}], key="other")  # no task_id at all
        slices = plan(index, None, 2)
        assert "$in" in slices[0].criteria["task_id"] and slices[-1].criteria == {"task_id": None}
        got = index.to_dask(partition_size=2).compute()
        assert sorted(got["v"]) == [1, 2, 3, 4] and list(got.index) == [0, 1, 2, 3]


def test_nothing_matching_gives_an_empty_frame_with_the_columns(s3):
    frame = s3.to_dask({"formula": "Unobtainium"}, ["nsites"], fetch=["dos.efermi"])
    got = frame.compute()
    assert len(got) == 0 and list(got.columns) == ["task_id", "nsites", "dos.efermi"]


def test_bad_arguments_fail_before_any_task(s3):
    with pytest.raises(ConfigurationError, match="partition_size"):
        s3.to_dask(partition_size=0)
    with pytest.raises(QueryError, match="unknown field 'nsite'"):
        s3.to_dask(fields=["nsite"])
    with pytest.raises(QueryError, match=r"\$where"):
        s3.to_dask({"$where": "1"})
    with pytest.raises(ConfigurationError, match="fetch= reads fields from the S3 objects"):
        s3.index.to_dask(fetch=["dos"])
    with pytest.raises(ConfigurationError, match="func must be callable"):
        s3.map_objects("len")


def test_a_missing_object_gives_nulls_and_a_warning_naming_it(s3):
    s3.objects.delete(["mp-00007"])
    with pytest.warns(UserWarning, match="mp-00007"):
        got = s3.to_dask(fields=["nsites"], fetch=["dos.efermi"], partition_size=10).compute()
    assert got.set_index("task_id").loc["mp-00007", "dos.efermi"] != \
        got.set_index("task_id").loc["mp-00007", "dos.efermi"]  # NaN
    assert got["dos.efermi"].notna().sum() == 59


def _sparse_index(tmp_path) -> DuckDBStore:
    index = DuckDBStore("index", path=tmp_path / "sparse.duckdb")
    index.connect()
    index.update([{"task_id": f"k{i:03d}", "n": i, "ok": i % 2 == 0, "full": i, "s": str(i),
                   **({"gappy": i, "flag": True} if i < 40 else {})} for i in range(50)])
    return index


@pytest.mark.parametrize("criteria", [None, {"n": {"$lt": 40}}])
def test_fields_the_sample_shows_need_no_inventory(tmp_path, monkeypatch, criteria):
    from s3explore._frames import _dask

    index = _sparse_index(tmp_path)
    fields = ["gappy", "flag", "full", "ok", "s"]
    monkeypatch.setattr(_dask, "inventory", lambda *a: pytest.fail("inventory was read"))
    frame = index.to_dask(criteria, fields, partition_size=8)  # gaps after the sample's rows
    want = index.query_df(criteria, fields, sort={"task_id": 1})
    assert frame.dtypes.to_dict() == want.dtypes.to_dict()
    assert (str(want["gappy"].dtype), str(want["flag"].dtype)) == (
        ("Int64", "boolean") if criteria is None else ("int64", "bool"))
    pd.testing.assert_frame_equal(frame.compute(), want)
    index.close()


def test_fields_the_sample_lacks_are_typed_by_the_inventory(tmp_path, monkeypatch):
    from s3explore._frames import _dask

    index = _sparse_index(tmp_path)
    read = []
    monkeypatch.setattr(_dask, "inventory", lambda *a: read.append(a) or inventory(*a))
    frame = index.to_dask({"n": {"$gte": 40}}, ["n", "gappy"], partition_size=8)
    assert len(read) == 1  # the sample has no value of gappy: its type comes from the index
    assert frame.dtypes["gappy"] == "Int64"
    index.close()


def test_partitions_of_an_arrow_key_column_match_the_documents_path(tmp_path):
    docs = [{"task_id": i * 3, "v": i % 4} for i in range(40)]
    keyed = sorted(d["task_id"] for d in docs if d["v"] < 3)
    criteria = {"v": {"$lt": 3}}
    index, memory = DuckDBStore("index", path=tmp_path / "k.duckdb"), MemoryStore("same")
    with index, memory:
        for store in (index, memory):
            store.update(docs)
            store.update([{"other": "x", "v": 0}], key="other")  # no task_id
        slices = plan(index, criteria, 7)  # keys read as an Arrow column
        assert [repr(s) for s in plan(memory, criteria, 7)] == [repr(s) for s in slices]
        assert [s.criteria for s in plan(memory, criteria, 7)] == [s.criteria for s in slices]
        assert [s.criteria for s in slices][-2:] == [
            {"$and": [criteria, {"task_id": {"$gte": keyed[28], "$lte": keyed[-1]}}]},
            {"$and": [criteria, {"task_id": None}]}]
        assert [(s.start, s.rows) for s in slices] == [(0, 7), (7, 7), (14, 7), (21, 7),
                                                       (28, 2), (30, 1)]
        keys = [d.get("task_id") for s in slices for d in index.query(s.criteria)]
        assert sorted(k for k in keys if k is not None) == keyed and keys.count(None) == 1


def test_derived_fetch_columns_on_threads_match_query_df(s3):
    fetch = {"efermi2": ("dos.efermi", lambda e: e * 2), "n": lambda doc: len(doc["dos"]),
             "gap": ("band_gap", float), "dos.efermi": True}
    frame = s3.to_dask(fields=["nsites"], fetch=fetch, partition_size=9)
    want = s3.query_df(fields=["nsites"], fetch=fetch, sort={"task_id": 1})
    got = frame.compute()
    assert got.dtypes.to_dict() == frame.dtypes.to_dict()
    assert str(got["n"].dtype) == "Int64"  # fetch columns of ints can hold nulls
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert got["efermi2"].tolist() == pytest.approx([i / 5 for i in range(60)])
    assert got["gap"].isna().tolist() == [i % 4 == 0 for i in range(60)]
