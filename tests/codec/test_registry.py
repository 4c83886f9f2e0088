"""The codec registry: built-in codecs, and a codec added in a test working end to end."""

from __future__ import annotations

import gzip
import zlib

import msgpack
import pytest

from s3explore import _codec as codec
from s3explore._errors import ConfigurationError, CorruptObjectError

DOC = {"task_id": "a", "x": list(range(50)), "s": "text " * 20}


def _toy_compress(data: bytes, level: int | None) -> bytes:
    # A run of the level byte, then the data reversed: trivially invertible and recognisable.
    return b"TOY!" + bytes([level or 0]) + data[::-1]


def _toy_decompress(data: bytes) -> bytes:
    if not data.startswith(b"TOY!") or len(data) < 5:
        raise ValueError("not a toy body")
    return data[5:][::-1]


@pytest.fixture
def toy():
    registered = codec.register_codec(
        codec.Codec("toy", _toy_compress, _toy_decompress, magic=b"TOY!", suffixes=(".toy",))
    )
    try:
        yield registered
    finally:
        codec.unregister_codec("toy")


def test_builtin_codecs_are_registered_once_each():
    assert {"zlib", "zstd", "gzip"} <= set(codec.CODECS)
    assert [n for n, c in codec.CODECS.items() if c.maggma] == ["zlib"]
    assert codec.store_compressions() == ("zlib", "zstd")
    assert codec.COMPRESSIONS == ("zlib", "zstd")


def test_registry_view_is_read_only():
    with pytest.raises(TypeError):
        codec.CODECS["x"] = codec.CODECS["zlib"]  # type: ignore[index]


def test_gzip_body_round_trip_and_sniff():
    body = codec.encode_body(DOC, "gzip")
    assert gzip.decompress(body) == msgpack.packb(DOC)  # standard gzip, readable by anyone
    assert codec.sniff_compression(body) == "gzip"
    assert codec.decode_body(body, "gzip") == DOC
    assert codec.encode_body(DOC, "gzip") == body  # no timestamp: same bytes every time


def test_gzip_is_readable_but_not_a_store_choice():
    with pytest.raises(ConfigurationError, match=r"'zlib' \(maggma-compatible\), 'zstd', or"):
        codec.normalize_compression("gzip")


def test_corrupt_gzip_body_is_corrupt_object():
    body = codec.encode_body(DOC, "gzip")
    broken = body[:10] + bytes(b ^ 0xFF for b in body[10:30]) + body[30:]
    for bad in (body[: len(body) // 2], broken, b"not gzip at all"):
        with pytest.raises(CorruptObjectError, match="'g1' is declared gzip"):
            codec.decompress_bytes(bad, "gzip", key="g1")


def test_compress_bytes_names_the_known_codecs():
    with pytest.raises(ConfigurationError, match=r"unknown compression 'lz9'.*'zlib'"):
        codec.compress_bytes(b"x", "lz9")


def test_unknown_declared_compression_is_corrupt():
    with pytest.raises(CorruptObjectError, match="'k' declares unknown compression 'lz9'"):
        codec.decompress_bytes(b"x", "lz9", key="k")


def test_eight_field_msgpack_map_is_not_sniffed_as_zlib():
    # 0x88 (a map of 8) then a 23-character key passes zlib's %31 header check, but its
    # window size nibble (8) is invalid zlib.
    doc = {"k" * 23: 0, **{f"f{i}": i for i in range(7)}}
    body = codec.pack(doc)
    assert body[0] == 0x88 and (body[0] << 8 | body[1]) % 31 == 0
    assert codec.sniff_compression(body) is None


@pytest.mark.parametrize("level", [None, 0, 1, 9])
def test_zlib_headers_at_every_level_are_sniffed(level):
    body = zlib.compress(b"data" * 10) if level is None else zlib.compress(b"data", level)
    assert codec.sniff_compression(body) == "zlib"


def test_strip_compression_suffix():
    assert codec.strip_compression_suffix("a.json.gz") == ("a.json", codec.CODECS["gzip"])
    assert codec.strip_compression_suffix("a.msgpack.zst") == ("a.msgpack",
                                                               codec.CODECS["zstd"])
    assert codec.strip_compression_suffix("a.json") == ("a.json", None)
    assert codec.strip_compression_suffix(".gz") == (".gz", None)


# ---------------------------------------------------------------- a codec added by a test


def test_registered_codec_works_end_to_end(toy):
    assert codec.normalize_compression("toy") == "toy"
    body = codec.encode_body({**DOC, "last_updated": 1}, "toy", level=7)
    assert body.startswith(b"TOY!\x07")
    assert codec.sniff_compression(body) == "toy"
    assert codec.decode_body(body, "toy") == DOC
    assert codec.strip_compression_suffix("d.json.toy") == ("d.json", toy)
    entry = codec.index_document(DOC, "task_id", [], "", "toy")
    assert entry["compression"] == "toy"


def test_registered_codec_errors_become_corrupt_object(toy):
    with pytest.raises(CorruptObjectError, match="'t1' is declared toy.*not compressed"):
        codec.decode_body(codec.encode_body(DOC, None), "toy", key="t1")


def test_registered_codec_is_named_in_the_compress_error(toy):
    with pytest.raises(ConfigurationError, match="'zstd', 'toy', or False"):
        codec.normalize_compression("nope")


def test_unregistered_codec_is_gone(toy):
    codec.unregister_codec("toy")
    try:
        body = _toy_compress(b"\x80", None)
        assert codec.sniff_compression(body) is None
        with pytest.raises(CorruptObjectError, match="unknown compression 'toy'"):
            codec.decompress_bytes(body, "toy")
    finally:
        codec.register_codec(toy)  # the fixture removes it again


def test_longer_magic_wins_over_a_shorter_prefix(toy):
    longer = codec.Codec("toy2", _toy_compress, _toy_decompress, magic=b"TOY!\x05")
    codec.register_codec(longer)
    try:
        assert codec.sniff_compression(_toy_compress(b"x", 5)) == "toy2"
        assert codec.sniff_compression(_toy_compress(b"x", 4)) == "toy"
    finally:
        codec.unregister_codec("toy2")


def test_codec_defaults_store_and_not_maggma(toy):
    assert toy.store and not toy.maggma and toy.errors == (ValueError,)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Bad Name"}, "lower-case ASCII"),
        ({"name": ""}, "lower-case ASCII"),
        ({"name": "zlib"}, "already registered"),
        ({"compress": None}, "callable compress"),
        ({"suffixes": ("gz",)}, "start with '.'"),
        ({"sniff": "yes"}, "sniff must be callable"),
    ],
)
def test_bad_codecs_are_refused(kwargs, message):
    fields = {"name": "ok", "compress": _toy_compress, "decompress": _toy_decompress} | kwargs
    with pytest.raises(ConfigurationError, match=message):
        codec.register_codec(codec.Codec(**fields))
    assert "ok" not in codec.CODECS


def test_replace_swaps_a_codec_and_unknown_unregister_is_refused(toy):
    other = codec.Codec("toy", _toy_compress, _toy_decompress, magic=b"TOY!", maggma=True)
    codec.register_codec(other, replace=True)
    assert codec.CODECS["toy"] is other
    with pytest.raises(ConfigurationError, match="no codec named 'nope'"):
        codec.unregister_codec("nope")
    with pytest.raises(ConfigurationError, match="takes a Codec"):
        codec.register_codec("toy")  # type: ignore[arg-type]
