"""Non-ASCII metadata values as RFC 2047 encoded-words, the form S3 returns them in."""

from __future__ import annotations

import base64
import json

import pytest

from s3explore import _codec as codec
from s3explore._errors import InvalidDocumentError, MetadataTooLargeError


def test_non_ascii_key_round_trips_through_metadata():
    entry = codec.index_document({"fs_id": "mp-é", "formula": "Fe₂O₃"}, "fs_id", ["formula"],
                                 "runs/", "zlib")
    metadata = codec.metadata_document(entry)
    assert metadata["fs-id"] == "=?UTF-8?B?" + base64.b64encode("mp-é".encode()).decode() + "?="
    assert all((k + v).isascii() for k, v in metadata.items())
    codec.check_metadata(metadata, codec.AWS_METADATA_LIMIT, "mp-é")  # sendable as is
    back = codec.entry_from_metadata(metadata)
    assert back == {"formula": "Fe₂O₃", "fs_id": "mp-é", "sub_dir": "runs/",
                    "compression": "zlib"}


def test_ascii_values_are_left_exactly_as_maggma_writes_them():
    entry = codec.index_document({"fs_id": "mp-1", "n": 3}, "fs_id", ["n"], "", "zlib")
    metadata = codec.metadata_document(entry)
    assert metadata == {"n": "3", "fs-id": "mp-1", "compression": "zlib",
                        "s3-to-mongo-keys": entry["s3-to-mongo-keys"]}
    json.loads(metadata["s3-to-mongo-keys"])  # maggma's json.loads still reads it


@pytest.mark.parametrize(
    "value",
    ["é", "Fe₂O₃", "日本語", "emoji 🧪", "tab\there", "new\nline", "", "plain",
     "=?UTF-8?B?Zm9v?=",  # ASCII that reads as an encoded-word: encoded so it survives
     "=?utf-8?q?a_b?= =?utf-8?q?c?=", "a =?UTF-8?B?Zm9v?= b", "=?", "?="],
)
def test_encode_decode_round_trip(value):
    encoded = codec.encode_metadata_value(value)
    assert encoded.isascii() and encoded.isprintable()
    assert codec.decode_metadata_value(encoded) == value


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("=?UTF-8?B?bXAtw6k=?=", "mp-é"),  # what S3 returns
        ("=?utf-8?b?bXAtw6k=?=", "mp-é"),  # case-insensitive charset and encoding
        ("=?UTF-8?Q?mp-=C3=A9?=", "mp-é"),
        ("=?UTF-8?Q?a_b?=", "a b"),
        ("=?ISO-8859-1?Q?caf=E9?=", "café"),
        ("=?UTF-8*en?B?w6k=?=", "é"),  # RFC 2231 language tag
        ("=?UTF-8?B?w6k=?= =?UTF-8?B?w6k=?=", "éé"),  # space between words is dropped
        ("x =?UTF-8?B?w6k=?=", "x =?UTF-8?B?w6k=?="),  # not only words: left as written
        ("=?UTF-8?B?not base64!?=", "=?UTF-8?B?not base64!?="),
        ("=?UTF-8?B?w6k?=", "=?UTF-8?B?w6k?="),  # bad padding: left as written
        ("=?no-such-charset?B?w6k=?=", "=?no-such-charset?B?w6k=?="),
        ("=?UTF-8?B?/w==?=", "=?UTF-8?B?/w==?="),  # not UTF-8 inside: left as written
        ("mp-1", "mp-1"),
    ],
)
def test_decode_what_endpoints_return(wire, expected):
    assert codec.decode_metadata_value(wire) == expected


def test_lone_surrogate_is_refused_naming_the_field():
    with pytest.raises(InvalidDocumentError, match="'formula'.*not valid Unicode"):
        codec.metadata_document({"fs_id": "a", "formula": "bad\udcff"})


def test_size_is_checked_on_the_encoded_form():
    value = "é" * 800  # 1600 bytes of UTF-8, 2148 once encoded
    metadata = codec.metadata_document({"fs_id": "a", "formula": value})
    assert len(value.encode()) < 2048 < len(metadata["formula"])
    assert codec.metadata_size(metadata) == len("fs-id") + 1 + len("formula") + len(
        metadata["formula"])
    with pytest.raises(MetadataTooLargeError, match=r"'a'.*formula=2155 B"):
        codec.check_metadata(metadata, 2048, "a")
    codec.check_metadata(metadata, 4096, "a")


def test_non_ascii_metadata_names_are_refused_with_the_name():
    metadata = codec.metadata_document({"fs_id": "a", "énergie": 1.5})
    with pytest.raises(InvalidDocumentError, match="field name 'énergie' of 'a' is not ASCII"):
        codec.check_metadata(metadata, 2048, "a")
    with pytest.raises(InvalidDocumentError, match="'énergie'.*not ASCII"):
        codec.check_metadata(metadata, None, "a")  # no size limit: still not sendable


def test_decode_metadata_keeps_names():
    assert codec.decode_metadata({"fs-id": "=?UTF-8?B?w6k=?=", "n": "1"}) == {
        "fs-id": "é", "n": "1"}


def test_entry_from_metadata_reads_an_encoded_keys_field():
    names = json.dumps({"fs_id": "fs-id", "s3-to-mongo-keys": "s3-to-mongo-keys"})
    encoded_names = "=?UTF-8?B?" + base64.b64encode(names.encode()).decode() + "?="
    metadata = {"fs-id": "=?UTF-8?B?w6k=?=", "s3-to-mongo-keys": encoded_names}
    assert codec.entry_from_metadata(metadata) == {"fs_id": "é"}
