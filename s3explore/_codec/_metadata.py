"""Index documents and object metadata, as maggma writes them.

Metadata values travel in HTTP headers, which carry printable ASCII only. A value that is not
is sent as one RFC 2047 encoded-word, ``=?UTF-8?B?<base64 of its UTF-8>?=``: AWS S3 decodes
such a value before storing it and returns any non-ASCII value in that same form, and stores
that keep headers as they are (moto, MinIO) return it unchanged, so reading decodes
encoded-words whichever wrote them.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from s3explore._codec._body import LAST_UPDATED
from s3explore._codec._digest import DIGEST_METADATA_BYTES, DIGEST_NAMES, ETAG_FIELD
from s3explore._errors import InvalidDocumentError, MetadataTooLargeError

KEYS_FIELD = "s3-to-mongo-keys"
AWS_METADATA_LIMIT = 2048

_WORD = r"=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?="
_ENCODED_WORD = re.compile(_WORD)
_ONLY_WORDS = re.compile(rf"\s*(?:{_WORD}\s*)+")  # RFC 2047: space between words is dropped
_HEADER_SAFE = re.compile(r"[\x20-\x7e]*")  # printable ASCII


def sanitize_name(name: Any) -> str:
    """Metadata names as maggma writes them: ``_`` becomes ``-``, lower-cased."""
    return str(name).replace("_", "-").lower()


def index_document(
    doc: Mapping,
    key_field: str,
    fields: Iterable[str],
    sub_dir: str,
    compression: str | None,
) -> dict:
    """The index entry of ``doc`` before hashing: maggma's field order, sparse fields."""
    entry: dict[str, Any] = {}
    for field in fields:
        if field in doc and field != "_id":
            entry[field] = doc[field]
    entry[key_field] = doc[key_field]
    if sub_dir:
        entry["sub_dir"] = sub_dir
    if compression:
        entry["compression"] = compression
    names = {k: sanitize_name(k) for k in entry}
    names[KEYS_FIELD] = KEYS_FIELD
    entry[KEYS_FIELD] = json.dumps(names)
    return entry


def encode_metadata_value(value: str, field: str = "value") -> str:
    """``value`` as a header can carry it: unchanged when it is printable ASCII, else one
    ``=?UTF-8?B?...?=`` encoded-word. An ASCII value that itself reads as encoded-words is
    encoded too, so reading it back cannot turn it into something else."""
    if _HEADER_SAFE.fullmatch(value) and decode_metadata_value(value) == value:
        return value
    try:
        raw = value.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates, e.g. from undecodable file names
        raise InvalidDocumentError(
            f"metadata field {field!r} holds text that is not valid Unicode ({value[:40]!r}); "
            "index a cleaned-up string instead"
        ) from exc
    return "=?UTF-8?B?" + base64.b64encode(raw).decode("ascii") + "?="


def decode_metadata_value(value: str) -> str:
    """Undo RFC 2047: a value made only of encoded-words (B or Q, any charset Python knows)
    is decoded; anything else, or a word that does not decode, comes back unchanged."""
    if "=?" not in value or not _ONLY_WORDS.fullmatch(value):
        return value
    parts = []
    for charset, encoding, text in _ENCODED_WORD.findall(value):
        try:
            if encoding in "Bb":
                raw = base64.b64decode(text, validate=True)
            else:
                raw = binascii.a2b_qp(text.encode("ascii"), header=True)
            # RFC 2231 lets a charset carry a language: "UTF-8*en".
            parts.append(raw.decode(charset.partition("*")[0]))
        except (ValueError, LookupError):  # binascii.Error and UnicodeError are ValueErrors
            return value
    return "".join(parts)


def metadata_document(entry: Mapping, *, rename: bool = False) -> dict[str, str]:
    """User metadata of an object: the index entry with sanitised names and str values,
    non-ASCII values as RFC 2047 encoded-words. ``rename``: write ``s3-to-mongo-keys``
    afresh for the fields written (an entry edited by hand may lack it or name others)."""
    fields = {k: v for k, v in entry.items()
              if k not in (LAST_UPDATED, "obj_hash", ETAG_FIELD, "_id")}
    if rename:
        fields.pop(KEYS_FIELD, None)
        fields[KEYS_FIELD] = json.dumps({**{k: sanitize_name(k) for k in fields},
                                         KEYS_FIELD: KEYS_FIELD})
    return {sanitize_name(k): encode_metadata_value(str(v), str(k)) for k, v in fields.items()}


def metadata_size(metadata: Mapping[str, str]) -> int:
    """Bytes AWS counts against its limit: UTF-8 names plus values (as sent, so encoded)."""
    return sum(len(k.encode("utf-8")) + len(v.encode("utf-8")) for k, v in metadata.items())


def digest_fits(metadata: Mapping[str, str], limit: int | None) -> bool:
    """Whether the body's digest (``_codec._digest``) fits beside ``metadata``: maggma's
    fields come first, and an object without a digest is only checked by deep verifies."""
    return limit is None or metadata_size(metadata) + DIGEST_METADATA_BYTES <= limit


def check_metadata(metadata: Mapping[str, str], limit: int | None, key: str) -> None:
    """Refuse metadata (as sent: from ``metadata_document``) over ``limit`` or not ASCII."""
    if limit is not None:
        size = metadata_size(metadata)
        if size > limit:
            sizes = sorted(
                ((len(k.encode()) + len(v.encode()), k) for k, v in metadata.items()),
                reverse=True,
            )
            worst = ", ".join(f"{name}={n} B" for n, name in sizes[:5])
            raise MetadataTooLargeError(
                f"object metadata of {key!r} is {size} bytes, over the {limit}-byte limit "
                f"(largest: {worst}); index fewer or smaller fields, or raise metadata_limit "
                "if your endpoint allows more",
                key=key,
            )
    for name, value in metadata.items():
        if not name.isascii():
            # Header names have no encoded form; values do (metadata_document encodes them).
            raise InvalidDocumentError(
                f"metadata field name {name!r} of {key!r} is not ASCII; S3 metadata names "
                "are ASCII only: rename the field or leave it out of the indexed fields",
                key=key,
            )
        if not value.isascii():
            raise InvalidDocumentError(
                f"metadata field {name!r} of {key!r} is not ASCII ({value[:40]!r}); S3 "
                "metadata headers carry ASCII only: index ASCII values and use ASCII keys",
                key=key,
            )


def decode_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """An object's metadata as stored, with encoded-words decoded (names unchanged)."""
    return {k: decode_metadata_value(v) for k, v in metadata.items()}


def entry_from_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """Undo the name sanitising and value encoding of an object's metadata, using its
    ``s3-to-mongo-keys``."""
    values = decode_metadata(metadata)
    names = json.loads(values.get(KEYS_FIELD, "{}"))
    reverse = {v: k for k, v in names.items() if k != KEYS_FIELD}
    # Fields in the writer's order, as s3-to-mongo-keys records it: servers return metadata
    # headers in an order of their own (Versity S3 Gateway's varies from request to request).
    ordered = [stored for name, stored in names.items() if name != KEYS_FIELD and stored in values]
    ordered += [k for k in values if k not in reverse]
    # The body's digest describes the bytes, not the document: never an index field.
    return {reverse.get(k, k): values[k] for k in ordered
            if k != KEYS_FIELD and k not in DIGEST_NAMES}
