"""Transfer benchmark: the raw clients (boto3, and obstore, the fastest) vs maggma 0.77.1's
S3Store vs s3explore's, on each of its request engines.

One run, one server, the same documents for everyone: moto's (in its own process,
``--latency`` seconds per request: a remote region) or Versity S3 Gateway (``--server
versitygw``: a fast production server, where the client's own cost shows). Prints markdown
tables and writes JSON to bench/results/.

    python bench/bench_transfer.py --latency 0.02 --workers 16 --docs 1000
    python bench/bench_transfer.py --server versitygw --latency 0 --workers 32 --docs 2000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    CREDENTIALS,
    SEARCHABLE_FIELDS,
    CpuClock,
    Measurement,
    OfflineStore,
    PeakRss,
    Sample,
    ServerProcess,
    StopWatch,
    iter_documents,
    load_average,
    make_document,
    obstore_store,
    rss_bytes,
    run_in_subprocess,
    server_for,
    timed,
)

from s3explore import Callback, MemoryStore, S3Store
from s3explore import _codec as codec
from s3explore._transfer import ordered_map

RESULTS = Path(__file__).resolve().parent / "results"


# ---------------------------------------------------------------- contenders


def putter(client: Any, bucket: str) -> Callable[[tuple[str, bytes, dict]], int]:
    """One raw put_object of a ready-made ``(key, body, metadata)``; returns the bytes sent."""
    def put(item: tuple[str, bytes, dict]) -> int:
        key, body, metadata = item
        client.put_object(Bucket=bucket, Key=key, Body=body, Metadata=metadata)
        return len(body)

    return put


def getter(client: Any, bucket: str) -> Callable[[str], int]:
    """One raw get_object, body read; returns the bytes received."""
    def get(key: str) -> int:
        return len(client.get_object(Bucket=bucket, Key=key)["Body"].read())

    return get


def ceiling_put(server: ServerProcess, items: list[tuple[str, bytes, dict]], workers: int):
    """put_object of ready-made bodies from ``workers`` threads, one shared client."""
    client = server.client(max_pool_connections=workers)
    bucket = server.fresh_bucket("ceiling")
    put = putter(client, bucket)

    def run() -> tuple[int, int]:
        with ThreadPoolExecutor(workers) as pool:
            sizes = list(pool.map(put, items))
        return len(sizes), sum(sizes)

    return client, bucket, run


def ceiling_get(client: Any, bucket: str, keys: list[str], workers: int):
    get = getter(client, bucket)

    def run() -> tuple[int, int]:
        with ThreadPoolExecutor(workers) as pool:
            sizes = list(pool.map(get, keys))
        return len(sizes), sum(sizes)

    return run


def obstore_ceiling(server: ServerProcess, items: list[tuple[str, bytes, dict]], workers: int):
    """obstore's async API, ``workers`` requests in flight: the fastest raw client."""
    import asyncio

    import obstore

    store = obstore_store(server, server.fresh_bucket("obstore"), workers)

    async def gather(fn) -> list[int]:
        gate = asyncio.Semaphore(workers)

        async def one(item):
            async with gate:
                return await fn(item)

        return await asyncio.gather(*(one(item) for item in items))

    async def put(item) -> int:
        key, body, metadata = item
        await obstore.put_async(store, key, body, attributes=metadata)
        return len(body)

    async def get(item) -> int:
        result = await obstore.get_async(store, item[0])
        return len(await result.bytes_async())

    def run(fn) -> tuple[int, int]:
        sizes = asyncio.run(gather(fn))
        return len(sizes), sum(sizes)

    return lambda: run(put), lambda: run(get)


