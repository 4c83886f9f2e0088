"""After each batch of entries, update() checks each object is still the one it put: one
listing of the batch's key range for neighbouring keys, a HEAD each otherwise."""

from __future__ import annotations

import pytest

from s3explore import MemoryStore, S3Store
from s3explore.local_s3 import LocalS3
from tests.conftest import CREDENTIALS

pytestmark = pytest.mark.real_s3


def material(i: int) -> dict:
    return {"task_id": f"mp-{i:05d}", "nsites": i}


def is_listing(environ: dict) -> bool:
    return environ["REQUEST_METHOD"] == "GET" and "list-type=2" in environ["QUERY_STRING"]


def test_a_bulk_upload_confirms_its_batches_by_listing(make_store, s3_server):
    store = make_store(searchable_fields=["nsites"])
    s3_server.reset_counters()
    result = store.update([material(i) for i in range(300)], chunk_size=100)
    assert result.ok and result.written == 300 and result.overtaken == 0
    assert s3_server.requests["PUT"] == 300
    assert s3_server.requests["HEAD"] == 0 and s3_server.requests["GET"] == 3  # a LIST a batch
    assert store.verify().ok


def test_scattered_keys_and_small_batches_are_confirmed_one_head_each(make_store, s3_server):
    store = make_store(searchable_fields=["nsites"])
    # Many other objects between the keys: the listing would cost more than the HEADs.
    assert store.update([material(i) for i in range(0, 3000, 10)], chunk_size=500).ok
    s3_server.reset_counters()
    assert store.update([material(i) for i in range(5, 3000, 500)] + [material(3001)]).ok
    assert s3_server.requests["HEAD"] == 7  # below LIST_FROM keys: HEADs
    s3_server.reset_counters()
    spread = [material(i) for i in range(1, 3000, 150)]  # 20 keys among 300 others
    assert store.update(spread, chunk_size=100).ok
    assert s3_server.requests["HEAD"] <= 20


@pytest.mark.moto_only  # moto's gate refuses the listings; the fixture's bucket is moto's
def test_without_list_permission_updates_confirm_with_heads(bucket):
    def refuse_listing(environ: dict):
        return (403, "AccessDenied", "Access Denied") if is_listing(environ) else False

    with LocalS3(fail_when=refuse_listing) as guarded:
        store = S3Store(MemoryStore("no-list"), bucket, s3_profile=dict(CREDENTIALS),
                        endpoint_url=guarded.endpoint_url)
        with store:
            guarded.reset_counters()
            assert store.update([material(i) for i in range(50)], chunk_size=25).ok
            assert guarded.requests["HEAD"] == 50 and store.objects.listing_refused
            assert guarded.faults["AccessDenied"] == 1  # asked once, then not again
            assert [e["task_id"] for e in store.index.query(sort={"task_id": 1})] == [
                material(i)["task_id"] for i in range(50)]


def test_another_writers_object_found_by_the_listing_is_reindexed(make_store, bucket):
    first = make_store(searchable_fields=["nsites"])
    second = make_store(index=first.index, searchable_fields=["nsites"])
    docs = [material(i) for i in range(40)]
    assert first.update(docs).ok
    # Put by another writer after our put, before our check: simulated by replacing the
    # objects, then confirming the entries our first update wrote.
    from s3explore._stores._results import UpdateResult
    from s3explore._stores._writer import confirm_entries

    entries = list(first.index.query(sort={"task_id": 1}))
    keys = [e["task_id"] for e in entries]
    etags = [f'"{e["obj_etag"]}"' for e in entries]
    assert second.update([{**d, "nsites": -1} for d in docs[:3]]).ok
    first.index.update(entries, key="task_id")  # our entries written last, now stale
    result = UpdateResult()
    assert confirm_entries(first, entries, keys, etags, 4, result) == []
    assert result.overtaken == 3
    assert [first.index.query_one({"task_id": k})["nsites"] for k in keys[:4]] == [-1, -1, -1, 3]
    assert first.verify().ok
