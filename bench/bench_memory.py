"""Memory benchmark: peak memory of writing and reading one 100 MB document, and of query()'s
read-ahead with 20 MB documents and a slow consumer, before and after streaming bodies; and
decode speed, before and after big arrays are read straight into numpy.

Each measurement runs in a fresh interpreter (a child process): it builds its documents,
settles, then samples its own RSS every 2 ms while the operation runs. "extra" is the peak
minus the RSS just before the operation; the document's own size is its msgpack body (what
it costs on the wire before compression). "before" runs the package as it was at
``--before`` (default: the commit before bodies were streamed) and "after" the package at
``--after`` (default HEAD), each extracted with git archive. "previous" (``--previous``:
streamed bodies whose arrays still went through msgpack's Python lists) is measured on the
read only, and against "after" for decode speed: the same bodies decoded by the previous
``decode_stream`` and the current one, interleaved in one process, CPU time per decode
(best of the rounds). The previous decoder is that commit's ``_codec/_stream.py`` run on the
current package (its other modules' decode side is unchanged).

    python bench/bench_memory.py            # the recorded run (a few minutes)
    python bench/bench_memory.py --quick    # 25 MB documents, 10 MB read-ahead documents
    python bench/bench_memory.py --decode-only   # decode speed alone (a minute or two)
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
BEFORE = "f100599"  # the last commit before streamed bodies and the byte-bounded read-ahead
PREVIOUS = "5163005"  # the last commit before arrays were read straight into numpy


# ---------------------------------------------------------------- child side


class Peak:
    """Samples this process's RSS in a thread; ``extra`` is the peak above the start."""

    def __init__(self) -> None:
        import psutil

        self._process = psutil.Process()
        self._stop = threading.Event()
        self.start = self._process.memory_info().rss
        self.peak = self.start
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            time.sleep(0.002)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)
        return (self.peak - self.start) / 1e6


def _store(args: argparse.Namespace, name: str, workers: int = 4):
    from s3explore import MemoryStore, S3Store
    from s3explore.local_s3 import LOCAL_CREDENTIALS

    store = S3Store(MemoryStore(name), args.bucket, s3_profile=dict(LOCAL_CREDENTIALS),
                    endpoint_url=args.endpoint, compress=True, s3_workers=workers)
    store.connect()
    return store


