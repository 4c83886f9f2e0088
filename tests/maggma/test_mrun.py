"""``mrun`` on a JSON builder file over s3explore stores, serially and with processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from monty.serialization import dumpfn, loadfn

from s3explore import MontyStore, S3Store
from tests.maggma.builders import DosSummary
from tests.maggma.test_builders import expected_summary, material

MRUN = Path(sys.executable).parent / "mrun"


def stores(s3_server, bucket, tmp_path) -> tuple[S3Store, MontyStore]:
    # Credentials from the AWS profile files (the test session's [default]), never inline:
    # a builder file holds configuration, not secrets.
    source = S3Store(MontyStore("raw", database_path=str(tmp_path / "raw")), bucket,
                     endpoint_url=s3_server.endpoint_url, compress=True,
                     searchable_fields=["formula", "nelements"])
    target = MontyStore("summary", database_path=str(tmp_path / "summary"))
    return source, target


@pytest.mark.parametrize("processes", [1, 2])
@pytest.mark.slow
def test_mrun_runs_a_json_builder_file(s3_server, bucket, tmp_path, processes, request):
    source, target = stores(s3_server, bucket, tmp_path)
    with source:
        source.update([material(i) for i in range(10)])
    path = tmp_path / "builder.json"
    dumpfn(DosSummary(source, target), path)
    assert loadfn(path).source == source  # the file rebuilds the same stores

    env = {**os.environ, "PYTHONPATH": str(request.config.rootpath)}
    run = subprocess.run([str(MRUN), "-n", str(processes), "--no_bars", str(path)],
                         capture_output=True, text=True, env=env, timeout=240,
                         cwd=request.config.rootpath)
    assert run.returncode == 0, run.stderr[-3000:]

    with target:
        done = {d["task_id"]: {k: d[k] for k in ("formula", "dos_max", "lattice_a", "state")}
                for d in target.query()}
    assert done == {f"mp-{i}": expected_summary(i) for i in range(10)}
