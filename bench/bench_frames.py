"""DataFrame benchmark: ``query_df`` vs ``pd.json_normalize(list(collection.find()))``, and fetch=.

One run, three parts, printed as markdown tables and written as JSON to bench/results/:

1. Frame building, index engine excluded: both paths read the same index documents from an
   instant in-process cursor (fresh dicts made on demand, as a driver decodes BSON), at
   100k and 1M documents. Each case runs in a fresh interpreter so peak RSS is its own.
2. The index engines themselves (mongomock for MemoryStore, montydb for MontyStore): time to
   return N documents, and both paths end to end on the same index. mongomock's cursor is
   quadratic in the result size, so its sizes are kept small unless asked for.
3. ``fields()`` on MemoryStore at 10k and 100k entries: sampled (1,000), every entry, the
   ``_sample`` hook alone, and mongomock's ``$sample`` aggregate it replaced (small sizes).
4. ``fetch=`` throughput against the raw boto3 GET ceiling, on LocalS3 with a latency.
5. List and struct columns read through ``_find_arrow``: a DuckDBStore file index and a
   ready Arrow table (engine excluded), one column per case, scalars for reference.

    python bench/bench_frames.py              # the recorded run (about 6 minutes)
    python bench/bench_frames.py --quick      # smaller sizes, about a minute
    python bench/bench_frames.py --parts lists --lists-size 1000000   # part 5 alone
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    CREDENTIALS,
    OfflineStore,
    PeakRss,
    load_average,
    make_document,
    obstore_store,
    rss_bytes,
    run_in_subprocess,
    server_for,
)

RESULTS = Path(__file__).resolve().parent / "results"
FETCH_PATHS = ["dos.efermi", "energy_per_atom", "dos.energies"]

_FORMULAS = ["LiFePO4", "Si", "GaAs", "NaCl", "TiO2", "MgO", "Fe2O3"]
_SYSTEMS = ["cubic", "hexagonal", "monoclinic", "orthorhombic", "tetragonal", "triclinic",
            "trigonal"]
_ELEMENTS = [["Li", "Fe", "P", "O"], ["Si"], ["Ga", "As"], ["Na", "Cl"], ["Ti", "O"]]
_EPOCH = dt.datetime(2024, 1, 1)


def index_entry(i: int) -> dict:
    """An index document as S3Store writes it: searchable fields, nested ones, bookkeeping."""
    entry = {
        "formula": _FORMULAS[i % 7],
        "nsites": 1 + i % 97,
        "band_gap": (i % 1000) / 250,
        "energy_per_atom": -3.0 - (i % 313) / 100,
        "is_metal": i % 5 == 0,
        "elements": _ELEMENTS[i % 5],
        "symmetry": {"crystal_system": _SYSTEMS[i % 7], "number": 1 + i % 230},
        "calc": {"encut": 520, "kpoints": {"density": 1000 + 500 * (i % 5)}},
        "task_id": f"mp-{i}",
        "compression": "zlib",
        "s3-to-mongo-keys": '{"task_id": "task-id", "formula": "formula"}',
        "last_updated": _EPOCH + dt.timedelta(seconds=i),
        "obj_hash": f"{i:040x}",
    }
    if i % 3:
        entry["magmom"] = i % 7  # an integer with gaps
    return entry


def generated_cursor(count: int) -> Iterator[dict]:
    return (index_entry(i) for i in range(count))


def _generated_index(count: int, table: Any = None) -> Any:
    """An index store whose ``_find`` is the instant cursor: no engine cost but making dicts;
    with ``table``, its ``_find_arrow`` hands out that ready Arrow table's columns."""

    class GeneratedIndex(OfflineStore):
        @property
        def name(self) -> str:
            return "generated://"

        def _connect(self, force_reset: bool) -> None:
            pass

        def _close(self) -> None:
            pass

        def _find(self, q: Any) -> Iterator[dict]:
            return generated_cursor(min(count, q.limit) if q.limit else count)

        def _find_arrow(self, q: Any) -> Any:
            if table is None:
                return None
            names = [n for n in q.properties or table.column_names if n in table.column_names]
            return table.select(names).slice(0, q.limit or None)

        def _count(self, criteria: dict) -> int:
            return count

        def _upsert(self, docs: list[dict], keys: list[str]) -> None:
            raise NotImplementedError

        def _delete(self, criteria: dict) -> None:
            raise NotImplementedError

    return GeneratedIndex("task_id")


