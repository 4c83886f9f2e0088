"""to_dask(fetch=...) partitions sized by the bytes they download and the cluster's threads,
on a LocalCluster of 2 worker processes of 2 threads each."""

from __future__ import annotations

import dask
import numpy as np
import pandas as pd
import pytest

from s3explore import ConfigurationError
from s3explore._frames._dask._sizing import PARTITION_SIZE, entries_per_partition
from tests.dask.conftest import build_collection

distributed = pytest.importorskip("distributed")

SIZE = 1350
BIG = 48
BIG_BYTES = 120_000  # random floats: zlib leaves them about this size


@pytest.fixture(scope="module")
def collection(dask_s3, tmp_path_factory):
    return build_collection(dask_s3, tmp_path_factory.mktemp("sizing-index"), SIZE)


def big_document(i: int) -> dict:
    values = np.random.default_rng(i).random(BIG_BYTES // 8)
    return {"task_id": f"big-{i:03d}", "formula": "Si", "nsites": i % 7 + 1,
            "dos": {"efermi": i / 10, "densities": values}}


@pytest.fixture(scope="module")
def big(dask_s3, tmp_path_factory):
    return build_collection(dask_s3, tmp_path_factory.mktemp("big-index"), BIG,
                            [big_document(i) for i in range(BIG)], ["formula", "nsites"])


@pytest.fixture
def store(collection):
    store = collection.store()
    yield store
    store.close()


def computed_by(client, frame) -> set[str]:
    """The workers that computed the frame's partitions (where each result is held)."""
    futures = client.compute(frame.to_delayed())
    distributed.wait(futures)
    holders = {w for workers in client.who_has(futures).values() for w in workers}
    del futures
    return holders


def test_a_fetch_frame_gives_every_worker_partitions(cluster, store):
    frame = store.to_dask(fields=["formula"], fetch=["dos.efermi"])
    threads = sum(cluster.nthreads().values())
    assert frame.npartitions >= threads == 4
    workers = computed_by(cluster, frame)
    assert workers == set(cluster.scheduler_info()["workers"])  # both did some
    pd.testing.assert_frame_equal(
        frame.compute(), store.query_df(fields=["formula"], fetch=["dos.efermi"],
                                        sort={"task_id": 1}))


def test_without_a_cluster_small_objects_make_one_partition(store):
    with dask.config.set(scheduler="threads"):
        frame = store.to_dask(fields=["formula"], fetch=["dos.efermi"])
        assert frame.npartitions == 1
        assert len(frame.compute()) == SIZE


def test_an_explicit_partition_size_wins(cluster, store):
    assert store.to_dask(fetch=["dos.efermi"], partition_size=PARTITION_SIZE).npartitions == 1
    assert store.to_dask(fetch=["dos.efermi"], partition_size=1000).npartitions == 2
    assert store.to_dask(fields=["formula"]).npartitions == 1  # no fetch: entries only


def test_big_objects_make_more_partitions_each_under_the_byte_target(cluster, big, store):
    target = 2**20
    small = store.to_dask({"task_id": {"$lt": f"mp-{BIG:05d}"}}, fetch=["dos.efermi"],
                          partition_bytes=target)
    with big.store() as large_store:
        frame = large_store.to_dask(fetch=["dos.efermi"], partition_bytes=target)
        assert small.npartitions == 4  # one per thread: BIG small objects fit in one
        assert frame.npartitions > small.npartitions
        sizes = {f"big-{i:03d}": large_store.objects.stat(f"big-{i:03d}").size
                 for i in range(BIG)}
        assert min(sizes.values()) > BIG_BYTES * 0.9  # the objects are as big as meant
        for number in range(frame.npartitions):
            keys = frame.get_partition(number).compute()["task_id"]
            assert 0 < sum(sizes[k] for k in keys) <= target
        got = frame.compute()
        assert got["dos.efermi"].tolist() == pytest.approx([i / 10 for i in range(BIG)])


def test_partition_bytes_is_checked(store):
    with pytest.raises(ConfigurationError, match="partition_bytes"):
        store.to_dask(fetch=["dos.efermi"], partition_bytes=0)


@pytest.mark.parametrize(("count", "mean", "threads", "want"), [
    (1350, 500, 1, 1350),            # small objects, one thread: one partition
    (1350, 500, 4, 338),             # one partition per thread
    (1350, 2**20, 1, 64),            # 64 MiB of 1 MiB objects
    (1350, 2**27, 4, 1),             # an object over the target: one per partition
    (10**6, 10, 1, PARTITION_SIZE),  # tiny objects: still at most PARTITION_SIZE entries
    (5, None, 8, 1),                 # no object found: sized by threads alone
])
def test_entries_per_partition(count, mean, threads, want):
    assert entries_per_partition(count, mean, 64 * 2**20, threads) == want
