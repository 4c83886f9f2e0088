"""Where a decoded query's client CPU goes: alternating A/B rounds of ``query()`` variants.

One server, one bucket of documents (``make_document``: ~10 KB zlib), the raw obstore
ceiling (async GETs, bodies kept as bytes) and ``S3Store.query`` variants, run in turns
(the order reversed every other round) so a shared machine's load falls on all of them.
Reports throughput, client CPU per document (this process, all threads), server CPU per
document, the cyclic garbage collector's time per document (``gc.callbacks``) and its full
collections per query. Diagnosis only: the variants that change the reading or the
collector are patched in here, never shipped.

    python bench/bench_query_cpu.py --server versitygw --rounds 6
    python bench/bench_query_cpu.py --server versitygw --rounds 6 --gc-off \
        --variants query,whole-then-slots,whole-then-one-slot

Variants: ``query`` (as shipped: each worker decodes as its body downloads), ``query,
keep none`` (the consumer drops each document), ``whole-then-slots`` (each body read whole,
then decoded under a semaphore of ``os.cpu_count()`` slots), ``whole-then-one-slot``,
``gc paused in decode`` (the collector disabled while any worker decodes, refcounted),
``gc off`` (disabled for the whole query).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import io
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psutil
from _common import (
    CREDENTIALS,
    SEARCHABLE_FIELDS,
    load_average,
    make_document,
    obstore_store,
    server_for,
)

from s3explore import MemoryStore, S3Store
from s3explore import _codec as codec
from s3explore._stores._objects import AUTO, Fetched, ObjectIO, declared_compression
from s3explore._transfer import note_size

SHIPPED_READ_DOC = ObjectIO.read_doc
SHIPPED_DECODE = codec.decode_stream


def read_whole_then_decode(slots: threading.Semaphore) -> Any:
    """``read_doc`` reading the body whole (obstore releases the GIL), then decoding it
    while holding one of ``slots``: at most that many threads want the GIL to decode."""
    def read_doc(self: ObjectIO, key: str, compression: Any = AUTO, decode: bool = True,
                 hash_body: bool = False) -> Fetched:
        start, object_key = time.perf_counter(), self.object_key(key)

        def fetch() -> Fetched:
            download = self.engine.get(object_key)
            try:
                raw = download.read()
            finally:
                download.close()
            info, metadata = download.info, download.info.metadata or {}
            declared = (declared_compression(raw[:4], metadata) if compression == AUTO
                        else compression)
            with slots:
                doc, plain = codec.decode_stream(io.BytesIO(raw), declared, key, decode,
                                                 self.max_decoded_bytes)
            note_size(plain)
            return Fetched(key, doc, metadata, info.last_modified, info.etag, len(raw), plain,
                           declared, time.perf_counter() - start)

        return self.request(fetch, key=key)

    return read_doc


_pause_lock = threading.Lock()
_pause = {"depth": 0, "was_enabled": False}


@contextlib.contextmanager
def gc_paused() -> Any:
    with _pause_lock:
        if _pause["depth"] == 0:
            _pause["was_enabled"] = gc.isenabled()
            gc.disable()
        _pause["depth"] += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pause["depth"] -= 1
            if _pause["depth"] == 0 and _pause["was_enabled"]:
                gc.enable()


def decode_with_gc_paused(*args: Any, **kwargs: Any) -> Any:
    with gc_paused():
        return SHIPPED_DECODE(*args, **kwargs)


class GcClock:
    """Wall time spent in the cyclic collector, and its full collections, since reset()."""

    def __init__(self) -> None:
        self.seconds, self.full, self._start = 0.0, 0, 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start
            self.full += info["generation"] == 2

    def reset(self) -> None:
        self.seconds, self.full = 0.0, 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=["moto", "versitygw", "s3rver"], default="versitygw")
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--variants", default="query,query keep none,whole-then-slots,"
                        "gc paused in decode,gc off")
    parser.add_argument("--gc-off", action="store_true",
                        help="disable the collector for the whole run (isolates the GIL)")
    parser.add_argument("--switch-interval", type=float, default=None,
                        help="sys.setswitchinterval for this run, in seconds (diagnosis)")
    args = parser.parse_args()
    if args.gc_off:
        gc.disable()
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    print(f"command: python bench/bench_query_cpu.py {' '.join(sys.argv[1:])}\n"
          f"cores: {os.cpu_count()}, switch interval: {sys.getswitchinterval()} s, "
          f"load average before: {load_average()}", flush=True)
    docs = [make_document(i) for i in range(args.docs)]
    me, clock = psutil.Process(), GcClock()
    with server_for(args.server) as server:
        store = S3Store(MemoryStore("cpu"), server.fresh_bucket("cpu"),
                        s3_profile=dict(CREDENTIALS), compress="zlib",
                        endpoint_url=server.endpoint_url, s3_workers=args.workers,
                        searchable_fields=SEARCHABLE_FIELDS)
        store.connect()
        store.update(docs, workers=args.workers)
        # docs stay alive, as in bench_transfer.py: the heap a full collection walks
        raw_store, keys = obstore_store(server, store.bucket, args.workers), \
            [d["task_id"] for d in docs]

        def raw_obstore() -> int:
            import obstore

            async def gather() -> list[int]:
                gate = asyncio.Semaphore(args.workers)

                async def one(key: str) -> int:
                    async with gate:
                        result = await obstore.get_async(raw_store, key)
                        return len(await result.bytes_async())

                return await asyncio.gather(*(one(k) for k in keys))

            return len(asyncio.run(gather()))

        def query() -> int:
            return len(list(store.query(workers=args.workers)))

        def query_keep_none() -> int:
            return sum(1 for _ in store.query(workers=args.workers))

        def query_gc_off() -> int:
            was = gc.isenabled()
            gc.disable()
            try:
                return query()
            finally:
                if was:
                    gc.enable()

        runs: dict[str, tuple[Any, Any, Any]] = {  # (run, read_doc, decode_stream)
            "raw obstore": (raw_obstore, SHIPPED_READ_DOC, SHIPPED_DECODE),
            "query": (query, SHIPPED_READ_DOC, SHIPPED_DECODE),
            "query keep none": (query_keep_none, SHIPPED_READ_DOC, SHIPPED_DECODE),
            "whole-then-slots": (query, read_whole_then_decode(
                threading.BoundedSemaphore(os.cpu_count() or 2)), SHIPPED_DECODE),
            "whole-then-one-slot": (query, read_whole_then_decode(
                threading.BoundedSemaphore(1)), SHIPPED_DECODE),
            "gc paused in decode": (query, SHIPPED_READ_DOC, decode_with_gc_paused),
            "gc off": (query_gc_off, SHIPPED_READ_DOC, SHIPPED_DECODE),
        }
        names = ["raw obstore", *args.variants.split(",")]
        query(), raw_obstore()  # warm up threads, connections and caches
        samples: dict[str, list[tuple[float, float, float, float, int]]] = {}
        for round_ in range(args.rounds):
            for name in names if round_ % 2 == 0 else names[::-1]:
                run, ObjectIO.read_doc, codec.decode_stream = runs[name]
                try:
                    clock.reset()
                    mine, theirs = me.cpu_times(), psutil.Process(server.pid).cpu_times()
                    start = time.perf_counter()
                    count = run()
                    seconds = time.perf_counter() - start
                    mine1, theirs1 = me.cpu_times(), psutil.Process(server.pid).cpu_times()
                finally:
                    ObjectIO.read_doc, codec.decode_stream = SHIPPED_READ_DOC, SHIPPED_DECODE
                assert count == len(keys), (name, count)
                samples.setdefault(name, []).append((
                    count / seconds,
                    (mine1.user + mine1.system - mine.user - mine.system) / count * 1e3,
                    (theirs1.user + theirs1.system - theirs.user - theirs.system) / count * 1e3,
                    clock.seconds / count * 1e3, clock.full))
            print(f"round {round_ + 1}/{args.rounds}, load average {load_average()}",
                  file=sys.stderr, flush=True)
        store.close()
    ceiling = statistics.median(s[0] for s in samples["raw obstore"])
    print(f"load average after: {load_average()}\n\n| variant | docs/s (median) | runs (min-max) "
          "| x raw obstore | client CPU per doc | server CPU per doc | GC time per doc "
          "| full collections per query |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: "
          "| ---: |")
    for name, rows in samples.items():
        rates = [r[0] for r in rows]

        def median(i: int, rows: list = rows) -> float:
            return statistics.median(r[i] for r in rows)

        print(f"| {name} | {statistics.median(rates):.0f} | {min(rates):.0f}-{max(rates):.0f} "
              f"| {statistics.median(rates) / ceiling:.2f}x | {median(1):.3f} ms "
              f"| {median(2):.3f} ms | {median(3):.3f} ms | {median(4):.0f} |")


if __name__ == "__main__":
    main()
