"""Values in the DuckDB index: type tags, the stored document bytes, a sortable encoding.

Pure Python. Documents are stored whole as msgpack (exact round trip: ints stay ints, floats
floats, nested dicts and lists, bytes, datetimes as microseconds) beside typed shadow columns.
Datetimes are stored as naive UTC instants: the Store base turns aware ones into naive UTC
and lists their paths in the document (``_stores/_timezones.py``), which reads turn back into
UTC-aware values; ``normalize`` converts any aware one that reaches the engine another way.
"""

from __future__ import annotations

import datetime as _dt
import struct
from typing import Any

import msgpack

from s3explore._errors import InvalidDocumentError

# Type tags of a value, in MongoDB's comparison order (BRACKET maps a tag to its bracket).
NONE, INT, FLOAT, STR, DICT, LIST, BYTES, BOOL, DATE = range(1, 10)
BRACKET = {NONE: 1, INT: 2, FLOAT: 2, STR: 3, DICT: 4, LIST: 5, BYTES: 6, BOOL: 7, DATE: 8}
TAG_NAMES = {NONE: "null", INT: "int", FLOAT: "float", STR: "str", DICT: "dict", LIST: "list",
             BYTES: "bytes", BOOL: "bool", DATE: "datetime"}
TAG_OF = {type(None): NONE, int: INT, float: FLOAT, str: STR, dict: DICT, list: LIST,
          bytes: BYTES, bool: BOOL, _dt.datetime: DATE}
EXACT_INT = 2**53  # beyond it a number column (DOUBLE) no longer holds the int exactly

_EPOCH = _dt.datetime(1970, 1, 1)
_DATE_EXT = 1


class _Nothing:
    """A path an array element lacks (MongoDB's "missing" inside arrays)."""

    def __repr__(self) -> str:
        return "NOTHING"


NOTHING = _Nothing()


def tag_of(value: Any) -> int:
    tag = TAG_OF.get(type(value))
    if tag is not None:
        return tag
    for kind, found in TAG_OF.items():  # subclasses (str enums, OrderedDict, ...)
        if kind is not type(None) and isinstance(value, kind):
            return found
    raise TypeError(type(value).__name__)


def naive_utc(value: _dt.datetime) -> _dt.datetime:
    """Aware datetimes as naive UTC (as MongoDB stores them); naive ones unchanged."""
    if value.tzinfo is None:
        return value
    return value.astimezone(_dt.UTC).replace(tzinfo=None)


def micros(value: _dt.datetime) -> int:
    delta = naive_utc(value) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> _dt.datetime:
    return _EPOCH + _dt.timedelta(microseconds=value)


# ---------------------------------------------------------------- stored documents


def _default(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        return msgpack.ExtType(_DATE_EXT, struct.pack(">q", micros(value)))
    raise TypeError(f"a value of type {type(value).__name__} cannot be stored")


def _ext_hook(code: int, data: bytes) -> Any:
    if code == _DATE_EXT:
        return from_micros(struct.unpack(">q", data)[0])
    return msgpack.ExtType(code, data)


def pack_doc(doc: dict, key: Any) -> bytes:
    try:
        return msgpack.packb(doc, default=_default, datetime=False)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidDocumentError(
            f"document {key!r} holds a value the index cannot store ({exc}); store plain types "
            "(str, int within 64 bits, float, bool, None, datetime, bytes, lists and dicts)",
            key=str(key)) from None


def unpack_doc(data: bytes) -> dict:
    return msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=False)


def normalize(value: Any) -> Any:
    """A document as the index keeps it: aware datetimes as naive UTC, tuples as lists."""
    kind = type(value)
    if kind is dict:
        return {k: normalize(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [normalize(v) for v in value]
    if isinstance(value, _dt.datetime):
        return naive_utc(value)
    return value


def operand(value: Any) -> Any:
    """A query's value as stored values compare with it."""
    return naive_utc(value) if isinstance(value, _dt.datetime) else normalize(value)


# ---------------------------------------------------------------- sortable encoding
# enc(a) < enc(b) (bytewise) exactly when a < b in MongoDB's order (types by bracket, numbers
# by value whatever int/float, then strings, objects field by field, arrays item by item).

_TYPE_BYTE = {NONE: b"\x05", INT: b"\x0a", FLOAT: b"\x0a", STR: b"\x0f", DICT: b"\x14",
              LIST: b"\x19", BYTES: b"\x1e", BOOL: b"\x28", DATE: b"\x2d"}
BRACKET_BYTES = {bracket: _TYPE_BYTE[tag] for tag, bracket in BRACKET.items()}
EMPTY_ARRAY_KEY = b"\x00"  # an empty array sorts before null, as in MemoryStore
_END = b"\x00"


def _num(value: float) -> bytes:
    if value == 0:
        value = 0.0  # -0.0 == 0.0
    raw = struct.pack(">d", value)
    if raw[0] & 0x80:
        return bytes(b ^ 0xFF for b in raw)
    return bytes([raw[0] | 0x80]) + raw[1:]


def _str(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass").replace(b"\x00", b"\x00\xff") + b"\x00\x00"


def enc(value: Any) -> bytes:
    if type(value) is str:  # the usual key
        return b"\x0f" + _str(value)
    tag = tag_of(value)
    head = _TYPE_BYTE[tag]
    if tag == STR:
        return head + _str(value)
    if tag in (INT, FLOAT):
        return head + _num(float(value))
    if tag == NONE:
        return head
    if tag == BOOL:
        return head + (b"\x01" if value else b"\x00")
    if tag == DATE:
        return head + struct.pack(">Q", (micros(value) + 2**63) % 2**64)
    if tag == DICT:
        return head + b"".join(_TYPE_BYTE[tag_of(v)] + _str(str(k)) + enc(v)
                               for k, v in value.items()) + _END
    if tag == LIST:
        return head + b"".join(enc(v) for v in value) + _END
    return head + len(value).to_bytes(4, "big") + bytes(value)  # bytes: by length, then content