def engine(server: ServerProcess, items: list[tuple[str, bytes, dict]], workers: int):
    """The same requests as the ceiling, through s3explore's ``ordered_map`` (in order,
    bounded window): the transfer layer's cost without encoding, decoding or an index."""
    client = server.client(max_pool_connections=workers)
    bucket = server.fresh_bucket("engine")
    put, get_key = putter(client, bucket), getter(client, bucket)

    def get(item: tuple[str, bytes, dict]) -> int:
        return get_key(item[0])

    def run(fn) -> tuple[int, int]:
        count = nbytes = 0
        for outcome in ordered_map(fn, items, workers):
            if outcome.error is not None:
                raise outcome.error
            count, nbytes = count + 1, nbytes + outcome.value
        return count, nbytes

    return client, lambda: run(put), lambda: run(get)


class ListingConfirmedIndex(MemoryStore):
    """A MemoryStore whose swaps S3Store may not trust, like an index that other processes
    write without an atomic compare-and-set: each batch's entries are written, then checked
    against the objects by one listing of the batch's key range (the write path before
    compare-and-set, measured in the same run)."""

    atomic_swaps = False


def ours(server: ServerProcess, docs: list[dict], workers: int, compress: str = "zlib",
         index: str = "memory", request_engine: str | None = None):
    """s3explore's S3Store; ``index="discard"`` keeps no index entries (and reads by key),
    ``"listed"`` confirms each batch by a listing instead of compare-and-set."""
    options = {"engine": request_engine} if request_engine else {}
    kinds = {"memory": MemoryStore, "listed": ListingConfirmedIndex}
    store = S3Store(kinds[index](f"ours-{time.monotonic_ns()}") if index in kinds
                    else DiscardingIndex(), server.fresh_bucket("ours"),
                    s3_profile=dict(CREDENTIALS), compress=compress,
                    endpoint_url=server.endpoint_url, s3_workers=workers,
                    searchable_fields=SEARCHABLE_FIELDS, **options)
    store.connect()
    index_writes = StopWatch(store.index.update)
    store.index.update = index_writes  # type: ignore[method-assign]
    # compare-and-set writes are index writes too: one total
    store.index.swap_entries = index_writes.wrap(store.index.swap_entries)  # type: ignore
    written: dict[str, int] = {}

    def update() -> tuple[int, int]:
        result = store.update(docs, workers=workers)
        if not result.ok:
            raise RuntimeError(f"our update failed: {result.failures[:3]}")
        written["bytes"] = result.bytes
        return result.written, result.bytes

    def query() -> tuple[int, int]:
        if index in kinds:
            return len(list(store.query(workers=workers))), written["bytes"]
        keys = [d["task_id"] for d in docs]
        return len(list(store.get_many(keys, workers=workers))), written["bytes"]

    return store, index_writes, update, query


def undecoded_query(server: ServerProcess, store: S3Store, workers: int, nbytes: int):
    """A query on ``store``'s index and bucket that returns bodies as stored (no decoding)."""
    raw = S3Store(store.index, store.bucket, s3_profile=dict(CREDENTIALS),
                  endpoint_url=server.endpoint_url, s3_workers=workers, unpack_data=False)
    raw.connect()
    return lambda: (len(list(raw.query(workers=workers))), nbytes)


def maggma(server: ServerProcess, docs: list[dict], workers: int):
    from maggma.stores import MemoryStore as MaggmaMemoryStore
    from maggma.stores import S3Store as MaggmaS3Store

    store = MaggmaS3Store(MaggmaMemoryStore(f"maggma-{time.monotonic_ns()}", key="task_id"),
                          server.fresh_bucket("maggma"), s3_profile=dict(CREDENTIALS),
                          compress=True, endpoint_url=server.endpoint_url, s3_workers=workers,
                          searchable_fields=SEARCHABLE_FIELDS, key="task_id")
    store.connect()
    index_writes = StopWatch(store.index.update)
    store.index.update = index_writes
    nbytes = sum(len(codec.encode_body(d, "zlib")) for d in docs)

    def update() -> tuple[int, int]:
        store.update(docs)  # maggma pops last_updated from the docs; ours have none
        return len(docs), nbytes

    def query() -> tuple[int, int]:
        return len(list(store.query())), nbytes

    return store, index_writes, update, query


