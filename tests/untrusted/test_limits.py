"""Bounded inflation and nesting in the codecs, in-process and small (no bombs here)."""

from __future__ import annotations

import gzip
import io
import json
import sys
import zlib

import msgpack
import pytest

from s3explore import _codec as codec
from s3explore._errors import ConfigurationError, CorruptObjectError
from s3explore._stores._opendata import _json
from tests.untrusted import bombs

MIB = 1 << 20
LIMIT = 8 * MIB


@pytest.mark.parametrize("kind", ["zlib", "gzip", "gzip-members", "zstd", "zstd-sized"])
def test_inflation_past_the_limit_is_our_error(kind):
    body = {"zlib": lambda: bombs.zlib_bomb(64 * MIB),
            "gzip": lambda: bombs.gzip_bomb(64 * MIB),
            "gzip-members": lambda: bombs.gzip_members_bomb(64 * MIB),
            "zstd": lambda: bombs.zstd_bomb(64 * MIB),
            "zstd-sized": lambda: bombs.zstd_bomb(64 * MIB, content_size=True)}[kind]()
    compression = kind.split("-")[0]
    with pytest.raises(CorruptObjectError) as info:
        codec.decompress_bytes(body, compression, "p/bomb", max_bytes=LIMIT)
    message = str(info.value)
    assert info.value.key == "p/bomb"
    assert "'p/bomb'" in message and "8 MiB" in message and f"max_decoded_bytes={LIMIT}" in message
    assert "S3EXPLORE_MAX_DECODED_BYTES" in message  # says how to raise it


@pytest.mark.parametrize("kind", ["zlib", "gzip", "gzip-members", "zstd", "zstd-sized"])
def test_bodies_within_the_limit_decode_as_before(kind):
    data = json.dumps({"x": list(range(50_000))}).encode()
    body = {"zlib": lambda: zlib.compress(data),
            "gzip": lambda: gzip.compress(data),
            "gzip-members": lambda: gzip.compress(data[:1000]) + gzip.compress(data[1000:])
            + b"\0" * 8,
            "zstd": lambda: b"".join(_zstd_stream(data)),
            "zstd-sized": lambda: codec.compress_bytes(data, "zstd")}[kind]()
    compression = kind.split("-")[0]
    assert codec.decompress_bytes(body, compression, "k", max_bytes=len(data)) == data
    with pytest.raises(CorruptObjectError, match="max_decoded_bytes"):
        codec.decompress_bytes(body, compression, "k", max_bytes=len(data) - 1)


def _zstd_stream(data):
    import zstandard

    z = zstandard.ZstdCompressor().compressobj()
    yield z.compress(data)
    yield z.flush()


