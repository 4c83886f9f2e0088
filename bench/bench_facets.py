"""Facets and counts that never block: ``facets()``, ``estimate_count()`` and ``count()`` on
DuckDBStore (file) and MongoStore over FerretDB, on ``bench_index.py``'s entries.

Each operation is timed twice: without a time limit (``max_time=None``: what the engine
needs for the whole answer) and with the default limit (0.5 s: what a notebook user or the
facet panel waits, and whether the answer was complete).

    python bench/bench_facets.py                                  # 100k on both engines
    python bench/bench_facets.py --sizes 1000000 --stores "DuckDBStore (file)"

Markdown tables go to stdout, raw numbers to bench/results/facets-*.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # tests.servers: FerretDB

from _common import load_average
from bench_index import FERRETDB, FILTER, entry, make_store

RESULTS = Path(__file__).resolve().parent / "results"
STORES = ["DuckDBStore (file)", FERRETDB]


def operations(store: Any) -> dict[str, Any]:
    """name -> fn(max_time) returning (value, complete)."""

    def facet(field: str, criteria: dict | None = None, **kw: Any) -> Any:
        def run(max_time: float | None) -> tuple:
            frame = store.facets(field, criteria, max_time=max_time, **kw)
            return (frame.attrs["kind"], len(frame)), frame.attrs["complete"]
        return run

    def estimate(criteria: dict | None) -> Any:
        def run(max_time: float | None) -> tuple:
            found = store.estimate_count(criteria, max_time=max_time)
            return str(found), found.exact
        return run

    return {
        "facets('symmetry.crystal_system')": facet("symmetry.crystal_system"),
        "facets('elements') (a list)": facet("elements"),
        "facets('formula', filter)": facet("formula", FILTER),
        "facets('band_gap') (histogram, 10 bins)": facet("band_gap", bins=10),
        "estimate_count()": estimate(None),
        "estimate_count(filter)": estimate(FILTER),
        "count(filter) (exact, for reference)": lambda max_time: (
            store.count(FILTER), True) if max_time is None else (None, None),
    }


def run_case(kind: str, size: int, batch: int) -> dict:
    server = None
    if kind == FERRETDB:
        from tests.servers import FerretDB

        server = FerretDB()
        server.start()
    folder = tempfile.mkdtemp(prefix="bench-facets-")
    result: dict[str, Any] = {"store": kind, "size": size, "rows": {}}
    try:
        store = make_store(kind, folder, server)
        store.connect()
        load = ((lambda docs: store.collection.insert_many(docs)) if kind == FERRETDB
                else store.update)
        start = time.perf_counter()
        for first in range(0, size, batch):
            load([entry(i) for i in range(first, min(size, first + batch))])
        result["build"] = time.perf_counter() - start
        for name, op in operations(store).items():
            row = result["rows"][name] = {}
            for label, max_time in (("no limit", None), ("max_time=0.5", 0.5)):
                start = time.perf_counter()
                value, complete = op(max_time)
                row[label] = {"seconds": time.perf_counter() - start, "value": str(value),
                              "complete": complete}
            print(f"  {kind} {size:,} {name}: {row}", file=sys.stderr, flush=True)
        store.close()
    finally:
        if server is not None:
            server.stop()
    return result


def _fmt(cell: dict) -> str:
    if cell["value"] == "None":
        return ""
    s = cell["seconds"]
    took = f"{s * 1000:.1f} ms" if s < 1 else f"{s:.2f} s"
    return took if cell["complete"] else f"{took}, gave up ({cell['value']})"


def table(result: dict) -> str:
    lines = [f"#### {result['store']}, {result['size']:,} entries (built in "
             f"{result['build']:.1f} s)", "",
             "| operation | no limit | max_time=0.5 |", "| --- | ---: | ---: |"]
    for name, row in result["rows"].items():
        lines.append(f"| {name} | {_fmt(row['no limit'])} | {_fmt(row['max_time=0.5'])} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000")
    parser.add_argument("--stores", default=",".join(STORES))
    parser.add_argument("--batch", type=int, default=20_000)
    args = parser.parse_args()
    results = []
    for size in [int(s) for s in args.sizes.split(",")]:
        for kind in args.stores.split(","):
            results.append(run_case(kind, size, args.batch))
            print(table(results[-1]) + "\n", flush=True)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"facets-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"results": results, "load_average": load_average()}, indent=1))
    print(f"raw numbers: {out.relative_to(RESULTS.parent.parent)}; load {load_average()}")


if __name__ == "__main__":
    main()
