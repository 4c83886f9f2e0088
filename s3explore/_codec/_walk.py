"""Decode a streamed msgpack body with big numpy arrays read straight into numpy.

msgpack's C unpacker turns a tagged array's ``data`` into a Python list of Python objects
(32 bytes per 8-byte float) before the hook makes it numpy. Here the decompressed stream is
searched (``bytes.find``) for the tag maggma writes, ``{"@module": "numpy", "@class":
"array", "dtype": ..., "data": ...}``; a big one (``MIN_ELEMENTS``) is read into a
preallocated array: float64 elements (0xcb + 8 bytes) through a structured numpy view,
integers through msgpack in bounded pieces. Everything else is still msgpack's C unpacker,
which is only stopped at such an array: the containers holding one are walked here, every
other value (and small documents whole) is unpacked in C.

The result is exactly ``msgpack.unpackb(body, object_hook=_decode_hook)``'s: whenever an
array is not what it looked like (ragged, another element type, out of its dtype's range),
what was read is turned back into the lists msgpack would have built, the rest is decoded
the general way and the hook decides, as it always did.
"""

from __future__ import annotations

import math
from collections import deque
from itertools import chain
from typing import Any, BinaryIO

import msgpack
import numpy as np

from s3explore._codec._body import _decode_hook
from s3explore._codec._compression import DecodedTooLarge
from s3explore._codec._walk_leaf import (
    ARRAY,
    MAP,
    SIG,
    Candidate,
    array_header,
    classify,
    combine_complex,
    container_header,
    new_array,
    shape_at,
)

CHUNK = 1 << 20  # bytes read from the decompressing reader at a time
LOOK = 1024  # bytes past a tag's start needed to judge it
RETAIN = 1 << 20  # bytes of a value in msgpack's hands kept in case it must be walked
MAX_DEPTH = 32  # containers walked here above a big array, at most
MAX_ITEMS = 4096  # a big container without arrays in sight is walked only if this small
STACK = 1024  # msgpack's nesting limit (1024 nested containers unpack, 1025 do not)
MAX_ARRAY_LEN, MAX_MAP_LEN = 2**31 - 1, 2**30 - 1  # msgpack's, with max_buffer_size=0
FLOATS = np.dtype([("tag", "u1"), ("value", ">f8")])
PIECE = 1 << 16  # elements per piece of an array

_DESCEND = object()


class _Switched(Exception):
    """An array turned out not to be clean: carries its level as msgpack's Python lists."""

    def __init__(self, value: list) -> None:
        self.value = value


class _Anomaly(Exception):
    """The next value is not the array level expected; nothing was consumed."""


def unpacker() -> msgpack.Unpacker:
    return msgpack.Unpacker(raw=False, strict_map_key=False, object_hook=_decode_hook,
                            max_buffer_size=0)


