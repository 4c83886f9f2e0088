"""``s3explore open`` on one JSON document per object, documents without a date of their own:
the objects' upload time is indexed as ``s3_last_modified`` (never as the documents'
``last_updated``) and is what ``last_updated`` / ``newer_in`` read; keys come in natural
order (mp-2 before mp-10); ISO 8601 text reads as datetimes in ``query_df``."""

from __future__ import annotations

import datetime as dt
import json
import os

import pandas as pd
import pytest

import s3explore
from s3explore import MemoryStore
from s3explore._stores._opendata import _index
from s3explore._stores._opendata._build import build, natural_key
from s3explore._stores._opendata._manifest import Layout, read_parquet
from tests.conftest import CREDENTIALS

N = 23
OWN = dt.datetime(2020, 5, 1, 12)  # the last_updated some documents carry


def _fill(s3_server, name: str, own_dates: bool | None) -> str:
    """mp-0 ... mp-22 at ``docs/``; ``own_dates``: every document has a last_updated (True),
    the even ones (None), none (False)."""
    bucket = s3_server.create_bucket(f"{name}-{os.getpid()}")
    client = s3_server.client()
    for i in range(N):
        doc = {"task_id": f"mp-{i}", "nsites": i,
               "created_at": f"2024-01-{i + 1:02d}T10:00:00+02:00"}
        if own_dates or (own_dates is None and i % 2 == 0):
            doc["last_updated"] = {"$date": (OWN + dt.timedelta(hours=i)).isoformat() + "Z"}
        client.put_object(Bucket=bucket, Key=f"docs/mp-{i}.json", Body=json.dumps(doc).encode())
    return bucket


def _open(s3_server, bucket: str, cache, **options):
    return s3explore.open(f"s3://{bucket}/docs", endpoint_url=s3_server.endpoint_url,
                          s3_profile=dict(CREDENTIALS), key="task_id", cache_dir=str(cache),
                          **options)


def _uploaded(s3_server, bucket: str) -> dict[str, dt.datetime]:
    client = s3_server.client()
    return {f"mp-{i}": client.head_object(Bucket=bucket, Key=f"docs/mp-{i}.json")[
        "LastModified"].astimezone(dt.UTC).replace(tzinfo=None) for i in range(N)}


@pytest.fixture(scope="module")
def undated(s3_server, tmp_path_factory):
    bucket = _fill(s3_server, "uploaded-undated", own_dates=False)
    store = _open(s3_server, bucket, tmp_path_factory.mktemp("cache"), publish=False)
    yield store, bucket
    store.close()


def test_upload_time_is_s3_last_modified_not_last_updated(undated, s3_server):
    store, bucket = undated
    uploaded = _uploaded(s3_server, bucket)
    entries = {e["task_id"]: e for e in store.index.query()}
    assert all("last_updated" not in e for e in entries.values())
    assert {k: e["s3_last_modified"] for k, e in entries.items()} == uploaded
    assert store.index.last_updated_field == "s3_last_modified"
    assert store.last_updated_field == "s3_last_modified"  # what maggma's Builders read
    assert store.last_updated == max(uploaded.values())
    frame = store.query_df()
    assert "last_updated" not in frame.columns
    assert frame["s3_last_modified"].dtype.kind == "M"  # shown under its own name


def test_newer_in_compares_upload_times(undated, s3_server):
    """What a maggma Builder asks of its source: which keys changed since the target's."""
    store, bucket = undated
    uploaded = _uploaded(s3_server, bucket)
    hour = dt.timedelta(hours=1)
    target = MemoryStore("uploaded-target")
    target.connect()
    target.update([{"task_id": "mp-0", "last_updated": uploaded["mp-0"] - hour},
                   {"task_id": "mp-1", "last_updated": uploaded["mp-1"] + hour}])
    changed = target.newer_in(store, exhaustive=True)
    assert sorted(changed, key=natural_key) == ["mp-0"] + [f"mp-{i}" for i in range(2, N)]
    target.update([{"task_id": f"mp-{i}", "last_updated": max(uploaded.values()) + hour}
                   for i in range(N)])
    assert target.newer_in(store) == [] and target.newer_in(store, exhaustive=True) == []


def test_keys_come_in_natural_order(undated):
    store, _ = undated
    wanted = [f"mp-{i}" for i in range(N)]
    assert [d["task_id"] for d in store.query(properties=["task_id"])] == wanted
    assert list(store.query_df(limit=12)["task_id"]) == wanted[:12]
    assert [d["task_id"] for d in store.query({"nsites": {"$gte": 8}},
                                              properties=["task_id"], limit=4)] == wanted[8:12]


