"""The upload reader's decompression goes through the codec registry (widgets/_sources.py)."""

from __future__ import annotations

import gzip
import json

import msgpack
import pytest

from s3explore import _codec as codec
from s3explore.widgets._sources import read_document_file


def test_json_gz_and_msgpack_gz(tmp_path):
    (tmp_path / "a.json.gz").write_bytes(gzip.compress(json.dumps({"task_id": "a"}).encode()))
    (tmp_path / "b.msgpack.gz").write_bytes(gzip.compress(msgpack.packb({"task_id": "b"})))
    assert read_document_file(tmp_path / "a.json.gz") == {"task_id": "a"}
    assert read_document_file(tmp_path / "b.msgpack.gz") == {"task_id": "b"}


def test_zstd_file(tmp_path):
    path = tmp_path / "c.json.zst"
    path.write_bytes(codec.compress_bytes(b'{"task_id": "c"}', "zstd"))
    assert read_document_file(path) == {"task_id": "c"}


@pytest.mark.parametrize(
    "damage",
    [
        lambda body: b"not gzip",  # no gzip header
        lambda body: body[: len(body) // 2],  # truncated
        # a valid header over a broken deflate stream: zlib.error, once not caught
        lambda body: body[:10] + b"\xff" * (len(body) - 10),
    ],
)
def test_broken_gzip_is_a_value_error_naming_the_file(tmp_path, damage):
    body = gzip.compress(json.dumps({"task_id": "a", "x": list(range(200))}).encode())
    path = tmp_path / "bad.json.gz"
    path.write_bytes(damage(body))
    with pytest.raises(ValueError, match=r"bad\.json\.gz is not a valid gzip file"):
        read_document_file(path)


def test_a_registered_codec_suffix_is_read(tmp_path):
    toy = codec.Codec("rev", lambda data, level: data[::-1], lambda data: data[::-1],
                      suffixes=(".rev",))
    codec.register_codec(toy)
    try:
        path = tmp_path / "d.json.rev"
        path.write_bytes(b'{"task_id": "d"}'[::-1])
        assert read_document_file(path) == {"task_id": "d"}
    finally:
        codec.unregister_codec("rev")
