"""Decompression bombs in a public bucket, opened by a victim process of 3 GB address space.

Each bomb inflates to 4 GiB (more than the victim may map); the victim sets a lower limit
(``max_decoded_bytes``) and must end with CorruptObjectError naming the object and the
limit, never MemoryError or a kill. Its peak RSS is recorded (``<property>`` entries).
"""

from __future__ import annotations

import gzip
import json
import os

import pytest

from tests.opendata import layouts
from tests.untrusted import bombs

GIB = 1 << 30
LIMIT = 256 << 20
INFLATES = 4 * GIB


@pytest.fixture
def public(s3_server, bucket):
    client = s3_server.client()
    layouts.make_public(client, bucket)
    return client, bucket


def _doc(i: int) -> dict:
    return {"task_id": f"mp-{i}", "nelements": 1 + i % 2, "value": i}


def _victim(s3_server, bucket, prefix, tmp_path, body, env=None, limit=LIMIT):
    setup = (f"import s3explore\n"
             f"kw = dict(anonymous=True, endpoint_url={s3_server.endpoint_url!r}, "
             f"cache_dir={str(tmp_path / 'cache')!r}"
             + (f", max_decoded_bytes={limit}" if limit else "") + ")\n"
             f"url = 's3://{bucket}/{prefix}'\n")
    return bombs.run_victim(setup + body, env=env)


def _record(record_property, out):
    record_property("peak_rss_mb", out["peak_rss_mb"])
    record_property("children_peak_rss_mb", out["children_peak_rss_mb"])
    print(f"victim peak RSS {out['peak_rss_mb']} MB")
    print(out.get("trace", ""))


def test_first_json_document_bomb_costs_one_object(s3_server, public, tmp_path,
                                                   record_property):
    """The alphabetically first .json.gz inflates to 4 GiB: open() reads a bounded head to
    tell the key field, the build reports the bomb by name and indexes the others."""
    client, bucket = public
    head = b'{"task_id": "a-bomb", "pad": "'
    bodies = {"docs/a-bomb.json.gz": bombs.gzip_bomb(INFLATES, head, b'"}')}
    bodies |= {f"docs/mp-{i}.json.gz": gzip.compress(json.dumps(_doc(i)).encode())
               for i in range(5)}
    layouts.upload(client, bucket, bodies)
    out = _victim(s3_server, bucket, "docs", tmp_path, """
store = s3explore.open(url, **kw)
_finish(count=store.count(), key=store.key, docs=sorted(d["task_id"] for d in store.query()))
""")
    _record(record_property, out)
    assert "error" not in out, out
    assert out["key"] == "task_id"
    assert out["docs"] == [f"mp-{i}" for i in range(5)]
    assert any("a-bomb.json.gz" in w for w in out["warnings"]), out["warnings"]


def test_grouped_bomb_costs_its_group(s3_server, public, tmp_path, record_property):
    """A multi-member .jsonl.gz bomb beside a manifest: query() raises our error naming it;
    on_error="skip" serves every document of the other groups."""
    client, bucket = public
    docs = [layouts.material(i) for i in range(40)]
    bodies = layouts.grouped_bodies("g", docs)
    victim = "g/nelements=1/symmetry_number=1.jsonl.gz"
    bodies[victim] = bodies[victim] + bombs.gzip_members_bomb(INFLATES, b'{"p": "', b'"}\n')
    lost = {d["material_id"] for d in docs if (d["nelements"], d["symmetry_number"]) == (1, 1)}
    assert lost
    layouts.upload(client, bucket, bodies)
    out = _victim(s3_server, bucket, "g", tmp_path, """
store = s3explore.open(url, **kw)
try:
    list(store.query())
    raised = None
except Exception as exc:
    raised = (type(exc).__name__, str(exc))
import warnings
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    kept = sorted(d["material_id"] for d in store.query(on_error="skip"))
_finish(raised=raised, kept=kept)
""")
    _record(record_property, out)
    assert "error" not in out, out
    kind, message = out["raised"]
    assert kind == "CorruptObjectError"
    assert "nelements=1/symmetry_number=1.jsonl.gz" in message
    assert f"max_decoded_bytes={LIMIT}" in message
    assert out["kept"] == sorted({d["material_id"] for d in docs} - lost)


def test_gzip_manifest_bomb(s3_server, public, tmp_path, record_property):
    """manifest.jsonl whose body is gzip (sniffed by its magic bytes) inflating to 4 GiB."""
    client, bucket = public
    bodies = layouts.grouped_bodies("m", [layouts.material(i) for i in range(4)])
    bodies["m/manifest.jsonl"] = bombs.gzip_bomb(INFLATES)
    layouts.upload(client, bucket, bodies)
    out = _victim(s3_server, bucket, "m", tmp_path, """
s3explore.open(url, **kw)
_finish()
""", limit=None, env={"S3EXPLORE_MAX_DECODED_BYTES": str(LIMIT)})  # the setting, by env
    _record(record_property, out)
    assert out.get("error") == "CorruptObjectError", out
    assert "manifest.jsonl" in out["message"] and f"max_decoded_bytes={LIMIT}" in out["message"]


@pytest.mark.parametrize("content_size", [False, True])
def test_zstd_json_document_bomb(s3_server, public, tmp_path, record_property, content_size):
    """A .json.zst document of 4 GiB, its size declared in the frame or not."""
    client, bucket = public
    head = b'{"task_id": "z", "pad": "'
    bomb = (bombs.zstd_bomb(INFLATES, head, b'"}', content_size=True) if content_size
            else bombs.zstd_bomb(INFLATES, head, b'"}'))
    bodies = {"z/z.json.zst": bomb,
              "z/mp-1.json.gz": gzip.compress(json.dumps(_doc(1)).encode())}
    layouts.upload(client, bucket, bodies)
    out = _victim(s3_server, bucket, "z", tmp_path, """
store = s3explore.open(url, key="task_id", **kw)
_finish(docs=[d["task_id"] for d in store.query()])
""")
    _record(record_property, out)
    assert "error" not in out, out
    assert out["docs"] == ["mp-1"]
    assert any("z.json.zst" in w and "max_decoded_bytes" in w for w in out["warnings"]), out


def test_streamed_s3store_bomb(tmp_path, record_property):
    """An S3Store body (zlib msgpack) read as it downloads: stopped at the limit."""
    path = tmp_path / "bomb.zlib"
    path.write_bytes(bombs.zlib_bomb(INFLATES, b"\x81\xa1a\xdb\xff\xff\xff\xf0"))
    out = bombs.run_victim(f"""
from s3explore import _codec as codec
with open({os.fspath(path)!r}, "rb") as f:
    codec.decode_stream(f, "zlib", "k/bomb", max_bytes={LIMIT})
_finish()
""")
    _record(record_property, out)
    assert out.get("error") == "CorruptObjectError", out
    assert "'k/bomb'" in out["message"]