class Walker:
    """One body, read from ``reader`` (decompressed bytes) as it is needed."""

    def __init__(self, reader: BinaryIO, max_bytes: int | None = None) -> None:
        self._reader = reader
        self._max_bytes = max_bytes  # the decoded-bytes limit, checked before allocating
        self._buf = bytearray()
        self._base = 0  # absolute offset of _buf[0]
        self._eof = False
        self._scanned = 0  # tags are known for the bytes before this offset
        self._tags: deque[Candidate] = deque()
        self.pos = 0  # absolute offset of the next value
        self._u: msgpack.Unpacker | None = None
        self._u_origin = self._u_next = self._fed = 0

    # ------------------------------------------------------------ bytes

    @property
    def _end(self) -> int:
        return self._base + len(self._buf)

    def _more(self, keep: int) -> bool:
        """Read a chunk, dropping bytes before ``keep``; False at the end of the body."""
        if self._eof:
            return False
        drop = keep - self._base
        if drop > 0 and (drop >= CHUNK or 2 * drop >= len(self._buf)):
            del self._buf[:drop]
            self._base = keep
        data = self._reader.read(CHUNK)
        if data:
            self._buf += data
        else:
            self._eof = True
        self._scan()
        return bool(data)

    def _ensure(self, n: int) -> None:
        while self._end - self.pos < n and self._more(self.pos):
            pass

    def _scan(self) -> None:
        limit = self._end if self._eof else self._end - LOOK
        i = max(self._scanned, self._base) - self._base
        while True:
            i = self._buf.find(SIG, i)
            if i < 0 or i + self._base >= limit:
                break
            tag = classify(self._buf, i, self._base)
            if tag is not None:
                self._tags.append(tag)
            i += 1
        self._scanned = max(self._scanned, limit)

    def _next_tag(self) -> Candidate | None:
        while self._tags and self._tags[0].start < self.pos:
            self._tags.popleft()
        return self._tags[0] if self._tags else None

    def _header(self) -> tuple[int, int, int] | None:
        self._ensure(5)
        return container_header(self._buf, self.pos - self._base)

    # ------------------------------------------------------------ values

    def document(self) -> Any:
        while len(self._buf) < CHUNK and self._more(0):
            pass
        if self._eof and not self._tags:  # a small body without big arrays: msgpack's
            u = unpacker()
            u.feed(self._buf)
            try:
                doc = u.unpack()
            except msgpack.OutOfData:
                raise ValueError("the body ends inside the document") from None
            self.pos = u.tell()
            return doc
        head = self._header()
        if not self._eof and head is not None and head[0] == MAP and head[1] <= MAX_ITEMS:
            return self._walk(0)  # a body over a chunk: its top level is walked here
        return self.value(0)

    @property
    def finished(self) -> bool:
        """Nothing follows the document."""
        return self._eof and self.pos == self._end

    def rest(self) -> bytes:
        """The bytes read past the document."""
        return bytes(self._buf[self.pos - self._base:])

    def value(self, depth: int) -> Any:
        """The value at ``pos``, inside ``depth`` containers."""
        start = self.pos
        tag = self._next_tag()
        if tag is not None and tag.start == start:
            return self._array(tag, depth)
        u = self._u
        if u is not None and self._u_next == start:  # the common case, kept short
            try:
                value = u.unpack()
            except msgpack.OutOfData:
                pass  # _unpack carries on from where msgpack stopped
            else:
                return self._unpacked(value, start, depth)
        got = self._unpack(depth)
        return self._walk(depth) if got is _DESCEND else got

    def _walk(self, depth: int) -> Any:
        kind, n, size = self._header()  # type: ignore[misc]  # a container is there
        if kind == ARRAY and n > MAX_ARRAY_LEN:
            raise ValueError(f"{n} exceeds max_array_len({MAX_ARRAY_LEN})")
        if kind == MAP and n > MAX_MAP_LEN:
            raise ValueError(f"{n} exceeds max_map_len({MAX_MAP_LEN})")
        self.pos += size
        self._u = None
        if kind == ARRAY:
            return [self.value(depth + 1) for _ in range(n)]
        d: dict = {}
        for _ in range(n):
            name = self.value(depth + 1)
            d[name] = self.value(depth + 1)  # TypeError for a list key, as msgpack
        return _decode_hook(d)

    def _bytes(self, start: int, end: int) -> memoryview:
        return memoryview(self._buf)[start - self._base: end - self._base]

    def _feed(self, limit: int, probe: msgpack.Unpacker | None = None) -> None:
        if limit > self._fed:
            with self._bytes(self._fed, limit) as view:
                self._u.feed(view)  # type: ignore[union-attr]
                if probe is not None:
                    probe.feed(view)
            self._fed = limit

    def _unpack(self, depth: int) -> Any:
        """The value at ``pos`` by msgpack, or _DESCEND when it holds a big array (or is a
        big container worth walking): then nothing is consumed."""
        start = self.pos
        if self._u is None or self._u_next != start:
            self._u = unpacker()
            self._u_origin = self._fed = start
        u = self._u
        committed = False  # msgpack reads this value to its end, whatever it holds
        probe = None  # counts its nesting from the top, as one msgpack pass would
        probed = False
        while True:
            tag = None if committed else self._next_tag()
            self._feed(self._end if committed else tag.start if tag else self._scanned, probe)
            if probe is not None:
                probe = _skip(probe)
            try:
                value = u.unpack()
            except msgpack.OutOfData:
                pass
            else:
                return self._unpacked(value, start, depth, checked=committed)
            head = None if committed else container_header(self._buf, start - self._base)
            if tag is not None and self._fed >= tag.start:
                if head is None:  # the tag lies inside a string or bytes: not an array
                    self._tags.popleft()
                    continue
                if depth < MAX_DEPTH:
                    self._u = None
                    return _DESCEND
                committed = True
            elif self._eof and self._fed == self._end:
                raise ValueError("the body ends inside the document")
            elif not committed and self._end - start > RETAIN:
                if head is not None and head[1] <= MAX_ITEMS and depth < MAX_DEPTH:
                    self._u = None
                    return _DESCEND
                committed = True
            if committed and not probed and depth:
                probed = True
                probe = msgpack.Unpacker(max_buffer_size=0)
                probe.feed(b"\x91" * depth)
                with self._bytes(start, self._fed) as view:
                    probe.feed(view)
                probe = _skip(probe)
            self._more(self._fed if committed else start)

    def _unpacked(self, value: Any, start: int, depth: int, checked: bool = False) -> Any:
        end = self._u_origin + self._u.tell()  # type: ignore[union-attr]
        if depth and not checked and end - start >= STACK - depth:
            probe = msgpack.Unpacker(max_buffer_size=0)  # nesting counted from the top
            probe.feed(b"\x91" * depth)
            with self._bytes(start, end) as view:
                probe.feed(view)
            probe.skip()
        self.pos = self._u_next = end
        tag = self._next_tag()
        if self._fed > self._scanned or (tag is not None and tag.start < self._fed):
            self._u = None  # fed past an array, or bytes not searched yet: afresh from here
        return value

    # ------------------------------------------------------------ arrays

    def _array(self, tag: Candidate, depth: int) -> Any:
        self._tags.popleft()
        self.pos = tag.data
        self._u = None
        if tag.kind == "c":
            self.pos += 1  # the [real, imag] pair
            real = self._part(depth + 2, "f")
            imag = self._part(depth + 2, "f")
            if (isinstance(real, np.ndarray) and isinstance(imag, np.ndarray)
                    and real.shape == imag.shape):
                return combine_complex(real, imag, tag.dtype)
            data: Any = [_listed(real), _listed(imag)]
        else:
            data = self._part(depth + 1, tag.kind)
            if isinstance(data, np.ndarray):
                if tag.kind == "f":
                    return data if data.dtype == tag.dtype else data.astype(tag.dtype)
                info = np.iinfo(tag.dtype)
                if data.min() >= info.min and data.max() <= info.max:
                    return data if data.dtype == tag.dtype else data.astype(tag.dtype)
                data = data.tolist()  # out of range: msgpack's lists, and the hook decides
        return _decode_hook({"@module": "numpy", "@class": "array", "dtype": tag.text,
                             "data": data})

    def _part(self, depth: int, kind: str) -> Any:
        """An array's nested data at ``pos``: float64 or int64 numpy if clean, else the
        Python value msgpack would give."""
        self._ensure(LOOK)
        shape = shape_at(self._buf, self.pos - self._base, self._end - self._base, kind)
        if shape is None:
            return self.value(depth)
        # Headers claim the element count: more elements than the decoded-bytes limit could
        # hold (9 bytes a float, at least 1 an integer) is refused before allocating.
        if (self._max_bytes is not None
                and math.prod(shape) * (9 if kind == "f" else 1) > self._max_bytes):
            raise DecodedTooLarge
        out = new_array(shape, np.float64 if kind == "f" else np.int64)
        try:
            self._fill(out, depth)
        except _Switched as switched:
            return switched.value
        return out

    def _fill(self, out: np.ndarray, depth: int) -> None:
        head = self._header()
        if head is None or head[0] != ARRAY or head[1] != len(out):
            raise _Anomaly
        self.pos += head[2]
        n = len(out)
        if out.ndim == 1 or (out.ndim == 2 and out.shape[1] < PIECE):  # short rows: in bulk
            done = self._floats(out) if out.dtype.kind == "f" else self._ints(out)
            if done < n:
                raise _Switched(out[:done].tolist()
                                + [self.value(depth + 1) for _ in range(n - done)])
            return
        for i in range(n):
            try:
                self._fill(out[i], depth + 1)
            except _Anomaly:
                items = out[:i].tolist()
            except _Switched as switched:
                items = [*out[:i].tolist(), switched.value]
                i += 1
            else:
                continue
            raise _Switched(items + [self.value(depth + 1) for _ in range(n - i)])

    def _floats(self, out: np.ndarray) -> int:
        """Fill ``out`` with the float64s at ``pos`` (rows of them if 2-D); how many
        elements (rows) were read: fewer when another type (or row) comes."""
        n, done = len(out), 0
        if out.ndim == 1:
            record, per = FLOATS, PIECE
        else:  # each row: its array header, then its elements
            head = np.frombuffer(array_header(out.shape[1]), "u1")
            record = np.dtype([("h", "u1", (len(head),)), ("e", FLOATS, (out.shape[1],))])
            per = max(1, PIECE // out.shape[1])
        while done < n:
            count = min(n - done, per, (self._end - self.pos) // record.itemsize)
            if count == 0:
                if not self._more(self.pos):
                    return done  # truncated: msgpack says so
                continue
            got = np.frombuffer(self._buf, record, count, self.pos - self._base)
            if out.ndim == 1:
                good = got["tag"] == 0xCB
                values = got["value"]
            else:
                good = (got["h"] == head).all(axis=1) & (got["e"]["tag"] == 0xCB).all(axis=1)
                values = got["e"]["value"]
            clean = bool(good.all())
            if not clean:
                count = int(good.argmin())
            out[done:done + count] = values[:count]
            del got, good, values  # the buffer may be resized only without views on it
            done += count
            self.pos += record.itemsize * count
            if not clean:
                return done
        return done

    def _ints(self, out: np.ndarray) -> int:
        """Fill ``out`` with the integers at ``pos`` (rows of them if 2-D), by msgpack a
        piece at a time; how many elements (rows) were read."""
        n, done = len(out), 0
        width = 1 if out.ndim == 1 else out.shape[1]
        per = max(1, PIECE // width)
        while done < n:
            count = min(n - done, per)
            need = count * (9 * width + (5 if out.ndim == 2 else 0))
            self._ensure(need)
            piece = msgpack.Unpacker(max_buffer_size=0)
            header = array_header(count)
            piece.feed(header)
            with self._bytes(self.pos, self.pos + need) as view:
                piece.feed(view)
            try:
                items = piece.unpack()
                if out.ndim == 2:
                    if set(map(type, items)) != {list} or set(map(len, items)) != {width}:
                        return done
                    items = list(chain.from_iterable(items))
                if set(map(type, items)) != {int}:  # bools and floats are not ints here
                    return done
                values = np.fromiter(items, np.int64, count * width)
            except Exception:  # anything else: the general path reads (or refuses) it
                return done
            out[done:done + count] = values.reshape((count, *out.shape[1:]))
            done += count
            self.pos += piece.tell() - len(header)
        return done


def _listed(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray) else value


def _skip(probe: msgpack.Unpacker) -> msgpack.Unpacker | None:
    """Skip on through what ``probe`` was fed; None once its value is complete (a value
    nested too deep raises StackError here, as it would in one msgpack pass)."""
    try:
        probe.skip()
    except msgpack.OutOfData:
        return probe
    return None
