"""verify() past corrupt objects, duplicate entries, hashes at an unchanged ETag, and a repair
plan that is returned, not printed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zlib

import msgpack
import pytest

from s3explore import ConfigurationError

pytestmark = pytest.mark.real_s3


def material(i: int) -> dict:
    return {"task_id": f"mp-{i}", "formula": ["Fe2O3", "NaCl", "Si"][i % 3], "nsites": i + 1}


@pytest.fixture
def damaged(make_store, s3_server, bucket):
    """mp-0 corrupt and indexed, mp-1 corrupt orphan, mp-2 orphan, mp-3 dangling, mp-9
    orphan after the corrupt ones (so a repair that stops early misses it)."""
    store = make_store(compress=True, sub_dir="data", searchable_fields=["formula", "nsites"])
    assert store.update([material(i) for i in range(8)]).ok
    raw = s3_server.client()
    metadata = raw.head_object(Bucket=bucket, Key="data/mp-0")["Metadata"]
    raw.put_object(Bucket=bucket, Key="data/mp-0", Body=b"\x78\x9cnot zlib", Metadata=metadata)
    raw.put_object(Bucket=bucket, Key="data/mp-1", Body=b"\x78\x9cbroken too", Metadata=metadata)
    store.index.remove_docs({"task_id": {"$in": ["mp-1", "mp-2"]}})
    raw.delete_object(Bucket=bucket, Key="data/mp-3")
    raw.put_object(Bucket=bucket, Key="data/mp-9",
                   Body=zlib.compress(msgpack.packb({**material(9), "nsites": 99})))
    return store


def test_repair_goes_past_objects_it_cannot_decode_and_is_safe_to_rerun(damaged):
    report = damaged.verify(repair=True)
    assert report.removed == ["mp-3"]
    assert sorted(report.reindexed) == ["mp-2", "mp-9"]
    assert sorted(report.unreadable) == ["mp-0", "mp-1"]  # mp-0: hash mismatch, undecodable
    assert damaged.index.query_one({"task_id": "mp-9"})["nsites"] == 99
    assert "objects that cannot be decoded: 2" in str(report)

    again = damaged.verify(repair=True)  # the same objects, the same report, nothing worse
    assert sorted(again.unreadable) == ["mp-0", "mp-1"]
    assert again.removed == [] and again.dangling == []
    assert sorted(again.orphans) == ["mp-1"] and again.mismatched == ["mp-0"]


def test_quarantine_moves_unreadable_objects_aside_and_then_verify_is_clean(damaged, s3_server,
                                                                          bucket):
    report = damaged.verify(repair=True, quarantine="quarantine/")
    assert sorted(report.quarantined) == ["mp-0", "mp-1"]
    listed = {o["Key"] for o in s3_server.client().list_objects_v2(
        Bucket=bucket, Prefix="quarantine/")["Contents"]}
    assert listed == {"quarantine/data/mp-0", "quarantine/data/mp-1"}
    assert damaged.index.query_one({"task_id": "mp-0"}) is None
    assert damaged.verify(deep=True).ok
    for bad in ("data/inside", "data/", "", "/"):
        with pytest.raises(ConfigurationError, match="quarantine"):
            damaged.verify(repair=True, quarantine=bad)


def test_deep_verify_finds_undecodable_objects_a_hash_check_cannot(make_store, s3_server,
                                                                   bucket):
    store = make_store(compress=True)
    assert store.update([material(i) for i in range(3)]).ok
    raw = s3_server.client()
    metadata = raw.head_object(Bucket=bucket, Key="mp-1")["Metadata"]
    raw.put_object(Bucket=bucket, Key="mp-1", Body=b"\x78\x9cjunk", Metadata=metadata)
    store.index.remove_docs({"task_id": "mp-1"})
    store.index.update([{"task_id": "mp-1", "compression": "zlib"}], key="task_id")  # no hash
    assert store.verify().ok  # nothing to compare: no obj_hash, and the body is not decoded
    deep = store.verify(deep=True)
    assert deep.unreadable == ["mp-1"] and not deep.ok and deep.bodies_read == 3


def test_hashes_come_from_metadata_without_a_download(make_store, s3_server, bucket):
    store = make_store(compress=True, searchable_fields=["nsites"])
    assert store.update([material(i) for i in range(5)]).ok
    s3_server.reset_counters()  # every entry names the ETag the listing shows: no request
    first = store.verify()
    assert first.ok and first.hashes_checked and first.unchecked == []
    assert (first.hashes_from_index, first.hashes_from_metadata, first.bodies_read) == (5, 0, 0)
    assert s3_server.requests["GET"] == 1 and s3_server.requests["HEAD"] == 0  # 1 listing
    assert "5 by ETag, 0 from metadata, 0 bodies read" in str(first)

    for entry in store.index.query():  # entries without an ETag, as maggma writes them
        store.index.update([{k: v for k, v in entry.items() if k != "obj_etag"}])
    fresh = make_store(index=store.index, compress=True, searchable_fields=["nsites"])
    s3_server.reset_counters()
    second = fresh.verify()  # the metadata tells, one HEAD each
    assert second.ok and (second.hashes_from_metadata, second.bodies_read) == (5, 0)
    assert s3_server.requests["HEAD"] == 5
    s3_server.reset_counters()  # then known at this ETag: not even a HEAD
    third = fresh.verify()
    assert third.ok and (third.hashes_from_metadata, third.bodies_read) == (0, 0)
    assert s3_server.requests["HEAD"] == 0
    store = fresh

    # Rewritten behind the index's back with its metadata copied: the recorded ETag is not
    # the object's, so the body is read, and differs.
    metadata = s3_server.client().head_object(Bucket=bucket, Key="mp-2")["Metadata"]
    s3_server.client().put_object(Bucket=bucket, Key="mp-2", Metadata=metadata,
                                  Body=zlib.compress(msgpack.packb({**material(2), "x": 1})))
    rewritten = store.verify()
    assert rewritten.mismatched == ["mp-2"] and rewritten.bodies_read == 1
    assert store.verify(deep=True).bodies_read == 5  # deep reads everything

    # A body whose digest and ETag both changed (another writer's put), entry untouched.
    other = make_store(compress=True, searchable_fields=["nsites"])
    other.objects.put_chunks("mp-3", iter([zlib.compress(msgpack.packb(material(30)))]),
                             dict(metadata), digest=True)
    fourth = store.verify()
    assert sorted(fourth.mismatched) == ["mp-2", "mp-3"] and fourth.bodies_read == 0


def test_objects_without_a_digest_are_reported_unchecked_and_deep_checks_them(
        make_store, s3_server, bucket):
    store = make_store(compress=True)
    assert store.update([material(i) for i in range(3)]).ok
    raw = s3_server.client()
    for key in ("mp-0", "mp-1"):  # as maggma writes them: maggma's fields only
        metadata = raw.head_object(Bucket=bucket, Key=key)["Metadata"]
        body = raw.get_object(Bucket=bucket, Key=key)["Body"].read()
        plain = {k: v for k, v in metadata.items() if k not in ("obj-hash", "obj-etag")}
        raw.put_object(Bucket=bucket, Key=key, Metadata=plain,
                       Body=body if key == "mp-0" else zlib.compress(b"\x81\xa1a\x01"))
    report = store.verify()  # mp-0 has its old bytes back: its entry's ETag still tells
    assert report.ok and report.unchecked == ["mp-1"] and report.bodies_read == 0
    assert report.hashes_from_index == 2
    assert "hashes not checked: 1 object(s)" in str(report)
    assert "agree where checked" in str(report)
    deep = store.verify(deep=True)
    assert deep.mismatched == ["mp-1"] and deep.unchecked == [] and deep.bodies_read == 3


def test_duplicate_entries_for_one_object_are_reported_and_repaired(make_store):
    store = make_store(searchable_fields=["nsites"])
    assert store.update([{"task_id": 1, "nsites": 1}, material(2)]).ok
    # Another tool indexed object "1" again under the string key: two entries, one object.
    store.index.collection.insert_one({"task_id": "1", "nsites": 5})
    report = store.verify()
    assert report.duplicates == ["1"] and not report.ok and report.entries == 3
    assert "objects with more than one entry: 1 (1)" in str(report)
    repaired = store.verify(repair=True)
    assert repaired.reindexed == ["1"]
    entries = list(store.index.query({"task_id": {"$in": [1, "1"]}}))
    assert len(entries) == 1 and entries[0]["task_id"] == 1 and entries[0]["nsites"] == 1
    assert store.verify().ok


def test_the_plan_is_in_the_report_and_not_printed_to_stderr(s3_server, bucket):
    # A fresh interpreter without logging configured, as a notebook kernel: Python's
    # last-resort handler would print WARNING records to stderr (a red box in Jupyter).
    script = textwrap.dedent(f"""
        from s3explore import MemoryStore, S3Store
        store = S3Store(MemoryStore("plan"), {bucket!r}, s3_profile={s3_server.credentials!r},
                        endpoint_url={s3_server.endpoint_url!r}, sub_dir="plan")
        with store:
            store.update([{{"task_id": "a"}}, {{"task_id": "b"}}])
            store.index.remove_docs({{"task_id": "a"}})
            print(store.verify())
            print("REPAIRED", store.verify(repair=True).reindexed)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "verify(repair=True) would:" in done.stdout
    assert "re-index 1 object(s) without an index entry" in done.stdout
    assert "REPAIRED ['a']" in done.stdout
