"""Bodies stream both ways, byte for byte maggma's; the read-ahead is bounded in bytes."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import threading
import time
import uuid

import numpy as np
import pytest

from s3explore import _codec as codec
from s3explore._errors import CorruptObjectError
from s3explore._stores import _objects
from s3explore._transfer import note_size, ordered_map

rng = np.random.default_rng(0)
DOCS = [
    {"task_id": "a", "n": 1, "s": "x" * 40, "l": [1, 2.5, None, True, "y"], "t": (1, 2)},
    {"task_id": "b", "dos": {"e": rng.random(300_000), "m": rng.random((30, 700)),
                            "f32": rng.random(200_000).astype(np.float32),
                            "special": np.array([np.nan, np.inf, -0.0] * 50_000)},
     "ints": np.arange(100_000), "empty": np.zeros((2, 0)), "scalar": np.array(2.5),
     "when": dt.datetime(2024, 5, 1, 12), "id": uuid.UUID(int=7), "np": np.float64(1.5),
     "many": {str(i): i for i in range(70_000)}, "cx": rng.random(5) + 1j},
]


@pytest.mark.parametrize("doc", DOCS, ids=["small", "arrays"])
@pytest.mark.parametrize("compression", [None, "zlib", "zstd"])
@pytest.mark.parametrize("level", [None, 1])
def test_chunks_are_exactly_encode_body_and_decode_the_same(doc, compression, level):
    whole = codec.encode_body(doc, compression, level)
    assert b"".join(codec.encode_chunks(doc, compression, level)) == whole
    streamed, plain = codec.decode_stream(io.BytesIO(whole), compression, "k")
    assert codec.pack(streamed) == codec.pack(codec.decode_body(whole, compression))
    assert plain == len(codec.pack({k: v for k, v in doc.items() if k != "last_updated"}))


@pytest.mark.parametrize("compression", [None, "zlib", "zstd"])
def test_damaged_bodies_give_the_same_error_streamed(compression):
    whole = codec.encode_body(DOCS[1], compression)
    for bad in (whole[: len(whole) // 2], b"\x00" + whole[1:], b"", whole[:3]):
        with pytest.raises(CorruptObjectError):
            codec.decode_body(bad, compression, "k")
        with pytest.raises(CorruptObjectError, match="'k'"):
            codec.decode_stream(io.BytesIO(bad), compression, "k")


def test_network_errors_while_streaming_are_not_called_corrupt():
    class Dropped(io.RawIOBase):
        def readable(self):
            return True

        def read(self, n=-1):
            raise ConnectionResetError("peer went away")

    for compression in (None, "zlib", "zstd", "gzip"):
        with pytest.raises(ConnectionResetError):
            codec.decode_stream(Dropped(), compression, "k")


def test_a_body_over_the_multipart_threshold_streams_and_reads_back(make_store, monkeypatch,
                                                                    s3_server, bucket):
    monkeypatch.setattr(_objects, "MULTIPART_THRESHOLD", 6 * 1024 * 1024)
    monkeypatch.setattr(_objects, "PART_SIZE", 5 * 1024 * 1024)
    store = make_store(compress=True)
    doc = {"task_id": "big", "values": rng.random(2_000_000)}  # ~18 MB of msgpack
    assert store.update([doc]).ok
    head = s3_server.client().head_object(Bucket=bucket, Key="big")
    assert head["ETag"].strip('"').endswith("-4")  # four parts
    body = s3_server.client().get_object(Bucket=bucket, Key="big")["Body"].read()
    assert body == codec.encode_body(doc, "zlib")
    assert store.index.query_one()["obj_hash"] == hashlib.sha1(body).hexdigest()
    np.testing.assert_array_equal(store.get("big")["values"], doc["values"])
    assert store.verify(deep=True).ok


def test_read_ahead_is_bounded_in_bytes():
    size, budget = 10_000, 45_000
    started, taken, worst = [0], [0], [0]
    lock = threading.Lock()

    def load(i: int) -> int:
        with lock:
            started[0] += 1
        note_size(size)
        return i

    for outcome in ordered_map(load, range(60), workers=8, max_bytes=budget):
        time.sleep(0.002)  # a slow consumer
        taken[0] += 1
        with lock:
            worst[0] = max(worst[0], started[0] - taken[0])
        assert outcome.error is None
    assert taken[0] == 60
    assert worst[0] <= budget // size  # without the budget: 2 x workers = 16 ahead


def test_read_ahead_lets_one_oversized_result_through():
    def load(i: int) -> bytes:
        return b"x" * 1000

    assert len(list(ordered_map(load, range(5), workers=4, max_bytes=10))) == 5
