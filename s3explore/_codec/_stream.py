"""Bodies as streams: encode a document in chunks, decode one while it downloads.

``iter_pack(doc)`` yields exactly the bytes of ``pack(doc)`` (maggma's format), in pieces:
containers are walked, and float numpy arrays, the bulk of large scientific documents, are
packed with numpy instead of through a Python list of every element. ``encode_chunks``
compresses those pieces as they come (zlib; other codecs compress the joined body, as
``encode_body`` does). ``decode_stream`` feeds a decompressing reader straight into msgpack,
so the compressed body and its decompressed copy are never held whole.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, BinaryIO

import msgpack
import numpy as np

from s3explore._codec._body import (
    LAST_UPDATED,
    _encode_value,
    check_map_keys,
    pack,
    unreadable_key_message,
)
from s3explore._codec._compression import (
    DecodedTooLarge,
    get_codec,
    max_decoded_bytes,
    sniff_compression,
    too_large,
)
from s3explore._codec._walk import Walker
from s3explore._errors import CorruptObjectError

CHUNK = 1 << 20  # bytes per piece handed on while encoding and read while decoding
_ELEMENTS = CHUNK // 9  # float64 elements per piece (9 bytes each in msgpack)
_FLOAT_KINDS = "f"


def _header(n: int, fixed: int, marker16: bytes) -> bytes:
    """A msgpack container header: fixarray/fixmap, else the 16- or 32-bit form (whose
    marker follows the 16-bit one)."""
    if n < 16:
        return bytes([fixed | n])
    if n < 1 << 16:
        return marker16 + n.to_bytes(2, "big")
    return bytes([marker16[0] + 1]) + n.to_bytes(4, "big")


def _array_header(n: int) -> bytes:
    return _header(n, 0x90, b"\xdc")


def _map_header(n: int) -> bytes:
    return _header(n, 0x80, b"\xde")


def _floats(values: np.ndarray) -> Iterator[bytes]:
    """msgpack float 64s (0xcb + big-endian) of a 1-D float array, ``CHUNK`` bytes at a time:
    what packing ``values.tolist()`` gives, without the list."""
    out = np.empty(min(len(values), _ELEMENTS), dtype=[("tag", "u1"), ("value", ">f8")])
    out["tag"] = 0xCB
    for start in range(0, len(values), _ELEMENTS):
        part = values[start:start + _ELEMENTS]
        view = out[: len(part)]
        view["value"] = part
        yield view.tobytes()


def _float_array(array: np.ndarray) -> Iterator[bytes]:
    """The tagged dict ``_encode_value`` makes of a real float array, packed piecewise."""
    packer = msgpack.Packer()
    yield _map_header(4)
    for name, value in (("@module", "numpy"), ("@class", "array"), ("dtype", str(array.dtype))):
        yield packer.pack(name) + packer.pack(value)
    yield packer.pack("data")
    yield from _nested_floats(array)


def _nested_floats(array: np.ndarray) -> Iterator[bytes]:
    if array.ndim == 0:  # tolist() of a 0-d array is a bare float
        yield msgpack.packb(float(array))
        return
    yield _array_header(array.shape[0])
    if array.ndim == 1:
        yield from _floats(array)
    else:
        for row in array:
            yield from _nested_floats(row)


class _TooBig(Exception):
    """Control flow: the document is large enough to be worth streaming."""


def _whole(doc: Mapping) -> bytes | None:
    """``pack(doc)`` in one call of msgpack's C packer when the document is small (most are:
    walking it in Python costs 4x as much); None once its arrays pass 4 pieces' worth."""
    seen = 0

    def small_only(value: Any) -> Any:
        nonlocal seen
        if isinstance(value, np.ndarray):
            seen += value.nbytes
            if seen > 4 * CHUNK:
                raise _TooBig
        return _encode_value(value)

    try:
        return msgpack.packb(doc, default=small_only, strict_types=False)
    except (_TooBig, TypeError, ValueError, OverflowError):
        return None  # large, or not encodable: the walk below streams it or names the field