# ---------------------------------------------------------------- codec


def codec_throughput(docs: list[dict]) -> list[dict]:
    """Single-thread encode/decode speed and stored size of zlib vs zstd on ``docs``."""
    packed = [codec.pack(d) for d in docs]
    plain = sum(map(len, packed))
    rows = []
    for name in ("zlib", "zstd"):
        start = time.perf_counter()
        bodies = [codec.compress_bytes(p, name) for p in packed]
        compress_s = time.perf_counter() - start
        start = time.perf_counter()
        for b in bodies:
            codec.decompress_bytes(b, name)
        decompress_s = time.perf_counter() - start
        start = time.perf_counter()
        encoded = [codec.encode_body(d, name) for d in docs]
        encode_s = time.perf_counter() - start
        start = time.perf_counter()
        for b in encoded:
            codec.decode_body(b, name)
        decode_s = time.perf_counter() - start
        stored = sum(map(len, bodies))
        rows.append({
            "codec": name,
            "mean_stored_bytes": stored / len(docs),
            "ratio": plain / stored,
            "compress_mb_s": plain / 1e6 / compress_s,
            "decompress_mb_s": plain / 1e6 / decompress_s,
            "encode_docs_s": len(docs) / encode_s,
            "decode_docs_s": len(docs) / decode_s,
        })
    return rows


# ---------------------------------------------------------------- streamed-update memory


class DiscardingIndex(OfflineStore):
    """An index that counts entries and keeps none, so RSS shows the transfer path alone."""

    def __init__(self) -> None:
        super().__init__("task_id")
        self.entries = 0

    @property
    def name(self) -> str:
        return "discard://"

    def query(self, criteria=None, properties=None, sort=None, skip=0, limit=0):
        return iter(())

    def count(self, criteria: dict | None = None) -> int:
        return self.entries

    def update(self, docs: Any, key: Any = None) -> None:
        self.entries += len(docs)

    atomic_swaps = True  # every swap wins: no index and no check of the objects is measured

    def swap_entries(self, entries: list, seen: list, **kwargs: Any) -> list[bool]:
        self.entries += len(entries)
        return [True] * len(entries)

    def remove_docs(self, criteria: dict) -> None:
        pass

    def ensure_index(self, key: str, unique: bool = False) -> bool:
        return True


class RssCheckpoints(Callback):
    """Records RSS (MB above ``baseline``) each time ``every`` more documents are done."""

    def __init__(self, every: int, baseline: int, peak: PeakRss) -> None:
        self.every, self.baseline, self.peak = every, baseline, peak
        self.done = 0
        self.points: dict[int, dict[str, float]] = {}

    def advance(self, docs: int = 0, nbytes: int = 0, failed: int = 0) -> None:
        self.done += docs + failed
        if self.done % self.every == 0 and docs + failed:
            self.points[self.done] = {
                "rss_growth_mb": (rss_bytes() - self.baseline) / 1e6,
                "peak_growth_mb": (max(self.peak.peak, rss_bytes()) - self.baseline) / 1e6,
            }


