"""to_dask and map_objects on a distributed LocalCluster of 2 worker processes.

One cluster and one collection for the module; the worker-kill test comes last, since it
takes a worker down (its nanny restarts it).
"""

from __future__ import annotations

import math
import os
import signal
import urllib.request

import pandas as pd
import pytest

from s3explore import ConfigurationError, DuckDBStore, MemoryStore, S3Store
from s3explore._frames._dask import plan
from tests.dask.conftest import ACCESS_KEY, CREDENTIALS, SECRET, build_collection, document

distributed = pytest.importorskip("distributed")

SIZE = 2000
PARTS = 250


@pytest.fixture(scope="module")
def collection(dask_s3, tmp_path_factory):
    return build_collection(dask_s3, tmp_path_factory.mktemp("dask-index"), SIZE)


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True,
                                  dashboard_address="127.0.0.1:0") as cluster, \
            distributed.Client(cluster) as client:
        yield client


@pytest.fixture
def store(collection):
    store = collection.store()
    yield store
    store.close()


def by_key(store, **kwargs) -> pd.DataFrame:
    return store.query_df(sort={"task_id": 1}, **kwargs)


ARGUMENTS = [
    {},
    {"fields": ["formula", "band_gap", "calc"]},
    {"criteria": {"nsites": {"$in": [2, 5]}}, "fetch": ["dos.efermi", "dos.densities"]},
    {"criteria": {"formula": "Si", "nsites": {"$lt": 4}}, "fields": ["nsites", "calc.converged"],
     "fetch": ["dos"]},
]


@pytest.mark.parametrize("kwargs", ARGUMENTS, ids=["all", "fields", "fetch", "both"])
def test_to_dask_computes_what_query_df_gives(client, store, kwargs):
    frame = store.to_dask(partition_size=100, **kwargs)
    want = by_key(store, **kwargs)
    assert frame.npartitions == math.ceil(len(want) / 100) > 1
    assert list(frame.columns) == list(want.columns)
    assert frame.dtypes.to_dict() == want.dtypes.to_dict()
    got = frame.compute()
    pd.testing.assert_frame_equal(got, want)


def test_each_partition_is_a_key_range_read_by_its_own_task(client, store):
    criteria = {"formula": "Si"}
    slices = plan(store, criteria, 100)
    frame = store.to_dask(criteria, ["nsites"], partition_size=100)
    assert frame.npartitions == len(slices) == math.ceil(SIZE / 4 / 100)
    for number in (0, len(slices) - 1):
        part = slices[number]
        assert "$and" in part.criteria  # the user's criteria AND a range on the key
        bounds = part.criteria["$and"][1]["task_id"]
        assert bounds["$gte"] == part.first
        got = frame.get_partition(number).compute()
        assert len(got) == part.rows
        assert got["task_id"].iloc[0] == part.first and got["task_id"].iloc[-1] == part.last
        assert list(got.index) == list(range(part.start, part.start + part.rows))


def test_map_objects_applies_a_function_to_every_document(client, store):
    def summary(doc):
        return doc["task_id"], float(doc["dos"]["densities"].sum()), doc.get("band_gap")

    bag = store.map_objects(summary, partition_size=PARTS)
    assert bag.npartitions == SIZE // PARTS
    got = bag.compute()
    assert len(got) == SIZE
    assert got == [summary(document(i)) for i in range(SIZE)]  # what was stored, in key order


def test_map_objects_with_a_client_gives_futures(client, store):
    futures = store.map_objects(lambda d: d["nsites"], {"formula": "GaAs"},
                                partition_size=250, client=client)
    assert all(isinstance(f, distributed.Future) for f in futures)
    results = [n for part in client.gather(futures) for n in part]
    assert results == list(by_key(store, criteria={"formula": "GaAs"})["nsites"])


