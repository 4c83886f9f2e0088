"""Public classes compose the frames; pymongoarrow when present; clean frames warn nothing."""

from __future__ import annotations

import sys
import types
import warnings

import pandas as pd
import pyarrow as pa
import pymongo
import pytest

import s3explore
from s3explore import MemoryStore, MongoStore, S3Store, _stores
from s3explore._stores import _mongo_arrow
from tests.frames.conftest import _names, _s3_docs

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
