"""Two processes updating overlapping keys of one store at once, over one shared index file.

Afterwards every key has exactly one entry, every entry's obj_hash is its object's SHA-1
(so the fields it indexes are the ones of the body it names), and verify() is clean. While
they race, a third process queries by writer: every body it gets must be that writer's.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import threading
import time

import pytest

from s3explore import MontyStore, S3Store
from tests.conftest import CREDENTIALS

pytestmark = pytest.mark.real_s3

KEYS = 200  # overlapping: both writers write every key, in the same order, at once
ROUNDS = 3


def store_for(endpoint_url: str, bucket: str, path: str) -> S3Store:
    index = MontyStore("shared", database_path=path)
    return S3Store(index, bucket, s3_profile=dict(CREDENTIALS), endpoint_url=endpoint_url,
                   compress=True, searchable_fields=["writer", "round"])


def writer(name: str, endpoint_url: str, bucket: str, path: str, start, errors,
           overtaken, seen) -> None:
    try:
        store = store_for(endpoint_url, bucket, path)
        store.connect()
        start.wait(30)
        keys = list(range(KEYS))
        for r in range(ROUNDS):
            docs = [{"task_id": f"k{i}", "writer": name, "round": r,
                     "payload": [name] * (i % 7 + 1)} for i in keys]
            overtaken.put(store.update(docs, chunk_size=40, workers=4).overtaken)
            if r == 0:  # the later rounds race a reader that is reading, however fast
                seen.wait(60)  # the first round went (on a timeout, the test fails)
        store.close()
    except BaseException as exc:  # reported to the parent, which fails the test
        errors.put(f"{name}: {type(exc).__name__}: {exc}")
        raise


def ready(store: S3Store) -> bool:
    """Whether a writer has created the shared index file and its table yet."""
    try:  # montydb: its storage config is half-written, or "no such table", until then
        store.connect(force_reset=True)
        return store.index.count() > 0
    except Exception:
        return False


def reader(endpoint_url: str, bucket: str, path: str, start, done, errors, report,
           seen) -> None:
    """Query each writer's documents until both writers are done; report wrong bodies."""
    try:
        store = store_for(endpoint_url, bucket, path)
        start.wait(30)
        while not done.is_set() and not ready(store):
            time.sleep(0.05)
        reads = wrong = 0
        while not done.is_set():
            for name in "AB":
                for doc in store.query({"writer": name}, workers=4):
                    reads += 1
                    seen.set()
                    if doc["writer"] != name:
                        wrong += 1
                        errors.put(f"query(writer={name}) gave {doc['task_id']} by "
                                   f"{doc['writer']}")
        report.put((reads, wrong))
        store.close()
    except BaseException as exc:
        errors.put(f"reader: {type(exc).__name__}: {exc}")
        raise


@pytest.mark.timeout(600)
def test_two_writer_processes_leave_one_entry_per_key_describing_its_object(
        s3_server, bucket, tmp_path, record_property):
    ctx = multiprocessing.get_context("spawn")
    start, errors, overtaken = ctx.Event(), ctx.Queue(), ctx.Queue()
    path = str(tmp_path / "index")
    done, reads, seen = ctx.Event(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=writer, args=(n, s3_server.endpoint_url, bucket, path, start,
                                               errors, overtaken, seen)) for n in "AB"]
    watcher = ctx.Process(target=reader, args=(s3_server.endpoint_url, bucket, path, start,
                                               done, errors, reads, seen))
    for p in [*procs, watcher]:
        p.start()
    start.set()
    for p in procs:
        p.join(540)
    done.set()
    watcher.join(120)
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    assert problems == [] and [p.exitcode for p in [*procs, watcher]] == [0, 0, 0]
    counts = [overtaken.get(timeout=5) for _ in range(2 * ROUNDS)]
    record_property("objects_overtaken_by_the_other_writer", sum(counts))
    documents_read, wrong = reads.get(timeout=5)
    assert wrong == 0 and documents_read > 0
    record_property("documents_read_while_racing", documents_read)

    store = store_for(s3_server.endpoint_url, bucket, path)
    with store:
        entries = list(store.index.query())
        keys = [e["task_id"] for e in entries]
        assert sorted(keys) == sorted(f"k{i}" for i in range(KEYS))  # one entry per key
        raw = s3_server.client()
        for entry in entries:
            body = raw.get_object(Bucket=bucket, Key=entry["task_id"])["Body"].read()
            assert entry["obj_hash"] == hashlib.sha1(body).hexdigest(), entry["task_id"]
        for name in "AB":  # what the index says of a body is what the body says
            for doc in store.query({"writer": name}):
                assert doc["writer"] == name
        report = store.verify(deep=True)
        assert report.ok, str(report)


@pytest.mark.parametrize("kind", ["memory", "duckdb"])
def test_two_writer_threads_over_a_swapping_index_leave_entries_describing_objects(
        s3_server, bucket, kind):
    """The same race on an index that compares and sets (no listing, no HEAD unless a swap
    is lost): two writers in threads of one process, as an index in memory allows."""
    from s3explore import DuckDBStore, MemoryStore

    index = MemoryStore("swapping") if kind == "memory" else DuckDBStore("swapping")

    def store() -> S3Store:
        return S3Store(index, bucket, s3_profile=dict(CREDENTIALS),
                       endpoint_url=s3_server.endpoint_url, compress=True,
                       searchable_fields=["writer", "round"])

    writers = {name: store() for name in "AB"}
    for s in writers.values():
        s.connect()
    assert index.atomic_swaps
    start, failures, overtaken = threading.Barrier(2), [], []

    def write(name: str) -> None:
        try:
            start.wait(30)
            for r in range(ROUNDS):
                docs = [{"task_id": f"k{i}", "writer": name, "round": r,
                         "payload": [name] * (i % 7 + 1)} for i in range(KEYS)]
                overtaken.append(writers[name].update(docs, chunk_size=40,
                                                      workers=4).overtaken)
        except BaseException as exc:
            failures.append(f"{name}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=write, args=(n,)) for n in "AB"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert failures == [] and len(overtaken) == 2 * ROUNDS
    check = writers["A"]
    entries = list(index.query())
    assert sorted(e["task_id"] for e in entries) == sorted(f"k{i}" for i in range(KEYS))
    raw = s3_server.client()
    for entry in entries:
        body = raw.get_object(Bucket=bucket, Key=entry["task_id"])["Body"].read()
        assert entry["obj_hash"] == hashlib.sha1(body).hexdigest(), entry["task_id"]
    for name in "AB":
        for doc in check.query({"writer": name}):
            assert doc["writer"] == name
    assert check.verify(deep=True).ok
