"""Pure functions for the maggma S3Store format: bodies, compression, keys, index documents.

Nothing here does I/O. The format is maggma 0.77.1's: msgpack bodies whose non-msgpack values
are monty-style tagged dicts, optional zlib, index documents with sanitised copies in the
object metadata.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import hashlib
import json
import sys
import threading
import uuid
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePath
from typing import Any

import msgpack
import numpy as np
import zstandard

from s3explore._errors import (
    ConfigurationError,
    CorruptObjectError,
    InvalidDocumentError,
    InvalidKeyError,
    MetadataTooLargeError,
)

LAST_UPDATED = "last_updated"
KEYS_FIELD = "s3-to-mongo-keys"
COMPRESSIONS = ("zlib", "zstd")
MAX_KEY_BYTES = 1024
AWS_METADATA_LIMIT = 2048

# ---------------------------------------------------------------- compression


def normalize_compression(compress: bool | str | None) -> str | None:
    """Map the ``compress`` argument to ``"zlib"``, ``"zstd"`` or ``None``."""
    if compress is None or compress is False:
        return None
    if compress is True:
        return "zlib"
    if isinstance(compress, str) and compress in COMPRESSIONS:
        return compress
    raise ConfigurationError(
        f"compress={compress!r} is not supported; use True or 'zlib' (maggma-compatible), "
        "'zstd', or False"
    )


_zstd_local = threading.local()


def _zstd_compressor(level: int) -> zstandard.ZstdCompressor:
    # zstandard's compressors are not safe to share between threads: keep one per thread.
    cache = _zstd_local.__dict__.setdefault("compressors", {})
    if level not in cache:
        cache[level] = zstandard.ZstdCompressor(level=level)
    return cache[level]


def _zstd_decompressor() -> zstandard.ZstdDecompressor:
    if not hasattr(_zstd_local, "decompressor"):
        _zstd_local.decompressor = zstandard.ZstdDecompressor()
    return _zstd_local.decompressor


def compress_bytes(data: bytes, compression: str | None, level: int | None = None) -> bytes:
    if compression is None:
        return data
    if compression == "zlib":
        return zlib.compress(data) if level is None else zlib.compress(data, level)
    if compression == "zstd":
        return _zstd_compressor(3 if level is None else level).compress(data)
    raise ConfigurationError(f"unknown compression {compression!r}; use one of {COMPRESSIONS}")


def sniff_compression(data: bytes) -> str | None:
    """Tell zlib, zstd and plain msgpack maps apart by their first bytes."""
    if data[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    if len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0:
        return "zlib"
    return None


def decompress_bytes(data: bytes, compression: str | None, key: str | None = None) -> bytes:
    """Decompress ``data`` as declared; a body that does not match is a CorruptObjectError."""
    if compression in (None, ""):
        return data
    try:
        if compression == "zlib":
            return zlib.decompress(data)
        if compression == "zstd":
            return _zstd_decompressor().decompress(data, max_output_size=1 << 34)
    except (zlib.error, zstandard.ZstdError) as exc:
        found = sniff_compression(data) or "not compressed"
        raise CorruptObjectError(
            f"object {key!r} is declared {compression} but its body does not decompress "
            f"({found}: {exc}); rewrite it with update() or check who wrote it",
            key=key,
        ) from exc
    raise CorruptObjectError(
        f"object {key!r} declares unknown compression {compression!r}", key=key
    )


# ---------------------------------------------------------------- msgpack bodies


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


def pack(doc: Mapping, key: str | None = None) -> bytes:
    """msgpack a document the way maggma does, with a clear error for unencodable values."""
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


def encode_body(
    doc: Mapping, compression: str | None, level: int | None = None, key: str | None = None
) -> bytes:
    """The stored bytes of a document: msgpack (without last_updated), then compression."""
    body = {k: v for k, v in doc.items() if k != LAST_UPDATED}
    return compress_bytes(pack(body, key), compression, level)


def decode_body(
    data: bytes, compression: str | None, key: str | None = None, decode: bool = True
) -> dict:
    return unpack(decompress_bytes(data, compression, key), key, decode)


def content_hash(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


# ---------------------------------------------------------------- keys


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


# ---------------------------------------------------------------- index and metadata


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


def metadata_document(entry: Mapping) -> dict[str, str]:
    """User metadata of an object: the index entry with sanitised names and str values."""
    return {
        sanitize_name(k): str(v) for k, v in entry.items() if k not in (LAST_UPDATED, "obj_hash")
    }


def metadata_size(metadata: Mapping[str, str]) -> int:
    """Bytes AWS counts against its limit: UTF-8 names plus values."""
    return sum(len(k.encode("utf-8")) + len(v.encode("utf-8")) for k, v in metadata.items())


def check_metadata(metadata: Mapping[str, str], limit: int | None, key: str) -> None:
    if limit is None:
        return
    size = metadata_size(metadata)
    if size > limit:
        sizes = sorted(
            ((len(k.encode()) + len(v.encode()), k) for k, v in metadata.items()), reverse=True
        )
        worst = ", ".join(f"{name}={n} B" for n, name in sizes[:5])
        raise MetadataTooLargeError(
            f"object metadata of {key!r} is {size} bytes, over the {limit}-byte limit "
            f"(largest: {worst}); index fewer or smaller fields, or raise metadata_limit "
            "if your endpoint allows more",
            key=key,
        )
    for name, value in metadata.items():
        if not (name + value).isascii():
            raise InvalidDocumentError(
                f"metadata field {name!r} of {key!r} is not ASCII ({value[:40]!r}); S3 "
                "metadata headers carry ASCII only: index ASCII values and use ASCII keys",
                key=key,
            )


def entry_from_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """Undo the name sanitising of an object's metadata using its ``s3-to-mongo-keys``."""
    names = json.loads(metadata.get(KEYS_FIELD, "{}"))
    reverse = {v: k for k, v in names.items() if k != KEYS_FIELD}
    return {reverse.get(k, k): v for k, v in metadata.items() if k != KEYS_FIELD}
