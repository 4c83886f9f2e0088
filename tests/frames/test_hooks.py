"""The frames layer over the store hooks: _find_arrow, _inventory and _sample are used when a
backend has them, the generic path when it has not (maggma's stores), and fields() says
whether it counted every entry or a sample."""

from __future__ import annotations

import datetime as dt
import gc
import itertools
import re

import mongomock_ng
import pandas as pd
import pyarrow as pa
import pytest

from s3explore import MemoryStore
from s3explore._frames import _inventory
from s3explore._frames._columns import gc_paused
from s3explore._query import Query

_names = itertools.count()


def _docs(n: int = 6) -> list[dict]:
    return [
        {
            "task_id": f"mp-{i}",
            "formula": ["Si", "GaAs", "NaCl"][i % 3],
            "nsites": i + 1,
            "calc": {"encut": 520 + i, "kpoints": {"density": 1000 * (i + 1)}},
            "elements": ["Si"] if i % 3 == 0 else ["Ga", "As"],
            "when": dt.datetime(2024, 1, 1 + i),
            **({"magmom": i} if i % 2 else {}),
        }
        for i in range(n)
    ]


class HookedIndex(MemoryStore):
    """A backend with a columnar reader, its own inventory and its own sampling."""

    def __init__(self, name: str, inventory: pd.DataFrame | None = None) -> None:
        super().__init__(name)
        self.arrow_queries: list[Query] = []
        self.samples: list[int] = []
        self.inventory = inventory

    def _find_arrow(self, q: Query) -> pa.Table:
        self.arrow_queries.append(q)
        docs = list(self._find(q))  # nested dicts become struct columns, typed over all rows
        table = pa.Table.from_struct_array(pa.array(docs)) if docs else pa.table({})
        return table.append_column("via", pa.array(["arrow"] * table.num_rows))

    def _inventory(self) -> pd.DataFrame | None:
        return self.inventory

    def _sample(self, n: int) -> list[dict]:
        self.samples.append(n)
        return list(self._find(Query({}, sort=[("nsites", -1)], limit=n)))  # the last ones


def _connected(store):
    store.connect()
    store.update(_docs())
    return store


@pytest.fixture
def hooked() -> HookedIndex:
    return _connected(HookedIndex(f"hooked-{next(_names)}"))


@pytest.fixture
def plain() -> MemoryStore:
    return _connected(MemoryStore(f"plain-{next(_names)}"))


# ---------------------------------------------------------------- _find_arrow


def test_query_df_reads_through_find_arrow(hooked, plain):
    args = ({"nsites": {"$gt": 1}}, ["formula", "calc"], {"nsites": -1}, 1, 3)
    df = hooked.query_df(*args)
    assert hooked.arrow_queries == [Query({"nsites": {"$gt": 1}}, ["task_id", "formula", "calc"],
                                          [("nsites", -1)], 1, 3)]
    assert df["via"].tolist() == ["arrow"] * 3  # the frame is the hook's table
    # flattened and typed as the dict path does it
    pd.testing.assert_frame_equal(df.drop(columns="via"), plain.query_df(*args))


def test_whole_frames_match_the_dict_path(hooked, plain):
    df = hooked.query_df(sort={"nsites": 1})
    expected = plain.query_df(sort={"nsites": 1})
    pd.testing.assert_frame_equal(df.drop(columns="via"), expected)
    assert df["magmom"].dtype == pd.Int64Dtype()
    assert hooked.to_arrow().drop_columns("via").equals(plain.to_arrow())


def test_to_parquet_streams_instead_of_find_arrow(hooked, tmp_path):
    assert hooked.to_parquet(tmp_path / "x.parquet", batch_size=2) == 6
    assert hooked.arrow_queries == []


