"""S3Store on the production S3 server (Versity S3 Gateway) where moto cannot stand in:
an IAM account that may only read, and a server that dies mid-request (SIGKILL).

The read-only account is the gateway's own IAM (``VersityS3.add_reader``: a user account and
a bucket policy granting it GetObject and ListBucket). The kill tests start a gateway of
their own, kill it, and start it again over the same data folder to see what landed.
"""

from __future__ import annotations

import hashlib
import time
import uuid

import numpy as np
import pytest

from s3explore import (
    AccessDeniedError,
    Callback,
    MemoryStore,
    S3Store,
    StoreConnectionError,
    UpdateError,
)
from s3explore._stores._objects import MULTIPART_THRESHOLD
from tests.servers import VersityS3

READER_SECRET = "reader-secret-do-not-print-0123"


def material(i: int, **extra) -> dict:
    return {"task_id": f"mp-{i}", "formula": ["Fe2O3", "NaCl", "Si"][i % 3], "nsites": i + 1,
            **extra}


def snapshot(store: S3Store) -> list[dict]:
    return sorted(store.index.query(), key=lambda e: e["task_id"])


def listed(server, bucket: str) -> dict[str, str]:
    """``{key: ETag}`` of every object, through the root account."""
    paginator = server.client().get_paginator("list_objects_v2")
    return {o["Key"]: o["ETag"] for page in paginator.paginate(Bucket=bucket)
            for o in page.get("Contents", [])}


# ----------------------------------------------------------- a read-only IAM account


@pytest.fixture
def shared_with_reader(production_s3):
    """A bucket of 12 documents written by the root account, and a store on it signed in
    as an account that may only list and read it (sharing the writer's index)."""
    if not isinstance(production_s3, VersityS3):
        pytest.skip("a read-only account is created through Versity S3 Gateway's admin API")
    bucket = production_s3.create_bucket(f"readonly-{uuid.uuid4().hex[:12]}")
    writer = S3Store(MemoryStore(f"index-{bucket}"), bucket, s3_profile=production_s3.credentials,
                     endpoint_url=production_s3.endpoint_url, compress=True,
                     searchable_fields=["formula", "nsites"])
    writer.connect()
    assert writer.update([material(i) for i in range(12)]).ok
    access = f"reader{uuid.uuid4().hex[:10]}"
    credentials = production_s3.add_reader(bucket, access, READER_SECRET)
    reader = S3Store(writer.index, bucket, s3_profile=credentials,
                     endpoint_url=production_s3.endpoint_url, compress=True,
                     searchable_fields=["formula", "nsites"])
    reader.connect()
    yield writer, reader
    reader.close()
    writer.close()


def test_a_read_only_account_queries_and_gets_like_the_owner(shared_with_reader):
    _, reader = shared_with_reader
    assert [d["task_id"] for d in reader.query({"formula": "NaCl"}, sort={"nsites": 1})] == \
        ["mp-1", "mp-4", "mp-7", "mp-10"]
    assert reader.get("mp-3") == material(3)
    assert list(reader.get_many(["mp-5", "mp-0"])) == [material(5), material(0)]
    assert reader.verify().ok  # reading the listing and the metadata is all verify() needs