def test_an_index_in_memory_is_refused_before_any_task_runs(client, collection):
    store = S3Store(MemoryStore("in-memory"), collection.bucket, s3_profile=dict(CREDENTIALS),
                    endpoint_url=collection.server.endpoint_url)
    with store:
        store.index.update([{"task_id": "mp-00001"}])
        with pytest.raises(ConfigurationError, match="mem://in-memory.*arrives empty"):
            store.to_dask()
        with pytest.raises(ConfigurationError, match="arrives empty"):
            store.map_objects(len, client=client)


def test_an_index_file_open_for_writing_here_is_refused(client, collection):
    store = S3Store(DuckDBStore("index", path=collection.path), collection.bucket,
                    s3_profile=dict(CREDENTIALS), endpoint_url=collection.server.endpoint_url)
    with store, pytest.raises(ConfigurationError, match="open for writing in this process"):
        store.to_dask(fields=["nsites"])


def _dashboard_pages(client, keys) -> dict[str, str]:
    base = client.dashboard_link.rsplit("/", 1)[0]
    workers = list(client.scheduler_info()["workers"])
    paths = ["status", "tasks", "workers", "graph", "individual-task-stream",
             "individual-progress", "individual-plots.json", "info/main/workers.html",
             "info/main/logs.html", "info/main/exceptions.html", "json/index.html",
             "json/counts.json"]
    for address in workers:
        quoted = urllib.request.quote(address, safe="")
        paths += [f"info/worker/{quoted}.html", f"info/logs/{quoted}.html",
                  f"info/call-stacks/{quoted}.html"]
    paths += [f"info/task/{urllib.request.quote(str(k), safe='')}.html" for k in keys]
    pages = {}
    for path in paths:
        with urllib.request.urlopen(f"{base}/{path}", timeout=30) as response:
            pages[path] = response.read().decode("utf-8", "replace")
    return pages


def test_secrets_never_appear_in_graphs_keys_or_the_dashboard(client, store):
    frame = store.to_dask({"nsites": 3}, ["nsites"], fetch=["dos.efermi"], partition_size=100)
    graph = frame.__dask_graph__()
    bag = store.map_objects(len, {"nsites": 3}, partition_size=100)
    texts = [repr(frame), str(frame.expr), repr(frame.expr), repr(dict(graph)),
             repr(list(graph)), repr(bag), repr(dict(bag.__dask_graph__())),
             frame._repr_html_(), repr(store)]
    persisted = client.persist(frame)
    distributed.wait(persisted)
    pages = _dashboard_pages(client, [k for k in graph if "s3explore" in str(k)][:3])
    assert any("s3explore-read" in page for page in pages.values())  # task pages are real
    for text in [*texts, *pages.values()]:
        assert SECRET not in text and ACCESS_KEY not in text
    specs = client.run_on_scheduler(
        lambda dask_scheduler: [repr(ts.run_spec) for ts in dask_scheduler.tasks.values()])
    logs = client.get_worker_logs()
    assert specs and not any(SECRET in s for s in [*specs, repr(logs)])
    del persisted


def test_a_worker_killed_mid_run_is_recovered_with_correct_results(client, collection):
    collection.server.latency = 0.02  # slow enough that the run outlasts the kill
    store = collection.store()
    try:
        kwargs = {"criteria": {"nsites": {"$lte": 2}}, "fields": ["formula"],
                  "fetch": ["dos.efermi"]}
        want = by_key(store, **kwargs)
        frame = store.to_dask(partition_size=50, **kwargs)
        futures = client.compute(frame.to_delayed())
        distributed.wait(futures, return_when="FIRST_COMPLETED")
        busy = [w for w, tasks in client.processing().items() if tasks]
        assert busy, "the run finished before a worker could be killed"
        pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
        os.kill(pid, signal.SIGKILL)  # the worker process dies mid-task; its nanny restarts it
        got = pd.concat(client.gather(futures))
        pd.testing.assert_frame_equal(got, want)
        client.wait_for_workers(2, timeout=60)
    finally:
        collection.server.latency = 0.0
        store.close()
