"""Round trips with maggma 0.77.1 itself, both directions, over one bucket and one index.

Both libraries share a pymongo-compatible collection (mongomock), as two programs would share
a MongoDB collection, and the same moto S3 endpoint over HTTP.
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from pathlib import Path

import mongomock_ng
import numpy as np
import pytest

from s3explore import MongoStore, S3Store
from tests.conftest import CREDENTIALS

maggma_stores = pytest.importorskip("maggma.stores")
from monty.msgpack import default as monty_default  # noqa: E402


def documents(n: int = 6) -> list[dict]:
    rng = np.random.default_rng(0)
    return [
        {
            "task_id": f"mp-{i}",
            "formula": ["Fe2O3", "NaCl", "Si"][i % 3],
            "nsites": i + 1,
            "band_gap": 0.5 * i,
            "structure": {"lattice": rng.random((3, 3)), "species": ["Fe", "O"]},
            "dos": {"energies": np.linspace(-3, 3, 40), "densities": rng.random(40)},
            "calc_id": uuid.UUID(int=i),
            "path": Path(f"/runs/{i}"),
            "created": dt.datetime(2023, 5, i + 1, 12, 30, 15, 250000),
            "last_updated": dt.datetime(2024, 1, 1) + dt.timedelta(days=i),
        }
        for i in range(n)
    ]


@pytest.fixture
def shared_collection():
    return mongomock_ng.MongoClient()["materials"][f"index_{uuid.uuid4().hex[:6]}"]


def maggma_store(collection, s3_server, bucket, **kwargs):
    index = maggma_stores.MongoStore.from_collection(collection)
    index.key = "task_id"
    store = maggma_stores.S3Store(index, bucket, s3_profile=dict(CREDENTIALS),
                                  endpoint_url=s3_server.endpoint_url, **kwargs)
    store.connect()
    return store


def our_store(collection, s3_server, bucket, **kwargs):
    index = MongoStore(collection.database.name, collection.name,
                       client=collection.database.client)
    store = S3Store(index, bucket, s3_profile=dict(CREDENTIALS),
                    endpoint_url=s3_server.endpoint_url, **kwargs)
    store.connect()
    return store


def assert_same_document(ours: dict, original: dict) -> None:
    assert ours.keys() == original.keys()
    for field, value in original.items():
        if isinstance(value, dict):
            assert_same_document(ours[field], value)
        elif isinstance(value, np.ndarray):
            np.testing.assert_array_equal(ours[field], value)
            assert ours[field].dtype == value.dtype
        else:
            assert ours[field] == value, field


def without_ids(entries) -> list[dict]:
    return sorted(({k: v for k, v in e.items() if k != "_id"} for e in entries),
                  key=lambda e: e["task_id"])


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("sub_dir", [None, "project/v1"])
@pytest.mark.slow
def test_we_read_what_maggma_wrote(shared_collection, s3_server, bucket, compress, sub_dir):
    docs = documents()
    fields = ["formula", "nsites", "band_gap"]
    theirs = maggma_store(shared_collection, s3_server, bucket, compress=compress,
                          sub_dir=sub_dir, searchable_fields=fields)
    theirs.update(copy.deepcopy(docs))
    maggma_entries = without_ids(shared_collection.find())

    ours = our_store(shared_collection, s3_server, bucket, compress=compress, sub_dir=sub_dir,
                     searchable_fields=fields)
    read = {d["task_id"]: d for d in ours.query()}
    assert len(read) == len(docs)
    for original in docs:
        assert_same_document(read[original["task_id"]], original)
    assert ours.count({"nsites": {"$gt": 3}}) == 3

    # Writing the same documents again through s3explore leaves maggma's index entries,
    # plus the ETag each object got (which maggma ignores; verify() lists instead of reads).
    shared_collection.delete_many({})
    assert ours.update(copy.deepcopy(docs)).ok
    ours_now = without_ids(shared_collection.find())
    etags = {o["Key"]: o["ETag"][1:-1] for o in s3_server.client().list_objects_v2(
        Bucket=bucket)["Contents"]}
    prefix = ours.sub_dir
    assert [e.pop("obj_etag") for e in ours_now] == [etags[prefix + e["task_id"]]
                                                     for e in ours_now]
    assert ours_now == maggma_entries


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("sub_dir", [None, "project/v1"])
@pytest.mark.slow
def test_maggma_reads_what_we_wrote(shared_collection, s3_server, bucket, compress, sub_dir):
    import msgpack

    docs = documents()
    ours = our_store(shared_collection, s3_server, bucket, compress=compress, sub_dir=sub_dir,
                     searchable_fields=["formula", "nsites"])
    assert ours.update(docs).ok

    theirs = maggma_store(shared_collection, s3_server, bucket, compress=compress,
                          sub_dir=sub_dir, searchable_fields=["formula", "nsites"])
    read = {d["task_id"]: d for d in theirs.query()}
    assert len(read) == len(docs)
    for original in docs:
        body = {k: v for k, v in original.items() if k != "last_updated"}
        # maggma leaves tagged values tagged: compare with monty's own encoding
        expected = msgpack.unpackb(msgpack.packb(body, default=monty_default), raw=False)
        got = dict(read[original["task_id"]])
        assert got.pop("last_updated") == original["last_updated"]
        assert got == expected
    assert theirs.count({"formula": "Si"}) == 2


def test_maggma_rebuilds_metadata_we_can_use(shared_collection, s3_server, bucket):
    ours = our_store(shared_collection, s3_server, bucket, compress=True,
                     searchable_fields=["formula"])
    ours.update(documents(3))
    theirs = maggma_store(shared_collection, s3_server, bucket, compress=True,
                          searchable_fields=["formula"])
    theirs.rebuild_metadata_from_index()
    # maggma's rewrite keeps our digest (and adds the entry's obj_hash, which is not trusted)
    checked = ours.verify()
    assert checked.ok and checked.hashes_from_index == 3 and checked.unchecked == []
    metadata = s3_server.client().head_object(Bucket=bucket, Key="mp-1")["Metadata"]
    assert {"obj-hash", "obj-etag"} <= metadata.keys()
    shared_collection.delete_many({})
    assert ours.rebuild_index_from_s3_data() == 3
    assert sorted(ours.distinct("formula")) == ["Fe2O3", "NaCl", "Si"]
    assert not {"obj-hash", "obj-etag"} & set().union(*map(set, ours.index.query()))