def streamed_update_memory(endpoint_url: str, count: int, every: int, workers: int,
                           index_kind: str) -> dict:
    """Runs in a fresh process: stream ``count`` small documents through ``update``."""
    import boto3

    bucket = f"memory-{index_kind}-{os.getpid()}"
    boto3.client("s3", endpoint_url=endpoint_url, **CREDENTIALS).create_bucket(Bucket=bucket)
    index = DiscardingIndex() if index_kind == "discard" else MemoryStore(f"mem-{os.getpid()}")
    store = S3Store(index, bucket, s3_profile=dict(CREDENTIALS), compress=True,
                    endpoint_url=endpoint_url, s3_workers=workers,
                    searchable_fields=SEARCHABLE_FIELDS)
    store.connect()
    small = {"energies": 20, "max_sites": 4}
    # Warm up threads, connections and caches on other keys before taking the baseline.
    warm = ({**d, "task_id": f"warm-{d['task_id']}"} for d in iter_documents(500, **small))
    store.update(warm, workers=workers)
    baseline = rss_bytes()
    with PeakRss() as peak:
        checkpoints = RssCheckpoints(every, baseline, peak)
        start = time.perf_counter()
        result = store.update(iter_documents(count, **small), workers=workers,
                              progress=checkpoints)
        seconds = time.perf_counter() - start
    store.close()
    return {"index": index_kind, "docs": count, "written": result.written,
            "failures": len(result.failures), "seconds": seconds,
            "mean_stored_bytes": result.bytes / max(result.written, 1),
            "baseline_mb": baseline / 1e6, "peak_growth_mb": (peak.peak - baseline) / 1e6,
            "points": checkpoints.points}


# ---------------------------------------------------------------- the run


def machine() -> dict:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cores": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            **{p: version(p) for p in ("boto3", "moto", "maggma", "msgpack", "zstandard")}}


def transfer(args: argparse.Namespace) -> dict:
    docs = [make_document(i) for i in range(args.docs)]
    keys = [d["task_id"] for d in docs]
    fields = ["task_id", *SEARCHABLE_FIELDS]
    items = []
    for d in docs:  # the exact bodies and metadata our update and maggma's would send
        entry = codec.index_document(d, "task_id", fields, "", "zlib")
        items.append((d["task_id"], codec.encode_body(d, "zlib"), codec.metadata_document(entry)))

    rows: dict[str, Measurement] = {}

    def record(name: str, operation: str, run, index_writes: StopWatch | None = None) -> Sample:
        measurement = rows.setdefault(f"{name}/{operation}", Measurement(name, operation))
        before = index_writes.total if index_writes else 0.0
        sample = timed(run, clock)
        if index_writes:
            sample.index_seconds = index_writes.total - before
        measurement.samples.append(sample)
        return sample

    def measure_ceiling() -> dict[str, Sample]:
        client, bucket, put = ceiling_put(server, items, args.workers)
        samples = {"put": record("boto3 ceiling", "put", put),
                   "get": record("boto3 ceiling", "get",
                                 ceiling_get(client, bucket, keys, args.workers))}
        client.close()
        return samples

    def measure_fast_ceiling() -> dict[str, Sample]:
        put, get = obstore_ceiling(server, items, args.workers)
        return {"put": record("obstore ceiling (async)", "put", put),
                "get": record("obstore ceiling (async)", "get", get)}

    contenders = [("zlib", "memory"), ("zlib", "listed"), ("zlib", "discard"),
                  ("zstd", "memory"), ("maggma", ""), ("engine", ""), ("zlib", "memory", "boto3")]
    order = random.Random(0)
    hashes: dict[str, list[str]] = {}
    with server_for(args.server, args.latency) as server:
        clock = CpuClock(server.pid)
        for round_ in range(args.repeats):
            print(f"round {round_ + 1}/{args.repeats} (load average {load_average()})",
                  file=sys.stderr, flush=True)
            # The ceiling is measured before and after the contenders of each round, which run
            # in a shuffled order; each contender is compared with its own round's ceiling.
            first, first_fast = measure_ceiling(), measure_fast_ceiling()
            this_round: list[tuple[str, Sample]] = []  # (ceiling it is compared with, sample)
            for compress, index, *request_engine in order.sample(contenders, len(contenders)):
                if compress == "engine":
                    client, put, get = engine(server, items, args.workers)
                    name = "s3explore transfer layer only (ordered_map, ready-made bodies)"
                    this_round.append(("put", record(name, "put", put)))
                    this_round.append(("get", record(name, "get", get)))
                    client.close()
                    continue
                if compress == "maggma":
                    if round_ >= args.maggma_repeats:
                        continue
                    store, index_writes, update, query = maggma(server, docs, args.workers)
                    name, reads = "maggma 0.77.1, MemoryStore index", "query"
                else:
                    store, index_writes, update, query = ours(server, docs, args.workers,
                                                              compress, index, *request_engine)
                    name = f"s3explore {compress}, " + {
                        "memory": "MemoryStore index",
                        "listed": "MemoryStore index, batches confirmed by listing",
                    }.get(index, "index writes skipped")
                    if request_engine:
                        name += f", {request_engine[0]} engine"
                    reads = "get_many" if index == "discard" else "query"
                this_round.append(("put", record(name, "update", update, index_writes)))
                this_round.append(("get", record(name, reads, query)))
                if (compress, index) == ("zlib", "memory"):
                    nbytes = rows[f"{name}/update"].samples[-1].nbytes
                    this_round.append(("get", record(
                        name, "query, bodies not decoded",
                        undecoded_query(server, store, args.workers, nbytes))))
                if (compress, index) in (("zlib", "memory"), ("maggma", "")):
                    hashes[compress] = sorted(e["obj_hash"] for e in store.index.query())
                store.close()
            last, last_fast = measure_ceiling(), measure_fast_ceiling()
            this_round += [(op, s) for op in ("put", "get")
                           for s in (first[op], last[op], first_fast[op], last_fast[op])]
            ceiling = {op: (first[op].docs_per_s + last[op].docs_per_s) / 2 for op in first}
            fast = {op: (first_fast[op].docs_per_s + last_fast[op].docs_per_s) / 2
                    for op in first}
            for op, sample in this_round:
                sample.ceiling, sample.fast_ceiling = ceiling[op], fast[op]
    same_bodies = hashes.get("maggma", hashes["zlib"]) == hashes["zlib"]
    return {"rows": rows, "same_bodies": same_bodies,
            "mean_stored_bytes": sum(len(i[1]) for i in items) / len(items),
            "codec": codec_throughput(docs[: min(len(docs), 500)])}


