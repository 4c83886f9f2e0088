"""verify() on the demo's 2,000 documents: hashes from metadata, against downloading bodies.

One run, side by side on one local S3 server (moto in its own process, ``--latency`` seconds
before each request): the raw boto3 ceilings (a HEAD of every object; a GET reading every
body), ``verify()`` (first run: one HEAD per object; second run: nothing but the listing),
``verify(deep=True)``, and what the default did before bodies carried their digest
(download and hash every body, measured through the same transfer layer).

    python bench/bench_verify.py                 # 2,000 documents, 16 workers
    python bench/bench_verify.py --latency 0.02  # a remote region
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import CREDENTIALS, ServerProcess, load_average

from s3explore import MemoryStore, S3Store
from s3explore._transfer import ordered_map
from s3explore.demo import DEMO_KEY, DEMO_SEARCHABLE_FIELDS, demo_documents

RESULTS = Path(__file__).resolve().parent / "results"


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()

    with ServerProcess(latency=args.latency) as server:
        bucket = server.fresh_bucket("verify")
        index = MemoryStore("verify", key=DEMO_KEY)

        def store() -> S3Store:  # a fresh store: nothing remembered from an earlier run
            fresh = S3Store(index, bucket, s3_profile=CREDENTIALS, compress=True,
                            endpoint_url=server.endpoint_url, s3_workers=args.workers,
                            key=DEMO_KEY, searchable_fields=DEMO_SEARCHABLE_FIELDS)
            fresh.connect()
            return fresh

        writer = store()
        assert writer.update(demo_documents(args.docs), workers=args.workers).ok
        keys = [o["Key"] for page in server.client().get_paginator("list_objects_v2")
                .paginate(Bucket=bucket) for o in page.get("Contents", [])]
        client = server.client(max_pool_connections=args.workers)

        def raw(fn: Callable[[str], object]) -> None:
            with ThreadPoolExecutor(args.workers) as pool:
                list(pool.map(fn, keys))

        rows: dict[str, float] = {}
        rows["boto3 ceiling: HEAD every object"] = seconds(
            lambda: raw(lambda k: client.head_object(Bucket=bucket, Key=k)))
        rows["boto3 ceiling: GET every body"] = seconds(
            lambda: raw(lambda k: client.get_object(Bucket=bucket, Key=k)["Body"].read()))
        before = store()
        rows["before: download and hash every body"] = seconds(lambda: [
            o.value for o in ordered_map(before.objects.hash_body, keys, args.workers)])
        checker = store()
        reports = {}

        def verify(name: str, **kwargs: object) -> None:
            reports[name] = checker.verify(**kwargs)
            assert reports[name].ok, str(reports[name])

        rows["verify(), first run"] = seconds(lambda: verify("first"))
        rows["verify(), second run"] = seconds(lambda: verify("second"))
        rows["verify(deep=True)"] = seconds(lambda: verify("deep", deep=True))

    ratios = {
        "verify() first run / HEAD ceiling": rows["verify(), first run"]
        / rows["boto3 ceiling: HEAD every object"],
        "before / verify() first run": rows["before: download and hash every body"]
        / rows["verify(), first run"],
        "verify(deep=True) / GET ceiling": rows["verify(deep=True)"]
        / rows["boto3 ceiling: GET every body"],
    }
    result = {"docs": args.docs, "workers": args.workers, "latency": args.latency,
              "load average": load_average(), "seconds": rows, "ratios": ratios,
              "bodies read": {k: r.bodies_read for k, r in reports.items()},
              "hashes from metadata": {k: r.hashes_from_metadata for k, r in reports.items()}}
    print(f"{args.docs} documents, {args.workers} workers, latency {args.latency} s, "
          f"load average {result['load average']}")
    for name, value in rows.items():
        print(f"  {name:<40} {value:8.2f} s")
    for name, value in ratios.items():
        print(f"  {name:<40} {value:8.2f}x")
    print(f"  bodies read: {result['bodies read']}")
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"verify-{stamp}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