def iter_pack(doc: Mapping, key: str | None = None) -> Iterator[bytes]:
    """The bytes of ``pack(doc, key)`` in pieces (byte for byte the same when joined)."""
    check_map_keys(doc, key)
    whole = _whole(doc)
    if whole is not None:
        yield whole
        return
    packer = msgpack.Packer(default=_encode_value, autoreset=True)

    def walk(value: Any) -> Iterator[bytes]:
        # The same dispatch as msgpack's Packer without strict_types: dict and list/tuple
        # subclasses are containers; everything else goes through pack() (and _encode_value).
        if isinstance(value, dict):
            yield _map_header(len(value))
            for name, item in value.items():
                yield packer.pack(name)
                yield from walk(item)
        elif isinstance(value, (list, tuple)):
            yield _array_header(len(value))
            for item in value:
                yield from walk(item)
        elif (type(value) is np.ndarray and value.dtype.kind in _FLOAT_KINDS
              and value.size * 9 >= CHUNK // 16):
            yield from _float_array(value)
        else:
            yield packer.pack(value)

    try:
        yield from walk(doc)
    except (TypeError, ValueError, OverflowError):
        pack(doc, key)  # raises the InvalidDocumentError naming the field
        raise


def encode_chunks(doc: Mapping, compression: str | None, level: int | None = None,
                  key: str | None = None) -> Iterator[bytes]:
    """The stored bytes of ``doc`` in pieces; joined, exactly ``encode_body(doc, ...)``."""
    body = {k: v for k, v in doc.items() if k != LAST_UPDATED}
    pieces = iter_pack(body, key)
    if compression is None:
        yield from pieces
    elif compression == "zlib":
        # zlib.compress's own settings; deflate output does not depend on how input is split.
        compressor = zlib.compressobj(-1 if level is None else level)
        for piece in pieces:
            out = compressor.compress(piece)
            if out:
                yield out
        yield compressor.flush()
    else:
        yield get_codec(compression).compress(b"".join(pieces), level)


# ---------------------------------------------------------------- decoding


class _Truncated(zlib.error):
    """The zlib stream ends before its end marker (zlib.decompress refuses such a body)."""


class _ZlibReader(io.RawIOBase):
    """A file-like view of a zlib stream being decompressed from ``source``."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self._z = zlib.decompressobj()
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            if self._z.eof:
                return 0
            data = self._z.unconsumed_tail or self._source.read(CHUNK)
            if not data:
                self._buffer = self._z.flush()
                if not self._buffer:
                    raise _Truncated("Error -5 while decompressing data: incomplete or "
                                     "truncated stream")
                break
            self._buffer = self._z.decompress(data, len(target))
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


def _zstd_reader(source: BinaryIO) -> BinaryIO:
    import zstandard

    return zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=False,
                                                      closefd=False)


def _gzip_reader(source: BinaryIO) -> BinaryIO:
    import gzip

    return gzip.GzipFile(fileobj=source, mode="rb")


_READERS: dict[str, Callable[[BinaryIO], BinaryIO]] = {
    "zlib": _ZlibReader, "zstd": _zstd_reader, "gzip": _gzip_reader}


class _SourceFailed(Exception):
    """Carries an error of the byte source (network) past the decoders, which must not
    mistake it for a corrupt body."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class CountingReader(io.RawIOBase):
    """Counts (and with ``hasher``, hashes) what is read through it."""

    def __init__(self, source: BinaryIO, hasher: Any = None, *, source_errors: bool = False,
                 limit: int | None = None) -> None:
        self._source = source
        self.count = 0
        self._limit = limit  # DecodedTooLarge once more than this was read through it
        self._hasher = hasher
        self._wrap = source_errors  # errors here are the network's, not the body's
        self.head = b""  # the first bytes, to name what a body that does not decompress is

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        try:
            data = self._source.read(n)
        except Exception as exc:
            if not self._wrap or isinstance(exc, _SourceFailed):
                raise
            raise _SourceFailed(exc) from exc
        if len(self.head) < 16:
            self.head += data[: 16 - len(self.head)]
        self.count += len(data)
        if self._limit is not None and self.count > self._limit:
            raise DecodedTooLarge
        if self._hasher is not None:
            self._hasher.update(data)
        return data

    def readinto(self, target: Any) -> int:
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)


