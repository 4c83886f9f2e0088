"""Faults: a flaky S3 endpoint and an index store that drops its connection mid-update.

The flaky endpoint is ``LocalS3(fail_rate=...)``: a WSGI wrapper in front of moto's server that
answers a fraction of requests with 500 InternalError or 503 SlowDown before moto sees them.
Moto keeps buckets per process, so the healthy session server (``s3_server``) sees the same
buckets and is used to create them and to list what really landed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import msgpack
import pytest

from s3explore import MemoryStore, MongoStore, S3Store, StoreConnectionError, TransientS3Error
from s3explore.local_s3 import LocalS3
from tests._faulty_index import FlakyMongoClient
from tests.conftest import CREDENTIALS

pytestmark = pytest.mark.real_s3

FAULT_RATE = 0.1


def small_doc(i: int) -> dict:
    return {"task_id": f"doc-{i:05d}", "n": i, "label": f"label-{i % 13}"}


def listed(s3_server: LocalS3, bucket: str) -> dict[str, str]:
    """``{key: ETag}`` of every object in the bucket, listed through a healthy endpoint."""
    paginator = s3_server.client().get_paginator("list_objects_v2")
    return {obj["Key"]: obj["ETag"].strip('"')
            for page in paginator.paginate(Bucket=bucket) for obj in page.get("Contents", [])}


def indexed(store: S3Store) -> set[str]:
    return set(store.index.distinct("task_id"))


@pytest.fixture
def flaky(s3_server: LocalS3) -> Iterator[LocalS3]:
    with LocalS3(fail_rate=FAULT_RATE, seed=20240607) as server:
        yield server


def flaky_store(endpoint: LocalS3, bucket: str, **kwargs) -> S3Store:
    store = S3Store(MemoryStore(f"idx-{bucket}"), bucket, s3_profile=dict(CREDENTIALS),
                    endpoint_url=endpoint.endpoint_url, searchable_fields=["n", "label"], **kwargs)
    store.connect()
    return store


@pytest.mark.moto_only  # moto's fault gate (fail_rate) in front of the fixture's bucket
@pytest.mark.slow
def test_2000_documents_land_and_are_indexed_through_10_percent_faults(
    flaky, s3_server, bucket, record_property
):
    # Ten attempts: a document is lost only if one request fails ten times in a row (1e-10).
    store = flaky_store(flaky, bucket, retries=10)
    docs = [small_doc(i) for i in range(2000)]

    result = store.update(docs, workers=8)

    assert result.ok, result.failures[:3]
    assert result.written == 2000
    assert flaky.faults["InternalError"] > 0 and flaky.faults["SlowDown"] > 0
    record_property("faults_injected", sum(flaky.faults.values()))  # figures for the docs
    record_property("requests", sum(flaky.requests.values()))
    expected = {d["task_id"] for d in docs}
    assert indexed(store) == expected and store.count() == 2000
    # Every object landed whole: its ETag is the MD5 of maggma's body (plain msgpack).
    etags = listed(s3_server, bucket)
    assert etags == {d["task_id"]: hashlib.md5(msgpack.packb(d)).hexdigest() for d in docs}
    # Reads ride out the same faults.
    sample = [d["task_id"] for d in docs[::10]]
    assert [d["n"] for d in store.get_many(sample, workers=8, on_missing="raise")] == \
        [int(k.split("-")[1]) for k in sample]
    store.close()


@pytest.mark.moto_only  # moto's fault gate (fail_rate) in front of the fixture's bucket
@pytest.mark.slow
def test_retries_exhausted_are_reported_per_key_and_index_matches_the_bucket(
    flaky, s3_server, bucket, record_property
):
    store = flaky_store(flaky, bucket)
    docs = [small_doc(i) for i in range(400)]

    result = store.update(docs, workers=8, retries=1, errors="collect")

    failed = set(result.failed_keys)
    assert failed, "a 10 % fault rate with one attempt per request must lose some documents"
    assert len(result.failures) == len(failed)  # one report per key
    for failure in result.failures:
        assert isinstance(failure.error, TransientS3Error)
        assert failure.key in failure.reason
        assert failure.error.code in ("InternalError", "SlowDown")
    objects = set(listed(s3_server, bucket))
    assert indexed(store) == objects  # the index holds exactly what landed
    assert objects | failed == {d["task_id"] for d in docs} and not objects & failed
    assert result.written == len(objects)
    record_property("failed_keys", len(failed))
    store.close()


@pytest.mark.slow
@pytest.mark.moto_only  # moto's fault gate (fail_when) in front of the fixture's bucket
def test_a_key_that_always_fails_is_retried_then_reported_and_its_old_copy_kept(
    s3_server, bucket
):
    poisoned = {"doc-00003", "doc-00017", "doc-00042"}

    def refuses_poisoned_puts(environ: dict) -> bool:
        return environ["PATH_INFO"].rsplit("/", 1)[-1] in poisoned

    with LocalS3(fail_methods=("PUT",), fail_when=refuses_poisoned_puts) as faulty:
        store = flaky_store(faulty, bucket)
        faulty.fail_when = None
        first = small_doc(3)
        assert store.update([first]).ok
        before = store.index.query_one({"task_id": "doc-00003"})
        faulty.fail_when = refuses_poisoned_puts

        changed = [{**small_doc(i), "label": "new"} for i in range(60)]
        result = store.update(changed, workers=8, retries=3, errors="collect")

        assert set(result.failed_keys) == poisoned
        assert faulty.faults["SlowDown"] == 3 * len(poisoned)  # every attempt was made
        expected = {d["task_id"] for d in changed} - poisoned | {"doc-00003"}
        assert set(listed(s3_server, bucket)) == expected == indexed(store)
        # The failed rewrite left the stored copy and its index entry untouched.
        assert store.get("doc-00003") == first
        assert store.index.query_one({"task_id": "doc-00003"}) == before
        store.close()


@pytest.mark.moto_only  # moto's fault gate (fail_when) in front of the fixture's bucket
@pytest.mark.slow
def test_connect_and_verify_ride_out_transient_errors(s3_server, bucket):
    budget = {"HEAD": 2, "LIST": 3}

    def first_requests_fail(environ: dict) -> bool:
        kind = "LIST" if "list-type=2" in environ.get("QUERY_STRING", "") else \
            environ["REQUEST_METHOD"]
        if budget.get(kind, 0) > 0:
            budget[kind] -= 1
            return True
        return False

    with LocalS3(fail_methods=("HEAD", "GET"), fail_when=first_requests_fail) as faulty:
        store = flaky_store(faulty, bucket)  # head_bucket fails twice first
        assert budget["HEAD"] == 0
        assert store.update([small_doc(i) for i in range(5)]).ok
        report = store.verify()  # its listing fails three times first
        assert budget["LIST"] == 0
        assert report.ok and report.objects == report.entries == 5
        store.close()


# ------------------------------------------------------------------ the index goes away


def mongo_index(client: FlakyMongoClient) -> MongoStore:
    return MongoStore("db", "entries", client=client)


def test_index_connection_lost_mid_update_is_a_clear_error_and_nothing_half_indexed(
    make_store, s3_server, bucket
):
    client = FlakyMongoClient(fail_after=3)
    store = make_store(index=mongo_index(client), searchable_fields=["n", "label"])
    docs = [small_doc(i) for i in range(100)]

    with pytest.raises(StoreConnectionError) as info:
        store.update(docs, workers=4, chunk_size=10)

    message = str(info.value)
    assert "mongo://" in message and "AutoReconnect" in message
    assert "rerun the update" in message and "verify(repair=True)" in message
    assert info.value.result.written == 30  # three batches made it before the drop
    entries = list(client.raw["db"]["entries"].find({}, {"_id": 0}))
    assert len(entries) == 30
    objects = listed(s3_server, bucket)
    bodies = s3_server.client()
    for entry in entries:  # every entry is complete and points at its landed object
        assert entry["task_id"] in objects
        body = bodies.get_object(Bucket=bucket, Key=entry["task_id"])["Body"].read()
        assert entry["obj_hash"] == hashlib.sha1(body).hexdigest()
        assert entry["n"] == int(entry["task_id"].split("-")[1])

    client.fail_after = None  # the connection is back: rerunning completes the update
    result = store.update(docs, workers=4, chunk_size=10)
    assert result.ok and store.count() == 100
    assert store.verify().ok


def test_index_connection_lost_while_reading_is_a_clear_error(make_store):
    client = FlakyMongoClient(failing=("find", "count_documents"))
    store = make_store(index=mongo_index(client))
    assert store.update([small_doc(i) for i in range(3)]).ok
    client.fail_after = 0
    with pytest.raises(StoreConnectionError, match=r"index mongo://.*AutoReconnect"):
        list(store.query())
    with pytest.raises(StoreConnectionError, match="AutoReconnect"):
        store.count()
