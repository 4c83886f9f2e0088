"""msgpack bodies with monty-style tagged values, byte for byte as maggma writes them."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import hashlib
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

import msgpack
import numpy as np

from s3explore._codec._compression import compress_bytes, decompress_bytes
from s3explore._errors import CorruptObjectError, InvalidDocumentError

LAST_UPDATED = "last_updated"  # lives in the index only, never in a body


def _encode_value(obj: Any) -> Any:
    """msgpack ``default``: monty's tagged dicts, byte for byte as maggma writes them."""
    if isinstance(obj, _dt.datetime):
        return {"@module": "datetime", "@class": "datetime", "string": str(obj)}
    if isinstance(obj, np.ndarray):
        complex_ = obj.dtype.kind == "c"
        data = [obj.real.tolist(), obj.imag.tolist()] if complex_ else obj.tolist()
        return {"@module": "numpy", "@class": "array", "dtype": str(obj.dtype), "data": data}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, uuid.UUID):
        return {"@module": "uuid", "@class": "UUID", "string": str(obj)}
    if isinstance(obj, PurePath):
        return {"@module": "pathlib", "@class": "Path", "string": str(obj)}
    if type(obj).__name__ == "ObjectId" and type(obj).__module__ == "bson.objectid":
        # MongoDB's _id, tagged as maggma (monty) stores it
        return {"@module": "bson.objectid", "@class": "ObjectId", "oid": str(obj)}
    return _object_dict(obj)


def _object_dict(obj: Any) -> dict:
    """Objects as monty stores them: their dict form plus @module, @class and @version."""
    if callable(getattr(obj, "model_dump", None)):  # pydantic models
        d = obj.model_dump()
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        d = dataclasses.asdict(obj)
    elif callable(getattr(obj, "as_dict", None)):
        d = obj.as_dict()
    elif isinstance(obj, enum.Enum):
        d = {"value": obj.value}
    else:
        raise TypeError(f"a value of type {type(obj).__name__} cannot be stored")
    module = type(obj).__module__
    d.setdefault("@module", module)
    d.setdefault("@class", type(obj).__name__)
    if "@version" not in d:
        # The object's module is already loaded: read its version, never import anything.
        version = getattr(sys.modules.get(module.partition(".")[0]), "__version__", None)
        d["@version"] = None if version is None else str(version)
    return d


def _decode_datetime(d: Mapping) -> _dt.datetime:
    return _dt.datetime.fromisoformat(d["string"])


def _decode_array(d: Mapping) -> np.ndarray:
    dtype = np.dtype(d["dtype"])
    if dtype.kind == "c":
        real, imag = d["data"]
        return (np.asarray(real) + 1j * np.asarray(imag)).astype(dtype)
    return np.asarray(d["data"], dtype=dtype)


# The only tagged values turned back into objects: nothing named in the data is imported.
_DECODERS = {
    ("datetime", "datetime"): _decode_datetime,
    ("numpy", "array"): _decode_array,
    ("uuid", "UUID"): lambda d: uuid.UUID(d["string"]),
    ("pathlib", "Path"): lambda d: Path(d["string"]),
}


def _decode_hook(d: dict) -> Any:
    module = d.get("@module")
    if module is None:
        return d
    decoder = _DECODERS.get((module, d.get("@class")))
    if decoder is None:
        return d
    try:
        return decoder(d)
    except (KeyError, TypeError, ValueError):
        return d  # a malformed tag stays the plain dict it is


# map keys that read back as written (numpy numbers are written as Python numbers)
_KEY_TYPES = (str, int, float, bytes, type(None), np.integer, np.floating, np.bool_)