# ---------------------------------------------------------------- part 1: frame building


def _describe(frame: Any) -> dict:
    dtypes = frame.dtypes.astype(str)
    return {"rows": len(frame), "columns": frame.shape[1],
            "object_columns": int((dtypes == "object").sum()),
            "frame_mb": frame.memory_usage(deep=True).sum() / 1e6,
            "dtypes": {name: str(t) for name, t in frame.dtypes.items()}}


def frame_case(method: str, count: int) -> dict:
    """Runs in a fresh interpreter: one method on ``count`` documents, time and peak RSS."""
    import pandas as pd

    store = _generated_index(count)
    store.query_df(limit=100)  # import and warm everything before the baseline (ru_maxrss
    pd.json_normalize([index_entry(0)])  # is the lifetime peak: keep this part small)
    baseline = rss_bytes()
    cpu = time.process_time()
    start = time.perf_counter()
    if method == "cursor only":
        frame = None
        for _ in store.query():
            pass
    elif method == "json_normalize":
        frame = pd.json_normalize(list(store.query()))
    else:
        frame = store.query_df()
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    result = {"method": method, "docs": count, "seconds": seconds, "cpu": cpu,
              "peak_growth_mb": (peak - baseline) / 1e6}
    if frame is not None:
        result.update(_describe(frame))
    return result


def frames(sizes: list[int]) -> list[dict]:
    rows = []
    for count in sizes:
        for method in ("cursor only", "json_normalize", "query_df"):
            print(f"frames: {method} on {count:,} (load {load_average()})", file=sys.stderr,
                  flush=True)
            rows.append(run_in_subprocess(frame_case, method, count, timeout=1800))
    return rows


# ---------------------------------------------------------------- part 2: index engines


def engine_case(engine: str, count: int) -> dict:
    """Runs in a fresh interpreter: load ``count`` entries, then time reads on that index."""
    import pandas as pd

    from s3explore import MemoryStore, MontyStore

    store = MemoryStore("engine") if engine == "mongomock" else MontyStore("engine")
    store.connect()
    collection = store.collection
    for start in range(0, count, 50_000):  # insert_many: the store's upserts are O(n) each
        collection.insert_many([index_entry(i) for i in range(start, min(count, start + 50_000))])
    timings: dict[str, tuple[float, float]] = {}

    def timed(name: str, fn: Any) -> Any:
        cpu, start = time.process_time(), time.perf_counter()
        value = fn()
        timings[name] = (time.perf_counter() - start, time.process_time() - cpu)
        return value

    timed("read", lambda: len(list(store.query())))
    timed("json_normalize", lambda: len(pd.json_normalize(list(collection.find({}, {"_id": 0})))))
    rows = timed("query_df", lambda: len(store.query_df()))
    store.close()
    return {"engine": engine, "docs": count, **timings, "rows": rows}


def engines(sizes: dict[str, list[int]]) -> list[dict]:
    rows = []
    for engine, counts in sizes.items():
        for count in counts:
            print(f"engine: {engine} on {count:,} (load {load_average()})", file=sys.stderr,
                  flush=True)
            rows.append(run_in_subprocess(engine_case, engine, count, timeout=3600))
    return rows


# ---------------------------------------------------------------- part 3: fields()


def _loaded_memory_store(count: int) -> Any:
    from s3explore import MemoryStore

    store = MemoryStore("inventory")
    store.connect()
    for start in range(0, count, 50_000):  # insert_many: the store's upserts are O(n) each
        store.collection.insert_many([index_entry(i)
                                      for i in range(start, min(count, start + 50_000))])
    return store