def table(rows: dict[str, Measurement]) -> str:
    lines = ["| contender | operation | docs/s (median) | runs (min-max) | MB/s | x raw boto3 "
             "| x raw obstore | of which index writes | client CPU | client CPU per doc "
             "| server CPU |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    order = ["boto3", "obstore", "s3explore transfer", "s3explore zlib, i",
             "s3explore zlib, M", "s3explore zstd", "maggma"]
    for m in sorted(rows.values(), key=lambda m: [m.name.startswith(o) for o in order][::-1]):
        index = (f"{m.index_seconds:.2f} s of {m.seconds:.2f} s"
                 if m.operation == "update" else "")
        lines.append(f"| {m.name} | {m.operation} | {m.docs_per_s:.0f} | {m.spread} | "
                     f"{m.mb_per_s:.2f} | {m.share_of_ceiling:.2f}x | "
                     f"{m.share_of_fast_ceiling:.2f}x | {index} | "
                     f"{m.cpu_percent('client'):.0f} % | {m.cpu_ms_per_doc:.2f} ms | "
                     f"{m.cpu_percent('server'):.0f} % |")
    return "\n".join(lines)


def codec_table(rows: list[dict]) -> str:
    lines = ["| codec | mean stored size | ratio | compress MB/s | decompress MB/s | "
             "encode docs/s (msgpack+codec) | decode docs/s |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['codec']} | {r['mean_stored_bytes'] / 1e3:.2f} KB | {r['ratio']:.2f} "
                     f"| {r['compress_mb_s']:.0f} | {r['decompress_mb_s']:.0f} | "
                     f"{r['encode_docs_s']:.0f} | {r['decode_docs_s']:.0f} |")
    return "\n".join(lines)


def _growth(result: dict, done: int) -> float:
    return result["points"].get(done, {}).get("rss_growth_mb", float("nan"))


