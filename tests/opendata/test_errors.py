"""Clear errors from s3explore.open: bad URLs, unreachable buckets, unrecognisable prefixes,
private buckets read anonymously; and the manifest and JSON codecs on their own."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

import s3explore
from s3explore import BucketNotFoundError, ConfigurationError, StoreConnectionError
from s3explore._stores._opendata import Layout, LayoutNotRecognizedError, _json, _manifest
from tests.conftest import CREDENTIALS
from tests.opendata import layouts

pytestmark = pytest.mark.real_s3


@pytest.mark.parametrize("url", ["https://bucket/x", "bucket/prefix", "s3://", 42, None])
def test_url_must_be_s3(url):
    with pytest.raises(ConfigurationError, match="s3://"):
        s3explore.open(url)


def test_missing_bucket_is_named(s3_server, tmp_path):
    with pytest.raises(BucketNotFoundError, match="no-such-bucket-here"):
        s3explore.open("s3://no-such-bucket-here/x", anonymous=True,
                       endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path)


def test_unreachable_endpoint(tmp_path):
    with pytest.raises(StoreConnectionError, match="endpoint"):
        s3explore.open("s3://some-bucket/x", anonymous=True,
                       endpoint_url="http://127.0.0.1:9", cache_dir=tmp_path)


def test_private_bucket_read_anonymously_says_what_to_do(s3_server, tmp_path):
    bucket = s3_server.create_bucket(f"private-{uuid.uuid4().hex[:8]}")
    s3_server.client().put_object(Bucket=bucket, Key="dos/mp-1.json", Body=b"{}")
    with pytest.raises(s3explore.AccessDeniedError, match="sign in"):
        s3explore.open(f"s3://{bucket}/dos", anonymous=True,
                       endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path)


def test_unrecognisable_prefix_lists_what_it_found(s3_server, tmp_path):
    bucket = s3_server.create_bucket(f"odd-{uuid.uuid4().hex[:8]}")
    client = s3_server.client()
    for name in ("data/a.csv", "data/b.csv", "data/readme.txt", "data/more/c.csv"):
        client.put_object(Bucket=bucket, Key=name, Body=b"x")
    with pytest.raises(LayoutNotRecognizedError) as caught:
        s3explore.open(f"s3://{bucket}/data", s3_profile=dict(CREDENTIALS),
                       endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path)
    text = str(caught.value)
    assert "4 objects" in text and "3 .csv" in text and "a.csv" in text
    assert "more/" in text and "manifest.parquet" in text and ".json.gz" in text
    with pytest.raises(LayoutNotRecognizedError, match="no objects under this prefix"):
        s3explore.open(f"s3://{bucket}/empty", s3_profile=dict(CREDENTIALS),
                       endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path)


def test_no_build_says_how(s3_server, tmp_path):
    bucket = s3_server.create_bucket(f"nobuild-{uuid.uuid4().hex[:8]}")
    layouts.upload(s3_server.client(), bucket, layouts.json_bodies("dos", [layouts.dos(1)]))
    with pytest.raises(ConfigurationError, match="build_manifest=True"):
        s3explore.open(f"s3://{bucket}/dos", s3_profile=dict(CREDENTIALS),
                       endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path,
                       build_manifest=False)


def test_bad_arguments(tmp_path):
    with pytest.raises(ConfigurationError, match="publish"):
        s3explore.open("s3://b/x", publish="sometimes")
    with pytest.raises(ConfigurationError, match="layout is required"):
        s3explore.ManifestStore("bucket")
    with pytest.raises(ConfigurationError, match="layout kind"):
        Layout("csv", "task_id")


def test_extended_json_to_python():
    text = ('{"a": {"$date": "2024-01-02T03:04:05.678Z"}, "o": {"$oid": "5f1b2c3d4e5f6a7b8c9d'
            '0e1f"}, "n": {"$numberLong": "-12"}, "d": {"$numberDouble": "NaN"}, '
            '"old": {"$date": {"$numberLong": "-1000"}}, "plain": {"$note": 1, "x": 2}}')
    doc = _json.loads(text)
    assert doc["a"] == dt.datetime(2024, 1, 2, 3, 4, 5, 678000)
    assert doc["o"] == "5f1b2c3d4e5f6a7b8c9d0e1f" and doc["n"] == -12
    assert doc["d"] != doc["d"] and doc["old"] == dt.datetime(1969, 12, 31, 23, 59, 59)
    assert doc["plain"] == {"$note": 1, "x": 2}
    line = _json.dumps({"t": dt.datetime(2024, 1, 2, 3, 4, 5, 6), "nan": float("nan")})
    assert _json.loads(line)["t"] == dt.datetime(2024, 1, 2, 3, 4, 5, 6)
    assert '"$numberDouble": "NaN"' in line


def test_parquet_manifest_round_trip_keeps_types():
    entries = [
        {"task_id": "a", "n": 1, "x": 1.5, "t": dt.datetime(2024, 1, 1), "tags": ["p", "q"],
         "calc": {"encut": 520}, "mixed": 1},
        {"task_id": "b", "n": 2, "x": 2, "mixed": "one", "calc": {"encut": 600, "k": "v"}},
    ]
    layout = Layout("json-objects", "task_id")
    found = _manifest.read_parquet(_manifest.write_parquet(entries, layout))
    assert found.layout == layout
    assert found.entries == [
        {"task_id": "a", "n": 1, "x": 1.5, "t": dt.datetime(2024, 1, 1), "tags": ["p", "q"],
         "calc": {"encut": 520}, "mixed": 1},
        {"task_id": "b", "n": 2, "x": 2.0, "mixed": "one", "calc": {"encut": 600, "k": "v"}},
    ]
    assert _manifest.parse_group_name("nelements=2/symmetry_number=225.jsonl.gz") == {
        "nelements": 2, "symmetry_number": 225}
    assert _manifest.parse_group_name("a=007/b=x.jsonl.gz") == {"a": "007", "b": "x"}
    assert _manifest.parse_group_name("plain.jsonl.gz") is None
    grouped = Layout("grouped-jsonl", "material_id", ("a", "b"), ".jsonl.gz")
    assert grouped.object_name({"material_id": "m", "a": "007", "b": 2.5}) == \
        "a=007/b=2.5.jsonl.gz"


def test_a_published_manifest_is_not_an_orphan_for_maintenance(make_store):
    store = make_store(sub_dir="shared")
    store.update([{"task_id": f"mp-{i}", "formula": "Si"} for i in range(3)])
    store.write_manifest()
    report = store.verify()
    assert report.ok and report.objects == 3 and report.orphans == []
    store.index.remove_docs({})
    assert store.rebuild_index_from_s3_data() == 3