def fields_case(count: int, sample: int, aggregate: bool) -> dict:
    """Runs in a fresh interpreter: ``fields()`` on a MemoryStore of ``count`` entries."""
    store = _loaded_memory_store(count)
    store.query_df(limit=10)  # imports pandas, pyarrow and the frames layer, untimed
    timings: dict[str, tuple[float, float]] = {}

    def timed(name: str, fn: Any) -> Any:
        cpu, start = time.process_time(), time.perf_counter()
        value = fn()
        timings[name] = (time.perf_counter() - start, time.process_time() - cpu)
        return value

    sampled = timed(f"fields(sample={sample})", lambda: store.fields(sample=sample))
    timed("fields(sample=all)", lambda: store.fields(sample=count))
    timed("_sample hook", lambda: store._sample(sample))
    if aggregate:  # what _sample did before: mongomock's $sample, quadratic in the index
        pipeline = [{"$sample": {"size": sample}}, {"$project": {"_id": 0}}]
        timed("$sample aggregate (before)", lambda: list(store.collection.aggregate(pipeline)))
    store.close()
    return {"docs": count, "sample": sample, "timings": timings,
            "caption": sampled.caption, "fields": len(sampled)}


def inventories(sizes: list[int], sample: int, aggregate_up_to: int) -> list[dict]:
    rows = []
    for count in sizes:
        print(f"fields: MemoryStore of {count:,} (load {load_average()})", file=sys.stderr,
              flush=True)
        rows.append(run_in_subprocess(fields_case, count, sample, count <= aggregate_up_to,
                                      timeout=3600))
    return rows


# ---------------------------------------------------------------- part 4: fetch=


def obstore_getter(server: Any, bucket: str, keys: list[str], workers: int):
    """obstore's async API, ``workers`` GETs in flight: the fastest raw client."""
    import asyncio

    import obstore

    store = obstore_store(server, bucket, workers)

    async def run() -> int:
        gate = asyncio.Semaphore(workers)

        async def one(key: str) -> int:
            async with gate:
                return len(await (await obstore.get_async(store, key)).bytes_async())

        return len(await asyncio.gather(*(one(k) for k in keys)))

    return lambda: asyncio.run(run())


def fetch(objects: int, latency: float, workers: int, repeats: int,
          server_kind: str = "moto") -> dict:
    from s3explore import MemoryStore, S3Store

    docs = [make_document(i) for i in range(objects)]
    keys = [d["task_id"] for d in docs]
    names = ["boto3 GET ceiling", "obstore GET ceiling (async)", "get_many (GET + decode)",
             "query_df(fetch=...)"]
    runs: dict[str, list[float]] = {name: [] for name in names}
    cpu_ms: dict[str, list[float]] = {name: [] for name in names}
    with server_for(server_kind, latency) as server:
        store = S3Store(MemoryStore("fetch-index"), server.fresh_bucket("frames"),
                        s3_profile=dict(CREDENTIALS), compress=True,
                        endpoint_url=server.endpoint_url, s3_workers=workers,
                        searchable_fields=["formula", "nsites", "band_gap"])
        store.connect()
        result = store.update(docs, workers=workers)
        if not result.ok:
            raise RuntimeError(f"upload failed: {result.failures[:3]}")
        client = server.client(max_pool_connections=workers)
        bucket = store.bucket

        def ceiling() -> int:
            def get(key: str) -> int:  # the ceiling must not go through s3explore
                return len(client.get_object(Bucket=bucket, Key=key)["Body"].read())

            with ThreadPoolExecutor(workers) as pool:
                return len(list(pool.map(get, keys)))

        contenders = {
            "boto3 GET ceiling": ceiling,
            "obstore GET ceiling (async)": obstore_getter(server, bucket, keys, workers),
            "get_many (GET + decode)": lambda: sum(1 for _ in store.get_many(keys)),
            "query_df(fetch=...)": lambda: len(store.query_df(fetch=FETCH_PATHS)),
        }
        order = random.Random(0)
        for round_ in range(repeats + 1):  # round 0 warms connections and threads, untimed
            print(f"fetch: round {round_}/{repeats} (load {load_average()})",
                  file=sys.stderr, flush=True)
            for name in order.sample(list(contenders), len(contenders)):
                cpu, start = time.process_time(), time.perf_counter()
                done = contenders[name]()
                if round_:
                    runs[name].append(done / (time.perf_counter() - start))
                    cpu_ms[name].append(1e3 * (time.process_time() - cpu) / done)
                if done != objects:
                    raise RuntimeError(f"{name} returned {done} of {objects}")
        store.close()
        client.close()
    return {"objects": objects, "latency": latency, "workers": workers,
            "server": server_kind, "mean_stored_bytes": result.bytes / objects,
            "docs_per_s": {k: statistics.median(v) for k, v in runs.items()},
            "cpu_ms_per_object": {k: statistics.median(v) for k, v in cpu_ms.items()},
            "runs": runs}


