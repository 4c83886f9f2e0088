"""Repairs of a bucket strangers can write to: an object is indexed under its own name,
whatever its body or metadata claim, and one it cannot use is skipped and reported."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.real_s3


def material(i: int) -> dict:
    return {"task_id": f"mp-{i}", "formula": ["Fe2O3", "NaCl", "Si"][i % 3], "nsites": i + 1}


@pytest.fixture
def filled(make_store):
    store = make_store(compress=True, sub_dir="data", searchable_fields=["formula", "nsites"])
    assert store.update([material(i) for i in range(6)]).ok
    return store


def _entry(store, key):
    return store.index.query_one({"task_id": key})


def test_an_object_claiming_another_key_does_not_take_its_entry(filled, s3_server, bucket):
    raw = s3_server.client()
    before = _entry(filled, "mp-1")
    # d/evil: the body and metadata of mp-1 (both say task_id mp-1), another nsites
    raw.copy_object(Bucket=bucket, Key="data/d/evil",
                    CopySource={"Bucket": bucket, "Key": "data/mp-1"})
    report = filled.verify(repair=True)
    assert report.orphans == ["d/evil"] and report.reindexed == ["d/evil"]
    assert report.unreadable == []
    after = _entry(filled, "mp-1")
    assert {k: after[k] for k in before if k != "_id"} == {
        k: before[k] for k in before if k != "_id"}  # mp-1's entry is untouched
    assert _entry(filled, "d/evil") is not None
    assert filled.verify().ok  # a second verify finds nothing to repair


def test_metadata_that_is_not_json_is_skipped_and_reported(filled, s3_server, bucket):
    raw = s3_server.client()
    head = raw.head_object(Bucket=bucket, Key="data/mp-2")
    body = raw.get_object(Bucket=bucket, Key="data/mp-2")["Body"].read()
    bad = {**head["Metadata"], "s3-to-mongo-keys": "{not json"}
    raw.put_object(Bucket=bucket, Key="data/mp-bad", Body=body, Metadata=bad)
    raw.put_object(Bucket=bucket, Key="data/mp-list", Body=body,
                   Metadata={**head["Metadata"], "s3-to-mongo-keys": "[1, 2]"})
    filled.index.remove_docs({"task_id": "mp-4"})  # an orphan after them, repaired too
    report = filled.verify(repair=True)
    assert sorted(report.unreadable) == ["mp-bad", "mp-list"]
    assert report.reindexed == ["mp-4"]
    again = filled.verify(repair=True, quarantine="quarantine/")
    assert sorted(again.quarantined) == ["mp-bad", "mp-list"]
    assert filled.verify().ok
    assert filled.query_one({"task_id": "mp-4"})["nsites"] == 5
