"""The pure format layer: bodies, tags, compression, keys, index and metadata documents."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import uuid
import zlib
from pathlib import Path

import msgpack
import numpy as np
import pytest

from s3explore import _codec as codec
from s3explore._errors import (
    ConfigurationError,
    CorruptObjectError,
    InvalidDocumentError,
    InvalidKeyError,
    MetadataTooLargeError,
)


class Structure:
    """An MSONable-like object: stored through its as_dict()."""

    def as_dict(self) -> dict:
        return {"@module": "pymatgen.core", "@class": "Structure", "sites": [1, 2]}


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Color(enum.Enum):
    RED = "red"


def test_tagged_values_match_monty_byte_for_byte():
    monty_default = pytest.importorskip("monty.msgpack").default
    doc = {
        "when": dt.datetime(2024, 1, 2, 3, 4, 5, 678000),
        "dos": np.linspace(0, 1, 7),
        "ints": np.arange(6).reshape(2, 3),
        "cplx": np.array([1 + 2j, 3 - 1j]),
        "id": uuid.UUID(int=42),
        "path": Path("/data/run1"),
        "scalar": np.float64(1.5),
        "structure": Structure(),
        "point": Point(1, 2),
        "color": Color.RED,
    }
    assert codec.pack(doc) == msgpack.packb(doc, default=monty_default)


def test_allow_listed_tags_decode_back_to_python_values():
    doc = {
        "when": dt.datetime(2024, 1, 2, 3, 4, 5, 678000),
        "dos": np.linspace(0, 1, 7),
        "cplx": np.array([1 + 2j, 3 - 1j]),
        "id": uuid.UUID(int=42),
        "path": Path("/data/run1"),
        "nested": {"list": [dt.datetime(2020, 5, 6)]},
    }
    back = codec.unpack(codec.pack(doc))
    assert back["when"] == doc["when"]
    np.testing.assert_array_equal(back["dos"], doc["dos"])
    assert back["dos"].dtype == np.float64
    np.testing.assert_array_equal(back["cplx"], doc["cplx"])
    assert back["cplx"].dtype == np.complex128
    assert back["id"] == doc["id"] and back["path"] == doc["path"]
    assert back["nested"]["list"][0] == dt.datetime(2020, 5, 6)


def test_unknown_tags_stay_plain_dicts():
    doc = {"obj": Structure(), "evil": {"@module": "os", "@class": "system", "args": ["ls"]}}
    back = codec.unpack(codec.pack(doc))
    assert back["obj"] == {**Structure().as_dict(), "@version": None}
    assert back["evil"] == doc["evil"]


def test_malformed_allowed_tag_stays_a_dict():
    bad = {"@module": "numpy", "@class": "array", "dtype": "no-such-dtype", "data": [1]}
    assert codec.unpack(codec.pack({"x": bad}))["x"] == bad


def test_decode_can_be_turned_off():
    raw = codec.unpack(codec.pack({"t": dt.datetime(2024, 1, 1)}), decode=False)
    assert raw["t"]["@class"] == "datetime"


@pytest.mark.parametrize("compression", [None, "zlib", "zstd"])
def test_body_round_trip_drops_last_updated(compression):
    doc = {"task_id": "a", "x": [1, 2], "last_updated": dt.datetime(2024, 1, 1)}
    body = codec.encode_body(doc, compression)
    assert codec.sniff_compression(body) == compression
    assert codec.decode_body(body, compression) == {"task_id": "a", "x": [1, 2]}
    assert "last_updated" in doc  # the caller's document is untouched


def test_zlib_body_is_exactly_what_maggma_writes():
    doc = {"task_id": "a", "x": 1.5}
    assert codec.encode_body(doc, "zlib") == zlib.compress(msgpack.packb(doc))


def test_compression_level_is_used():
    doc = {"x": list(range(2000))}
    fast = codec.encode_body(doc, "zstd", level=-5)
    small = codec.encode_body(doc, "zstd", level=19)
    assert len(small) < len(fast)
    assert codec.decode_body(small, "zstd") == doc


def test_declared_zlib_on_plain_body_is_corrupt():
    body = codec.encode_body({"a": 1}, None)
    with pytest.raises(CorruptObjectError, match="'k1'.*declared zlib"):
        codec.decode_body(body, "zlib", key="k1")


@pytest.mark.parametrize("compression", ["zlib", "zstd"])
def test_truncated_compressed_body_is_corrupt(compression):
    body = codec.encode_body({"a": list(range(100))}, compression)
    with pytest.raises(CorruptObjectError, match="k2"):
        codec.decode_body(body[: len(body) // 2], compression, key="k2")


def test_truncated_msgpack_is_corrupt():
    body = codec.pack({"a": "x" * 100})
    with pytest.raises(CorruptObjectError, match="k3.*not a valid msgpack"):
        codec.unpack(body[:20], key="k3")


def test_msgpack_that_is_not_a_document_is_corrupt():
    with pytest.raises(CorruptObjectError, match="not a document"):
        codec.unpack(msgpack.packb([1, 2]), key="k4")


def test_unencodable_value_names_the_document():
    with pytest.raises(InvalidDocumentError, match="'doc-9'.*cannot encode") as info:
        codec.pack({"s": {1, 2}}, key="doc-9")
    assert info.value.key == "doc-9"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, "zlib"), ("zlib", "zlib"), ("zstd", "zstd"), (False, None), (None, None)],
)
def test_normalize_compression(value, expected):
    assert codec.normalize_compression(value) == expected


@pytest.mark.parametrize("value", ["gzip", 1, "ZLIB"])
def test_unknown_compression_is_refused(value):
    with pytest.raises(ConfigurationError, match="compress="):
        codec.normalize_compression(value)


@pytest.mark.parametrize(
    ("sub_dir", "expected"),
    [(None, ""), ("", ""), ("/", ""), ("a", "a/"), ("/a/b/", "a/b/"), ("runs/2024", "runs/2024/")],
)
def test_sub_dir_is_normalised_like_maggma(sub_dir, expected):
    assert codec.normalize_sub_dir(sub_dir) == expected


@pytest.mark.parametrize("sub_dir", ["a/../b", "./a", "a/\x00"])
def test_unsafe_sub_dir_is_refused(sub_dir):
    with pytest.raises(InvalidKeyError):
        codec.normalize_sub_dir(sub_dir)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "empty"),
        ("/abs", "starts with '/'"),
        ("a/../b", r"'\.\.'"),
        ("..", r"'\.\.'"),
        ("a/./b", r"'\.'"),
        ("bad\nkey", "control characters"),
        ("tab\tkey", "control characters"),
        ("k" * 1025, "1025 bytes"),
        ("é" * 513, "1026 bytes"),
        (1.5, "string or an integer"),
        (None, "string or an integer"),
        (True, "string or an integer"),
    ],
)
def test_bad_keys_are_refused(value, message):
    with pytest.raises(InvalidKeyError, match=message):
        codec.key_string(value, "task_id")


def test_good_keys_pass():
    assert codec.key_string("mp-1/relax/2", "task_id") == "mp-1/relax/2"
    assert codec.key_string(42, "task_id") == "42"
    assert codec.key_string("k" * 1024, "task_id") == "k" * 1024


def test_key_with_sub_dir_over_limit():
    with pytest.raises(InvalidKeyError, match="sub_dir"):
        codec.object_key("a/" * 10, "k" * 1010)


def test_doc_key_errors_name_the_field():
    with pytest.raises(InvalidDocumentError, match="no key field 'task_id'"):
        codec.doc_key({"fs_id": 1}, "task_id")
    with pytest.raises(InvalidDocumentError, match="must be dicts"):
        codec.doc_key(["task_id"], "task_id")


def test_index_document_layout_and_sparse_fields():
    doc = {"task_id": "mp-1", "formula": "Fe2O3", "band_gap": 2.1, "_id": "x", "big": [0] * 9}
    entry = codec.index_document(doc, "task_id", ["formula", "nsites", "band_gap", "_id"],
                                 "runs/", "zlib")
    assert list(entry) == ["formula", "band_gap", "task_id", "sub_dir", "compression",
                           "s3-to-mongo-keys"]
    assert "nsites" not in entry and "_id" not in entry
    assert json.loads(entry["s3-to-mongo-keys"]) == {
        "formula": "formula", "band_gap": "band-gap", "task_id": "task-id", "sub_dir": "sub-dir",
        "compression": "compression", "s3-to-mongo-keys": "s3-to-mongo-keys",
    }


def test_metadata_document_is_sanitised_strings():
    entry = {"task_id": "mp-1", "Band_Gap": 2.5, "last_updated": dt.datetime(2024, 1, 1),
             "obj_hash": "abc", "n": 3}
    assert codec.metadata_document(entry) == {"task-id": "mp-1", "band-gap": "2.5", "n": "3"}


def test_metadata_round_trip_through_names():
    entry = codec.index_document({"task_id": "a", "band_gap": 1}, "task_id", ["band_gap"], "", None)
    back = codec.entry_from_metadata(codec.metadata_document(entry))
    assert back == {"band_gap": "1", "task_id": "a"}


def test_metadata_limit_names_fields_and_sizes():
    metadata = {"task-id": "a", "formula": "x" * 3000, "small": "y"}
    with pytest.raises(MetadataTooLargeError, match=r"'a'.*formula=3007 B") as info:
        codec.check_metadata(metadata, 2048, "a")
    assert info.value.key == "a"
    codec.check_metadata(metadata, None, "a")  # no limit, no error
    codec.check_metadata(metadata, 4096, "a")


def test_non_ascii_metadata_is_refused_with_the_field():
    with pytest.raises(InvalidDocumentError, match="'formula'.*ASCII"):
        codec.check_metadata({"formula": "Fe₂O₃"}, 2048, "mp-1")


def test_content_hash_is_sha1_hex():
    assert codec.content_hash(b"abc") == "a9993e364706816aba3e25717850c26c9cd0d89d"
