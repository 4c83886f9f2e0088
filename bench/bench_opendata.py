"""Open data benchmark: opening a 100k-entry manifest, the first page, and GETs saved.

A bucket laid out like the Materials Project's AWS Open Data (maggma OpenDataStore: a
``manifest.jsonl`` of N entries beside grouped ``field=value/...jsonl.gz`` objects, extended
JSON, gzip) on a LocalS3 server in its own process, optionally with latency. Measured:

1. ``s3explore.open`` with an empty cache (list, download and parse the manifest, load the
   local DuckDB index), then the first page as ``IndexBrowser`` asks for it (count and a
   sorted ``query_df`` of 25 rows); then the same with the local index already cached.
2. Reading whole documents for a filter (``query``): GETs sent (one per group per batch)
   against one GET per document, and the time of both.
3. Building a manifest for a prefix of one ``.json.gz`` document per object (no index).

    python bench/bench_opendata.py                  # the recorded run
    python bench/bench_opendata.py --entries 20000 --json-objects 300   # quick
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CREDENTIALS, ServerProcess, load_average
from bson import ObjectId, json_util

import s3explore

RESULTS = Path(__file__).resolve().parent / "results"
FORMULAS = ("Fe2O3", "NaCl", "Si", "GaAs", "LiCoO2", "TiO2", "MgO")


def material(i: int, groups: int) -> dict:
    return {"_id": ObjectId(f"{i:024x}"), "material_id": f"mp-{i}",
            "formula_pretty": FORMULAS[i % 7], "nelements": i % 5 + 1,
            "symmetry_number": (i // 5) % (groups // 5) + 1, "nsites": i * 7 % 40 + 1,
            "band_gap": round(i % 97 * 0.05, 3), "volume": 10.0 + i % 500,
            "last_updated": dt.datetime(2024, 1, 1) + dt.timedelta(seconds=i),
            "structure": {"lattice": {"a": 3.0 + i % 5, "matrix": [[1, 0, 0]] * 3},
                          "sites": [{"xyz": [0.1 * k] * 3, "label": "Fe"} for k in range(8)]},
            "dos": [round(0.01 * k, 2) for k in range(100)]}


def upload(client, bucket: str, bodies: dict[str, bytes]) -> None:
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda kv: client.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]),
                      bodies.items()))


def grouped_layout(n: int, groups: int) -> dict[str, bytes]:
    members: dict[tuple, list[str]] = {}
    manifest = []
    fields = ("material_id", "last_updated", "nelements", "symmetry_number", "formula_pretty",
              "band_gap", "nsites", "volume")
    for i in range(n):
        doc = material(i, groups)
        members.setdefault((doc["nelements"], doc["symmetry_number"]), []).append(
            json_util.dumps(doc))
        manifest.append(json_util.dumps({f: doc[f] for f in fields}))
    bodies = {f"materials/nelements={a}/symmetry_number={b}.jsonl.gz":
              gzip.compress(("\n".join(lines) + "\n").encode())
              for (a, b), lines in members.items()}
    bodies["materials/manifest.jsonl"] = ("\n".join(manifest) + "\n").encode()
    return bodies


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def first_page(store) -> float:
    start = time.perf_counter()
    store.count()
    store.query_df(sort={"band_gap": -1}, limit=25)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=250)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--read", type=int, default=2_000, help="documents read in part 2")
    parser.add_argument("--json-objects", type=int, default=1_000)
    args = parser.parse_args()
    out: dict = {"args": vars(args), "load_start": load_average()}
    with ServerProcess(latency=0.0) as server:
        client = server.client(max_pool_connections=20)
        bucket = server.fresh_bucket("opendata-bench")
        bodies = grouped_layout(args.entries, args.groups)
        upload(client, bucket, bodies)
        dos = {f"dos/mp-{i}.json.gz": gzip.compress(json.dumps(
            {"task_id": f"mp-{i}", "efermi": i % 13 * 0.1, "energies": list(range(200))}
        ).encode()) for i in range(args.json_objects)}
        upload(client, bucket, dos)
        server.latency = args.latency
        groups = len(bodies) - 1
        manifest_mb = len(bodies["materials/manifest.jsonl"]) / 1e6
        url = f"s3://{bucket}/materials"
        common = dict(s3_profile=dict(CREDENTIALS), endpoint_url=server.endpoint_url)
        with tempfile.TemporaryDirectory() as cache:
            store, cold = timed(lambda: s3explore.open(url, cache_dir=cache, **common))
            cold_page = first_page(store)
            store.close()
            store, warm = timed(lambda: s3explore.open(url, cache_dir=cache, **common))
            warm_page = first_page(store)
            out["open"] = {"entries": store.count(), "groups": groups,
                           "manifest_mb": manifest_mb, "cold_open_s": cold,
                           "cold_first_page_s": cold_page, "warm_open_s": warm,
                           "warm_first_page_s": warm_page}
            criteria = {"nelements": {"$in": [2, 3]}}
            docs, seconds = timed(lambda: list(store.query(criteria, limit=args.read)))
            stats = store.read_stats
            used = {(d["nelements"], d["symmetry_number"]) for d in docs}
            per_doc = docs[: min(200, len(docs))]

            def one_get_each():
                for d in per_doc:  # what a per-document reader costs: one GET each
                    name = (f"materials/nelements={d['nelements']}/"
                            f"symmetry_number={d['symmetry_number']}.jsonl.gz")
                    client.get_object(Bucket=bucket, Key=name)["Body"].read()

            _, naive = timed(one_get_each)
            out["group_reads"] = {"documents": len(docs), "gets": stats.gets,
                                  "groups_touched": len(used), "seconds": seconds,
                                  "docs_per_s": len(docs) / seconds,
                                  "per_document_gets": len(docs),
                                  "per_document_docs_per_s": len(per_doc) / naive}
            store.close()
            built, build_s = timed(lambda: s3explore.open(f"s3://{bucket}/dos", cache_dir=cache,
                                                          publish=False, **common))
            again, reopen_s = timed(lambda: s3explore.open(f"s3://{bucket}/dos",
                                                           cache_dir=cache, **common))
            out["build"] = {"objects": built.count(), "seconds": build_s,
                            "objects_per_s": built.count() / build_s,
                            "reopen_s": reopen_s}
            built.close()
            again.close()
    out["load_end"] = load_average()
    report(out)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"opendata-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"\nraw numbers: {path}")


def report(out: dict) -> None:
    o, g, b = out["open"], out["group_reads"], out["build"]
    a = out["args"]
    print(f"latency {a['latency'] * 1000:.0f} ms per request; load {out['load_start']} -> "
          f"{out['load_end']}\n")
    print("| step | cold cache | local index cached |\n| --- | ---: | ---: |")
    print(f"| `s3explore.open` ({o['entries']:,} entries, manifest.jsonl "
          f"{o['manifest_mb']:.1f} MB, {o['groups']} group objects) | {o['cold_open_s']:.2f} s "
          f"| {o['warm_open_s']:.2f} s |")
    print(f"| first page (count + sorted `query_df`, 25 rows) | {o['cold_first_page_s']:.3f} s "
          f"| {o['warm_first_page_s']:.3f} s |")
    print("\n| reading whole documents | documents | GETs | docs/s |\n| --- | ---: | ---: | ---: |")
    print(f"| `query` with group reads | {g['documents']:,} | {g['gets']:,} "
          f"({g['groups_touched']} groups) | {g['docs_per_s']:,.0f} |")
    print(f"| one GET per document (measured on 200) | {g['documents']:,} | "
          f"{g['per_document_gets']:,} | {g['per_document_docs_per_s']:,.0f} |")
    print(f"\nmanifest build: {b['objects']:,} .json.gz objects in {b['seconds']:.1f} s "
          f"({b['objects_per_s']:.0f} objects/s, 8 workers); reopened in {b['reopen_s']:.2f} s")


if __name__ == "__main__":
    main()
