"""MongoStore's columnar read (pymongoarrow) on a real server: FerretDB, or S3X_MONGODB_URI.

pymongoarrow infers a column's type from its first value and bends later values of another
type (a string in an int column becomes null, 2.5 becomes 2, a scalar in a list column an
empty list). s3explore checks each table on the server and falls back to the dict path when
a column is mixed, so every value comes back whole. The spy on ``find_arrow`` records what
the columnar read answered: a Table when it was used, None when the dict path was.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pandas as pd
import pyarrow as pa
import pymongoarrow.api
import pytest

from s3explore import MemoryStore, MongoStore
from s3explore._stores import _mongo_arrow
from s3explore._stores._timezones import AWARE_FIELD
from tests import servers
from tests.frames.conftest import _docs


@pytest.fixture
def mongo():
    store = MongoStore.from_uri(servers.mongodb_uri(), f"arrow-{uuid.uuid4().hex[:8]}",
                                database="s3x_test")
    store.connect()
    yield store
    store.collection.drop()
    store.close()


@pytest.fixture
def answers(monkeypatch) -> list:
    """What each columnar read answered (MongoStore imports find_arrow at each call)."""
    seen: list = []
    real = _mongo_arrow.find_arrow

    def spy(store, q):
        seen.append(real(store, q))
        return seen[-1]

    monkeypatch.setattr(_mongo_arrow, "find_arrow", spy)
    return seen


def dict_path(docs: list[dict], **kwargs) -> pd.DataFrame:
    """The same query on an embedded store, which always builds from dicts."""
    store = MemoryStore(f"dicts-{uuid.uuid4().hex[:8]}")
    store.connect()
    store.update(docs)
    return store.query_df(**kwargs)


CLEAN = [  # every field one type (or missing): pymongoarrow keeps them all
    {"task_id": f"t{i}", "n": i, "x": 0.5 * i, "ok": i % 2 == 0, "name": f"s{i}",
     "when": dt.datetime(2024, 1, 1 + i, 12), "calc": {"encut": 500 + i, "k": {"d": 1.5}},
     "tags": ["a", "b"][: i % 3], "sites": [{"el": "Fe", "z": 26}] * (i % 2),
     **({"rare": i} if i % 3 == 0 else {})}
    for i in range(7)
]


def test_clean_fields_take_the_columnar_read_and_match_the_dict_path(mongo, answers):
    mongo.update(CLEAN)
    df = mongo.query_df(sort={"task_id": 1})
    assert len(answers) == 1 and isinstance(answers[0], pa.Table)  # the columnar read ran
    pd.testing.assert_frame_equal(df, dict_path(CLEAN, sort={"task_id": 1}))
    assert df["n"].tolist() == list(range(7)) and df["calc.k.d"].tolist() == [1.5] * 7


def test_the_frames_documents_take_the_columnar_read(mongo, answers):
    mongo.update(_docs())
    df = mongo.query_df({"nsites": {"$gt": 1}}, ["formula", "calc", "magmom"],
                        sort={"nsites": -1}, limit=4)
    assert isinstance(answers[0], pa.Table)
    expected = dict_path(_docs(), criteria={"nsites": {"$gt": 1}},
                         fields=["formula", "calc", "magmom"], sort={"nsites": -1}, limit=4)
    pd.testing.assert_frame_equal(df, expected)
    assert df["task_id"].tolist() == ["mp-5", "mp-4", "mp-3", "mp-2"]


MIXED = {  # one field, a value per document, of types pymongoarrow would bend
    "int then str": [1, "a", 2],
    "int then float": [1, 2.5, 3],  # pymongoarrow: 2.5 -> 2
    "bool then int": [True, 1],
    "str then int": ["a", 1],
    "dict then scalar": [{"x": 1}, 5, {"x": 2}],  # pymongoarrow: 5 -> {"x": None}
    "scalar then dict": [5, {"x": 1}],
    "list then scalar": [[1, 2], 3],  # pymongoarrow: 3 -> []
    "scalar then list": [3, [1, 2]],
    "list of mixed items": [[1, "a"], [2]],
    "dict with a mixed inner field": [{"x": 1}, {"x": "s"}],
    "list of dicts with a mixed field": [[{"a": 1}], [{"a": "one"}]],
    "list of dicts then of scalars": [[{"a": 1}], [7]],
    "datetime then str": [dt.datetime(2024, 1, 1), "later"],  # pymongoarrow raises
}


@pytest.mark.parametrize("values", list(MIXED.values()), ids=list(MIXED))
def test_a_field_of_mixed_types_comes_back_whole(mongo, answers, values):
    docs = [{"task_id": f"t{i}", "v": v} for i, v in enumerate(values)]
    mongo.update(docs)
    flat = mongo.query_df(sort={"task_id": 1})
    assert answers == [None]  # checked on the server: the dict path
    pd.testing.assert_frame_equal(flat, dict_path(docs, sort={"task_id": 1}))
    whole = mongo.query_df(sort={"task_id": 1}, flatten=False)  # the dict path always
    assert whole["v"].tolist() == values


def test_a_mixed_field_outside_the_window_keeps_the_columnar_read(mongo, answers):
    # the check runs on the query's own window (criteria, sort, skip, limit)
    mongo.update([{"task_id": f"t{i}", "v": i if i < 5 else "text"} for i in range(8)])
    df = mongo.query_df({"task_id": {"$lt": "t9"}}, sort={"task_id": 1}, skip=1, limit=3)
    assert isinstance(answers[0], pa.Table)
    assert df["v"].tolist() == [1, 2, 3]
    df = mongo.query_df(sort={"task_id": 1}, skip=3)
    assert answers[1] is None
    assert df["v"].tolist() == [3, 4, "text", "text", "text"]


def test_pymongoarrow_is_asked_only_for_a_real_pymongo_collection(mongo, monkeypatch):
    import mongomock_ng

    calls = []
    real = pymongoarrow.api.find_arrow_all

    def counting(collection, query, **kwargs):
        calls.append((query, kwargs))
        return real(collection, query, **kwargs)

    monkeypatch.setattr(pymongoarrow.api, "find_arrow_all", counting)
    mongo.update(_docs())
    injected = MongoStore("db", "c", client=mongomock_ng.MongoClient())
    injected.connect()
    injected.update(_docs())
    assert len(injected.query_df()) == 6
    assert calls == []  # mongomock: the dict path
    mongo.query_df({"nsites": {"$gt": 2}}, ["calc"], sort={"nsites": -1}, limit=2)
    assert calls == [({"nsites": {"$gt": 2}}, {
        "projection": {"task_id": 1, "calc": 1, "_id": 0, AWARE_FIELD: 1},
        "sort": [("nsites", -1)],
        "limit": 2, "max_time_ms": mongo.max_time_ms})]
    monkeypatch.setattr(_mongo_arrow, "USE_PYMONGOARROW", False)  # switched off
    assert len(mongo.query_df()) == 6
    assert len(calls) == 1
