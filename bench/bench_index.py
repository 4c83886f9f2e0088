"""Index stores side by side: MemoryStore, MontyStore (on disk), DuckDBStore (memory, file)
and MongoStore over FerretDB (a real MongoDB-wire server on 127.0.0.1).

The same 10-field materials-like entries are built into each store through ``update`` in
batches, then the operations a notebook user runs are timed on each: a filtered count, a
filtered and sorted page deep in the result, ``distinct``, ``groupby``, ``query_df`` of 4
fields over everything, ``fields()``, and on DuckDB the IndexBrowser itself (first page, next
page, a sort, a filter), driven headless. Every (store, size) runs in a fresh interpreter so
peak RSS is its own (the client's: FerretDB's own memory is in its process, not counted).
Ratios are against the DuckDB file index.

    python bench/bench_index.py                       # 10k and 100k entries
    python bench/bench_index.py --sizes 1000000       # DuckDB only (the others are skipped)
    python bench/bench_index.py --sizes 100000 --stores "MongoStore (FerretDB),DuckDBStore (file)"

Markdown tables go to stdout, raw numbers to bench/results/index-*.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # tests.servers: FerretDB

from _common import PeakRss, load_average, rss_bytes, run_in_subprocess

RESULTS = Path(__file__).resolve().parent / "results"
STORES = ["MemoryStore", "MontyStore (file)", "DuckDBStore (memory)", "DuckDBStore (file)",
          "MongoStore (FerretDB)"]
FERRETDB = "MongoStore (FerretDB)"
REFERENCE = "DuckDBStore (file)"
FILTER = {"band_gap": {"$gt": 1.0}, "nelements": {"$gte": 2}}  # about 3 in 4 entries
SORT = {"energy_above_hull": 1}
FRAME_FIELDS = ["formula", "nsites", "band_gap", "energy_above_hull"]
BROWSER_FIELDS = ["formula", "nelements", "band_gap", "energy_above_hull",
                  "symmetry.crystal_system"]

_ELEMENTS = ["Li", "Fe", "O", "Mn", "Co", "Ni", "Si", "Ti", "Al", "Mg", "Na", "S", "P", "Cu"]
_SYSTEMS = ["cubic", "hexagonal", "monoclinic", "orthorhombic", "tetragonal", "triclinic",
            "trigonal"]
_EPOCH = dt.datetime(2024, 1, 1)


def entry(i: int) -> dict:
    """One index entry: a key and 10 fields, two nested, one a list, one a datetime."""
    rng = random.Random(i)
    elements = sorted(rng.sample(_ELEMENTS, rng.randint(1, 5)))
    counts = [rng.randint(1, 6) for _ in elements]
    return {
        "task_id": f"mp-{i}",
        "formula": "".join(f"{e}{n if n > 1 else ''}"
                           for e, n in zip(elements, counts, strict=True)),
        "nelements": len(elements),
        "nsites": sum(counts) * rng.choice([1, 2, 4]),
        "band_gap": round(rng.uniform(0, 5), 4),
        "energy_above_hull": round(rng.expovariate(10), 5),
        "is_stable": rng.random() < 0.2,
        "symmetry": {"crystal_system": rng.choice(_SYSTEMS), "number": rng.randint(1, 230)},
        "elements": elements,
        "last_updated": _EPOCH + dt.timedelta(seconds=i),
    }


def make_store(kind: str, folder: str, server: Any = None, path: str | None = None) -> Any:
    from s3explore import DuckDBStore, MemoryStore, MongoStore, MontyStore

    if kind == FERRETDB:
        return MongoStore.from_uri(server.uri, "index", database="bench")
    if kind == "MemoryStore":
        return MemoryStore("index")
    if kind == "MontyStore (file)":
        return MontyStore("index", database_path=os.path.join(folder, "monty"))
    if kind == "DuckDBStore (memory)":
        return DuckDBStore("index")
    return DuckDBStore("index", path=path or os.path.join(folder, "index.duckdb"))


def _time(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def run_case(kind: str, size: int, batch: int, reuse: str | None = None) -> dict:
    """Build ``size`` entries into a fresh ``kind`` store and time every operation.

    ``reuse`` (DuckDB file only) is a file kept between runs: built there when missing,
    else opened as it is, so that the reads of a large index are measured without
    rebuilding it."""
    reused = reuse is not None and os.path.exists(reuse)
    folder = tempfile.mkdtemp(prefix="bench-index-")
    result: dict[str, Any] = {"store": kind, "size": size, "batch": batch, "seconds": {},
                              "checks": {}}
    seconds, checks = result["seconds"], result["checks"]
    for module in ("duckdb", "mongomock_ng", "montydb", "pandas", "pyarrow",
                   "s3explore.widgets"):
        importlib.import_module(module)  # imports are not the index: keep them out of the peak
    server = None
    if kind == FERRETDB:
        from tests.servers import FerretDB

        importlib.import_module("pymongo")
        server = FerretDB()
        server.start()
    baseline = rss_bytes()
    try:
        with PeakRss() as peak:
            store = make_store(kind, folder, server, reuse)
            store.connect()
            if reused and store.count() != size:
                raise RuntimeError(f"{reuse} holds {store.count():,} entries, not {size:,}: "
                                   "remove it or pass the size it was built with")
            batches = []
            # FerretDB answers an upsert in about 10 ms (its SQLite backend replaces one
            # document per statement): the bulk load goes through insert_many, and one batch
            # of upserts through update() is timed on its own.
            load = ((lambda docs: store.collection.insert_many(docs)) if kind == FERRETDB
                    else store.update)
            for start in range(0, 0 if reused else size, batch):
                docs = [entry(i) for i in range(start, min(size, start + batch))]
                took, _ = _time(lambda docs=docs: load(docs))
                batches.append(took)
            if batches:
                seconds["build" if kind != FERRETDB else "build (insert_many)"] = sum(batches)
            if kind == FERRETDB:
                seconds["update() of 50 existing entries (upserts)"], _ = _time(
                    lambda: store.update([{**entry(i), "is_stable": True} for i in range(50)]))
            result["first_batch"], result["last_batch"] = (
                (batches[0], batches[-1]) if batches else (None, None))
            seconds["count (filter)"], checks["count"] = _time(lambda: store.count(FILTER))
            seconds["page (filter, sort, skip 5000, limit 25)"], page = _time(
                lambda: list(store.query(FILTER, ["task_id", "energy_above_hull"], SORT,
                                         skip=5000, limit=25)))
            checks["page"] = [d["task_id"] for d in page]
            seconds["distinct"], values = _time(
                lambda: store.distinct("symmetry.crystal_system"))
            checks["distinct"] = sorted(values)
            seconds["groupby"], groups = _time(lambda: [
                (g, len(docs)) for g, docs in store.groupby("symmetry.crystal_system",
                                                            properties=["task_id"])])
            checks["groupby"] = [n for _, n in groups]
            seconds["query_df (4 fields)"], frame = _time(
                lambda: store.query_df(fields=FRAME_FIELDS))
            checks["query_df_rows"] = len(frame)
            del frame
            seconds["fields()"], table = _time(store.fields)
            checks["fields_rows"] = len(table)
            if kind.startswith("DuckDB"):
                seconds.update(browse(store))
            # DuckDB writes what its log holds into the file on closing: part of the build
            seconds["close"], _ = _time(store.close)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    result["peak_rss_mb"] = (peak.peak - baseline) / 1e6
    return result


def browse(store: Any) -> dict:
    """The IndexBrowser's own round trips (count + page), headless."""
    from s3explore.widgets import IndexBrowser

    took: dict[str, float] = {}
    took["browser: open (count + first page)"], browser = _time(
        lambda: IndexBrowser(store, fields=BROWSER_FIELDS, show_viewer=False))
    took["browser: next page"], ok = _time(browser.next_page)
    took["browser: sort by band_gap"], ok2 = _time(lambda: browser.sort_by("band_gap", -1))
    took["browser: filter"], ok3 = _time(
        lambda: browser.apply_filter('band_gap > 2 and symmetry.crystal_system == "cubic"'))
    if not (ok and ok2 and ok3 and len(browser.rows) == 25 and not browser.error):
        raise RuntimeError(f"the browser did not page as expected: {browser.error}")
    return took