@pytest.mark.parametrize("compression", ["zlib", "gzip", "zstd"])
def test_truncated_and_garbage_bodies_still_corrupt(compression):
    data = b"y" * 100_000
    body = codec.compress_bytes(data, compression) if compression != "gzip" else gzip.compress(
        data)
    for bad in (body[: len(body) // 2], b"garbage" + body):
        with pytest.raises(CorruptObjectError, match="does not decompress"):
            codec.decompress_bytes(bad, compression, "k")
    if compression == "gzip":  # trailing garbage after a member, as gzip.decompress says
        with pytest.raises(CorruptObjectError):
            codec.decompress_bytes(body + b"xx", "gzip", "k")


def test_streamed_decoding_stops_at_the_limit():
    doc = {"a": "0" * (4 * MIB)}
    body = codec.compress_bytes(msgpack.packb(doc), "zlib")
    assert codec.decode_stream(io.BytesIO(body), "zlib", "k", max_bytes=8 * MIB)[0] == doc
    with pytest.raises(CorruptObjectError, match=r"'k' decodes to more than 1 MiB"):
        codec.decode_stream(io.BytesIO(body), "zlib", "k", max_bytes=MIB)
    bomb = bombs.zlib_bomb(64 * MIB, head=b"\x81\xa1a\xdb\x04\x00\x00\x00")  # {"a": 64 MiB str}
    with pytest.raises(CorruptObjectError, match="max_decoded_bytes=1048576"):
        codec.decode_stream(io.BytesIO(bomb), "zlib", "k", max_bytes=MIB)


def test_the_limit_is_a_setting(monkeypatch):
    assert codec.max_decoded_bytes() == codec.DEFAULT_MAX_DECODED_BYTES == 2 << 30
    monkeypatch.setenv(codec.MAX_DECODED_ENV, "1_048_576")
    assert codec.max_decoded_bytes() == MIB
    with pytest.raises(CorruptObjectError, match="max_decoded_bytes=1048576"):
        codec.decompress_bytes(bombs.gzip_bomb(16 * MIB * 4), "gzip", "k")
    monkeypatch.setenv(codec.MAX_DECODED_ENV, "lots")
    with pytest.raises(ConfigurationError, match="S3EXPLORE_MAX_DECODED_BYTES"):
        codec.max_decoded_bytes()
    for bad in (0, -1, True, 1.5, "1"):
        with pytest.raises(ConfigurationError, match="max_decoded_bytes"):
            codec.max_decoded_bytes(bad)


def test_a_plug_in_codec_without_bounded_is_checked_afterwards():
    plug = codec.Codec("test-rot", lambda d, level: d[::-1], lambda d: d[::-1] * 3,
                       magic=b"\xfe\xfe\xfe", store=False)
    codec.register_codec(plug)
    try:
        with pytest.raises(CorruptObjectError, match="max_decoded_bytes=10"):
            codec.decompress_bytes(b"abcd", "test-rot", "k", max_bytes=10)
        assert codec.decompress_bytes(b"abc", "test-rot", "k", max_bytes=10) == b"cbacbacba"
    finally:
        codec.unregister_codec("test-rot")


# ---------------------------------------------------------------- nesting


def _deep_json(levels: int) -> bytes:
    return b'{"task_id": "deep", "x": ' + b"[" * levels + b"]" * levels + b"}"


@pytest.mark.parametrize("levels", [1_001, 100_000])
def test_deep_json_is_a_corrupt_object(levels):
    with pytest.raises(CorruptObjectError, match="nested deeper than 1000") as info:
        _json.parse_document(_deep_json(levels), "p/deep.json")
    assert info.value.key == "p/deep.json"


def test_json_nesting_below_the_limit_reads():
    assert _json.parse_document(_deep_json(200), "p/ok.json")["task_id"] == "deep"


def test_nesting_is_bounded_under_a_raised_recursion_limit():
    # json's scanner follows sys.getrecursionlimit() (raised by some notebooks); the depth
    # bound of 1,000 holds anyway
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000)
    try:
        with pytest.raises(CorruptObjectError, match="nested deeper than 1000"):
            _json.parse_document(_deep_json(1_500), "p/deep.json")
    finally:
        sys.setrecursionlimit(old)


@pytest.mark.parametrize("levels", [1_100, 100_000])
@pytest.mark.parametrize("decode", [True, False])
def test_deep_msgpack_is_a_corrupt_object(levels, decode):
    body = b"\x81\xa1x" + b"\x91" * levels + b"\xc0"  # {"x": [[[...nil...]]]}
    with pytest.raises(CorruptObjectError, match="'p/deep'"):
        codec.decode_body(body, None, "p/deep", decode)
    with pytest.raises(CorruptObjectError, match="'p/deep'"):
        codec.decode_stream(io.BytesIO(codec.compress_bytes(body, "zlib")), "zlib", "p/deep",
                            decode)


def test_a_body_held_whole_is_refused_past_the_limit_before_it_is_read(make_store, s3_server,
                                                                      bucket):
    # Raw reads (manifests, JSON objects, unpack_data=False) hold a body whole: one larger
    # than max_decoded_bytes costs its own error, named, and no memory.
    store = make_store(max_decoded_bytes=4096)
    raw = s3_server.client()
    raw.put_object(Bucket=bucket, Key="huge.json", Body=b" " * 10_000 + b"{}")
    raw.put_object(Bucket=bucket, Key="small.json", Body=b'{"a": 1}')
    with pytest.raises(CorruptObjectError, match=r"'huge.json'.*max_decoded_bytes=4096"):
        store.objects.read("huge.json")
    assert store.objects.read("small.json")[0] == b'{"a": 1}'


@pytest.mark.parametrize("bad", [0, -1, 2.5, "1GB", True])
def test_the_store_setting_is_checked_and_kept(bad):
    from s3explore import MemoryStore, S3Store

    with pytest.raises(ConfigurationError, match="max_decoded_bytes must be a positive"):
        S3Store(MemoryStore("x"), "bucket", max_decoded_bytes=bad)
    store = S3Store(MemoryStore("x"), "bucket", max_decoded_bytes=1 << 20)
    assert S3Store.from_dict(store.as_dict()).objects.max_decoded_bytes == 1 << 20