@pytest.mark.slow
def test_a_read_only_account_is_refused_every_write_per_key_and_loses_nothing(
        shared_with_reader, production_s3):
    writer, reader = shared_with_reader
    entries, objects = snapshot(writer), listed(production_s3, writer.bucket)
    big = {"task_id": "big", "dos": np.zeros(MULTIPART_THRESHOLD // 8 + 1024)}  # multipart
    attempt = [material(3, nsites=99), material(100), big]

    result = reader.update(attempt, errors="collect")

    assert result.written == 0 and sorted(result.failed_keys) == ["big", "mp-100", "mp-3"]
    for failure in result.failures:  # one per key, naming key, bucket and endpoint
        assert isinstance(failure.error, AccessDeniedError)
        assert f"key {failure.key!r}" in failure.reason and writer.bucket in failure.reason
        assert production_s3.endpoint_url in failure.reason
        assert READER_SECRET not in failure.reason
    # The index gained no entry, and no object changed: the old mp-3 is still whole.
    assert snapshot(writer) == entries and listed(production_s3, writer.bucket) == objects
    assert writer.get("mp-3") == material(3)

    with pytest.raises(UpdateError, match="'mp-101'.*AccessDenied") as info:
        reader.update([material(101)])
    assert [type(f.error) for f in info.value.result.failures] == [AccessDeniedError]
    assert READER_SECRET not in str(info.value)
    assert snapshot(writer) == entries


def test_a_read_only_account_removing_objects_names_them_and_repair_restores_the_entries(
        shared_with_reader, production_s3):
    # The gateway refuses the whole DeleteObjects request (403); AWS answers 200 with an
    # error per key. Either way the error names the keys whose entries are gone.
    writer, reader = shared_with_reader
    objects = listed(production_s3, writer.bucket)
    with pytest.raises(AccessDeniedError, match=r"2 index entries \(first: \['mp-1', 'mp-2'\]\)"):
        reader.remove_docs({"task_id": {"$in": ["mp-1", "mp-2"]}}, remove_s3_object=True)
    assert listed(production_s3, writer.bucket) == objects
    assert sorted(writer.verify(repair=True).reindexed) == ["mp-1", "mp-2"]
    assert writer.count() == 12 and writer.verify().ok


# ------------------------------------------------------------- the server dies (SIGKILL)


@pytest.fixture
def own_gateway():
    """A gateway of this test's own, to kill."""
    server = VersityS3()
    server.start()
    yield server
    server.stop()


def test_gateway_killed_mid_query_is_a_connection_error_naming_the_endpoint(
        own_gateway, record_property):
    bucket = own_gateway.create_bucket("killed-mid-query")
    store = S3Store(MemoryStore("killed"), bucket, s3_profile=own_gateway.credentials,
                    endpoint_url=own_gateway.endpoint_url, timeout=4, compress=True)
    store.connect()
    assert store.update([material(i, payload="x" * 200) for i in range(300)]).ok
    documents = store.query(sort={"task_id": 1}, workers=2)
    assert next(documents)["task_id"] == "mp-0"

    own_gateway.kill()
    started = time.monotonic()
    with pytest.raises(StoreConnectionError) as info:
        list(documents)
    record_property("seconds_to_error", round(time.monotonic() - started, 3))
    message = str(info.value)
    # Refused connections: reported as an endpoint that cannot be reached, not after
    # waiting out the read timeout as for an endpoint that stops answering.
    assert own_gateway.endpoint_url in message and f"bucket {bucket!r}" in message
    assert "cannot reach the S3 endpoint" in message and "read timeout" not in message
    with pytest.raises(StoreConnectionError, match=r"key 'mp-7' at http://127\.0\.0\.1"):
        store.get("mp-7")
    store.close()


class _KillAfter(Callback):
    """Kills the server once ``after`` documents have landed (called on update's thread)."""

    def __init__(self, server: VersityS3, after: int) -> None:
        self.server, self.after, self.landed = server, after, 0

    def advance(self, docs: int = 0, nbytes: int = 0, failed: int = 0) -> None:
        self.landed += docs
        if self.landed >= self.after and self.server.running:
            self.server.kill()


@pytest.mark.slow
def test_gateway_killed_mid_update_leaves_no_entry_for_an_object_that_did_not_land(
        own_gateway, record_property):
    bucket = own_gateway.create_bucket("killed-mid-update")
    rng = np.random.default_rng(7)  # some bodies are multipart uploads, in flight at the kill
    docs = [{"task_id": f"run-{i:03d}", "step": i,
             "x": rng.random(MULTIPART_THRESHOLD // 8 + 1024 if i % 40 == 5 else 2000)}
            for i in range(200)]
    store = S3Store(MemoryStore("killed-update"), bucket, s3_profile=own_gateway.credentials,
                    endpoint_url=own_gateway.endpoint_url, timeout=4,
                    searchable_fields=["step"])
    store.connect()

    result = store.update(docs, workers=8, chunk_size=8, errors="collect",
                          progress=_KillAfter(own_gateway, 30))

    assert not own_gateway.running and result.failures
    assert len(result.failed_keys) == len(set(result.failed_keys))  # one report per key
    assert all(isinstance(f.error, StoreConnectionError) for f in result.failures)
    assert all(own_gateway.endpoint_url in f.reason for f in result.failures)
    entries = {e["task_id"]: e for e in store.index.query()}
    everything = {d["task_id"] for d in docs}
    assert set(entries) | set(result.failed_keys) == everything  # none dropped silently
    record_property("indexed_at_kill", len(entries))

    own_gateway.restart()  # over the same folder: what landed before the kill
    landed = listed(own_gateway, bucket)
    assert entries and len(landed) < len(docs), "the kill must hit the middle of the update"
    raw = own_gateway.client()
    for key, entry in entries.items():  # every entry names a whole object it describes
        assert key in landed
        body = raw.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert entry["obj_hash"] == hashlib.sha1(body).hexdigest(), key
    back = S3Store(store.index, bucket, s3_profile=own_gateway.credentials,
                   endpoint_url=own_gateway.endpoint_url, searchable_fields=["step"])
    with back:
        report = back.verify(deep=True)  # partial uploads left nothing a listing shows
        assert report.dangling == [] and report.mismatched == [] and report.unreadable == []
        assert set(report.orphans) == set(landed) - set(entries)
        assert back.update(docs, workers=8).ok
        assert back.verify().ok and back.count() == len(docs)
