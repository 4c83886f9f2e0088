"""What an object's metadata says about its own body: its SHA-1 and the ETag S3 gives it.

Each body s3explore writes carries two extra metadata fields beside maggma's:
``obj-hash``, the SHA-1 of the stored bytes (the index entry's ``obj_hash``), and
``obj-etag``, the ETag S3 assigns those bytes (the MD5 of a single PUT; for a multipart
upload, the MD5 of the parts' MD5s and ``-<parts>``). Both are known before the upload
starts, so they travel in the same request as the body and cannot describe another one.

The index entry keeps the ETag too (``obj_etag``, beside maggma's ``obj_hash``), so a listing,
1,000 objects a request, tells which entries still describe their object; for the others a
HEAD tells without a download whether the body under a key is the one its metadata
describes, and which SHA-1 it has. An object
rewritten by another tool (same metadata copied, new bytes) has another ETag; an encrypted
bucket whose ETags are not MD5s gives no match either: both fall back to reading the body.
maggma ignores the extra fields (its own ``rebuild_metadata_from_index`` adds ``obj_hash``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from s3explore._checks import positive_int

# The index entry's field for the ETag its object had when the entry was written: a listing
# (1,000 objects a request) then tells which entries still describe their object.
ETAG_FIELD = "obj_etag"
HASH_NAME = "obj-hash"
ETAG_NAME = "obj-etag"
# maggma's rebuild_metadata_from_index copies the entry's obj_hash under this name; it is
# the index's claim, not the body's, so it is never trusted and never re-indexed.
MAGGMA_HASH_NAME = "obj_hash"
DIGEST_FIELDS = (HASH_NAME, ETAG_NAME)  # what s3explore writes
# Never index fields when read back from metadata (maggma's rewrite copies the entry's).
DIGEST_NAMES = (*DIGEST_FIELDS, MAGGMA_HASH_NAME, ETAG_FIELD)
# The bytes the two fields add to an object's metadata (a 40-digit SHA-1; the longest ETag:
# 32 hex digits, "-" and a part count of up to 10,000).
DIGEST_METADATA_BYTES = len(HASH_NAME) + 40 + len(ETAG_NAME) + 32 + 6


class BodyDigest:
    """SHA-1 and S3 ETag of a body fed piece by piece (multipart parts of ``part_size``)."""

    def __init__(self, part_size: int) -> None:
        self.part_size = positive_int(part_size, "part_size")
        self.size = 0
        self._sha1 = hashlib.sha1()
        self._md5 = hashlib.md5()  # the whole body: the ETag of a single PUT
        self._part_md5 = hashlib.md5()
        self._part_left = part_size
        self._parts: list[bytes] = []

    def update(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        self.size += len(view)
        self._sha1.update(view)
        self._md5.update(view)
        while view:
            piece, view = view[: self._part_left], view[self._part_left:]
            self._part_md5.update(piece)
            self._part_left -= len(piece)
            if self._part_left == 0:
                self._parts.append(self._part_md5.digest())
                self._part_md5, self._part_left = hashlib.md5(), self.part_size

    @property
    def sha1(self) -> str:
        return self._sha1.hexdigest()

    def etag(self, multipart: bool) -> str:
        """The ETag S3 gives these bytes in one PUT, or uploaded in ``part_size`` parts."""
        if not multipart:
            return self._md5.hexdigest()
        parts = self._parts + ([self._part_md5.digest()] if self._part_left < self.part_size
                               or not self._parts else [])
        return f"{hashlib.md5(b''.join(parts)).hexdigest()}-{len(parts)}"

    def metadata(self, multipart: bool) -> dict[str, str]:
        return {HASH_NAME: self.sha1, ETAG_NAME: self.etag(multipart)}


def bare_etag(etag: str | None) -> str | None:
    """An ETag without the quotes S3 puts around it."""
    return etag.strip('"') if isinstance(etag, str) else None


def described_hash(metadata: Mapping[str, str], etag: str | None) -> str | None:
    """The body's SHA-1 when the object's metadata describes the body S3 reports at ``etag``;
    None when it carries no digest or describes other bytes."""
    sha1 = metadata.get(HASH_NAME)
    recorded = metadata.get(ETAG_NAME)
    if not sha1 or not recorded or recorded != bare_etag(etag):
        return None
    return sha1


def claimed_hash(metadata: Mapping[str, str]) -> str | None:
    """The SHA-1 the writer of this object recorded, whatever bytes are there now: what a
    reader compares with the index entry to tell that another writer replaced the object."""
    return metadata.get(HASH_NAME) or None
