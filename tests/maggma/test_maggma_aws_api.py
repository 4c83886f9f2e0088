"""maggma 0.77.1's S3Store tests (its tests/stores/test_aws.py), at the API level, on ours.

maggma users' code relies on what those tests check, so each check is made here against
s3explore's S3Store over HTTP: on moto's server and on Versity S3 Gateway, with MongoStores
on FerretDB where maggma's tests use a MongoDB. What maggma's file checks through boto3's
resource objects (``s3_bucket.Object``) is read here with a plain client. Left out: the
tests of maggma's internals (``write_doc_to_s3`` timing, a patched-out boto3 module, a
patched ``s3_bucket.Object``, ``_get_session``, SSH tunnels, which we refuse clearly).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os

import pytest

from s3explore import MemoryStore, MongoStore, S3Store
from tests import servers

pytestmark = pytest.mark.real_s3

_names = itertools.count()


@pytest.fixture
def s3store(make_store):
    """maggma's ``s3store`` fixture: two documents, mp-1 and mp-3."""
    store = make_store(key="task_id")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    store.update([{"task_id": "mp-1", "data": "asd", store.last_updated_field: now}])
    store.update([{"task_id": "mp-3", "data": "sdf", store.last_updated_field: now}])
    return store


@pytest.fixture
def s3store_w_subdir(make_store):
    return make_store(sub_dir="subdir1", s3_workers=1)


@pytest.fixture(scope="module")
def ferretdb():
    """A FerretDB of this module's own, on a port it chooses (maggma's tests use 27017)."""
    if os.environ.get("S3X_MONGODB_URI"):
        pytest.skip("these tests start their own FerretDB to choose its port")
    with servers.FerretDB() as server:
        yield server


@pytest.fixture
def mongostore(ferretdb):
    store = MongoStore("maggma_test", f"test-{next(_names)}", host="127.0.0.1",
                       port=ferretdb.port)
    store.connect()
    yield store
    store._collection.drop()
    store.close()


def object_keys(s3_server, bucket: str, prefix: str = "") -> list[str]:
    listed = s3_server.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for o in listed.get("Contents", [])]


def test_count(s3store):
    assert s3store.count() == 2
    assert s3store.count({"task_id": "mp-3"}) == 1


def test_query(s3store):
    assert s3store.query_one(criteria={"task_id": "mp-2"}) is None
    assert s3store.query_one(criteria={"task_id": "mp-1"})["data"] == "asd"
    assert s3store.query_one(criteria={"task_id": "mp-3"})["data"] == "sdf"
    assert len(list(s3store.query())) == 2


def test_update_hashes_bodies_as_maggma_does(s3store):
    s3store.update([{"task_id": "mp-199999", "data": "asd",
                     s3store.last_updated_field: dt.datetime(2024, 1, 1)}])
    assert s3store.query_one({"task_id": "mp-199999"}) is not None
    s3store.compress = True
    s3store.update([{"task_id": "mp-4", "data": "asd"}])
    entry = s3store.index.query_one({"task_id": "mp-4"})
    # maggma's test pins this digest: the same body, byte for byte
    assert entry["compression"] == "zlib"
    assert entry["obj_hash"] == "be74de5ac71f00ec9e96441a3c325b0592c07f4c"
    assert s3store.query_one({"task_id": "mp-4"})["data"] == "asd"


def test_rebuild_meta_from_index(s3store, s3_server, bucket):
    s3store.update([{"task_id": "mp-2", "data": "asd"}])
    s3store.index.update({"task_id": "mp-2", "add_meta": "hello"})
    s3store.rebuild_metadata_from_index()
    head = s3_server.client().head_object(Bucket=bucket, Key="mp-2")
    # maggma's rebuild writes the entry's names only lower-cased ("add_meta") beside the
    # sanitised ones its update writes ("task-id"), so a field can stand twice against the
    # 2 KB limit. Ours writes what update writes: maggma's sanitised name, mapped back by
    # s3-to-mongo-keys, which names the field as the index has it.
    assert head["Metadata"]["add-meta"] == "hello"
    assert json.loads(head["Metadata"]["s3-to-mongo-keys"])["add_meta"] == "add-meta"


def test_rebuild_index(s3store):
    s3store.update([{"task_id": "mp-2", "data": "asd"}])
    digest = "a69fe0c2cca3a3384c2b1d2f476972704f179741"  # maggma's test pins it too
    assert s3store.index.query_one({"task_id": "mp-2"})["obj_hash"] == digest
    s3store.index.remove_docs({})
    assert s3store.index.query_one({"task_id": "mp-2"}) is None
    s3store.rebuild_index_from_s3_data()
    assert s3store.index.query_one({"task_id": "mp-2"})["obj_hash"] == digest


def test_msonable_read_write(s3store):
    s3store.update([{"task_id": "mp-2", "data": s3store.as_dict()}])
    assert s3store.query_one({"task_id": "mp-2"})["data"]["@module"].startswith("s3explore")