def skip_reason(kind: str, size: int, args: argparse.Namespace) -> str | None:
    if kind == "MontyStore (file)" and size > args.monty_max:
        return (f"skipped above {args.monty_max:,} entries (--monty-max): montydb reads and "
                "decodes every entry for every query and every write batch")
    if kind == FERRETDB and size > args.ferretdb_max:
        return (f"skipped above {args.ferretdb_max:,} entries (--ferretdb-max): FerretDB's "
                "SQLite backend filters and sorts most queries outside SQL")
    if kind == "MemoryStore" and size > args.memory_max:
        return (f"skipped above {args.memory_max:,} entries (--memory-max): mongomock holds "
                "every entry as a Python dict and filters in Python")
    return None


def _fmt(seconds: float | None, reference: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 0.1:
        text = f"{seconds * 1000:.1f} ms"
    else:
        text = f"{seconds:.2f} s" if seconds < 100 else f"{seconds:.0f} s"
    if reference and reference > 0:
        ratio = seconds / reference
        text += f" ({ratio:.1f}x)" if ratio < 100 else f" ({ratio:.0f}x)"
    return text


def table(size: int, results: dict[str, dict], skipped: dict[str, str]) -> str:
    kinds = [k for k in STORES if k in results]
    ops = list(dict.fromkeys(op for k in kinds for op in results[k]["seconds"]))
    ref = results.get(REFERENCE, {}).get("seconds", {})
    lines = [f"#### {size:,} entries", "",
             "| operation | " + " | ".join(kinds) + " |",
             "| --- | " + " | ".join("---:" for _ in kinds) + " |"]
    for op in ops:
        cells = [_fmt(results[k]["seconds"].get(op), ref.get(op)) for k in kinds]
        lines.append(f"| {op} | " + " | ".join(cells) + " |")
    lines.append("| build: first / last batch | " + " | ".join(
        f"{results[k]['first_batch']:.2f} s / {results[k]['last_batch']:.2f} s"
        if results[k]["first_batch"] is not None else "(reused file)"
        for k in kinds) + " |")
    lines.append("| peak RSS growth | " + " | ".join(
        f"{results[k]['peak_rss_mb']:,.0f} MB" for k in kinds) + " |")
    for kind, why in skipped.items():
        lines.append(f"\n{kind}: {why}.")
    return "\n".join(lines)


def consistent(results: dict[str, dict]) -> list[str]:
    """Every store must answer alike; differences are printed, not hidden."""
    problems = []
    done = list(results.values())
    for other in done[1:]:
        for name, value in other["checks"].items():
            if done[0]["checks"].get(name) != value:
                problems.append(f"{other['store']} differs from {done[0]['store']} on {name}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000",
                        help="entries per index, comma-separated (default 10000,100000)")
    parser.add_argument("--batch", type=int, default=1000, help="entries per update call")
    parser.add_argument("--stores", default=",".join(STORES),
                        help="which stores, comma-separated names from: " + ", ".join(STORES))
    parser.add_argument("--monty-max", type=int, default=100_000)
    parser.add_argument("--memory-max", type=int, default=100_000)
    parser.add_argument("--ferretdb-max", type=int, default=100_000)
    parser.add_argument("--reuse", metavar="PATH",
                        help="DuckDBStore (file) only, one size: keep the index in PATH; "
                             "build it there when missing, else measure the reads on it")
    parser.add_argument("--timeout", type=float, default=1800,
                        help="seconds one (store, size) case may take before it is stopped")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    kinds = [k.strip() for k in args.stores.split(",")]
    unknown = sorted(set(kinds) - set(STORES))
    if unknown:
        parser.error(f"unknown stores {unknown}; choose from {STORES}")
    if args.reuse and (kinds != [REFERENCE] or len(sizes) != 1):
        parser.error(f"--reuse needs --stores \"{REFERENCE}\" and one size")

    record: dict[str, Any] = {
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "command": "python bench/bench_index.py " + " ".join(sys.argv[1:]),
        "versions": {p: version(p) for p in ("duckdb", "montydb", "mongomock-ng", "pandas",
                                             "pyarrow", "pymongo")},
        "python": sys.version.split()[0], "cpus": os.cpu_count(), "runs": []}
    print(f"load average at start: {load_average()}", flush=True)
    for size in sizes:
        results: dict[str, dict] = {}
        skipped: dict[str, str] = {}
        for kind in kinds:
            why = skip_reason(kind, size, args)
            if why is None:
                print(f"{kind}, {size:,} entries ...", flush=True)
                try:
                    results[kind] = run_in_subprocess(run_case, kind, size, args.batch,
                                                      args.reuse, timeout=args.timeout)
                    record["runs"].append(results[kind])
                except TimeoutError:
                    why = f"stopped after {args.timeout:.0f} s (--timeout)"
            if why is not None:
                skipped[kind] = why
                record["runs"].append({"store": kind, "size": size, "skipped": why})
                print(f"{kind}, {size:,} entries: {why}", flush=True)
        print()
        print(table(size, results, skipped))
        for problem in consistent(results):
            print(f"WARNING: {problem}")
        print(f"\nload average: {load_average()}\n", flush=True)

    record["load_average_end"] = load_average()
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"index-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(record, indent=1, default=str))
    print(f"raw numbers: {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")


if __name__ == "__main__":
    main()
