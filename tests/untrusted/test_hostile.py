"""Objects and manifests written by strangers: one hostile object costs one row; names and
paths from data are validated before any request; malformed manifests are our error.

These run on the production server (Versity S3 Gateway) too, except the one that needs
object names with ``..``/``.`` segments stored as written: the gateway keeps objects as
files, so it normalizes such keys (``p/x/../y.json`` is stored and listed as ``p/y.json``,
``p/x/./z.json`` as ``p/x/z.json``) and the hostile names never reach a listing; moto
stores any key as given, as S3 does."""

from __future__ import annotations

import gzip
import io
import json
import warnings

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import s3explore
from s3explore._errors import CorruptObjectError
from s3explore._stores._objects import ObjectIO
from s3explore._stores._opendata._build import build
from s3explore._stores._opendata._manifest import Layout, read_parquet
from tests.opendata import layouts

pytestmark = pytest.mark.real_s3

DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.fixture
def public(s3_server, bucket):
    client = s3_server.client()
    layouts.make_public(client, bucket)
    return client, bucket


def _open(s3_server, bucket, prefix, tmp_path, **kw):
    return s3explore.open(f"s3://{bucket}/{prefix}", anonymous=True,
                          endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path / "c", **kw)


def _skip(store, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        docs = list(store.query(on_error="skip", **kw))
    return docs, [str(w.message) for w in caught]


def test_deep_document_in_a_group_costs_one_row(s3_server, public, tmp_path):
    client, bucket = public
    docs = [layouts.material(i) for i in range(40)]
    bodies = layouts.grouped_bodies("g", docs)
    victim = "g/nelements=1/symmetry_number=1.jsonl.gz"
    deep = b'{"material_id": "mp-deep", "nelements": 1, "symmetry_number": 1, "x": ' + DEEP + b"}"
    bodies[victim] = gzip.compress(gzip.decompress(bodies[victim]) + deep + b"\n")
    bodies["g/manifest.jsonl"] += b'{"material_id": "mp-deep", "nelements": 1, ' \
                                  b'"symmetry_number": 1}\n'
    layouts.upload(client, bucket, bodies)
    store = _open(s3_server, bucket, "g", tmp_path)
    with store:
        with pytest.raises(CorruptObjectError, match="nested deeper than 1000") as info:
            list(store.query())
        assert "symmetry_number=1.jsonl.gz" in str(info.value)
        kept, caught = _skip(store)
        assert sorted(d["material_id"] for d in kept) == sorted(d["material_id"] for d in docs)
        assert any("mp-deep" in w for w in caught), caught
        # its neighbours in the same object are served
        same = store.query_one({"material_id": "mp-20"})
        assert same["nelements"] == 1 and same["symmetry_number"] == 1


def test_deep_json_object_is_reported_by_the_build(s3_server, public, tmp_path):
    client, bucket = public
    bodies = {f"d/mp-{i}.json": json.dumps({"task_id": f"mp-{i}"}).encode() for i in range(3)}
    bodies["d/mp-9.json.gz"] = gzip.compress(b'{"task_id": "mp-9", "x": ' + DEEP + b"}")
    layouts.upload(client, bucket, bodies)
    with pytest.warns(UserWarning, match=r"mp-9\.json\.gz.*nested deeper than 1000"):
        store = _open(s3_server, bucket, "d", tmp_path)
    with store:
        assert sorted(d["task_id"] for d in store.query()) == ["mp-0", "mp-1", "mp-2"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # unchanged, the bomb is not read (nor warned of) again
        again = _open(s3_server, bucket, "d", tmp_path)
    with again:
        assert "1 object(s) could not be read when it was built" in again.found
        assert "mp-9.json.gz" in again.found and again.count() == 3


@pytest.mark.moto_only  # the gateway's files cannot hold these names as written (see above)
def test_object_names_that_cannot_be_keys_are_reported_not_indexed(s3_server, public,
                                                                    tmp_path):
    """The build reads through boto3 here: obstore's listing refuses the whole prefix when
    one name holds '..', '.', '//' or a control character (see the report)."""
    client, bucket = public
    bodies = {f"p/mp-{i}.json": json.dumps({"task_id": f"mp-{i}"}).encode() for i in range(3)}
    hostile = ["p/x/../y.json", "p/x/./z.json", "p/c\x01.json"]
    bodies |= {name: json.dumps({"task_id": name}).encode() for name in hostile}
    layouts.upload(client, bucket, bodies)
    listed = {o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="p/")["Contents"]}
    assert set(hostile) <= listed  # the endpoint keeps them as written
    objects = ObjectIO(bucket, "p", endpoint_url=s3_server.endpoint_url, anonymous=True,
                       engine="boto3")
    objects.connect()
    with pytest.warns(UserWarning) as caught:
        result = build(objects, Layout("json-objects", "task_id"), tmp_path / "m")
    text = " ".join(str(w.message) for w in caught)
    assert "3 object(s)" in text and "x/../y.json" in text and "x/./z.json" in text
    assert sorted(f.key for f in result.failures) == sorted(n[2:] for n in hostile)
    entries = read_parquet(str(result.path)).entries
    assert sorted(e["task_id"] for e in entries) == ["mp-0", "mp-1", "mp-2"]
    objects.close()


def test_grouped_manifest_path_values_are_refused_before_any_read(s3_server, public,
                                                                  tmp_path):
    client, bucket = public
    docs = [layouts.material(i) for i in range(8)]
    bodies = layouts.grouped_bodies("data/g", docs)
    secret = {"material_id": "mp-secret", "nelements": 1, "symmetry_number": 1}
    bodies["data/secret/symmetry_number=1.jsonl.gz"] = gzip.compress(
        json.dumps(secret).encode() + b"\n")
    # an entry whose grouping value climbs out of the prefix, to data/secret/...
    bodies["data/g/manifest.jsonl"] += json.dumps(
        {**secret, "nelements": "x/../../secret/.."}).encode() + b"\n"
    layouts.upload(client, bucket, bodies)
    store = _open(s3_server, bucket, "data/g", tmp_path)
    with store:
        with pytest.raises(CorruptObjectError, match="holds a '/'") as info:
            list(store.query({"material_id": "mp-secret"}))
        assert info.value.key == "mp-secret"
        kept, caught = _skip(store)
        assert any("mp-secret" in w for w in caught), caught
        assert sorted(d["material_id"] for d in kept) == sorted(d["material_id"] for d in docs)
        assert store._reader.stats.gets == len({(d["nelements"], d["symmetry_number"])
                                                for d in docs})  # no GET for the entry


def _parquet(meta: bytes) -> bytes:
    table = pa.table({"material_id": ["mp-1"], "nelements": [1], "symmetry_number": [1]})
    table = table.replace_schema_metadata({"s3explore": meta})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


@pytest.mark.parametrize("meta", [
    b"{not json",
    b"[1, 2]",
    b'{"format": "s3explore-manifest"}',
    b'{"format": "s3explore-manifest", "layout": {"kind": "grouped-jsonl"}}',
    b'{"format": "s3explore-manifest", "layout": {"kind": "nope", "key": "k"}}',
    b'{"format": "s3explore-manifest", "layout": {"kind": "grouped-jsonl", "key": "k", '
    b'"grouping": ["../x"]}}',
    b'{"format": "s3explore-manifest", "layout": {"kind": "grouped-jsonl", "key": "k", '
    b'"grouping": 5}}',
    b'{"format": "s3explore-manifest", "json_columns": 7, "layout": {"kind": "s3store", '
    b'"key": "k"}}',
    b'{"format": "s3explore-manifest", "layout": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
])
def test_hostile_parquet_metadata_is_our_error(s3_server, public, tmp_path, meta):
    client, bucket = public
    layouts.upload(client, bucket, {"m/manifest.parquet": _parquet(meta)})
    with pytest.raises(CorruptObjectError, match="manifest.parquet") as info:
        _open(s3_server, bucket, "m", tmp_path)
    assert "republish" in str(info.value)
