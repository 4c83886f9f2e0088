"""store.verify(): index against bucket under the sub_dir, and repair=True."""

from __future__ import annotations

import hashlib
import logging
import zlib

import msgpack
import pytest

from s3explore import MemoryStore, S3Store, TransientS3Error
from s3explore.local_s3 import LocalS3
from tests.conftest import CREDENTIALS

pytestmark = pytest.mark.real_s3


def material(i: int) -> dict:
    return {"task_id": f"mp-{i}", "formula": ["Fe2O3", "NaCl", "Si"][i % 3], "nsites": i + 1,
            "sites": list(range(i + 1))}


def snapshot(store: S3Store) -> list[dict]:
    return sorted(store.index.query(), key=lambda e: e["task_id"])


@pytest.fixture(params=[True, False], ids=["zlib", "plain"])
def compress(request) -> bool:
    return request.param


@pytest.fixture(params=[None, "runs/2024"], ids=["no-sub_dir", "sub_dir"])
def broken(request, compress, make_store, s3_server, bucket):
    """A store whose index and bucket disagree in every way verify() knows about.

    mp-1's entry is gone (orphan), foreign-1 was written by another tool without metadata
    (orphan), mp-2's object is gone (dangling), mp-3's object was rewritten behind the
    index's back (hash mismatch). With a sub_dir, an object outside it must be ignored.
    """
    store = make_store(compress=compress, sub_dir=request.param,
                       searchable_fields=["formula", "nsites"])
    assert store.update([material(i) for i in range(6)]).ok
    raw = s3_server.client()
    prefix = store.sub_dir
    store.index.remove_docs({"task_id": "mp-1"})
    foreign = msgpack.packb({"task_id": "foreign-1", "formula": "GaAs", "nsites": 2})
    raw.put_object(Bucket=bucket, Key=prefix + "foreign-1",
                   Body=zlib.compress(foreign) if compress else foreign)
    raw.delete_object(Bucket=bucket, Key=prefix + "mp-2")
    metadata = raw.head_object(Bucket=bucket, Key=prefix + "mp-3")["Metadata"]
    rewritten = msgpack.packb({**material(3), "nsites": 99})
    rewritten = zlib.compress(rewritten) if compress else rewritten
    raw.put_object(Bucket=bucket, Key=prefix + "mp-3", Body=rewritten, Metadata=metadata)
    if prefix:
        raw.put_object(Bucket=bucket, Key="elsewhere/mp-7", Body=msgpack.packb(material(7)))
    store.rewritten_hash = hashlib.sha1(rewritten).hexdigest()
    return store


@pytest.mark.slow
def test_verify_reports_orphans_dangling_entries_and_hash_mismatches(broken):
    before = snapshot(broken)
    report = broken.verify()
    assert report.orphans == ["foreign-1", "mp-1"]
    assert report.dangling == ["mp-2"]
    assert report.mismatched == ["mp-3"]
    assert (report.objects, report.entries) == (6, 5)
    assert not report.ok and report.hashes_checked
    assert "mp-2" in str(report) and "hash mismatches: 1 (mp-3)" in str(report)
    assert snapshot(broken) == before  # reporting changes nothing
    # Without hash checks the rewritten object goes unnoticed: that is what the option skips.
    assert broken.verify(check_hashes=False).mismatched == []