def test_remove(s3store, s3_server, bucket):
    s3store.update([{"task_id": "mp-2", "data": "asd"}])
    s3store.update([{"task_id": "mp-4", "data": "asd"}])
    s3store.update({"task_id": "mp-5", "data": "aaa"})
    assert s3store.query_one({"task_id": "mp-2"}) is not None
    assert {"mp-2", "mp-4"} <= set(object_keys(s3_server, bucket))

    s3store.remove_docs({"task_id": "mp-2"})
    s3store.remove_docs({"task_id": "mp-4"}, remove_s3_object=True)

    keys = set(object_keys(s3_server, bucket))
    assert "mp-2" in keys and "mp-4" not in keys  # maggma keeps objects unless asked
    assert s3store.query_one({"task_id": "mp-2"}) is None
    assert s3store.query_one({"task_id": "mp-5"}) is not None


def test_eq(mongostore, s3store):
    assert s3store == s3store
    assert mongostore != s3store


def test_count_subdir(s3store_w_subdir):
    s3store_w_subdir.update([{"task_id": "mp-1", "data": "asd"}])
    s3store_w_subdir.update([{"task_id": "mp-2", "data": "asd"}])
    assert s3store_w_subdir.count() == 2
    assert s3store_w_subdir.count({"task_id": "mp-2"}) == 1


def test_subdir_field(s3store_w_subdir, s3_server, bucket):
    s3store_w_subdir.update([{"task_id": "mp-1", "data": "asd"}])
    s3store_w_subdir.update([{"task_id": "mp-2", "data": "asd"}])
    entries = list(s3store_w_subdir.index.query())
    assert len(entries) == 2
    assert all(entry["sub_dir"] == s3store_w_subdir.sub_dir == "subdir1/" for entry in entries)
    assert sorted(object_keys(s3_server, bucket)) == ["subdir1/mp-1", "subdir1/mp-2"]


def test_remove_subdir(s3store_w_subdir):
    s3store_w_subdir.update([{"task_id": "mp-2", "data": "asd"}])
    s3store_w_subdir.update([{"task_id": "mp-4", "data": "asd"}])
    s3store_w_subdir.remove_docs({"task_id": "mp-2"})
    assert s3store_w_subdir.query_one({"task_id": "mp-2"}) is None
    assert s3store_w_subdir.query_one({"task_id": "mp-4"}) is not None


def test_searchable_fields(s3store):
    when = dt.datetime(2018, 4, 12, 16)
    data = [{"task_id": f"mp-{i}", "a": i, s3store.last_updated_field: when} for i in range(4)]
    s3store.searchable_fields = ["task_id"]
    s3store.update(data, key="a")
    assert set(s3store.distinct("task_id")) == {"mp-0", "mp-1", "mp-2", "mp-3"}


def test_additional_metadata(s3store):
    when = dt.datetime(2018, 4, 12, 16)
    data = [{"task_id": f"mp-{i}", "a": i, s3store.last_updated_field: when} for i in range(4)]
    s3store.update(data, key="a", additional_metadata="task_id")
    assert set(s3store.distinct("task_id")) == {"mp-0", "mp-1", "mp-2", "mp-3"}


def test_newer_in(s3_server, make_store):
    other_bucket = s3_server.create_bucket(f"newer-{os.getpid()}-{next(_names)}")
    old, new = dt.datetime(2018, 4, 12, 16), dt.datetime(2024, 6, 1)
    old_store = make_store(bucket=other_bucket)
    old_store.update([{"task_id": "mp-1", "last_updated": old}])
    old_store.update([{"task_id": "mp-2", "last_updated": old}])
    new_store = make_store(bucket=other_bucket)
    new_store.update([{"task_id": "mp-1", "last_updated": new}])
    new_store.update([{"task_id": "mp-2", "last_updated": new}])

    assert len(old_store.newer_in(new_store)) == 2
    assert len(new_store.newer_in(old_store)) == 0
    assert len(old_store.newer_in(new_store.index)) == 2
    assert len(new_store.newer_in(old_store.index)) == 0


@pytest.mark.slow
def test_no_bucket(s3_server):
    store = S3Store(MemoryStore("index"), f"absent-{os.getpid()}-{next(_names)}",
                    s3_profile=s3_server.credentials, endpoint_url=s3_server.endpoint_url)
    with pytest.raises(RuntimeError, match=r".*Bucket not present.*"):
        store.connect()


def test_force_reset(s3store):
    content = [{"task_id": "mp-4", "data": "abc",
                s3store.last_updated_field: dt.datetime(2024, 1, 1)}]
    s3store.connect(force_reset=True)
    s3store.update(content)
    assert s3store.count({"task_id": "mp-4"}) == 1
    s3store.connect()
    s3store.update(content)
    assert s3store.count({"task_id": "mp-4"}) == 1
    s3store.close()


def test_index_store_kwargs(ferretdb, s3_server, bucket):
    index = MongoStore("db", collection_name=f"index-{next(_names)}", key="task_id")
    store = S3Store(index, bucket, key="task_id", index_store_kwargs={"port": ferretdb.port},
                    s3_profile=s3_server.credentials, endpoint_url=s3_server.endpoint_url)
    assert store.index.port == ferretdb.port
    # and the index really is that server's: what the store writes, FerretDB holds
    store.index.host = "127.0.0.1"
    with store:
        store.update([{"task_id": "mp-1", "data": "asd"}])
        import pymongo

        client = pymongo.MongoClient(ferretdb.uri)
        try:
            held = client["db"][store.index.collection_name].find_one({"task_id": "mp-1"})
        finally:
            client.close()
        assert held is not None and held["obj_hash"]
