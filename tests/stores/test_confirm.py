"""How update() makes sure each entry describes the object under its key.

On an index that compares and sets (MemoryStore, DuckDBStore, MongoStore), each entry is
swapped in only if its key's version is still the one seen before the put: no request to S3
beyond the PUTs, and only a lost swap is checked with a HEAD. On other indexes (MontyStore,
whose folder other processes may open), each batch is checked after its entries are
written: one listing of the batch's key range for neighbouring keys, a HEAD each otherwise.
"""

from __future__ import annotations

import pytest

from s3explore import DuckDBStore, MemoryStore, MontyStore, S3Store
from s3explore.local_s3 import LocalS3
from tests.conftest import CREDENTIALS

pytestmark = pytest.mark.real_s3


def material(i: int) -> dict:
    return {"task_id": f"mp-{i:05d}", "nsites": i}


def is_listing(environ: dict) -> bool:
    return environ["REQUEST_METHOD"] == "GET" and "list-type=2" in environ["QUERY_STRING"]


@pytest.fixture
def make_listed_store(make_store, tmp_path):
    """An S3Store over an index without atomic swaps: its updates confirm by listing."""
    def factory(**kwargs):
        index = MontyStore("listed", database_path=str(tmp_path / "monty"))
        assert not index.atomic_swaps
        return make_store(index=index, **kwargs)
    return factory


@pytest.mark.parametrize("index", [MemoryStore, DuckDBStore])
@pytest.mark.slow
def test_on_a_swapping_index_a_bulk_upload_costs_its_puts_alone(make_store, s3_server, index):
    store = make_store(index=index("swapped"), searchable_fields=["nsites"])
    assert store.index.atomic_swaps
    s3_server.reset_counters()
    result = store.update([material(i) for i in range(300)], chunk_size=100)
    assert result.ok and result.written == 300 and result.overtaken == 0
    assert s3_server.requests["PUT"] == 300
    assert s3_server.requests["HEAD"] == 0 and s3_server.requests["GET"] == 0
    # A second update replaces every object: the versions seen are the first one's
    s3_server.reset_counters()
    result = store.update([{**material(i), "nsites": -i} for i in range(300)], chunk_size=100)
    assert result.ok and result.written == 300 and result.overtaken == 0
    assert s3_server.requests["HEAD"] == 0 and s3_server.requests["GET"] == 0
    assert [e["nsites"] for e in store.index.query(sort={"task_id": 1})] == [
        -i for i in range(300)]
    assert store.verify(deep=True).ok


class Interfering(MemoryStore):
    """An index that lets another writer in at one chosen step of our update: right after
    our versions are read (before our puts), or right before our swap (after them)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.other = None  # () -> None: the other writer's whole update, run once

    def _step(self):
        other, self.other = self.other, None
        if other is not None:
            other()

    def _versions(self, *args, **kwargs):  # how writers and swaps read the versions
        found = super()._versions(*args, **kwargs)
        if self.when == "after-read":
            self._step()
        return found

    def swap_entries(self, *args, **kwargs):
        if self.when == "before-swap":
            self._step()
        return super().swap_entries(*args, **kwargs)


@pytest.mark.parametrize("when", ["after-read", "before-swap"])
@pytest.mark.slow
def test_another_writer_between_our_read_and_our_swap_is_settled_by_the_objects(
        make_store, s3_server, when):
    """The other writer puts and swaps its entries in while our update runs. After our
    read (its puts come first, ours last): our swaps lose, a HEAD each finds our objects,
    ours go in. Before our swap (its puts last): our swaps lose, the HEADs find its objects,
    which its entries already describe; our update reports them overtaken."""
    index = Interfering("interfering")
    index.when = None
    first = make_store(index=index, searchable_fields=["nsites"])
    second = make_store(index=index, searchable_fields=["nsites"])
    assert first.update([material(i) for i in range(20)]).ok
    index.when = when

    def other():
        assert second.update([{**material(i), "nsites": 100 + i} for i in range(5)]).ok

    index.other = other
    s3_server.reset_counters()
    result = first.update([{**material(i), "nsites": -1 - i} for i in range(20)])
    assert result.ok and result.written == 20 and index.other is None
    assert s3_server.requests["PUT"] == 25 and s3_server.requests["HEAD"] == 5
    entries = {e["task_id"]: e["nsites"] for e in index.query()}
    ours = [-1 - i for i in range(20)]
    if when == "after-read":
        assert result.overtaken == 0 and s3_server.requests["GET"] == 0
        assert [entries[material(i)["task_id"]] for i in range(20)] == ours
    else:
        assert result.overtaken == 5 and s3_server.requests["GET"] == 5  # its 5 objects
        assert [entries[material(i)["task_id"]] for i in range(20)] == [
            100 + i for i in range(5)] + ours[5:]
    assert first.verify(deep=True).ok


def test_a_bulk_upload_confirms_its_batches_by_listing(make_listed_store, s3_server):
    store = make_listed_store(searchable_fields=["nsites"])
    s3_server.reset_counters()
    result = store.update([material(i) for i in range(300)], chunk_size=100)
    assert result.ok and result.written == 300 and result.overtaken == 0
    assert s3_server.requests["PUT"] == 300
    assert s3_server.requests["HEAD"] == 0 and s3_server.requests["GET"] == 3  # a LIST a batch
    assert store.verify().ok


def test_scattered_keys_and_small_batches_are_confirmed_one_head_each(make_listed_store,
                                                                     s3_server):
    store = make_listed_store(searchable_fields=["nsites"])
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
        store = S3Store(MontyStore("no-list"), bucket, s3_profile=dict(CREDENTIALS),
                        endpoint_url=guarded.endpoint_url)
        with store:
            guarded.reset_counters()
            assert store.update([material(i) for i in range(50)], chunk_size=25).ok
            assert guarded.requests["HEAD"] == 50 and store.objects.listing_refused
            assert guarded.faults["AccessDenied"] == 1  # asked once, then not again
            assert [e["task_id"] for e in store.index.query(sort={"task_id": 1})] == [
                material(i)["task_id"] for i in range(50)]


@pytest.mark.slow
def test_another_writers_object_found_by_the_listing_is_reindexed(make_store, bucket):
    first = make_store(searchable_fields=["nsites"])
    second = make_store(index=first.index, searchable_fields=["nsites"])
    docs = [material(i) for i in range(40)]
    assert first.update(docs).ok
    # Put by another writer after our put, before our check: simulated by replacing the
    # objects, then confirming the entries our first update wrote.
    from s3explore._stores._confirm import confirm_entries
    from s3explore._stores._results import UpdateResult

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