class _StateAtLogTime(logging.Handler):
    """Records what the index held when each repair-plan line was logged."""

    def __init__(self, store: S3Store) -> None:
        super().__init__(logging.WARNING)
        self.store = store
        self.seen: list[tuple[str, set[str], str | None]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "verify(repair=True)" in record.getMessage():
            keys = set(self.store.index.distinct("task_id"))
            mp3 = self.store.index.query_one({"task_id": "mp-3"}, ["obj_hash"])
            self.seen.append((record.getMessage(), keys, mp3["obj_hash"]))


def test_repair_says_what_it_will_do_then_fixes_the_index(broken, caplog):
    before = snapshot(broken)
    spy = _StateAtLogTime(broken)
    logger = logging.getLogger("s3explore")
    logger.addHandler(spy)
    try:
        with caplog.at_level(logging.WARNING, logger="s3explore"):
            report = broken.verify(repair=True)
    finally:
        logger.removeHandler(spy)

    plan = [r.getMessage() for r in caplog.records if "verify(repair=True)" in r.getMessage()]
    assert len(plan) == 3
    assert any("re-index 2 object(s) without an index entry" in line for line in plan)
    assert any("remove 1 index entr" in line for line in plan)
    assert any("re-index 1 object(s) whose obj_hash differs" in line for line in plan)
    assert all(broken.name in line for line in plan)
    # Each line was logged while the index was still as verify() found it.
    unchanged = {e["task_id"] for e in before}
    old_hash = next(e["obj_hash"] for e in before if e["task_id"] == "mp-3")
    assert [(keys, h) for _, keys, h in spy.seen] == [(unchanged, old_hash)] * 3

    assert report.removed == ["mp-2"]
    assert sorted(report.reindexed) == ["foreign-1", "mp-1", "mp-3"]
    assert broken.verify().ok
    entries = {e["task_id"]: e for e in snapshot(broken)}
    assert set(entries) == {"foreign-1", "mp-0", "mp-1", "mp-3", "mp-4", "mp-5"}
    # Re-indexed entries carry the searchable fields with their types, from the bodies.
    assert (entries["mp-1"]["formula"], entries["mp-1"]["nsites"]) == ("NaCl", 2)
    assert (entries["foreign-1"]["formula"], entries["foreign-1"]["nsites"]) == ("GaAs", 2)
    assert entries["mp-3"]["nsites"] == 99
    assert entries["mp-3"]["obj_hash"] == broken.rewritten_hash
    assert broken.get("foreign-1")["formula"] == "GaAs"
    assert sorted(d["task_id"] for d in broken.query({"nsites": 2})) == ["foreign-1", "mp-1"]


@pytest.mark.slow
def test_repair_of_an_index_that_agrees_does_nothing_and_logs_nothing(make_store, caplog):
    store = make_store(sub_dir="clean", searchable_fields=["formula"])
    assert store.update([material(i) for i in range(4)]).ok
    before = snapshot(store)
    with caplog.at_level(logging.DEBUG, logger="s3explore"):
        report = store.verify(repair=True)
    assert report.ok and report.reindexed == [] and report.removed == []
    assert "index and bucket agree" in str(report)
    assert caplog.records == []
    assert snapshot(store) == before


def test_sub_dirs_do_not_see_each_other(make_store):
    left = make_store(sub_dir="left")
    right = make_store(sub_dir="left-and-more")  # shares a prefix but not the folder
    assert left.update([material(i) for i in range(3)]).ok
    assert right.update([material(i) for i in range(3, 5)]).ok
    assert (left.verify().objects, right.verify().objects) == (3, 2)
    assert left.verify(repair=True).ok and right.verify(repair=True).ok


@pytest.mark.moto_only  # moto's fault gate refuses mp-2's reads; it shares the fixture's bucket
@pytest.mark.parametrize("deep", [False, True])
@pytest.mark.slow
def test_verify_fails_loudly_when_it_cannot_read_an_object(s3_server, bucket, deep):
    refused: set[str] = set()  # GET and HEAD: a shallow check reads the metadata

    def refuses_mp_2(environ: dict) -> bool:
        return environ["REQUEST_METHOD"] in refused and environ["PATH_INFO"].endswith("/mp-2")

    with LocalS3(fail_when=refuses_mp_2) as faulty:
        store = S3Store(MemoryStore("unreadable"), bucket, s3_profile=dict(CREDENTIALS),
                        endpoint_url=faulty.endpoint_url, retries=2)
        with store:
            assert store.update([material(i) for i in range(4)]).ok
            # an entry without the ETag (as older writers leave them): its object needs a HEAD
            entry = store.index.query_one({"task_id": "mp-2"})
            store.index.update([{k: v for k, v in entry.items() if k != "obj_etag"}])
            refused.update({"GET", "HEAD"})
            # A hash it could not check is not a hash that matched.
            with pytest.raises(TransientS3Error, match="'mp-2'"):
                store.verify(deep=deep)


def test_a_store_without_an_index_rebuilds_one_in_duckdb(make_store, s3_server, bucket):
    writer = make_store(sub_dir="lost", searchable_fields=["formula", "nsites"])
    assert writer.update([material(i) for i in range(6)]).ok
    store = S3Store(None, bucket, s3_profile=s3_server.credentials, sub_dir="lost",
                    endpoint_url=s3_server.endpoint_url, searchable_fields=["formula", "nsites"])
    assert type(store.index).__name__ == "DuckDBStore" and store.key == "task_id"
    with store:
        assert store.rebuild_index_from_s3_data() == 6
        assert store.count({"nsites": {"$gte": 0}}) == 6
        assert store.verify().ok


def test_a_multipart_body_records_the_etag_s3_gives_it(make_store, s3_server, bucket):
    import numpy as np

    from s3explore._stores._objects import MULTIPART_THRESHOLD, PART_SIZE

    store = make_store(compress=False)
    spectrum = np.random.default_rng(0).random(MULTIPART_THRESHOLD // 8 + PART_SIZE // 16)
    assert store.update([{"task_id": "big", "dos": spectrum}, material(1)]).ok
    head = s3_server.client().head_object(Bucket=bucket, Key="big")
    body = s3_server.client().get_object(Bucket=bucket, Key="big")["Body"].read()
    parts = [body[i:i + PART_SIZE] for i in range(0, len(body), PART_SIZE)]
    expected = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    assert head["ETag"] == f'"{expected}-{len(parts)}"' and len(parts) == 3
    assert head["Metadata"]["obj-etag"] == f"{expected}-{len(parts)}"
    assert head["Metadata"]["obj-hash"] == hashlib.sha1(body).hexdigest()
    report = store.verify()
    assert report.ok and report.hashes_from_index == 2 and report.bodies_read == 0
    assert store.index.query_one({"task_id": "big"})["obj_etag"] == head["Metadata"]["obj-etag"]


@pytest.mark.slow
def test_the_digest_is_left_out_when_it_would_not_fit_the_metadata_limit(make_store, s3_server,
                                                                       bucket):
    from s3explore import _codec as codec

    store = make_store(searchable_fields=["note"])
    entry = codec.index_document({"task_id": "long", "note": ""}, "task_id", ["note"], "",
                                 store.compression)
    room = store.metadata_limit - codec.metadata_size(codec.metadata_document(entry))
    fits = "x" * (room - codec.DIGEST_METADATA_BYTES + 1)  # fits, but not with the digest
    assert store.update([{"task_id": "long", "note": fits}, material(1)]).ok
    metadata = s3_server.client().head_object(Bucket=bucket, Key="long")["Metadata"]
    assert "obj-hash" not in metadata and metadata["note"] == fits
    assert store.verify().hashes_from_index == 2  # the entries' ETags still tell
    for entry in store.index.query():  # entries without them: the metadata must tell
        store.index.update([{k: v for k, v in entry.items() if k != "obj_etag"}])
    report = make_store(index=store.index, searchable_fields=["note"]).verify()
    assert report.ok and report.unchecked == ["long"] and report.hashes_from_metadata == 1
