"""The index stores share one interface; every backend runs the same tests.

MongoStore runs through pymongo's code path with an injected pymongo-compatible client
(mongomock), and on a real server: FerretDB (MongoDB's wire protocol), or the MongoDB that
S3X_MONGODB_URI names.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import uuid

import pytest

from s3explore import (
    ConfigurationError,
    InvalidDocumentError,
    MemoryStore,
    MissingDependencyError,
    MongograntStore,
    MongoStore,
    MontyStore,
    NotConnectedError,
    QueryError,
    StoreConnectionError,
)
from tests.backends import INDEX_BACKENDS, drop_index, make_index


@pytest.fixture(params=list(INDEX_BACKENDS))
def index(request, tmp_path):
    store = make_index(request.param, f"c{uuid.uuid4().hex[:8]}", tmp_path)
    store.connect()
    store.update([
        {"task_id": "a", "formula": "Fe2O3", "nsites": 10, "calc": {"encut": 520},
         "elements": ["Fe", "O"], "last_updated": dt.datetime(2024, 1, 1)},
        {"task_id": "b", "formula": "NaCl", "nsites": 2, "calc": {"encut": 400},
         "elements": ["Na", "Cl"], "last_updated": dt.datetime(2024, 3, 1)},
        {"task_id": "c", "formula": "Si", "nsites": 2, "elements": ["Si"],
         "last_updated": dt.datetime(2024, 2, 1)},
    ])
    yield store
    drop_index(request.param, store)


def keys(docs) -> list:
    return [d["task_id"] for d in docs]


def test_query_criteria_sort_skip_limit(index):
    assert keys(index.query(sort={"task_id": 1})) == ["a", "b", "c"]
    assert keys(index.query({"nsites": 2}, sort={"task_id": -1})) == ["c", "b"]
    assert keys(index.query(sort={"task_id": 1}, skip=1, limit=1)) == ["b"]
    assert keys(index.query({"calc.encut": {"$gt": 450}})) == ["a"]
    assert keys(index.query({"elements": {"$in": ["Na"]}})) == ["b"]


def test_query_hides_mongo_ids_unless_asked(index):
    assert all("_id" not in d for d in index.query())
    assert "_id" in index.query_one(properties=["_id", "task_id"])


def test_properties_project(index):
    doc = index.query_one({"task_id": "a"}, properties=["formula", "calc.encut"])
    assert doc == {"formula": "Fe2O3", "calc": {"encut": 520}}
    assert index.query_one({"task_id": "a"}, properties={"nsites": 1}) == {"nsites": 10}


def test_count_distinct_query_one(index):
    # FerretDB's distinct refuses maxTimeMS ("unknown field"): MongoStore sends none there
    assert index.count() == 3
    assert index.count({"nsites": 2}) == 2
    assert sorted(index.distinct("formula")) == ["Fe2O3", "NaCl", "Si"]
    assert sorted(index.distinct("task_id", {"nsites": {"$lt": 5}})) == ["b", "c"]
    assert index.query_one({"task_id": "zzz"}) is None


def test_groupby(index):
    # FerretDB's $group has no $push: MongoStore groups the documents itself there
    groups = list(index.groupby("nsites", properties=["task_id"]))
    assert [(g, sorted(keys(docs))) for g, docs in groups] == [
        ({"nsites": 2}, ["b", "c"]), ({"nsites": 10}, ["a"])
    ]
    assert len(list(index.groupby(["nsites"], limit=1))) == 1
    assert [g for g, _ in index.groupby("nsites", skip=1)] == [{"nsites": 10}]


def test_update_upserts_by_key(index):
    index.update({"task_id": "a", "formula": "Fe3O4", "nsites": 14})
    assert index.count() == 3
    assert index.query_one({"task_id": "a"}) == {"task_id": "a", "formula": "Fe3O4", "nsites": 14}


def test_update_by_other_key(index):
    index.update([{"task_id": "a2", "formula": "Si", "nsites": 8}], key="formula")
    assert index.count({"formula": "Si"}) == 1
    assert index.query_one({"formula": "Si"})["task_id"] == "a2"


def test_update_rejects_bad_documents(index):
    with pytest.raises(InvalidDocumentError, match="task_id"):
        index.update([{"formula": "x"}])
    with pytest.raises(InvalidDocumentError, match="dict"):
        index.update(["not a doc"])
    assert index.count() == 3


def test_remove_docs(index):
    index.remove_docs({"nsites": 2})
    assert keys(index.query()) == ["a"]


def test_ensure_index(index):
    assert index.ensure_index("formula") is True


def test_last_updated_and_newer_in(index):
    assert index.last_updated == dt.datetime(2024, 3, 1)
    empty = MemoryStore("empty")
    empty.connect()
    assert empty.last_updated == dt.datetime.min
    assert sorted(empty.newer_in(index)) == ["a", "b", "c"]
    empty.update([{"task_id": "a", "last_updated": dt.datetime(2023, 12, 1)},
                  {"task_id": "c", "last_updated": dt.datetime(2024, 2, 15)}])
    # by the newest date alone only b is newer; item by item, a is newer and b is new
    assert sorted(empty.newer_in(index)) == ["b"]
    assert sorted(empty.newer_in(index, exhaustive=True)) == ["a", "b"]


@pytest.mark.parametrize("criteria", ["nsites > 2", ["nsites"], 3])
def test_criteria_must_be_a_dict(index, criteria):
    with pytest.raises(QueryError, match="criteria must be a dict"):
        list(index.query(criteria))
    with pytest.raises(QueryError):
        index.count(criteria)


def test_unknown_operator_is_a_query_error(index):
    with pytest.raises(QueryError, match=r"\$bogus"):
        list(index.query({"nsites": {"$bogus": 1}}))
    with pytest.raises(QueryError, match=r"\$bogus"):
        index.count({"nsites": {"$bogus": 1}})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"sort": {"nsites": 2}}, "sort direction"), ({"sort": ["nsites"]}, "sort must be"),
     ({"skip": -1}, "skip"), ({"limit": "5"}, "limit"), ({"properties": 5}, "properties")],
)
def test_bad_query_arguments(index, kwargs, message):
    with pytest.raises(QueryError, match=message):
        list(index.query(**kwargs))


def test_embedded_stores_refuse_operators_they_cannot_run():
    store = MemoryStore("ops")
    store.connect()
    with pytest.raises(QueryError, match=r"MemoryStore does not support.*\$where"):
        list(store.query({"$where": "this.a > 1"}))


def test_close_before_connect_is_harmless_and_use_before_connect_is_clear():
    for store in (MemoryStore("x"), MontyStore("x"), MongoStore("db", "x")):
        store.close()
        with pytest.raises(NotConnectedError, match="connect"):
            store.count()


def test_memory_store_keeps_data_across_reconnect():
    store = MemoryStore("keep")
    with store:
        store.update({"task_id": 1})
    with store:
        assert store.count() == 1


def test_monty_store_persists_on_disk(tmp_path):
    path = str(tmp_path / "idx")
    with MontyStore("runs", database_path=path) as store:
        store.update([{"task_id": "x", "n": 1}])
    with MontyStore("runs", database_path=path) as again:
        assert again.query_one() == {"task_id": "x", "n": 1}


def test_constructor_validation():
    with pytest.raises(ConfigurationError, match="collection_name"):
        MemoryStore("")
    with pytest.raises(ConfigurationError, match="key"):
        MemoryStore("x", key="")
    with pytest.raises(ConfigurationError, match="storage"):
        MontyStore("x", storage="lmdb")
    with pytest.raises(ConfigurationError, match="mongodb://"):
        MongoStore.from_uri("http://host/db", "c")
    with pytest.raises(ConfigurationError, match="database"):
        MongoStore.from_uri("mongodb://host:27017/", "c")


def test_mongo_store_never_shows_its_password():
    store = MongoStore("db", "coll", host="db.example", username="reader",
                       password="hunter2-secret")
    uri_store = MongoStore.from_uri("mongodb://reader:uri-secret-pw@db.example:27017/db", "c")
    for text in (repr(store), str(store), store.name, repr(uri_store), uri_store.name):
        assert "hunter2-secret" not in text and "uri-secret-pw" not in text
    assert uri_store.database == "db"


def test_unreachable_mongodb_is_a_clear_connection_error():
    store = MongoStore("db", "c", host="127.0.0.1", port=1, username="u", password="pw-secret",
                       serverSelectionTimeoutMS=300)
    with pytest.raises(StoreConnectionError, match="cannot reach MongoDB") as info:
        store.connect()
    assert "pw-secret" not in str(info.value)


def test_mongogrant_without_the_extra_says_how_to_install():
    if importlib.util.find_spec("mongogrant") is not None:
        pytest.skip("mongogrant is installed")
    with pytest.raises(MissingDependencyError, match=r"s3explore\[mongogrant\]"):
        MongograntStore("ro:host/db", "coll")


def test_groupby_on_nested_keys(index):
    groups = list(index.groupby("calc.encut", properties=["task_id"]))
    assert [g for g, _ in groups] == [{"calc": {"encut": 400}}, {"calc": {"encut": 520}}]
    assert [keys(docs) for _, docs in groups] == [["b"], ["a"]]


def test_monty_write_errors_are_store_errors(monkeypatch):
    from montydb.errors import MontyError

    store = MontyStore("write-errors")
    store.connect()

    def broken(*args, **kwargs):
        raise MontyError("disk I/O error")

    # a dotted key takes montydb's own replace_one (plain keys take the batched path,
    # whose failures tests/stores/test_monty_writes.py covers)
    monkeypatch.setattr(store.collection, "replace_one", broken)
    with pytest.raises(StoreConnectionError, match="writing 1 documents to the index monty://"):
        store.update({"calc": {"id": "a"}}, key="calc.id")
