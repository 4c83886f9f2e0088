"""How many entries a ``to_dask(fetch=...)`` partition holds: sized by the bytes its task will
download and by the cluster it runs on.

The index does not record object sizes, so the mean stored size of the matching objects is
estimated from a few HEAD requests on keys spread over the result (``SIZE_SAMPLE`` of them,
in parallel). Each partition then holds as many entries as fit in ``partition_bytes`` at that
mean size (at least one), at most ``PARTITION_SIZE`` entries, and few enough that the
result makes at least one partition per thread of the active distributed cluster, so that
every worker gets work. Objects of very different sizes make partitions of uneven bytes: the
bound holds for the mean, not for each object.
"""

from __future__ import annotations

import math
from typing import Any

from s3explore import _codec as codec
from s3explore._errors import ObjectNotFoundError
from s3explore._frames._dask._plan import at
from s3explore._frames._dask._workers import current_client

PARTITION_SIZE = 10_000  # entries per partition without fetch=, and at most with it
PARTITION_BYTES = 64 * 2**20  # stored bytes a fetch= partition downloads, at most
SIZE_SAMPLE = 16  # objects whose size is asked for to estimate the mean


def cluster_threads(client: Any = None) -> int:
    """Task threads of the distributed cluster the work will run on (1 without one)."""
    client = current_client(client)
    if client is None:
        return 1
    try:
        return max(1, sum(client.nthreads().values()))
    except Exception:  # a closed or unreachable client: size as for one thread
        return 1


def mean_object_bytes(store: Any, keys: Any) -> float | None:
    """The mean stored size of the objects of ``keys``, from up to ``SIZE_SAMPLE`` of them
    spread over the keys; None when none of them has an object."""
    count = len(keys)
    if not count:
        return None
    picks = min(count, SIZE_SAMPLE)
    positions = sorted({round(i * (count - 1) / max(picks - 1, 1)) for i in range(picks)})
    sample = [codec.key_string(k, store.key) for k in at(keys, positions)]

    sizes = []
    workers = min(store._read_workers(), len(sample))
    for outcome in store._parallel_reads(store._object_size, sample, workers):
        if isinstance(outcome.error, ObjectNotFoundError):
            continue  # its row will be nulls and a warning; the others tell the size
        if outcome.error is not None:
            raise outcome.error
        sizes.append(outcome.value)
    return sum(sizes) / len(sizes) if sizes else None


def entries_per_partition(count: int, mean_bytes: float | None, partition_bytes: int,
                          threads: int) -> int:
    """Entries per partition for ``count`` entries of ``mean_bytes`` each (see the module
    docstring)."""
    size = PARTITION_SIZE
    if mean_bytes:
        size = min(size, max(1, math.floor(partition_bytes / mean_bytes)))
    if count:
        size = min(size, math.ceil(count / threads))
    return max(1, size)


def sizer(store: Any, partition_bytes: int, client: Any = None) -> Any:
    """The ``plan`` sizer of a fetch= frame: entries per partition for the matching keys."""
    threads = cluster_threads(client)

    def size(keys: Any) -> int:
        return entries_per_partition(len(keys), mean_object_bytes(store, keys),
                                     partition_bytes, threads)

    return size
