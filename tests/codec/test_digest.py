"""BodyDigest: the SHA-1 and the ETag S3 gives a body, however the body is cut."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3explore import _codec as codec


def s3_etag(body: bytes, part_size: int, multipart: bool) -> str:
    if not multipart:
        return hashlib.md5(body).hexdigest()
    parts = [body[i:i + part_size] for i in range(0, len(body), part_size)] or [b""]
    joined = b"".join(hashlib.md5(p).digest() for p in parts)
    return f"{hashlib.md5(joined).hexdigest()}-{len(parts)}"


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=300), part_size=st.integers(1, 64),
       cuts=st.lists(st.integers(0, 300), max_size=8), multipart=st.booleans())
def test_the_digest_does_not_depend_on_how_the_body_arrives(body, part_size, cuts, multipart):
    digest = codec.BodyDigest(part_size)
    start = 0
    for cut in sorted(cuts):
        digest.update(body[start:cut])
        start = max(start, cut)
    digest.update(body[start:])
    assert digest.size == len(body)
    assert digest.sha1 == hashlib.sha1(body).hexdigest()
    assert digest.etag(multipart) == s3_etag(body, part_size, multipart)
    assert digest.metadata(multipart) == {"obj-hash": digest.sha1,
                                          "obj-etag": digest.etag(multipart)}


def test_metadata_describes_a_body_only_at_the_etag_it_records():
    digest = codec.BodyDigest(8)
    digest.update(b"some body")
    metadata = {"formula": "Si", **digest.metadata(False)}
    etag = f'"{hashlib.md5(b"some body").hexdigest()}"'
    assert codec.described_hash(metadata, etag) == hashlib.sha1(b"some body").hexdigest()
    assert codec.described_hash(metadata, '"0123"') is None  # rewritten, metadata copied
    assert codec.described_hash({"formula": "Si"}, etag) is None  # maggma's: no digest
    assert codec.claimed_hash(metadata) == digest.sha1
    assert codec.claimed_hash({"obj_hash": "abc"}) is None  # maggma's copy of the entry's


def test_the_digest_is_never_an_index_field():
    metadata = {"task-id": "mp-1", "obj-hash": "a" * 40, "obj-etag": "b" * 32,
                "obj_hash": "c" * 40, "obj_etag": "d" * 32,
                "s3-to-mongo-keys": '{"task_id": "task-id"}'}
    assert codec.entry_from_metadata(metadata) == {"task_id": "mp-1"}


def test_a_part_size_below_one_byte_is_refused():
    with pytest.raises(ValueError, match="part_size"):
        codec.BodyDigest(0)