def test_fetch_on_top_of_find_arrow(make_store):
    index = HookedIndex(f"hooked-s3-{next(_names)}")
    store = make_store(index=index, searchable_fields=["nsites"])
    store.update([{"task_id": f"o{i}", "nsites": i, "deep": {"x": i * 2}} for i in range(3)])
    df = store.query_df(fetch=["deep.x"], sort={"nsites": 1})
    assert len(index.arrow_queries) == 1
    assert df["deep.x"].tolist() == [0, 2, 4]
    assert "obj_hash" not in df  # bookkeeping stays hidden on this path too


def test_find_arrow_returning_none_falls_back_to_dicts(hooked, plain, monkeypatch):
    monkeypatch.setattr(hooked, "_find_arrow", lambda q: hooked.arrow_queries.append(q))
    df = hooked.query_df(sort={"nsites": 1})
    assert len(hooked.arrow_queries) == 1
    pd.testing.assert_frame_equal(df, plain.query_df(sort={"nsites": 1}))


def test_arrow_list_columns_are_python_lists_and_dicts(hooked):
    sites = [{"el": "Si", "xyz": [0.0, 0.5]}, {"el": "O", "xyz": [1.0, 0.0]}]
    hooked.update([{"task_id": "mp-9", "nsites": 9, "elements": [], "grid": [[1, 2], [], [3]],
                    "sites": sites}])
    df = hooked.query_df(fields=["elements", "grid", "sites"], sort={"nsites": 1})
    assert hooked.arrow_queries and df["elements"].dtype == object
    assert df["elements"].tolist() == [d["elements"] for d in _docs()] + [[]]
    assert df["grid"].tolist() == [None] * 6 + [[[1, 2], [], [3]]]
    assert df["sites"].tolist() == [None] * 6 + [sites]  # list<struct>: lists of dicts
    assert {type(v) for v in df["elements"]} == {list}
    df["elements"][0].append("X")  # every row its own list, as with the dict path
    assert df["elements"][3] == ["Si"]


def test_flatten_false_reads_documents_not_find_arrow(hooked, plain):
    hooked.update([{"task_id": "odd", "nsites": 99, "calc": {"ismear": -5}}])
    plain.update([{"task_id": "odd", "nsites": 99, "calc": {"ismear": -5}}])
    df = hooked.query_df(fields=["calc"], flatten=False, sort={"nsites": 1})
    assert hooked.arrow_queries == []  # a struct column would give every row every key
    assert df["calc"].tolist()[-1] == {"ismear": -5}
    pd.testing.assert_frame_equal(df, plain.query_df(fields=["calc"], flatten=False,
                                                     sort={"nsites": 1}))


def test_list_columns_leave_the_garbage_collector_as_they_found_it(hooked):
    assert gc.isenabled()
    hooked.query_df(fields=["elements"])
    assert gc.isenabled()
    gc.disable()
    try:
        hooked.query_df(fields=["elements"])
        assert not gc.isenabled()  # the caller's choice stands
    finally:
        gc.enable()


def test_overlapping_pauses_resume_the_collector_after_the_last():
    first, second = gc_paused(), gc_paused()
    first.__enter__()
    second.__enter__()  # another thread's conversion, begun before the first ends
    first.__exit__(None, None, None)
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()


# ---------------------------------------------------------------- _inventory and _sample


def test_fields_uses_the_backend_inventory(hooked):
    ready = pd.DataFrame({"field": ["task_id", "obj_hash", "nsites"], "types": ["str"] * 3,
                          "count": [10**6] * 3, "fraction": [1.0] * 3,
                          "distinct": [10**6, 10**6, 97], "example": ["mp-0", "ab", 1]})
    hooked.inventory = ready
    inv = hooked.fields(sample=2)
    assert inv["count"].tolist() == [10**6] * 3  # the hook's numbers, not a sample's
    assert hooked.samples == []
    assert inv.attrs["complete"] is True
    assert repr(inv).startswith(f"fields of all 6 entries in {hooked.name}\n")


