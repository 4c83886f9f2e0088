"""The compression codec registry: one ``Codec`` entry per codec, used everywhere.

``normalize_compression`` (the stores' ``compress=``), ``compress_bytes``, ``sniff_compression``,
``decompress_bytes`` and the upload reader all look codecs up here, so adding a codec is one
``register_codec`` call.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import threading
import types
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import zstandard

from s3explore._checks import positive_number
from s3explore._errors import ConfigurationError, CorruptObjectError

DEFAULT_COMPRESSION = "zlib"  # what compress=True means: maggma's codec
# Decoded bytes one object may inflate to: room for the largest real documents on a 24 GB,
# 2-core machine, and a bound a decompression bomb hits long before memory runs out.
DEFAULT_MAX_DECODED_BYTES = 2 << 30
MAX_DECODED_ENV = "S3EXPLORE_MAX_DECODED_BYTES"
_PIECE = 1 << 20


@dataclass(frozen=True)
class Codec:
    """One compression codec.

    ``compress(data, level)`` takes ``level=None`` for the codec's default; ``decompress(data)``
    raises one of ``errors`` on a body that is not valid for the codec. A body is recognised
    by its leading ``magic`` bytes or, for formats without a fixed prefix, by ``sniff``.
    ``maggma``: maggma 0.77.1 reads it; ``store``: a store may write bodies with it
    (``compress=name``); ``suffixes``: file-name endings that mean this codec (``".gz"``).
    """

    name: str
    compress: Callable[[bytes, int | None], bytes]
    decompress: Callable[[bytes], bytes]
    magic: bytes = b""
    sniff: Callable[[bytes], bool] | None = None
    maggma: bool = False
    store: bool = True
    suffixes: tuple[str, ...] = ()
    errors: tuple[type[BaseException], ...] = (ValueError,)
    # ``bounded(data, limit)``: the decoded bytes, or DecodedTooLarge past ``limit`` bytes,
    # without inflating much beyond it. A plug-in codec without one is checked afterwards.
    bounded: Callable[[bytes, int], bytes] | None = None

    def matches(self, data: bytes) -> bool:
        """Whether ``data`` looks like a body of this codec."""
        if self.magic:
            return data.startswith(self.magic)
        return self.sniff is not None and bool(self.sniff(data))


_registry: dict[str, Codec] = {}
CODECS: Mapping[str, Codec] = types.MappingProxyType(_registry)  # read-only view
_lock = threading.Lock()
# Replaced whole on every (un)registration, so readers in other threads never see it change.
_sniff_order: tuple[Codec, ...] = ()
_NAME = re.compile(r"[a-z0-9][a-z0-9._+-]{0,31}")


def _ordered() -> tuple[Codec, ...]:
    # Fixed magic first, longest first (most specific); heuristic sniffers after them.
    with_magic = sorted((c for c in _registry.values() if c.magic), key=lambda c: -len(c.magic))
    return (*with_magic, *(c for c in _registry.values() if not c.magic and c.sniff))


def register_codec(codec: Codec, *, replace: bool = False) -> Codec:
    """Add ``codec`` to the registry (``replace=True`` to swap out one of the same name)."""
    global _sniff_order
    if not isinstance(codec, Codec):
        raise ConfigurationError(f"register_codec() takes a Codec, not {type(codec).__name__}")
    if not isinstance(codec.name, str) or not _NAME.fullmatch(codec.name):
        raise ConfigurationError(
            f"codec name {codec.name!r} must be 1-32 lower-case ASCII letters, digits or "
            "'._+-' (it is written to index documents and object metadata)"
        )
    if not (callable(codec.compress) and callable(codec.decompress)):
        raise ConfigurationError(f"codec {codec.name!r} needs callable compress and decompress")
    if codec.sniff is not None and not callable(codec.sniff):
        raise ConfigurationError(f"codec {codec.name!r}: sniff must be callable or None")
    bad = [s for s in codec.suffixes if not (isinstance(s, str) and s.startswith("."))]
    if bad:
        raise ConfigurationError(f"codec {codec.name!r}: suffixes must start with '.', got {bad}")
    with _lock:
        if codec.name in _registry and not replace:
            raise ConfigurationError(
                f"a codec named {codec.name!r} is already registered; pass replace=True to "
                "swap it out"
            )
        _registry[codec.name] = codec
        _sniff_order = _ordered()
    return codec


def unregister_codec(name: str) -> None:
    """Remove a codec (for tests and plug-ins that undo themselves)."""
    global _sniff_order
    with _lock:
        if _registry.pop(name, None) is None:
            raise ConfigurationError(f"no codec named {name!r} is registered")
        _sniff_order = _ordered()


def get_codec(name: str) -> Codec:
    try:
        return _registry[name]
    except (KeyError, TypeError):
        raise ConfigurationError(
            f"unknown compression {name!r}; use one of {tuple(_registry)}"
        ) from None


def store_compressions() -> tuple[str, ...]:
    """Names a store may write with (``compress=``)."""
    return tuple(name for name, c in _registry.items() if c.store)


def normalize_compression(compress: bool | str | None) -> str | None:
    """Map the ``compress`` argument to a registered codec name (``True``: zlib) or ``None``."""
    if compress is None or compress is False:
        return None
    if compress is True:
        return DEFAULT_COMPRESSION
    if isinstance(compress, str) and compress in store_compressions():
        return compress
    names = [repr(n) + (" (maggma-compatible)" if _registry[n].maggma else "")
             for n in store_compressions()]
    raise ConfigurationError(
        f"compress={compress!r} is not supported; use True or {', '.join(names)}, or False"
    )


def compress_bytes(data: bytes, compression: str | None, level: int | None = None) -> bytes:
    if compression is None:
        return data
    return get_codec(compression).compress(data, level)


def sniff_compression(data: bytes) -> str | None:
    """The registered codec whose magic bytes ``data`` starts with; None for anything else
    (plain msgpack maps among it)."""
    for codec in _sniff_order:
        if codec.matches(data):
            return codec.name
    return None


class DecodedTooLarge(Exception):
    """A body inflates past the limit (turned into a CorruptObjectError naming the object)."""


def max_decoded_bytes(limit: int | None = None) -> int:
    """``limit`` when given, else ``$S3EXPLORE_MAX_DECODED_BYTES``, else 2 GiB (validated)."""
    if limit is None:
        text = os.environ.get(MAX_DECODED_ENV, "").strip()
        if not text:
            return DEFAULT_MAX_DECODED_BYTES
        try:
            limit = int(text.replace("_", ""))
        except ValueError:
            raise ConfigurationError(f"{MAX_DECODED_ENV}={text!r:.40} is not a number of "
                                     "bytes (e.g. 4294967296 for 4 GiB)") from None
    return positive_number(limit, "max_decoded_bytes", unit="bytes", integer=True)


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} bytes"


def too_large(key: str | None, limit: int) -> CorruptObjectError:
    """The error for an object that decodes to more than ``limit`` bytes."""
    return CorruptObjectError(
        f"object {key!r} decodes to more than {_size(limit)} (max_decoded_bytes={limit}); it "
        "may be a decompression bomb. If you trust it, raise the limit: "
        f"s3explore.open(..., max_decoded_bytes=N) or the environment variable "
        f"{MAX_DECODED_ENV}=N", key=key)


def decompress_bytes(data: bytes, compression: str | None, key: str | None = None,
                     max_bytes: int | None = None) -> bytes:
    """Decompress ``data`` as declared; a body that does not match, or that inflates past
    ``max_bytes`` (default: ``max_decoded_bytes()``), is a CorruptObjectError."""
    if compression in (None, ""):
        return data
    codec = _registry.get(compression) if isinstance(compression, str) else None
    if codec is None:
        raise CorruptObjectError(
            f"object {key!r} declares unknown compression {compression!r}", key=key
        )
    limit = max_decoded_bytes(max_bytes)
    try:
        if codec.bounded is not None:
            return codec.bounded(data, limit)
        plain = codec.decompress(data)
        if len(plain) > limit:
            raise DecodedTooLarge
        return plain
    except DecodedTooLarge:
        raise too_large(key, limit) from None
    except codec.errors as exc:
        found = sniff_compression(data) or "not compressed"
        raise CorruptObjectError(
            f"object {key!r} is declared {compression} but its body does not decompress "
            f"({found}: {exc}); rewrite it with update() or check who wrote it",
            key=key,
        ) from exc


def strip_compression_suffix(name: str) -> tuple[str, Codec | None]:
    """``"a.json.gz"`` -> ``("a.json", <gzip>)``; a name without a codec suffix comes back
    with None."""
    for codec in _registry.values():
        for suffix in codec.suffixes:
            if name.endswith(suffix) and len(name) > len(suffix):
                return name[: -len(suffix)], codec
    return name, None


# ---------------------------------------------------------------- the built-in codecs


def _zlib_compress(data: bytes, level: int | None) -> bytes:
    # Without a level exactly as maggma writes (zlib.compress's default).
    return zlib.compress(data) if level is None else zlib.compress(data, level)


def _zlib_sniff(data: bytes) -> bool:
    # RFC 1950 header: deflate (CM 8), window CINFO <= 7, header a multiple of 31. CINFO > 7
    # is invalid zlib, but 0x88 is also a msgpack map of 8 fields: such maps are not zlib.
    return len(data) >= 2 and data[0] & 0x0F == 8 and data[0] >> 4 <= 7 and (
        (data[0] << 8 | data[1]) % 31 == 0
    )


_zstd_local = threading.local()


def _zstd_compress(data: bytes, level: int | None) -> bytes:
    # zstandard's compressors are not safe to share between threads: keep one per thread.
    level = 3 if level is None else level
    cache = _zstd_local.__dict__.setdefault("compressors", {})
    if level not in cache:
        cache[level] = zstandard.ZstdCompressor(level=level)
    return cache[level].compress(data)


def _zstd_decompress(data: bytes) -> bytes:
    if not hasattr(_zstd_local, "decompressor"):
        _zstd_local.decompressor = zstandard.ZstdDecompressor()
    return _zstd_local.decompressor.decompress(data, max_output_size=1 << 34)


def _zstd_bounded(data: bytes, limit: int) -> bytes:
    if not hasattr(_zstd_local, "decompressor"):
        _zstd_local.decompressor = zstandard.ZstdDecompressor()
    dctx = _zstd_local.decompressor
    try:
        size = zstandard.frame_content_size(data)
    except zstandard.ZstdError:
        size = -1  # not a frame: decompress() says what is wrong with it
    if size > limit:  # the frame header declares it: nothing to inflate
        raise DecodedTooLarge
    if size < 0:  # size unknown: count it as it streams, never holding more than the limit
        total = 0
        with dctx.stream_reader(io.BytesIO(data), read_across_frames=False) as reader:
            while piece := reader.read(_PIECE):
                total += len(piece)
                if total > limit:
                    raise DecodedTooLarge
        size = total
    # Exactly the one-shot decompression as before, its buffer bounded by the size found.
    return dctx.decompress(data, max_output_size=max(size, 1))


def _inflate(d: Any, data: bytes, room: int) -> bytes:
    """What ``d`` inflates ``data`` to, DecodedTooLarge past ``room`` bytes."""
    out = d.decompress(data, room + 1)
    if len(out) > room:
        raise DecodedTooLarge
    return out


def _zlib_bounded(data: bytes, limit: int) -> bytes:
    d = zlib.decompressobj()
    out = _inflate(d, data, limit)
    if not d.eof:  # as zlib.decompress refuses a body without its end marker
        raise zlib.error("Error -5 while decompressing data: incomplete or truncated stream")
    return out


def _gzip_bounded(data: bytes, limit: int) -> bytes:
    """gzip.decompress's rules (members one after another, zero padding after them, CRC
    and length checked), each member inflated within what is left of ``limit``."""
    members: list[bytes] = []
    total = 0
    rest = memoryview(data)
    while True:
        if not len(rest):
            break
        if bytes(rest[:2]) != b"\x1f\x8b":
            if not members:
                raise gzip.BadGzipFile(f"Not a gzipped file ({bytes(rest[:2])!r})")
            raise gzip.BadGzipFile("trailing garbage after the last gzip member")
        d = zlib.decompressobj(wbits=31)
        out = _inflate(d, rest, limit - total)
        if not d.eof:
            raise EOFError("Compressed file ended before the end-of-stream marker was reached")
        total += len(out)
        members.append(out)
        rest = memoryview(d.unused_data.lstrip(b"\0"))
    return members[0] if len(members) == 1 else b"".join(members)


def _gzip_compress(data: bytes, level: int | None) -> bytes:
    # mtime=0: the same document always gives the same bytes (and the same obj_hash).
    return gzip.compress(data, compresslevel=9 if level is None else level, mtime=0)


register_codec(Codec("zlib", _zlib_compress, zlib.decompress, sniff=_zlib_sniff, maggma=True,
                     errors=(zlib.error,), bounded=_zlib_bounded))
register_codec(Codec("zstd", _zstd_compress, _zstd_decompress, magic=b"\x28\xb5\x2f\xfd",
                     suffixes=(".zst",), errors=(zstandard.ZstdError,), bounded=_zstd_bounded))
# gzip reads .json.gz uploads and public buckets' .json.gz objects; stores do not write it
# (maggma could not read it back).
register_codec(Codec("gzip", _gzip_compress, gzip.decompress, magic=b"\x1f\x8b", store=False,
                     suffixes=(".gz",), errors=(OSError, EOFError, zlib.error),
                     bounded=_gzip_bounded))