def test_iso_text_reads_as_utc_datetimes(undated):
    store, _ = undated
    frame = store.query_df(fields=["created_at"])
    assert str(frame["created_at"].dtype) == "datetime64[us, UTC]"
    assert frame["created_at"][0] == pd.Timestamp("2024-01-01T08:00:00Z")
    assert store.query_df(fields=["created_at"], parse_dates=False)["created_at"][0] == (
        "2024-01-01T10:00:00+02:00")


@pytest.mark.slow
def test_the_documents_own_last_updated_is_kept(s3_server, tmp_path):
    bucket = _fill(s3_server, "uploaded-own", own_dates=True)
    with _open(s3_server, bucket, tmp_path, publish=False) as store:
        entry = next(store.index.query({"task_id": "mp-3"}))
        assert entry["last_updated"] == OWN + dt.timedelta(hours=3)
        assert entry["s3_last_modified"] == _uploaded(s3_server, bucket)["mp-3"]
        assert store.index.last_updated_field == store.last_updated_field == "last_updated"
        assert store.last_updated == OWN + dt.timedelta(hours=N - 1)


@pytest.mark.slow
def test_some_documents_dated_use_the_upload_time_for_all(s3_server, tmp_path):
    """last_updated_field must be one every entry has: a newer_in over a field half the
    entries lack would never report those."""
    bucket = _fill(s3_server, "uploaded-some", own_dates=None)
    with _open(s3_server, bucket, tmp_path, publish=False) as store:
        entries = {e["task_id"]: e for e in store.index.query()}
        assert entries["mp-2"]["last_updated"] == OWN + dt.timedelta(hours=2)
        assert "last_updated" not in entries["mp-3"]
        assert store.index.last_updated_field == "s3_last_modified"
        assert store.last_updated == max(_uploaded(s3_server, bucket).values())


@pytest.mark.slow
def test_published_manifest_is_read_alike_by_open_and_maggma(s3_server, tmp_path):
    from maggma.stores import open_data

    bucket = _fill(s3_server, "uploaded-published", own_dates=False)
    with _open(s3_server, bucket, tmp_path / "a", publish=True) as store:
        assert "published" in store.found
        newest = store.last_updated
    # another cache: the published manifest, not the local build
    with _open(s3_server, bucket, tmp_path / "b") as again:
        assert "manifest" in again.found and again.index.last_updated_field == (
            "s3_last_modified")
        assert again.last_updated == newest
        assert [d["task_id"] for d in again.query(properties=["task_id"], limit=3)] == [
            "mp-0", "mp-1", "mp-2"]
    index = open_data.S3IndexStore(collection_name="docs", bucket=bucket, prefix="docs/",
                                   endpoint_url=s3_server.endpoint_url, key="task_id",
                                   last_updated_field="s3_last_modified")
    index.connect()
    try:
        assert index.count() == N
        assert index.last_updated == newest
    finally:
        index.close()


def test_last_updated_field_only_changes_for_json_objects():
    index = _index.load([{"task_id": "a", "s3_last_modified": OWN}],
                        Layout("s3store", "task_id"), None, None, None)
    assert index.last_updated_field == "last_updated"
    empty = _index.load([], Layout("json-objects", "task_id"), None, None, None)
    assert empty.last_updated_field == "last_updated"


def test_entries_of_older_builds_are_read_again(undated, s3_server, tmp_path):
    """Builds before s3_last_modified put the upload time in last_updated: a refresh does
    not reuse such entries (nor parts of such a build), it reads those objects again."""
    store, bucket = undated
    old = {"mp-3.json": [{"task_id": "mp-3", "nsites": 3, "last_updated": OWN}]}
    new = {"mp-4.json": [{"task_id": "mp-4", "nsites": 4, "s3_last_modified": OWN}]}
    result = build(store.objects, store.layout, tmp_path, reuse={**old, **new})
    assert result.objects == N and result.resumed == 1 and not result.failures
    entries = {e["task_id"]: e for e in read_parquet(str(result.path)).entries}
    assert "last_updated" not in entries["mp-3"]
    assert entries["mp-3"]["s3_last_modified"] == _uploaded(s3_server, bucket)["mp-3"]
    assert entries["mp-4"]["s3_last_modified"] == OWN  # kept: not read again
    assert list(entries) == [f"mp-{i}" for i in range(N)]  # natural order, whatever came first