# ---------------------------------------------------------------- part 5: list columns

LIST_CASES = [("DuckDBStore file", "formula", True), ("DuckDBStore file", "elements", True),
              ("Arrow table", "formula", True), ("Arrow table", "elements", True),
              ("Arrow table", "energies", True), ("Arrow table", "sites", True)]


def build_duckdb(path: str, count: int) -> float:
    """Runs in a fresh interpreter: bench_index's entries into a DuckDB file, 20,000 a batch."""
    from bench_index import entry

    from s3explore import DuckDBStore

    start = time.perf_counter()
    with DuckDBStore("index", path=path) as store:
        for first in range(0, count, 20_000):
            store.update([entry(i) for i in range(first, min(count, first + 20_000))])
    return time.perf_counter() - start


def _arrow_table(count: int) -> Any:
    import pyarrow as pa

    return pa.table({
        "task_id": [f"mp-{i}" for i in range(count)],
        "formula": [_FORMULAS[i % 7] for i in range(count)],
        "elements": [_ELEMENTS[i % 5] for i in range(count)],  # list<string>
        "energies": [[-0.5 * j - i % 13 for j in range(1 + i % 4)] for i in range(count)],
        "sites": [[{"el": e, "occu": 1.0 - j / 8} for j, e in enumerate(_ELEMENTS[i % 5][:3])]
                  for i in range(count)],  # list<struct>: lists of dicts
    })


def list_case(source: str, field: str, flatten: bool, count: int, path: str) -> dict:
    """Runs in a fresh interpreter: ``query_df(fields=[field])`` read through _find_arrow."""
    if source == "Arrow table":
        store = _generated_index(count, _arrow_table(count))
    else:
        from s3explore import DuckDBStore

        store = DuckDBStore("index", path=path, read_only=True)
        store.connect()
    store.query_df(fields=[field], flatten=flatten, limit=100)  # imports, untimed
    with PeakRss() as peak:
        baseline = peak.peak
        cpu, start = time.process_time(), time.perf_counter()
        frame = store.query_df(fields=[field], flatten=flatten)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"source": source, "field": field, "flatten": flatten, "docs": len(frame),
            "seconds": seconds, "cpu": cpu, "peak_growth_mb": (peak.peak - baseline) / 1e6,
            "dtype": str(frame[frame.columns[-1]].dtype),
            "type": type(frame[frame.columns[-1]].iloc[0]).__name__}


def list_columns(count: int, path: str | None) -> list[dict]:
    folder = None
    if path is None:
        folder = tempfile.mkdtemp(prefix="bench-lists-")
        path = str(Path(folder) / "index.duckdb")
        print(f"lists: building a DuckDB index of {count:,} (load {load_average()})",
              file=sys.stderr, flush=True)
        run_in_subprocess(build_duckdb, path, count, timeout=3600)
    rows = []
    try:
        for source, field, flatten in LIST_CASES:
            print(f"lists: {source} {field} (load {load_average()})", file=sys.stderr,
                  flush=True)
            rows.append(run_in_subprocess(list_case, source, field, flatten, count, path,
                                          timeout=1800))
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    return rows


