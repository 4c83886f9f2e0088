"""Reading msgpack headers in place, for ``_walk``: containers, and whether a tagged array
is one worth reading straight into numpy."""

from __future__ import annotations

import math
import mmap
from dataclasses import dataclass

import numpy as np

ARRAY, MAP = 1, 2
MIN_ELEMENTS = 4096  # smaller arrays cost little through msgpack and the hook
MAX_DIMS = 32
SIG = b"\x84\xa7@module\xa5numpy\xa6@class\xa5array\xa5dtype"
_STEP = 1 << 16  # elements combined at a time into a complex array
OWN_PAGES = 1 << 20  # arrays of at least this many bytes get pages of their own


def new_array(shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
    """An uninitialised array; a large one in anonymous pages of its own, given back to the
    system when the array is freed. Decoded in a worker thread, a large array from malloc
    lands in that thread's arena, and glibc's growing mmap threshold keeps freed arenas
    resident: reading ahead 20 MB documents held 6.8 of them instead of 4."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < OWN_PAGES:
        return np.empty(shape, dtype)
    return np.frombuffer(mmap.mmap(-1, nbytes), dtype).reshape(shape)


@dataclass(frozen=True)
class Candidate:
    start: int  # absolute offset of the tagged map
    data: int  # absolute offset of its "data" value
    dtype: np.dtype
    text: str  # the dtype as written
    kind: str  # "f", "c", "i" or "u"


def container_header(buf: bytearray, i: int, end: int | None = None
                     ) -> tuple[int, int, int] | None:
    """``(ARRAY or MAP, length, header bytes)`` of the container at ``buf[i]``; None if
    another type is there (or its header is cut off)."""
    end = len(buf) if end is None else end
    if i >= end:
        return None
    m = buf[i]
    if 0x80 <= m <= 0x9F:
        return (MAP if m < 0x90 else ARRAY), m & 0x0F, 1
    if 0xDC <= m <= 0xDF:
        size = 2 if m in (0xDC, 0xDE) else 4
        if i + 1 + size > end:
            return None
        return (ARRAY if m < 0xDE else MAP), int.from_bytes(buf[i + 1: i + 1 + size], "big"), \
            1 + size
    return None


def array_header(n: int) -> bytes:
    """The header msgpack writes for an array of ``n`` items."""
    if n < 16:
        return bytes([0x90 | n])
    if n < 1 << 16:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


def _is_int(marker: int) -> bool:
    return marker < 0x80 or marker >= 0xE0 or 0xCC <= marker <= 0xD3


def shape_at(buf: bytearray, j: int, end: int, kind: str) -> tuple[int, ...] | None:
    """The shape of nested arrays at ``buf[j]`` read down their first elements, if their
    first element is a float 64 (``kind`` "f") or an integer, and no dimension is 0."""
    shape: list[int] = []
    while True:
        head = container_header(buf, j, end)
        if head is None:
            break
        if head[0] != ARRAY or head[1] == 0 or len(shape) == MAX_DIMS:
            return None
        shape.append(head[1])
        j += head[2]
    if not shape or j >= end:
        return None
    marker = buf[j]
    return tuple(shape) if (marker == 0xCB if kind == "f" else _is_int(marker)) else None


def classify(buf: bytearray, i: int, base: int) -> Candidate | None:
    """The tagged array whose map starts at ``buf[i]`` (where ``SIG`` was found), if it is
    big, its dtype a number and its data a clean-looking nest of arrays."""
    end = len(buf)
    j = i + len(SIG)
    if j + 2 > end:
        return None
    m = buf[j]
    if 0xA0 <= m <= 0xBF:
        size, j = m & 0x1F, j + 1
    elif m == 0xD9:
        size, j = buf[j + 1], j + 2
    else:
        return None
    if j + size + 6 > end:
        return None
    try:
        text = bytes(buf[j: j + size]).decode("utf-8")
        dtype = np.dtype(text)
    except Exception:  # not a dtype numpy knows: the hook leaves it a dict anyway
        return None
    j += size
    if buf[j: j + 5] != b"\xa4data" or dtype.kind not in "fciu" or dtype.fields:
        return None
    data = j + 5
    j = data
    if dtype.kind == "c":
        if buf[j] != 0x92:
            return None
        j += 1
    shape = shape_at(buf, j, end, "i" if dtype.kind in "iu" else "f")
    if shape is None or math.prod(shape) < MIN_ELEMENTS:
        return None
    return Candidate(base + i, base + data, dtype, text, dtype.kind)


def combine_complex(real: np.ndarray, imag: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``(real + 1j * imag).astype(dtype)``, as the hook computes it, a slice at a time."""
    out = new_array(real.shape, dtype)
    flat, re, im = out.reshape(-1), real.reshape(-1), imag.reshape(-1)
    for a in range(0, flat.size, _STEP):
        flat[a: a + _STEP] = (re[a: a + _STEP] + 1j * im[a: a + _STEP]).astype(dtype)
    return out