def check_map_keys(doc: Mapping, key: str | None = None) -> None:
    """InvalidDocumentError naming the field whose map has a key that would not read back
    (an enum, a tuple, a datetime, an object: msgpack writes it as a map or an array, which
    cannot be a key of the dict read back). Enum keys of str or int type are fine."""
    # Every write pays this walk, so each container is judged by C-level passes over the
    # types of its keys and values; paths are only spelled out for the error.
    stack: list[tuple[Any, tuple | None, Any]] = [(doc, None, None)]
    while stack:
        node = stack.pop()
        value = node[0]
        is_map = type(value) is dict or isinstance(value, Mapping)  # skips the ABC check
        if is_map and not _PLAIN_KEYS.issuperset(map(type, value)):
            for name in value:
                if not isinstance(name, _KEY_TYPES):
                    path = _path(node)
                    where = f"field {path!r}" if path else "the document"
                    shown = f"{type(name).__name__} {name!r}"[:120]
                    raise InvalidDocumentError(
                        f"document {key!r}: {where} has a map key that is not a string or a "
                        f"number ({shown}); it could not be read back. Use str keys, e.g. "
                        "{str(k): v for k, v in d.items()} (pymatgen's as_dict() and monty's "
                        "jsanitize do this), then update again", key=key)
        items = value.values() if is_map else value
        if _LEAVES.issuperset(map(type, items)):
            continue  # nothing below to look into
        pairs = value.items() if is_map else enumerate(value)
        stack.extend((item, node, name) for name, item in pairs if isinstance(item, _CONTAINERS))


def _path(node: tuple) -> str:
    """The dotted path of a node of ``check_map_keys``' walk."""
    names: list[str] = []
    while node[1] is not None:
        names.append(str(node[2]))
        node = node[1]
    return ".".join(reversed(names))


_CONTAINERS = (dict, list, tuple, Mapping)  # isinstance tries these in order: ABC last
_PLAIN_KEYS = frozenset({str, int, float, bytes, type(None)})
# values that are never containers (msgpack packs a numpy array's elements, never its keys)
_LEAVES = frozenset({str, int, float, bool, bytes, type(None), np.ndarray, np.float64,
                     np.int64, _dt.datetime})


def pack(doc: Mapping, key: str | None = None) -> bytes:
    """msgpack a document the way maggma does, with a clear error for unencodable values."""
    check_map_keys(doc, key)
    try:
        return msgpack.packb(doc, default=_encode_value, strict_types=False)
    except (TypeError, ValueError, OverflowError) as exc:
        field = _unencodable_field(doc)
        where = f" in field {field!r}" if field is not None else ""
        raise InvalidDocumentError(
            f"document {key!r} holds a value msgpack cannot encode{where} ({exc}); store "
            "plain types (integers within 64 bits), numpy arrays, datetimes, UUIDs, paths "
            "or objects with as_dict()",
            key=key,
        ) from exc


def _unencodable_field(doc: Mapping) -> str | None:
    """The first top-level field that does not pack (the error path only)."""
    for name, value in doc.items():
        try:
            msgpack.packb(value, default=_encode_value)
        except (TypeError, ValueError, OverflowError):
            return str(name)
    return None


def unpack(data: bytes, key: str | None = None, decode: bool = True) -> dict:
    try:
        doc = msgpack.unpackb(
            data, raw=False, strict_map_key=False, object_hook=_decode_hook if decode else None
        )
    except TypeError as exc:  # a map key read back as a map or list (an unhashable key)
        raise CorruptObjectError(unreadable_key_message(key, exc), key=key) from exc
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise CorruptObjectError(
            f"object {key!r} is not a valid msgpack document ({type(exc).__name__}: {exc})",
            key=key,
        ) from exc
    if not isinstance(doc, dict):
        raise CorruptObjectError(
            f"object {key!r} holds a msgpack {type(doc).__name__}, not a document", key=key
        )
    return doc


def unreadable_key_message(key: str | None, exc: BaseException) -> str:
    return (f"object {key!r} cannot be decoded: a map in it has a key that is a map or a "
            f"list ({exc}), as written for enum or tuple keys; read it with unpack_data=False "
            "(raw bytes) or rewrite the document with str keys")


def encode_body(
    doc: Mapping, compression: str | None, level: int | None = None, key: str | None = None
) -> bytes:
    """The stored bytes of a document: msgpack (without last_updated), then compression."""
    body = {k: v for k, v in doc.items() if k != LAST_UPDATED}
    return compress_bytes(pack(body, key), compression, level)


def decode_body(
    data: bytes, compression: str | None, key: str | None = None, decode: bool = True,
    max_bytes: int | None = None,
) -> dict:
    return unpack(decompress_bytes(data, compression, key, max_bytes), key, decode)


def content_hash(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()