def memory_table(results: list[dict], every: int) -> str:
    n = results[0]["docs"]
    lines = [f"| index | docs | time | RSS growth at {every:,} docs | at {n // 2:,} | at {n:,} "
             f"| peak growth | growth per 10k docs, {every:,} to {n - every:,} |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        slope = (_growth(r, n - every) - _growth(r, every)) / max((n - 2 * every) / 1e4, 1e-9)
        lines.append(f"| {r['index']} | {r['written']:,} | {r['seconds']:.0f} s | "
                     f"{_growth(r, every):.1f} MB | {_growth(r, n // 2):.1f} MB | "
                     f"{_growth(r, n):.1f} MB | {r['peak_growth_mb']:.1f} MB | {slope:.2f} MB |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=["moto", "versitygw", "s3rver"], default="moto",
                        help="moto's server (with --latency) or Versity S3 Gateway (fast)")
    parser.add_argument("--latency", type=float, default=0.02,
                        help="seconds per request (moto only)")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--docs", type=int, default=1000, help="documents per timed run")
    parser.add_argument("--repeats", type=int, default=3, help="rounds for boto3 and ours")
    parser.add_argument("--maggma-repeats", type=int, default=1,
                        help="rounds for maggma (its query is serial, hence slow)")
    parser.add_argument("--memory-docs", type=int, default=100_000,
                        help="documents in the streamed update (0 skips the memory part)")
    parser.add_argument("--memory-every", type=int, default=10_000)
    parser.add_argument("--memory-index", choices=["discard", "memory", "both"],
                        default="discard",
                        help="index for the streamed update: 'discard' keeps no entries so RSS "
                             "shows the transfer path; 'memory' (MemoryStore) holds every entry "
                             "and its upserts are O(n), so keep --memory-docs small with it")
    args = parser.parse_args(argv)

    info = machine()
    print(f"machine: {info}\ncommand: python bench/bench_transfer.py "
          f"{' '.join(sys.argv[1:] if argv is None else argv)}\n", flush=True)
    started = time.perf_counter()
    out: dict[str, Any] = {"machine": info, "args": vars(args)}

    load_before = load_average()
    result = transfer(args)
    print(f"## Transfer on {args.server}: {args.docs} documents (mean "
          f"{result['mean_stored_bytes'] / 1e3:.1f} KB stored, zlib), {args.workers} workers, "
          f"{args.latency * 1e3:.0f} ms added per request")
    print(table(result["rows"]))
    print(f"\nload average (1/5/15 min) before: {load_before}, after: {load_average()}")
    print(f"\nmaggma and s3explore stored byte-identical zlib bodies: {result['same_bodies']}")
    print("\n## zlib vs zstd (single thread, same documents)")
    print(codec_table(result["codec"]))
    out["transfer"] = {k: [vars(s) for s in m.samples] for k, m in result["rows"].items()}
    out["codec"] = result["codec"]

    if args.memory_docs:
        kinds = ["discard", "memory"] if args.memory_index == "both" else [args.memory_index]
        memory = []
        with ServerProcess(latency=0.0) as server:
            for kind in kinds:
                print(f"memory: streaming {args.memory_docs} docs, index={kind}",
                      file=sys.stderr, flush=True)
                memory.append(run_in_subprocess(
                    streamed_update_memory, server.endpoint_url, args.memory_docs,
                    args.memory_every, args.workers, kind))
        print(f"\n## Streamed update memory: a generator of {args.memory_docs:,} small documents "
              f"(~{memory[0]['mean_stored_bytes'] / 1e3:.1f} KB stored), latency 0, "
              f"{args.workers} workers, fresh process, RSS growth over a warmed-up baseline")
        print(memory_table(memory, args.memory_every))
        out["memory"] = memory

    print(f"\ntotal time: {time.perf_counter() - started:.0f} s")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"transfer-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=1, default=str))
    print(f"results: {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")


if __name__ == "__main__":
    main()