def _document(key: str, megabytes: float) -> dict:
    import numpy as np

    n = int(megabytes * 1e6 / 9)  # msgpack float64: 9 bytes each
    values = np.random.default_rng(0).random(n)
    return {"task_id": key, "formula": "Fe2O3",
            "dos": {"energies": values[: n // 2].copy(), "densities": values[n // 2:].copy()}}


def child(args: argparse.Namespace) -> dict:
    from s3explore import _codec as codec

    if args.case in ("write", "read"):
        store = _store(args, "one")
        doc = _document(f"doc-{args.label}", args.mb)
        size = len(codec.pack(doc)) / 1e6
        if args.case == "read":
            store.update([doc])
            del doc
        gc.collect()
        time.sleep(0.2)
        peak = Peak()
        started = time.perf_counter()
        if args.case == "write":
            result = store.update([doc])
            assert result.ok, result
        else:
            got = store.get(f"doc-{args.label}")
            assert got["dos"]["energies"].size > 0
        seconds = time.perf_counter() - started
        extra = peak.stop()
        return {"case": args.case, "label": args.label, "doc_mb": round(size, 1),
                "extra_mb": round(extra, 1), "ratio": round(extra / size, 2),
                "seconds": round(seconds, 2)}
    if args.case == "decode":
        return {"case": "decode", "rows": decode_speed(args.previous, args.quick)}
    # read-ahead: many documents, 16 workers, a consumer slower than the reads
    store = _store(args, "many", workers=16)
    for i in range(args.count):
        store.update([_document(f"ra-{args.label}-{i}", args.mb)])
    size = len(codec.pack(_document("x", args.mb))) / 1e6
    gc.collect()
    time.sleep(0.2)
    peak = Peak()
    started = time.perf_counter()
    seen = 0
    for doc in store.query({"task_id": {"$regex": f"^ra-{args.label}-"}}, workers=16):
        seen += 1
        del doc
        time.sleep(args.pause)
    seconds = time.perf_counter() - started
    extra = peak.stop()
    assert seen == args.count
    return {"case": "read-ahead", "label": args.label, "doc_mb": round(size, 1),
            "docs": args.count, "workers": 16, "extra_mb": round(extra, 1),
            "docs_held": round(extra / size, 1), "seconds": round(seconds, 2)}


def _small(i: int) -> dict:
    return {"task_id": f"mp-{i}", "formula": "Fe2O3", "nsites": 10, "energy": -1.5 * i,
            "elements": ["Fe", "O"], "ok": True, "tags": ["x"] * 5,
            "lattice": {"a": 1.0, "b": 2.0, "c": 3.0,
                        "matrix": [[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]}}


def _decode_documents(quick: bool) -> dict[str, dict]:
    import numpy as np

    rng = np.random.default_rng(0)
    k = 4 if quick else 1
    return {
        "small: one 0.3 KB document": _small(1),
        "small: 2,000 top-level fields (50 KB)": {f"f{i}": (i, "s" * 10, 1.5)
                                                  for i in range(2000)},
        "small: 30,000 records in one list (5 MB)": {
            "task_id": "x", "entries": [_small(i) for i in range(30_000 // k)]},
        "small: 30,000 top-level records (5 MB)": {f"k{i}": _small(i)
                                                   for i in range(30_000 // k)},
        "arrays: float64, 1-D and 2-D (25 MB)": {
            "task_id": "x", "dos": {"e": rng.random(1_400_000 // k),
                                    "d": rng.random((1000 // k, 1400))}},
        "arrays: int64, 2 x 1M (ranges and random)": {
            "task_id": "x", "i": np.arange(1_000_000 // k),
            "r": rng.integers(-1000, 1000, 1_000_000 // k)},
        "arrays: complex128, 500k (9 MB)": {
            "task_id": "x", "c": rng.random(500_000 // k) + 1j * rng.random(500_000 // k)},
        "mixed: 5,000 records, 20 arrays, 2,000 tiny arrays": {
            "task_id": "x", "entries": [_small(i) for i in range(5000)],
            "bands": [rng.random((50, 200)) for _ in range(20)],
            "tiny": [np.arange(3.0) for _ in range(2000)]},
    }


def decode_speed(previous: str, quick: bool) -> list[dict]:
    """CPU time of decode_stream on zlib bodies: ``previous``'s decoder vs this one."""
    import importlib.util
    import io

    from s3explore import _codec as codec

    source = subprocess.run(["git", "-C", str(ROOT), "show",
                             f"{previous}:s3explore/_codec/_stream.py"],
                            capture_output=True, check=True).stdout
    with tempfile.TemporaryDirectory() as where:
        path = Path(where) / "previous_stream.py"
        path.write_bytes(source)
        spec = importlib.util.spec_from_file_location("previous_stream", path)
        old = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(old)  # type: ignore[union-attr]
    rows = []
    for name, doc in _decode_documents(quick).items():
        body = codec.encode_body(doc, "zlib")
        del doc
        reps = max(1, min(300, int(3e6 / len(body))))
        best = {"previous": float("inf"), "after": float("inf")}
        for _ in range(3 if quick else 7):
            for label, decode in (("previous", old.decode_stream),
                                  ("after", codec.decode_stream)):
                gc.collect()
                started = time.process_time()
                for _ in range(reps):
                    decode(io.BytesIO(body), "zlib", "k")
                best[label] = min(best[label], (time.process_time() - started) / reps)
        rows.append({"document": name, "stored_mb": round(len(body) / 1e6, 2),
                     "previous_ms": round(best["previous"] * 1e3, 3),
                     "after_ms": round(best["after"] * 1e3, 3),
                     "ratio": round(best["after"] / best["previous"], 2)})
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


# ---------------------------------------------------------------- parent side


def run_child(code: Path, case: str, label: str, endpoint: str, bucket: str, mb: float,
              count: int = 0, pause: float = 0.0, previous: str = PREVIOUS,
              quick: bool = False) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", case, "--code",
               str(code), "--label", label, "--endpoint", endpoint, "--bucket", bucket,
               "--mb", str(mb), "--count", str(count), "--pause", str(pause),
               "--previous", previous] + (["--quick"] if quick else [])
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{case}/{label} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--before", default=BEFORE, help="git commit to compare with")
    parser.add_argument("--after", default="HEAD", help="git commit measured")
    parser.add_argument("--previous", default=PREVIOUS,
                        help="git commit whose read and decode speed are compared too")
    parser.add_argument("--decode-only", action="store_true")
    parser.add_argument("--child")
    parser.add_argument("--code")
    parser.add_argument("--label", default="after")
    parser.add_argument("--endpoint")
    parser.add_argument("--bucket")
    parser.add_argument("--mb", type=float, default=100.0)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--pause", type=float, default=0.0)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, args.code)
        args.case = args.child
        print(json.dumps(child(args)))
        return

    sys.path.insert(0, str(HERE))
    from _common import ServerProcess

    big, ra_mb, ra_count, pause = (25, 10, 24, 0.2) if args.quick else (100, 20, 40, 0.3)
    rows = []
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as before_dir, tempfile.TemporaryDirectory() as \
            previous_dir, tempfile.TemporaryDirectory() as after_dir, ServerProcess() as server:
        codes = {"before": (args.before, Path(before_dir)),
                 "previous": (args.previous, Path(previous_dir)),
                 "after": (args.after, Path(after_dir))}
        for commit, where in codes.values():
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "s3explore"],
                                     capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
        bucket = server.fresh_bucket("memory")
        for label, (_, code) in codes.items():
            if args.decode_only:
                break
            cases = ("read",) if label == "previous" else ("write", "read")
            for case in cases:
                rows.append(run_child(code, case, label, server.endpoint_url, bucket, big))
                print(rows[-1], flush=True)
            if label != "previous":
                rows.append(run_child(code, "read-ahead", label, server.endpoint_url,
                                      bucket, ra_mb, ra_count, pause))
                print(rows[-1], flush=True)
        load.append(os.getloadavg()[0])
        decode = run_child(codes["after"][1], "decode", "after", server.endpoint_url, bucket,
                           0, previous=args.previous, quick=args.quick)["rows"]
        load.append(os.getloadavg()[0])

    print("\n| operation | code | document (msgpack) | peak extra memory | x document | s |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        if r["case"] == "read-ahead":
            what = (f"query() of {r['docs']} docs, 16 workers, consumer {pause} s/doc")
            ratio = f"{r['docs_held']} docs"
        else:
            what = f"{'update' if r['case'] == 'write' else 'get'}() of one document"
            ratio = f"{r['ratio']}x"
        print(f"| {what} | {r['label']} | {r['doc_mb']} MB | {r['extra_mb']} MB | {ratio} "
              f"| {r['seconds']} |")
    print("\n| decode_stream, zlib body | stored | previous | after | after / previous |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in decode:
        print(f"| {r['document']} | {r['stored_mb']} MB | {r['previous_ms']} ms "
              f"| {r['after_ms']} ms | {r['ratio']} |")
    print(f"\nload average (1 min) at start, before and after the decode part: {load}")
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = RESULTS / f"memory-{stamp}.json"
    out.write_text(json.dumps({"quick": args.quick, "before": args.before,
                               "previous": args.previous, "after": args.after,
                               "rows": rows, "decode": decode, "load": load},
                              indent=1))
    print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
