"""JSON documents of public buckets: gzip through the codec registry, MongoDB extended JSON.

Objects in the public layouts are JSON (one document) or JSON lines (one document per line),
written by ``bson.json_util.dumps``: dates as ``{"$date": ...}``, ids as ``{"$oid": ...}``,
64-bit integers possibly as ``{"$numberLong": ...}``. They are read back as plain Python
values: naive UTC datetimes (as MemoryStore and maggma give them), ObjectIds as their hex
strings (so every index engine and DataFrame can hold them), numbers as numbers.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import math
import re
import uuid
import zlib
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from s3explore import _codec as codec
from s3explore._errors import CorruptObjectError

_EPOCH = _dt.datetime(1970, 1, 1)
MAX_DEPTH = 1000  # nested objects and arrays a document may have
HEAD_BYTES = 1 << 20  # compressed bytes fetched to tell the key field of a layout
HEAD_DECODED = 8 << 20  # decoded bytes of them looked at, at most


class TooDeep(ValueError):
    """A JSON document nested deeper than MAX_DEPTH (reported as a CorruptObjectError)."""

    def __init__(self) -> None:
        super().__init__(f"nested deeper than {MAX_DEPTH} levels of objects and arrays, "
                         "which s3explore does not read (a hostile or broken object)")


def _date(value: Any) -> _dt.datetime:
    if type(value) is str and value.endswith("Z"):  # relaxed form, UTC: most dates
        return _dt.datetime.fromisoformat(value[:-1])
    if isinstance(value, Mapping):  # canonical form: {"$numberLong": "ms since epoch"}
        value = int(value.get("$numberLong", 0))
    if isinstance(value, (int, float)):
        return _EPOCH + _dt.timedelta(milliseconds=value)
    parsed = _dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(_dt.UTC).replace(tzinfo=None)
    return parsed


def _double(value: Any) -> float:
    return float(value)  # "NaN", "Infinity", "-Infinity" and plain numbers


_SIMPLE = {
    "$date": _date,
    "$oid": str,
    "$numberLong": int,
    "$numberInt": int,
    "$numberDouble": _double,
    "$numberDecimal": Decimal,
    "$uuid": uuid.UUID,
}


def object_hook(obj: dict) -> Any:
    """Extended JSON wrappers to Python values; everything else untouched."""
    if len(obj) == 1:
        (name, value), = obj.items()
        convert = _SIMPLE.get(name)
        if convert is not None:
            try:
                return convert(value)
            except (TypeError, ValueError, OverflowError):
                return obj  # not extended JSON after all: keep the data as it is
    if obj and all(isinstance(k, str) and k.startswith("$") for k in obj) and len(obj) <= 2:
        from bson import json_util  # $binary, $regularExpression, $timestamp...

        try:
            value = json_util.object_hook(dict(obj))
        except Exception:
            return obj
        return bytes(value) if isinstance(value, bytes) else value
    return obj


def loads(text: str | bytes) -> Any:
    # Parsed by the C scanner alone, then only containers are walked: an object_hook would
    # be a Python call for every dict (three per manifest line), the bulk of parsing time.
    try:
        return _convert(json.loads(text))
    except RecursionError:  # json's scanner stops at the interpreter's recursion limit
        raise TooDeep() from None


def _convert(value: Any, depth: int = 0) -> Any:
    """``object_hook`` applied bottom-up, as json.loads would, to the dicts that may be
    extended JSON (one or two keys, all starting with "$"); TooDeep past MAX_DEPTH."""
    if depth >= MAX_DEPTH:
        raise TooDeep()
    depth += 1
    kind = type(value)
    if kind is dict:
        if len(value) == 1 and type(date := value.get("$date")) is str:
            try:  # the usual wrapper (one per manifest line): no detour
                return _date(date)
            except ValueError:
                return value
        for name, item in value.items():
            if type(item) in (dict, list):
                value[name] = _convert(item, depth)
        if len(value) <= 2 and value and all(k.startswith("$") for k in value):
            return object_hook(value)
        return value
    if kind is list:
        for i, item in enumerate(value):
            if type(item) in (dict, list):
                value[i] = _convert(item, depth)
    return value


def plain(body: bytes, name: str, max_bytes: int | None = None) -> bytes:
    """The body of object ``name`` decompressed when its name or magic bytes say so, at most
    ``max_bytes`` of it (CorruptObjectError past that; default ``max_decoded_bytes()``)."""
    _, by_suffix = codec.strip_compression_suffix(name)
    compression = by_suffix.name if by_suffix is not None else codec.sniff_compression(body)
    return codec.decompress_bytes(body, compression, name, max_bytes)


def read_document(body: bytes, name: str, max_bytes: int | None = None) -> dict:
    """One JSON document (``.json`` or ``.json.gz``)."""
    return parse_document(plain(body, name, max_bytes), name)


def parse_document(text: str | bytes, name: str) -> dict:
    """One JSON document from its (decompressed) text."""
    try:
        doc = loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptObjectError(f"object {name!r} is not valid JSON ({exc})", key=name) from None
    if not isinstance(doc, dict):
        raise CorruptObjectError(f"object {name!r} holds a JSON {type(doc).__name__}, not a "
                                 "document (a JSON object)", key=name)
    return doc


def read_lines(body: bytes, name: str, max_bytes: int | None = None) -> Iterator[dict]:
    """The documents of a JSON-lines object (``.jsonl`` or ``.jsonl.gz``), one per line."""
    text = plain(body, name, max_bytes)
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:  # decoded here: json.loads would first guess the encoding of every line
            doc = loads(line.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise CorruptObjectError(f"line {number} of {name!r} is not valid JSON ({exc})",
                                     key=name) from None
        if not isinstance(doc, dict):
            raise CorruptObjectError(f"line {number} of {name!r} is a JSON "
                                     f"{type(doc).__name__}, not a document", key=name)
        yield doc


# ---------------------------------------------------------------- writing


def _iso(value: _dt.datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(_dt.UTC).replace(tzinfo=None)
    text = value.isoformat(timespec="microseconds" if value.microsecond else "seconds")
    return text + "Z"


def _default(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        return {"$date": _iso(value)}
    if isinstance(value, _dt.date):
        return {"$date": _iso(_dt.datetime(value.year, value.month, value.day))}
    if isinstance(value, Decimal):
        return {"$numberDecimal": str(value)}
    if isinstance(value, uuid.UUID):
        return {"$uuid": value.hex}
    if isinstance(value, bytes):
        from bson import json_util

        return json.loads(json_util.dumps(value))
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return item()
    tolist = getattr(value, "tolist", None)  # numpy arrays
    if callable(tolist):
        return tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _finite(value: Any) -> Any:
    """NaN and infinities as canonical extended JSON (bare NaN is not JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return {"$numberDouble": "NaN" if value != value else
                ("Infinity" if value > 0 else "-Infinity")}
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def dumps(doc: Mapping) -> str:
    """One line of extended JSON, as ``bson.json_util.dumps`` writes it (relaxed mode), with
    ISO dates keeping their microseconds; what maggma's open-data stores read."""
    try:
        return json.dumps(doc, default=_default, allow_nan=False, ensure_ascii=False)
    except ValueError:
        return json.dumps(_finite(doc), default=_default, allow_nan=False, ensure_ascii=False)


# ---------------------------------------------------------------- the start of an object

_FIELD = re.compile(rb'"([A-Za-z_][A-Za-z0-9_]{0,63})"\s*:\s*'
                    rb'("((?:[^"\\]|\\.){0,200})"|-?[0-9]{1,19}\b)')


def head_of(raw: bytes, name: str, limit: int = HEAD_DECODED) -> bytes:
    """At most ``limit`` decoded bytes from the start of ``raw``, the first bytes of object
    ``name`` (cut anywhere): enough to tell its key field, never more however it inflates."""
    _, by_suffix = codec.strip_compression_suffix(name)
    compression = by_suffix.name if by_suffix is not None else codec.sniff_compression(raw)
    try:
        if compression in ("gzip", "zlib"):
            return zlib.decompressobj(31 if compression == "gzip" else 15).decompress(raw, limit)
        if compression == "zstd":
            import zstandard

            reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw))
            return reader.read(limit)
    except Exception as exc:  # zlib.error, ZstdError: the object says what it is not
        raise CorruptObjectError(f"object {name!r} does not decompress as {compression} "
                                 f"({exc})", key=name) from None
    if compression is None:
        return raw[:limit]
    return codec.decompress_bytes(raw, compression, name, limit)  # a plug-in codec


def first_document(head: bytes, name: str) -> dict:
    """The first document in ``head`` (JSON or the first JSON line); when it is cut short,
    the simple top-level-looking ``"field": value`` pairs found in it (enough to guess the
    key field)."""
    line = head.split(b"\n", 1)[0] if b"\n" in head else head
    try:
        doc = loads(line)
        if isinstance(doc, dict):
            return doc
    except TooDeep as exc:
        raise CorruptObjectError(f"the first document of {name!r} is {exc}", key=name) from None
    except (ValueError, UnicodeDecodeError):
        pass
    found: dict = {}
    for match in _FIELD.finditer(line):
        field = match.group(1).decode()
        text = match.group(3)
        value = (text.decode("utf-8", "replace") if text is not None
                 else int(match.group(2)))
        found.setdefault(field, value)
    return found