# ---------------------------------------------------------------- tables


def lists_table(rows: list[dict]) -> str:
    lines = ["| read through `_find_arrow` | docs | `query_df(fields=[...])` | wall time | "
             "CPU time | peak RSS growth | column dtype (values) |",
             "| --- | ---: | --- | ---: | ---: | ---: | --- |"]
    for r in rows:
        call = f"`{r['field']}`" + ("" if r["flatten"] else ", flatten=False")
        lines.append(f"| {r['source']} | {r['docs']:,} | {call} | {r['seconds']:.2f} s | "
                     f"{r['cpu']:.2f} s | {r['peak_growth_mb']:.0f} MB | "
                     f"{r['dtype']} ({r['type']}) |")
    return "\n".join(lines)



def frames_table(rows: list[dict]) -> str:
    lines = ["| docs | method | wall time | CPU time | frame building (CPU - cursor CPU) "
             "| peak RSS growth | frame memory | object columns | `magmom` (int with gaps) |",
             "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    cursor = {r["docs"]: r["cpu"] for r in rows if r["method"] == "cursor only"}
    for r in rows:
        building = (f"{r['cpu'] - cursor[r['docs']]:.2f} s"
                    if r["method"] != "cursor only" else "")
        extra = (f"{r['frame_mb']:.0f} MB | {r['object_columns']} of {r['columns']} | "
                 f"{r['dtypes'].get('magmom', '')}" if "frame_mb" in r else " | | ")
        lines.append(f"| {r['docs']:,} | {r['method']} | {r['seconds']:.2f} s | "
                     f"{r['cpu']:.2f} s | {building} | {r['peak_growth_mb']:.0f} MB | {extra} |")
    return "\n".join(lines)


def engines_table(rows: list[dict]) -> str:
    lines = ["| engine | docs | read all (`list(store.query())`) | json_normalize(list(find())) "
             "end to end | query_df end to end |", "| --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        cells = [f"{r[k][0]:.2f} s wall, {r[k][1]:.2f} s CPU"
                 for k in ("read", "json_normalize", "query_df")]
        lines.append(f"| {r['engine']} | {r['docs']:,} | {' | '.join(cells)} |")
    return "\n".join(lines)


def fields_table(rows: list[dict]) -> str:
    names = list(dict.fromkeys(n for r in rows for n in r["timings"]))
    lines = ["| MemoryStore entries | " + " | ".join(f"`{n}`" for n in names) + " |",
             "| ---: |" + " ---: |" * len(names)]
    for r in rows:
        cells = [f"{r['timings'][n][0]:.2f} s" if n in r["timings"] else "not run"
                 for n in names]
        lines.append(f"| {r['docs']:,} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {r['caption']}" for r in rows)


def fetch_table(result: dict) -> str:
    boto = result["docs_per_s"]["boto3 GET ceiling"]
    fastest = result["docs_per_s"].get("obstore GET ceiling (async)")
    lines = ["| contender | objects/s (median) | runs (min-max) | per worker | x raw boto3 "
             "| x raw obstore | client CPU per object |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, rate in result["docs_per_s"].items():
        runs = result["runs"][name]
        versus = f"{rate / fastest:.2f}x" if fastest else ""
        lines.append(f"| {name} | {rate:.0f} | {min(runs):.0f}-{max(runs):.0f} | "
                     f"{rate / result['workers']:.1f} | {rate / boto:.2f}x | {versus} | "
                     f"{result['cpu_ms_per_object'][name]:.2f} ms |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="10k/50k frames, small engine sizes, 300 objects")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")],
                        help="index documents for the frame part (default 100000,1000000)")
    parser.add_argument("--mongomock-sizes", type=lambda s: [int(x) for x in s.split(",") if x],
                        help="default 10000,20000 (its cursor is quadratic: 100000 takes ~3 "
                             "minutes per read)")
    parser.add_argument("--monty-sizes", type=lambda s: [int(x) for x in s.split(",") if x],
                        help="default 10000,100000")
    parser.add_argument("--fields-sizes", type=lambda s: [int(x) for x in s.split(",") if x],
                        help="MemoryStore entries for fields() (default 10000,100000)")
    parser.add_argument("--aggregate-up-to", type=int, default=20_000,
                        help="time mongomock's $sample only up to this many entries (it is "
                             "quadratic: 164 s at 100k)")
    parser.add_argument("--objects", type=int, help="objects for fetch= (default 2000)")
    parser.add_argument("--server", choices=["moto", "versitygw", "s3rver"], default="moto",
                        help="S3 server for fetch= (the fast ones add no latency)")
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lists-size", type=int, help="entries for part 5 (default 1000000)")
    parser.add_argument("--lists-index", help="an existing DuckDB file of --lists-size "
                        "bench_index entries for part 5 (else one is built, ~100 s at 1M)")
    parser.add_argument("--parts", default="frames,engines,fields,fetch,lists",
                        help="comma-separated subset of frames,engines,fields,fetch,lists")
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))
    quick = args.quick
    sizes = args.sizes or ([10_000, 50_000] if quick else [100_000, 1_000_000])
    engine_sizes = {
        "mongomock": args.mongomock_sizes if args.mongomock_sizes is not None
        else ([5_000] if quick else [10_000, 20_000]),
        "montydb": args.monty_sizes if args.monty_sizes is not None
        else ([5_000] if quick else [10_000, 100_000]),
    }
    objects = args.objects or (300 if quick else 2000)
    fields_sizes = args.fields_sizes or ([5_000, 20_000] if quick else [10_000, 100_000])

    command = f"python bench/bench_frames.py {' '.join(sys.argv[1:] if argv is None else argv)}"
    info = {"python": sys.version.split()[0],
            **{p: version(p) for p in ("pandas", "pyarrow", "numpy", "mongomock-ng",
                                       "montydb", "boto3", "moto")}}
    print(f"command: {command}\nversions: {info}\n", flush=True)
    started = time.perf_counter()
    frame_rows = engine_rows = fields_rows = fetched = list_rows = None
    if "frames" in parts:
        frame_rows = frames(sizes)
        print("## Frame building (index engine excluded)\n\n" + frames_table(frame_rows)
              + "\n", flush=True)
    if "engines" in parts:
        engine_rows = engines(engine_sizes)
        print("## Index engines\n\n" + engines_table(engine_rows) + "\n", flush=True)
    if "fields" in parts:
        fields_rows = inventories(fields_sizes, 1000, args.aggregate_up_to)
        print("## fields() on MemoryStore (sample 1,000)\n\n" + fields_table(fields_rows)
              + "\n", flush=True)
    if "fetch" in parts:
        latency = 0.0 if args.server != "moto" else args.latency
        fetched = fetch(objects, latency, args.workers, args.repeats, args.server)
        print(f"## fetch= ({fetched['objects']:,} objects of "
              f"{fetched['mean_stored_bytes'] / 1e3:.1f} KB, {args.server}, latency "
              f"{latency * 1e3:.0f} ms, {args.workers} workers)\n\n"
              + fetch_table(fetched) + "\n", flush=True)
    if "lists" in parts:
        lists_size = args.lists_size or (50_000 if quick else 1_000_000)
        list_rows = list_columns(lists_size, args.lists_index)
        print("## List and struct columns\n\n" + lists_table(list_rows) + "\n", flush=True)
    print(f"total {time.perf_counter() - started:.0f} s, load average {load_average()}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"frames-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"command": command, "versions": info, "frames": frame_rows,
                               "engines": engine_rows, "fields": fields_rows,
                               "fetch": fetched, "lists": list_rows}, indent=1,
                              default=str))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