class PrefixedReader(io.RawIOBase):
    """``head`` (bytes already read) followed by the rest of ``source``."""

    def __init__(self, head: bytes, source: Any) -> None:
        self._head = head
        self._source = source

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        if self._head:
            if n is None or n < 0:
                data, self._head = self._head + self._source.read(), b""
                return data
            data, self._head = self._head[:n], self._head[n:]
            return data
        return self._source.read(n)

    def readinto(self, target: Any) -> int:
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)


def decode_stream(source: BinaryIO, compression: str | None, key: str | None = None,
                  decode: bool = True, max_bytes: int | None = None) -> tuple[dict, int]:
    """``(document, decompressed bytes)`` of a body read from ``source`` as it arrives.

    The same document, and the same CorruptObjectError, as ``decode_body`` on the whole body
    (bytes after the end of a compressed stream are ignored by both, as zlib does).
    Errors of ``source`` itself (a dropped connection) propagate unchanged. A body that
    inflates past ``max_bytes`` (default ``max_decoded_bytes()``) is a CorruptObjectError as
    soon as the limit is passed.
    """
    limit = max_decoded_bytes(max_bytes)
    codec = None
    if compression not in (None, ""):
        from s3explore._codec._compression import CODECS

        codec = CODECS.get(compression) if isinstance(compression, str) else None
        if codec is None:
            raise CorruptObjectError(
                f"object {key!r} declares unknown compression {compression!r}", key=key)
    if codec is not None and codec.name not in _READERS:  # a plug-in codec: whole body
        from s3explore._codec._body import decode_body

        data = source.read()
        doc = decode_body(data, compression, key, decode, limit)
        return doc, len(data)
    source = CountingReader(source, source_errors=True)
    reader = source if codec is None else _READERS[codec.name](source)
    plain = CountingReader(reader, limit=limit)
    errors: tuple[type[BaseException], ...] = codec.errors if codec is not None else ()
    try:
        if decode:  # big numpy arrays straight into numpy, the rest by msgpack
            walker = Walker(plain, limit)
            doc = walker.document()
            unpacker = None if walker.finished else msgpack.Unpacker(
                PrefixedReader(walker.rest(), plain), read_size=CHUNK, max_buffer_size=0)
        else:
            unpacker = msgpack.Unpacker(plain, read_size=CHUNK, raw=False,
                                        strict_map_key=False, max_buffer_size=0)
            try:
                doc = unpacker.unpack()
            except msgpack.OutOfData:
                raise ValueError("the body ends inside the document") from None
        try:
            if unpacker is not None:  # what follows the document
                unpacker.skip()
        except msgpack.OutOfData:
            pass
        except errors as exc:
            if isinstance(exc, _Truncated):
                raise
            # bytes after the compressed stream: ignored, as one-shot decompression does
        else:
            if unpacker is not None:
                raise msgpack.ExtraData(doc, b"")
        if isinstance(reader, _ZlibReader):
            reader.read(1)  # the end marker and checksum must be there (zlib.decompress)
    except _SourceFailed as failed:
        raise failed.error from None
    except DecodedTooLarge:
        raise too_large(key, limit) from None
    except errors as exc:
        found = sniff_compression(source.head) or "not compressed"
        raise CorruptObjectError(
            f"object {key!r} is declared {compression} but its body does not decompress "
            f"({found}: {exc}); rewrite it with update() or check who wrote it",
            key=key) from exc
    except TypeError as exc:  # a map key read back as a map or list (an unhashable key)
        raise CorruptObjectError(unreadable_key_message(key, exc), key=key) from exc
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise CorruptObjectError(
            f"object {key!r} is not a valid msgpack document ({type(exc).__name__}: {exc})",
            key=key) from exc
    if not isinstance(doc, dict):
        raise CorruptObjectError(
            f"object {key!r} holds a msgpack {type(doc).__name__}, not a document", key=key)
    return doc, plain.count
