"""S3Store frames: bookkeeping fields hidden, and fetch= reading paths from the objects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from s3explore import ConfigurationError, QueryError
from s3explore.local_s3 import LocalS3
from tests.frames.conftest import _s3_docs

# ---------------------------------------------------------------- S3Store and fetch


def test_s3store_frames_hide_bookkeeping_unless_asked(store):
    store.update([{"task_id": "a", "formula": "Si", "nsites": 2, "band_gap": 1.1}])
    df = store.query_df()
    assert list(df.columns) == ["task_id", "band_gap", "formula", "nsites"]
    asked = store.query_df(fields=["obj_hash", "compression"])
    assert asked["compression"].tolist() == ["zlib"]
    assert len(asked["obj_hash"][0]) == 40


def test_fetch_reads_paths_from_the_objects(make_store):
    store = make_store(searchable_fields=["formula", "nsites"])
    docs = _s3_docs()
    store.update(docs)
    df = store.query_df(fetch=["dos.energies", "output.energy", "rare"], sort={"nsites": 1})
    assert list(df.columns) == ["task_id", "formula", "nsites", "dos.energies",
                                "output.energy", "rare"]
    # arrays stay the numpy arrays the objects decode to
    assert all(isinstance(a, np.ndarray) for a in df["dos.energies"])
    assert [a.tolist() for a in df["dos.energies"]] == [d["dos"]["energies"].tolist()
                                                        for d in docs]
    assert df["output.energy"].dtype == np.float64
    assert df["output.energy"].tolist() == [d["output"]["energy"] for d in docs]
    # a path most objects lack is null there
    assert df["rare"].dtype == pd.Int64Dtype()
    assert df["rare"].tolist() == [3 if i == 3 else pd.NA for i in range(len(docs))]


def test_fetch_of_a_subdocument_is_flattened_and_wins_over_the_index(make_store):
    store = make_store(searchable_fields=["nsites", "output"])
    docs = _s3_docs(3)
    store.update(docs)
    store.index.update([{**store.index.query_one({"task_id": "obj-1"}), "output": {"energy": 9}}])
    df = store.query_df(fetch=["output"], sort={"nsites": 1})
    assert list(df.columns) == ["task_id", "nsites", "output.energy", "output.forces"]
    assert df["output.energy"].tolist() == [d["output"]["energy"] for d in docs]
    assert df["output.forces"].tolist() == [d["output"]["forces"] for d in docs]


@pytest.mark.slow
def test_fetch_missing_object_is_null_with_a_warning_naming_it(make_store, s3_server, bucket):
    store = make_store(searchable_fields=["nsites"])
    store.update(_s3_docs(5))
    s3_server.client().delete_object(Bucket=bucket, Key="obj-2")
    with pytest.warns(UserWarning, match="obj-2") as record:
        df = store.query_df(fetch=["output.energy"], sort={"nsites": 1})
    named = [m for m in record if "obj-2" in str(m.message)]
    assert len(named) == 1
    assert named[0].filename == __file__  # points at the caller, not at s3explore
    assert len(df) == 5
    assert df["output.energy"].isna().tolist() == [False, False, True, False, False]
    assert df["task_id"].tolist() == [f"obj-{i}" for i in range(5)]


def test_fetch_path_in_no_object_warns(make_store):
    store = make_store(searchable_fields=["nsites"])
    store.update(_s3_docs(2))
    with pytest.warns(UserWarning, match="'output.enrgy' is in none") as record:
        df = store.query_df(fetch=["output.enrgy"])
    assert [w.filename for w in record] == [__file__]  # the caller's line
    assert df["output.enrgy"].isna().all()


@pytest.mark.slow
def test_fetch_runs_in_parallel(make_store):
    with LocalS3(latency=0.05) as slow:  # moto's buckets are per process: the fixture's is here
        store = make_store(endpoint=slow, searchable_fields=["nsites"], s3_workers=4)
        store.update(_s3_docs(12))
        slow.reset_counters()
        df = store.query_df(fetch=["nsites"], sort={"nsites": 1})
        assert df["nsites"].tolist() == list(range(12))
        assert slow.requests  # the objects were read, not the index copy
        assert slow.max_in_flight > 1


def test_fetch_on_an_index_store_is_refused(memory):
    with pytest.raises(ConfigurationError, match="fetch= reads fields from the S3 objects"):
        memory.query_df(fetch=["dos"])


def test_s3store_unknown_field_points_to_fetch(make_store):
    store = make_store(searchable_fields=["nsites"])
    store.update(_s3_docs(2))
    with pytest.raises(QueryError, match="'formula'.*fetch="):
        store.query_df(fields=["formula"])


