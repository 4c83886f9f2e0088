"""Decoding with big arrays read straight into numpy gives exactly msgpack + the hook."""

from __future__ import annotations

import io
import math
import mmap
import pickle
import struct
import tracemalloc
import zlib

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s3explore import _codec as codec
from s3explore._codec import _walk, _walk_leaf
from s3explore._codec._body import _decode_hook
from s3explore._errors import CorruptObjectError

FLOATS = ["float64", ">f8", "float32", "<f4", ">f4", "float16"]
INTS = ["int64", ">i8", "int32", "int16", "int8", "uint8", "uint16", "uint32", "uint64"]
COMPLEX = ["complex128", "complex64", ">c16"]
SETTINGS = {  # the limits of the walk, made tiny so that small documents cross them
    "default": {},
    "tiny": {"CHUNK": 61, "RETAIN": 97, "PIECE": 5, "MAX_ITEMS": 6, "MAX_DEPTH": 3,
             "LOOK": 200},
}


def same(a, b) -> bool:
    """Equal values of the same types, dtypes, shapes, bits and key order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (np.ndarray, np.generic)):
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype == object:
            return same(a.tolist(), b.tolist())
        if a.dtype == np.longdouble:  # its padding bytes are whatever memory held
            return bool(np.array_equal(a, b, equal_nan=True)
                        and np.array_equal(np.signbit(a), np.signbit(b)))
        return a.tobytes() == b.tobytes()
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, float):
        return struct.pack(">d", a) == struct.pack(">d", b)
    return a == b


def reference(body: bytes):
    """What the decoder did before arrays were read into numpy: ("ok", doc) or the error."""
    unpacker = msgpack.Unpacker(io.BytesIO(body), raw=False, strict_map_key=False,
                                object_hook=_decode_hook, max_buffer_size=0)
    try:
        try:
            doc = unpacker.unpack()
        except msgpack.OutOfData:
            return "corrupt", None
        try:
            unpacker.skip()
        except msgpack.OutOfData:
            pass
        else:
            return "corrupt", None
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError,
            TypeError):  # TypeError: a list or map as a key, which no document can hold
        return "corrupt", None
    except Exception as exc:  # OverflowError (the hook)
        return "raises", type(exc)
    return ("ok", doc) if isinstance(doc, dict) else ("corrupt", None)


def check(body: bytes, compression: str | None = None) -> None:
    kind, expected = reference(body)
    stored = zlib.compress(body) if compression == "zlib" else body
    if kind == "ok":
        got, plain = codec.decode_stream(io.BytesIO(stored), compression, "k")
        assert same(got, expected)
        assert plain == len(body)
    elif kind == "corrupt":
        with pytest.raises(CorruptObjectError, match="'k'"):
            codec.decode_stream(io.BytesIO(stored), compression, "k")
    else:
        with pytest.raises(expected):
            codec.decode_stream(io.BytesIO(stored), compression, "k")


@pytest.fixture(params=list(SETTINGS))
def limits(request, monkeypatch):
    for name, value in SETTINGS[request.param].items():
        monkeypatch.setattr(_walk, name, value)
    monkeypatch.setattr(_walk_leaf, "MIN_ELEMENTS", 1)  # every array takes the fast path
    return request.param


@st.composite
def arrays(draw):
    dtype = draw(st.sampled_from(FLOATS + INTS + COMPLEX))
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
    size = math.prod(shape)
    kind = np.dtype(dtype).kind
    if kind == "f":
        values = draw(st.lists(st.floats(width=16 if dtype == "float16" else 32,
                                         allow_nan=True), min_size=size, max_size=size))
        return np.array(values, dtype=dtype).reshape(shape)
    if kind == "c":
        parts = draw(st.lists(st.floats(width=32), min_size=2 * size, max_size=2 * size))
        values = np.array(parts[:size]) + 1j * np.array(parts[size:])
        return values.astype(dtype).reshape(shape)
    info = np.iinfo(dtype)
    values = draw(st.lists(st.integers(int(info.min), int(info.max)), min_size=size,
                           max_size=size))
    return np.array(values, dtype=dtype).reshape(shape)


scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1),
                    st.floats(), st.text(max_size=8), st.binary(max_size=8))
documents = st.dictionaries(
    st.text(max_size=6),
    st.recursive(st.one_of(scalars, arrays()),
                 lambda inner: st.one_of(st.lists(inner, max_size=4),
                                         st.dictionaries(st.text(max_size=4), inner,
                                                         max_size=4)),
                 max_leaves=12),
    max_size=5)
FAST = settings(  # about 10 s a test
                max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@FAST
@given(doc=documents, compression=st.sampled_from([None, "zlib"]))
def test_random_documents_decode_exactly_as_msgpack_and_the_hook(limits, doc, compression):
    check(codec.pack(doc), compression)


@FAST
@given(doc=documents, data=st.data())
def test_truncated_and_damaged_bodies_fail_or_decode_as_before(limits, doc, data):
    body = codec.pack(doc)
    cut = data.draw(st.integers(0, len(body)))
    check(body[:cut])
    at = data.draw(st.integers(0, max(len(body) - 1, 0)))
    byte = data.draw(st.integers(0, 255))
    check(body[:at] + bytes([byte]) + body[at + 1:])
    check(body[:at] + bytes([byte]) + body[at:])
    check(body + data.draw(st.binary(max_size=3)))


def tagged(data, dtype="float64", order=("@module", "@class", "dtype", "data")) -> dict:
    values = {"@module": "numpy", "@class": "array", "dtype": dtype, "data": data}
    return {name: values[name] for name in order}


ODD_ARRAYS = {  # tagged arrays that look clean at first and are not
    "ragged": tagged([[1.0, 2.0], [3.0]]),
    "ragged deeper": tagged([[1.0, 2.0], [3.0, [4.0, 5.0]]]),
    "an int among floats": tagged([1.0, 2.0, 3, 4.0, 5.0, 6.0]),
    "None among floats": tagged([1.0, 2.0, 3.0, 4.0, None, 6.0, 7.0]),
    "a float among ints": tagged([1, 2, 3, 4, 5, 6.5, 7], "int64"),
    "a bool among ints": tagged([1, 2, 3, True, 5, 6, 7], "int64"),
    "a bool and then ragged": tagged([[1, True, 3], [4, 5]], "int64"),
    "int rows, ragged": tagged([[1, 2, 3], [4, 5, 6], [7, 8]], "int64"),
    "int rows, a bool": tagged([[1, 2, 3], [4, True, 6], [7, 8, 9]], "int64"),
    "int rows, a list": tagged([[1, 2, 3], [4, [5], 6], [7, 8, 9]], "int64"),
    "float rows, ragged": tagged([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0]]),
    "float rows, an int": tagged([[1.0, 2.0, 3.0], [4.0, 5, 6.0], [7.0, 8.0, 9.0]]),
    "out of range": tagged(list(range(120, 140)), "int8"),
    "negative into unsigned": tagged([3, 2, 1, 0, -1], "uint8"),
    "beyond int64": tagged([1, 2, 2**64 - 1], "uint64"),
    "beyond int64, signed": tagged([1, 2, 2**63], "int64"),
    "an array inside": tagged([1.0, tagged([2.0] * 9), 3.0]),
    "complex of three": tagged([[1.0] * 8, [2.0] * 8, [3.0] * 8], "complex128"),
    "complex, shapes differ": tagged([[1.0] * 8, [2.0] * 7], "complex128"),
    "complex, broadcast": tagged([[[1.0] * 8] * 3, [2.0] * 8], "complex128"),
    "complex, inf": tagged([[1.0, -0.0, 0.0], [math.inf, -0.0, 0.0]], "complex64"),
    "complex, ints": tagged([[1, 2, 3], [4, 5, 6]], "complex128"),
    "unknown dtype": tagged([1.0] * 9, "float99"),
    "long double": tagged([1.0, 1e300, -0.0] * 3, "longdouble"),
    "half overflows": tagged([1.0, 1e300, -1e10] * 3, "float16"),
    "object dtype": tagged([1.0] * 9, "object"),
    "a string dtype": tagged([1.0] * 9, "<U3"),
    "keys in another order": tagged([1.0] * 9, order=("@class", "@module", "dtype",
                                                      "data")),
    "empty rows": tagged([[], [], []]),
    "deeper than numpy": tagged(np.zeros([1] * 40).tolist()),
    "a float in a string": {"s": codec.pack(tagged([1.0] * 9))},
    "a tag as a key": {"k": [{codec.pack(tagged([1.0] * 9)): 1}]},
}


@pytest.mark.parametrize("name", list(ODD_ARRAYS))
def test_arrays_that_are_not_clean_decode_as_msgpack_and_the_hook_would(limits, name):
    doc = {"task_id": "x", "before": [1, {"a": "b"}], "array": ODD_ARRAYS[name], "after": 2}
    body = msgpack.packb(doc)
    check(body)
    check(body, "zlib")
    for cut in range(0, len(body), max(1, len(body) // 40)):
        check(body[:cut])


def test_headers_msgpack_would_not_write_still_decode_the_same(limits):
    row = b"".join(msgpack.packb(float(x)) for x in range(3))
    prefix = msgpack.packb({"a": tagged(None)})[:-1]  # "data" is the last key
    for rows in ([b"\x93", b"\xdc\x00\x03", b"\x93"], [b"\xdd\x00\x00\x00\x03"] * 3):
        check(prefix + b"\x93" + b"".join(head + row for head in rows))
        check(prefix + b"\xdc\x00\x03" + b"".join(head + row for head in rows))


def test_nesting_limit_is_msgpacks_however_deep_the_array(limits):
    array = msgpack.packb(tagged([1.5] * 9))
    for depth in (1000, 1015, 1021, 1022, 1023, 1024, 1030):
        nest = b"\x91" * (depth - 2)  # the document and the tag's data count too
        for body in (b"\x81\xa1a" + nest + array,
                     b"\x82\xa1a" + msgpack.packb([0.5] * 20) + b"\xa1b" + nest + array):
            kind, expected = reference(body)
            if kind == "corrupt":
                with pytest.raises(CorruptObjectError, match="StackError"):
                    codec.decode_stream(io.BytesIO(body), None, "k")
                continue
            got, _ = codec.decode_stream(io.BytesIO(body), None, "k")
            assert list(got) == list(expected)
            got, expected = got[list(got)[-1]], expected[list(got)[-1]]
            for _ in range(depth - 2):
                (got,), (expected,) = got, expected
            assert same(got, expected)


def test_list_keys_and_big_containers_as_before(limits):
    check(b"\x81\x91\x01\x02")  # a list as a key: TypeError, as msgpack
    check(b"\x81\xa1a\xdd\x80\x00\x00\x00")  # longer than msgpack allows
    check(b"\x81\xa1a\xdf\x80\x00\x00\x00")
    array = msgpack.packb(tagged([1.0] * 9))  # walked to the array, then refused
    check(b"\x81\xa1a\xdd\x80\x00\x00\x00" + array)
    check(b"\x81\xa1a\xdf\x80\x00\x00\x00" + array)
    check(b"\x81\xa1a\x92" + msgpack.packb(tagged([1.0] * 9, "d" * 40)) + array)


def test_maggma_written_bodies_decode_exactly():
    monty = pytest.importorskip("monty.msgpack")
    rng = np.random.default_rng(1)
    doc = {"task_id": "mp-1", "dos": {"energies": rng.random(50_000),
                                      "densities": rng.random((4, 20_000)),
                                      "spins": rng.integers(-5, 5, (2, 30_000)),
                                      "projections": rng.random(10_000) + 1j},
           "sites": [{"xyz": rng.random(3), "label": "Fe"} for _ in range(500)]}
    body = msgpack.packb(doc, default=monty.default)
    assert body == codec.pack(doc)
    check(body, "zlib")
    got, _ = codec.decode_stream(io.BytesIO(zlib.compress(body)), "zlib", "k")
    np.testing.assert_array_equal(got["dos"]["densities"], doc["dos"]["densities"])


def test_decoding_a_large_array_holds_at_most_two_copies_of_it():
    array = np.random.default_rng(2).random(2_000_000)  # 16 MB
    body = zlib.compress(codec.pack({"task_id": "big", "values": array}), 1)
    tracemalloc.start()
    try:
        got, _ = codec.decode_stream(io.BytesIO(body), "zlib", "big")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert same(got["values"], array)
    # The result itself is one copy; msgpack's list of floats alone would be four. Its pages
    # are mapped apart from malloc (see the next test), so tracemalloc does not see them.
    peak += array.nbytes if _own_pages(got["values"]) else 0
    assert peak <= 2 * array.nbytes, peak / array.nbytes


def _own_pages(array: np.ndarray) -> bool:
    base = array
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    if isinstance(base, memoryview):  # numpy keeps a view of the buffer it was given
        base = base.obj
    return isinstance(base, mmap.mmap)


def test_large_arrays_get_pages_of_their_own_and_behave_as_any_array():
    # Freed, they go back to the system at once, whichever thread decoded them (from a
    # worker thread's malloc arena they would stay resident: read-ahead held 6.8 documents
    # of 20 MB instead of 5.2 in bench_memory.py).
    rng = np.random.default_rng(3)
    doc = {"task_id": "big", "f": rng.random(200_000), "i": np.arange(150_000),
           "c": rng.random(70_000) + 1j * rng.random(70_000), "small": rng.random(5_000)}
    got, _ = codec.decode_stream(io.BytesIO(zlib.compress(codec.pack(doc))), "zlib", "big")
    for name in ("f", "i", "c"):
        assert _own_pages(got[name]), name
        assert same(got[name], doc[name]) and got[name].dtype == doc[name].dtype
        assert got[name].flags.writeable and got[name].flags.c_contiguous
        assert same(pickle.loads(pickle.dumps(got[name])), doc[name])
    assert not _own_pages(got["small"])  # below a megabyte: numpy's own allocation
    got["f"][0] = -1.0
    assert got["f"][0] == -1.0 and doc["f"][0] != -1.0


@pytest.mark.parametrize("dims", [[2**32 - 1], [2**31, 2**31], [70_000, 70_000]])
def test_an_array_header_claiming_more_than_the_limit_is_refused_before_allocating(dims):
    # a few KB whose headers claim terabytes: one corrupt object, not a MemoryError, an
    # OSError from mmap or an OverflowError that would stop the whole query
    tag = b"\x84\xa7@module\xa5numpy\xa6@class\xa5array\xa5dtype\xa7float64\xa4data"
    data = b"".join(b"\xdd" + struct.pack(">I", d) for d in dims)
    body = (b"\x82\xa7task_id\xa1x\xa1a" + tag + data
            + (b"\xcb" + struct.pack(">d", 1.0)) * 5000)
    with pytest.raises(CorruptObjectError, match="'k' decodes to more than"):
        codec.decode_stream(io.BytesIO(zlib.compress(body)), "zlib", "k")
