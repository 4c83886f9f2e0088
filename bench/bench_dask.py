"""Dask benchmark: fetch-heavy ``to_dask`` on 1 and 2 worker processes vs ``query_df(fetch=)``.

The objects (``--docs`` materials-like documents of ~10 KB, see ``_common.make_document``)
live on moto's S3 server in a child process with ``--latency`` seconds of sleep per request;
the index is a DuckDB file opened read-only. Each run reads one field out of every object:

- ``query_df(fetch=...)`` in this process, ``s3_workers`` threads (and again with as many
  threads as one Dask worker has requests in flight, ``threads x s3_workers``);
- ``to_dask(fetch=...).compute()`` on a LocalCluster of 1 and of 2 worker processes with
  ``--threads`` threads each; each task fetches with ``s3_workers`` threads. Workers are
  warmed up first (imports, connections), so the times are the reads.

It prints a markdown table and writes JSON to bench/results/. CPU seconds of the S3 server
process are reported because on a small machine it is the server that saturates.

    python bench/bench_dask.py                    # 5,000 objects, 50 ms: the recorded run
    python bench/bench_dask.py --docs 1000 --latency 0.02   # a quick look
    python bench/bench_dask.py --server versitygw           # on a fast server
    python bench/bench_dask.py --overhead index.duckdb      # to_dask's fixed cost, by phase

``--overhead`` times where one ``to_dask`` call spends its time before any object is read,
on a LocalCluster of 2 worker processes over a DuckDB file of ``bench_index.py`` entries
(``bench_frames.py --parts lists`` builds one): planning the key ranges, the meta sample,
the field inventory or the gap counts, and the first ``head()`` (a worker's first task).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CREDENTIALS, iter_documents, server_for

from s3explore import DuckDBStore, S3Store

FETCH = ["dos.efermi"]


def make_store(server, bucket: str, path: str, s3_workers: int, read_only: bool = True):
    index = DuckDBStore("bench", path=path, read_only=read_only)
    return S3Store(index, bucket, s3_profile=dict(CREDENTIALS), endpoint_url=server.endpoint_url,
                   compress=True, s3_workers=s3_workers)


def server_cpu(server) -> float:
    times = psutil.Process(server.pid).cpu_times()
    return times.user + times.system


def client_cpu(server) -> float:
    """CPU seconds of this process and its children (Dask's workers), the server left out."""
    total = 0.0
    for process in [psutil.Process(), *psutil.Process().children(recursive=True)]:
        if process.pid == server.pid:
            continue
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def measure(label: str, run, server) -> dict:
    """``run()`` returns the rows, the seconds to leave out (cluster start, warm-up) and the
    client CPU seconds of the read."""
    cpu, started = server_cpu(server), time.perf_counter()
    rows, excluded, used = run()
    seconds = time.perf_counter() - started - excluded
    row = {"run": label, "seconds": round(seconds, 2), "rows": rows,
           "objects_per_s": round(rows / seconds, 1),
           "server_cpu_s": round(server_cpu(server) - cpu, 1), "excluded_s": round(excluded, 1),
           "client_cpu_s": round(used, 1)}
    print(f"  {label}: {seconds:.1f} s, {rows / seconds:.0f} objects/s, "
          f"server CPU {row['server_cpu_s']} s, client CPU {used:.1f} s "
          f"(left out: {excluded:.1f} s)", flush=True)
    return row


def in_process(store, server) -> tuple[int, float, float]:
    cpu = client_cpu(server)
    rows = len(store.query_df(fetch=FETCH))
    return rows, 0.0, client_cpu(server) - cpu


def on_cluster(store, server, workers: int, threads: int, partition_size: int
               ) -> tuple[int, float, float]:
    from distributed import Client, LocalCluster

    started = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        # warm-up: imports and connections on every worker, outside the timing
        warm = store.to_dask({"task_id": {"$in": ["mp-0", "mp-1"]}}, fetch=FETCH,
                             partition_size=1)
        client.compute(warm).result()
        client.run(lambda: None)
        startup = time.perf_counter() - started
        cpu = client_cpu(server)
        frame = store.to_dask(fetch=FETCH, partition_size=partition_size)
        rows = len(frame.compute())
        return rows, startup, client_cpu(server) - cpu


OVERHEAD_CASES = [("first call (workers cold)", {"nsites": {"$lt": 8}}, ["formula"]),
                  ("same call again", {"nsites": {"$lt": 8}}, ["formula"]),
                  ("whole index, fields=['formula']", {}, ["formula"]),
                  ("whole index, every field", {}, None)]


def overhead(path: str) -> list[dict]:
    import functools

    from distributed import Client, LocalCluster

    from s3explore._frames import _dask

    spent: dict[str, float] = {}
    phases = {"plan": "plan (keys)", "_query_df": "meta sample", "inventory": "inventory",
              "gaps": "gap counts"}
    def timer(fn, label: str):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.perf_counter() - started
        return timed

    for name, label in phases.items():  # the phases, timed where to_dask calls them
        if hasattr(_dask, name):  # (gaps is new: older versions read the inventory always)
            setattr(_dask, name, timer(getattr(_dask, name), label))
    rows = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.run(lambda: None)
        with DuckDBStore("index", path=path, read_only=True) as store:
            for label, criteria, fields in OVERHEAD_CASES:
                spent.clear()
                load = os.getloadavg()[0]
                started = time.perf_counter()
                frame = store.to_dask(criteria, fields, partition_size=100_000)
                total = time.perf_counter() - started
                started = time.perf_counter()
                frame.head(5, npartitions=1)
                head = time.perf_counter() - started
                rows.append({"call": label, "to_dask_s": total, "head_s": head, "load": load,
                             "partitions": frame.npartitions,
                             **{k: spent.get(k, 0.0) for k in phases.values()}})
                parts = ", ".join(f"{k} {v:.2f} s" for k, v in spent.items())
                print(f"  {label}: to_dask {total:.2f} s ({parts}), head {head:.2f} s, "
                      f"load {load:.1f}", flush=True)
    print("\n| call | `to_dask` | plan (keys) | meta sample | inventory | gap counts | "
          "first `head()` | load |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['call']} | {r['to_dask_s']:.2f} s | " + " | ".join(
            f"{r[k]:.2f} s" for k in phases.values()) + f" | {r['head_s']:.2f} s | "
            f"{r['load']:.1f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=5000)
    parser.add_argument("--server", choices=["moto", "versitygw", "s3rver"], default="moto")
    parser.add_argument("--latency", type=float, default=0.05, help="moto only")
    parser.add_argument("--threads", type=int, default=2, help="threads per Dask worker")
    parser.add_argument("--s3-workers", type=int, default=8, help="fetch threads per task")
    parser.add_argument("--partition-size", type=int, default=250)
    parser.add_argument("--overhead", metavar="INDEX", help="time to_dask's fixed cost on "
                        "this DuckDB file of bench_index.py entries, and nothing else")
    args = parser.parse_args()
    out = Path(__file__).resolve().parent / "results"
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    if args.overhead:
        rows = overhead(args.overhead)
        out.mkdir(exist_ok=True)
        (out / f"dask-overhead-{stamp}.json").write_text(json.dumps(
            {"index": args.overhead, "cores": os.cpu_count(), "rows": rows}, indent=2))
        return
    folder = tempfile.mkdtemp(prefix="s3x-bench-dask-")
    path = os.path.join(folder, "index.duckdb")
    results: list[dict] = []
    if args.server != "moto":
        args.latency = 0.0  # the fast servers add none
    with server_for(args.server) as server:
        bucket = server.fresh_bucket("bench-dask")
        print(f"loading {args.docs} documents...", flush=True)
        with make_store(server, bucket, path, 16, read_only=False) as writer:
            writer.update(iter_documents(args.docs), workers=16)
        if args.server == "moto":
            server.latency = args.latency
        store = make_store(server, bucket, path, args.s3_workers)
        store.connect()
        wide = make_store(server, bucket, path, args.threads * args.s3_workers)
        wide.connect()
        print(f"{args.docs} objects on {args.server}, {args.latency * 1000:.0f} ms added per "
              "request, "
              f"{args.threads} threads per worker, {args.s3_workers} fetch threads per task, "
              f"{os.cpu_count()} cores", flush=True)
        results.append(measure(f"query_df, 1 process, {args.s3_workers} fetch threads",
                               lambda: in_process(store, server), server))
        results.append(measure(
            f"query_df, 1 process, {args.threads * args.s3_workers} fetch threads",
            lambda: in_process(wide, server), server))
        for workers in (1, 2):
            label = f"to_dask, {workers} worker process{'es' if workers > 1 else ''}"
            results.append(measure(label, lambda w=workers: on_cluster(
                store, server, w, args.threads, args.partition_size), server))
        store.close()
        wide.close()
    one, two = results[2]["seconds"], results[3]["seconds"]
    print("\n| run | seconds | objects/s | client CPU s | server CPU s |\n"
          "| --- | ---: | ---: | ---: | ---: |")
    for row in results:
        print(f"| {row['run']} | {row['seconds']} | {row['objects_per_s']} | "
              f"{row['client_cpu_s']} | {row['server_cpu_s']} |")
    print(f"\nscaling 1 -> 2 worker processes: {one / two:.2f}x; "
          f"2 workers vs query_df ({args.s3_workers} threads): "
          f"{results[0]['seconds'] / two:.2f}x")
    out.mkdir(exist_ok=True)
    (out / f"dask-{stamp}.json").write_text(json.dumps(
        {"args": vars(args), "cores": os.cpu_count(), "results": results,
         "scaling": one / two}, indent=2))


if __name__ == "__main__":
    main()
