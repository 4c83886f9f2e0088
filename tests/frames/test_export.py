"""to_parquet(..., fetch=...): an export of objects that resumes where it stopped.

Interrupted (Ctrl-C in this process, SIGKILL of another), the export keeps its finished parts
in ``<path>.parts/``; run again with the same arguments, it fetches only the objects of the
parts still missing (counted as GETs on the server), and its file equals an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from s3explore import ConfigurationError, DuckDBStore, ProgressCounter, QueryError, S3Store
from tests.conftest import CREDENTIALS

pytestmark = pytest.mark.real_s3

N = 120


def docs(n: int = N) -> list[dict]:
    return [{"task_id": f"mp-{i:04d}", "nsites": i % 7, "band_gap": 0.1 * i,
             "dos": {"energies": np.linspace(0, 1, 3 + i % 4)},
             "output": {"energy": -1.5 * i}, **({"rare": i} if i % 40 == 0 else {})}
            for i in range(n)]


@pytest.fixture
def loaded(make_store):
    store = make_store(searchable_fields=["nsites", "band_gap"])
    assert store.update(docs()).ok
    return store


FETCH = ["output.energy", "dos.energies", "rare"]


def test_an_export_equals_query_df_with_the_same_fetch(loaded, tmp_path):
    path = tmp_path / "out.parquet"
    rows = loaded.to_parquet(path, {"nsites": {"$lt": 5}}, ["nsites"], fetch=FETCH,
                             part_size=16)
    expected = loaded.query_df({"nsites": {"$lt": 5}}, ["nsites"], sort={"task_id": 1},
                               fetch=FETCH)
    written = pd.read_parquet(path)
    assert rows == len(expected) == len(written) > 16 * 3
    assert list(written.columns) == list(expected.columns)
    assert written["task_id"].tolist() == expected["task_id"].tolist()
    assert written["output.energy"].tolist() == expected["output.energy"].tolist()
    assert [list(a) for a in written["dos.energies"]] == [
        list(a) for a in expected["dos.energies"]]
    # one type across the parts, though most parts have no value at all
    assert str(pq.read_table(path).schema.field("rare").type) == "int64"
    assert written["rare"].fillna(-1).tolist() == expected["rare"].fillna(-1).tolist()
    assert not (tmp_path / "out.parquet.parts").exists()


def test_interrupted_then_rerun_fetches_only_what_is_missing(loaded, s3_server, tmp_path):
    path = tmp_path / "out.parquet"
    parts = tmp_path / "out.parquet.parts"

    class StopAfterTwoParts(ProgressCounter):
        def advance(self, docs=0, nbytes=0, failed=0):
            super().advance(docs, nbytes, failed)
            if self.snapshot().done >= 40:
                raise KeyboardInterrupt  # as Ctrl-C would, between parts

    with pytest.raises(KeyboardInterrupt):
        loaded.to_parquet(path, fetch=FETCH, part_size=20, progress=StopAfterTwoParts())
    assert not path.exists()
    record = json.loads((parts / "progress.json").read_text())
    assert [p["entries"] for p in record["parts"]] == [20, 20]
    assert record["parts"][-1]["last_key"] == "mp-0039"

    s3_server.reset_counters()
    counter = ProgressCounter()
    assert loaded.to_parquet(path, fetch=FETCH, part_size=20, progress=counter) == N
    assert s3_server.requests["GET"] == N - 40  # the 40 objects of the parts kept: not again
    assert counter.snapshot().done == N
    assert not parts.exists()

    whole = tmp_path / "whole.parquet"
    loaded.to_parquet(whole, fetch=FETCH, part_size=1000)
    assert pq.read_table(path).equals(pq.read_table(whole))


@pytest.mark.slow
def test_a_killed_export_resumes_in_another_process(s3_server, bucket, tmp_path):
    """SIGKILL mid-export (no clean-up runs): the rerun fetches the missing parts only."""
    index = str(tmp_path / "index.duckdb")
    config = dict(bucket=bucket, s3_profile=dict(CREDENTIALS),
                  endpoint_url=s3_server.endpoint_url, searchable_fields=["nsites"])
    with S3Store(DuckDBStore("idx", path=index), **config) as writer:
        assert writer.update(docs()).ok
    path = tmp_path / "out.parquet"
    child = textwrap.dedent(f"""
        import time
        from s3explore import DuckDBStore, S3Store
        config = {config!r}
        def slowly(snapshot):  # a slow consumer: time to be killed between parts
            time.sleep(0.3)
        with S3Store(DuckDBStore("idx", path={index!r}, read_only=True), **config) as store:
            store.to_parquet({str(path)!r}, fetch={FETCH!r}, part_size=10, progress=slowly)
    """)
    process = subprocess.Popen([sys.executable, "-c", child])
    record = tmp_path / "out.parquet.parts" / "progress.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if record.exists() and len(json.loads(record.read_text())["parts"]) >= 3:
            break
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(30)
    done = len(json.loads(record.read_text())["parts"])
    assert 3 <= done < N // 10 and not path.exists()

    s3_server.reset_counters()
    with S3Store(DuckDBStore("idx", path=index, read_only=True), **config) as store:
        assert store.to_parquet(path, fetch=FETCH, part_size=10) == N
    assert s3_server.requests["GET"] == N - 10 * done
    assert pd.read_parquet(path)["task_id"].tolist() == [d["task_id"] for d in docs()]


def test_another_export_in_the_same_place_is_refused_until_asked_afresh(loaded, tmp_path):
    path = tmp_path / "out.parquet"

    def stop(snapshot):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        loaded.to_parquet(path, fetch=FETCH, part_size=20, progress=stop)
    with pytest.raises(ConfigurationError, match="parts of another export"):
        loaded.to_parquet(path, {"nsites": 1}, fetch=FETCH, part_size=20)
    with pytest.warns(UserWarning, match="'rare' is in none of the 17 objects") as said:
        assert loaded.to_parquet(path, {"nsites": 1}, fetch=FETCH, resume=False,
                                 part_size=5) == len(
            [d for d in docs() if d["nsites"] == 1]) == 17
    assert len([w for w in said if "rare" in str(w.message)]) == 1  # once, not once a part


def test_a_damaged_record_is_named(loaded, tmp_path):
    path = tmp_path / "out.parquet"
    (tmp_path / "out.parquet.parts").mkdir()
    (tmp_path / "out.parquet.parts" / "progress.json").write_text("{not json")
    with pytest.raises(ConfigurationError, match="progress.json.*resume=False"):
        loaded.to_parquet(path, fetch=FETCH)


def test_undecodable_objects_follow_on_error_in_every_part(loaded, s3_server, bucket,
                                                          tmp_path):
    s3_server.client().put_object(Bucket=bucket, Key="mp-0005", Body=b"not zlib",
                                  Metadata={"compression": "zlib"})
    path = tmp_path / "out.parquet"
    with pytest.warns(UserWarning, match="mp-0005"):
        rows = loaded.to_parquet(path, fetch=FETCH, part_size=25, on_error="skip")
    assert rows == N - 1
    assert "mp-0005" not in pd.read_parquet(path)["task_id"].tolist()


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"part_size": 0}, ConfigurationError, "part_size"),
    ({"resume": "yes"}, ConfigurationError, "resume"),
    ({"on_error": "ignore"}, ConfigurationError, "on_error"),
    ({"fields": ["no_such_field"]}, QueryError, "no_such_field"),
])
@pytest.mark.slow
def test_bad_arguments_are_refused_before_any_fetch(loaded, s3_server, tmp_path, kwargs,
                                                    error, message):
    s3_server.reset_counters()
    with pytest.raises(error, match=message):
        loaded.to_parquet(tmp_path / "out.parquet", fetch=FETCH, **kwargs)
    assert s3_server.requests["GET"] == 0
    assert not (tmp_path / "out.parquet.parts").exists()


def test_export_options_need_fetch(loaded, tmp_path):
    with pytest.raises(ConfigurationError, match="pass fetch="):
        loaded.to_parquet(tmp_path / "out.parquet", part_size=10)


@pytest.mark.slow
def test_an_interrupted_query_df_fetch_points_to_the_export(loaded):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    loaded.objects.read_doc = interrupt  # as Ctrl-C during the fetch would
    with pytest.raises(KeyboardInterrupt) as stopped:
        loaded.query_df(fetch=FETCH)
    assert any("to_parquet" in note for note in stopped.value.__notes__)