def test_s3store_drops_bookkeeping_from_the_backend_inventory(make_store):
    ready = pd.DataFrame({"field": ["task_id", "obj_hash", "nsites"], "types": ["str"] * 3,
                          "count": [1] * 3, "fraction": [1.0] * 3, "distinct": [1] * 3,
                          "example": ["a", "b", 1]})
    store = make_store(index=HookedIndex(f"hooked-s3-{next(_names)}", ready))
    assert store.fields()["field"].tolist() == ["task_id", "nsites"]


def test_fields_samples_through_the_backend_when_the_index_is_larger(hooked):
    inv = hooked.fields(sample=2)
    assert hooked.samples == [2]
    assert inv.attrs == {"sampled": 2, "total": 6, "complete": False, "index": hooked.name}
    assert inv.set_index("field").loc["task_id", "example"] == "mp-5"  # what _sample drew
    assert inv["count"].max() == 2


# ---------------------------------------------------------------- what fields() counted


def test_fields_of_a_small_index_counts_every_entry(plain):
    inv = plain.fields(sample=6)
    assert inv.attrs == {"sampled": 6, "total": 6, "complete": True, "index": plain.name}
    assert repr(inv).startswith(f"fields of all 6 entries in {plain.name}\n")
    assert inv.set_index("field").loc["magmom", "count"] == 3
    assert "<i>fields of all 6 entries" in inv._repr_html_()


def test_a_sampled_fields_table_says_so(plain):
    inv = plain.fields(sample=4)
    caption = repr(inv).splitlines()[0]
    assert re.fullmatch(r"fields of a SAMPLE of 4 of 6 entries in \S+: count, fraction and "
                        r"distinct are over the sample \(fields\(sample=6\) reads all\)",
                        caption)
    assert inv._repr_html_().startswith(f"<p><i>{caption}</i></p>")
    assert (inv["fraction"] == inv["count"] / 4).all()  # fractions of the sample
    # derived frames are plain DataFrames that keep the labels
    assert type(inv.set_index("field")) is pd.DataFrame
    assert inv.set_index("field").attrs["complete"] is False


def test_sample_none_reads_small_indexes_whole(plain, monkeypatch):
    inv = _inventory.inventory(plain, None)
    assert inv.attrs["complete"] is True
    monkeypatch.setattr(_inventory, "READ_ALL_UP_TO", 5)
    monkeypatch.setattr(_inventory, "DEFAULT_SAMPLE", 3)
    inv = _inventory.inventory(plain, None)
    assert inv.attrs == {"sampled": 3, "total": 6, "complete": False, "index": plain.name}


# ---------------------------------------------------------------- maggma's stores as an index


@pytest.mark.slow
def test_an_index_without_hooks_uses_its_public_query(make_store):
    maggma_stores = pytest.importorskip("maggma.stores")
    collection = mongomock_ng.MongoClient()["db"][f"maggma-{next(_names)}"]
    index = maggma_stores.MongoStore.from_collection(collection)
    index.key = "task_id"
    store = make_store(index=index, searchable_fields=["formula", "nsites"])
    store.update(_docs(5))
    df = store.query_df(fields=["nsites"], sort={"nsites": -1}, limit=3, fetch=["calc.encut"])
    assert df["task_id"].tolist() == ["mp-4", "mp-3", "mp-2"]
    assert df["calc.encut"].tolist() == [524, 523, 522]
    assert "_id" not in store.query_df()  # maggma hands out MongoDB's _id; frames drop it
    assert not hasattr(index, "_sample")
    inv = store.fields(sample=2)  # the first entries: maggma's stores draw no samples
    assert inv.attrs["complete"] is False
    assert inv.set_index("field").loc["task_id", "count"] == 2
    assert "_id" not in inv["field"].tolist()


def test_memory_store_samples_distinct_entries(plain):
    drawn = plain._sample(4)
    keys = [d["task_id"] for d in drawn]
    assert len(set(keys)) == 4 and set(keys) <= {d["task_id"] for d in _docs()}
    assert all("_id" not in d for d in drawn)
    assert sorted(d["task_id"] for d in plain._sample(100)) == sorted(
        d["task_id"] for d in _docs())  # never more than the index holds
