"""Key values: validation, object keys under a sub_dir, and the key forms naming one object."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from s3explore._errors import ConfigurationError, InvalidDocumentError, InvalidKeyError

MAX_KEY_BYTES = 1024
# An index entry's integer key is a BSON int64 (Mongo-like stores hold nothing wider, and
# pymongo refuses to send a wider one in a query).
INDEX_INT_MIN, INDEX_INT_MAX = -(2**63), 2**63 - 1
_DECIMAL = re.compile(r"-?[0-9]+")
_TOO_MANY_DIGITS = 10**MAX_KEY_BYTES


def normalize_sub_dir(sub_dir: str | None) -> str:
    """``"/a/b"`` -> ``"a/b/"``, ``None`` or ``""`` -> ``""`` (maggma's rule), validated."""
    if not sub_dir:
        return ""
    if not isinstance(sub_dir, str):
        raise ConfigurationError(f"sub_dir must be a string, not {type(sub_dir).__name__}")
    stripped = sub_dir.strip("/")
    if not stripped:
        return ""
    _check_path(stripped, "sub_dir")
    return stripped + "/"


def _check_path(text: str, what: str) -> None:
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise InvalidKeyError(f"{what} {text!r} contains control characters", key=text)
    if any(seg in (".", "..") for seg in text.split("/")):
        raise InvalidKeyError(
            f"{what} {text!r} has a '.' or '..' path segment, which could escape the sub_dir",
            key=text,
        )


def key_string(value: Any, field: str) -> str:
    """The string form of a key value, validated to make a safe S3 object key."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidKeyError(
            f"key field {field!r} must be a string or an integer, "
            f"got {type(value).__name__} {value!r:.60}",
            key=str(value)[:60],
        )
    if isinstance(value, int) and abs(value) >= _TOO_MANY_DIGITS:
        # str() of such an int would raise (Python's 4300-digit limit) or be over the limit.
        raise InvalidKeyError(
            f"key field {field!r} is an integer of over {MAX_KEY_BYTES} digits; S3 keys are "
            f"at most {MAX_KEY_BYTES} bytes",
            key=f"<{value.bit_length()}-bit integer>",
        )
    text = str(value)
    if not text:
        raise InvalidKeyError(f"key field {field!r} is empty; every document needs a key")
    if text.startswith("/"):
        raise InvalidKeyError(f"key {text!r:.80} starts with '/'; keys are relative paths", text)
    if len(text.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidKeyError(
            f"key {text[:40]!r}... is {len(text.encode('utf-8'))} bytes; S3 allows "
            f"{MAX_KEY_BYTES} including the sub_dir",
            key=text[:60],
        )
    _check_path(text, "key")
    return text


def object_key(sub_dir: str, key: str) -> str:
    full = sub_dir + key
    if len(full.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidKeyError(
            f"key {key[:40]!r} with sub_dir {sub_dir!r} is over S3's {MAX_KEY_BYTES} bytes", key
        )
    return full


def doc_key(doc: Any, field: str) -> str:
    """The validated key string of a document."""
    if not isinstance(doc, Mapping):
        raise InvalidDocumentError(
            f"documents must be dicts, got {type(doc).__name__}: {doc!r:.60}"
        )
    if field not in doc:
        raise InvalidDocumentError(
            f"document has no key field {field!r} (fields: {sorted(map(str, doc))[:8]}); "
            "add it or pass key=",
        )
    return key_string(doc[field], field)


def key_aliases(value: Any, field: str = "key") -> list[str | int]:
    """The key values of the other type that name the same object as ``value``.

    An object key is ``str(value)``, so ``1`` and ``"1"`` are one object: ``1 -> ["1"]``,
    ``"1" -> [1]``, while ``"01"``, ``"+1"``, ``"1.0"`` or ``"mp-1"`` have no integer twin
    (``str(int(x))`` would differ) -> ``[]``. A decimal string beyond int64 has none either
    (no index can hold that integer). ``value`` is validated as a key first, so bools, floats
    and None raise InvalidKeyError naming ``field``. Stores use it so the index never holds
    two entries for one object.
    """
    text = key_string(value, field)
    if isinstance(value, int):
        return [text]
    if _DECIMAL.fullmatch(text):
        number = int(text)
        if str(number) == text and INDEX_INT_MIN <= number <= INDEX_INT_MAX:
            return [number]
    return []
