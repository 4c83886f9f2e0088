"""A collection for the Dask tests: objects on a local S3 endpoint, the index in a DuckDB file.

Worker processes reach the endpoint on 127.0.0.1 and open the index file read-only. The
credentials are inline and distinctive, so a test can look for them anywhere they must not
be (moto's server accepts any).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pytest

from s3explore import DuckDBStore, S3Store
from s3explore.local_s3 import LocalS3, LocalS3Process

ACCESS_KEY = "AKIAS3XDASKTESTKEY77"
SECRET = "s3x-dask-SECRET-7f3a9c1e-must-never-show"
CREDENTIALS = {"aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET,
               "region_name": "us-east-1"}
FORMULAS = ["Fe2O3", "LiCoO2", "Si", "GaAs"]
_names = itertools.count()


def document(i: int) -> dict:
    doc = {"task_id": f"mp-{i:05d}", "formula": FORMULAS[i % 4], "nsites": i % 7 + 1,
           "dos": {"efermi": i / 10, "densities": np.arange(4, dtype=float) * i}}
    if i % 4:
        doc["band_gap"] = i * 0.01  # sparse: a float column with gaps
    if i % 5 == 0:
        doc["tags"] = ["a", str(i)]  # list values stay whole
    if i % 3 == 0:
        doc["calc"] = {"encut": 520, "converged": bool(i % 2)}  # sparse ints and booleans
    return doc


@dataclass
class Collection:
    server: LocalS3 | LocalS3Process
    bucket: str
    path: str
    size: int

    def store(self, **kwargs) -> S3Store:
        """A connected S3Store on the collection, its index opened read-only."""
        index = DuckDBStore("index", path=self.path, read_only=True)
        kwargs.setdefault("s3_workers", 4)
        store = S3Store(index, self.bucket, s3_profile=dict(CREDENTIALS),
                        endpoint_url=self.server.endpoint_url, compress=True, **kwargs)
        store.connect()
        return store


def build_collection(server: LocalS3 | LocalS3Process, folder, size: int,
                     docs: Iterable[dict] | None = None,
                     searchable_fields: list[str] | None = None) -> Collection:
    """``size`` documents (``document(i)``, or ``docs``) in a new bucket and index file."""
    bucket = server.create_bucket(f"dask-{os.getpid()}-{next(_names)}")
    path = str(folder / "index.duckdb")
    fields = searchable_fields or ["formula", "nsites", "band_gap", "tags", "calc"]
    writer = S3Store(DuckDBStore("index", path=path), bucket, s3_profile=dict(CREDENTIALS),
                     endpoint_url=server.endpoint_url, compress=True, s3_workers=16,
                     searchable_fields=fields)
    with writer:
        writer.update(docs if docs is not None else (document(i) for i in range(size)))
    return Collection(server, bucket, path, size)  # the writer closed: workers may read it


@pytest.fixture(scope="module")
def cluster():
    """A distributed LocalCluster of 2 worker processes of 2 threads, and its Client."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True,
                                  dashboard_address="127.0.0.1:0") as local, \
            distributed.Client(local) as client:
        yield client


@pytest.fixture(scope="package")
def dask_s3():
    # one for the folder: each module fills buckets of its own
    with LocalS3Process() as server:  # moto on a core of its own
        yield server
