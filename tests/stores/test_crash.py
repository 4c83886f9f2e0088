"""A process killed with SIGKILL in the middle of an update loses nothing that was indexed.

The update runs in a child process against the session's S3 endpoint (in this process)
with an on-disk index (a DuckDB file, and a MontyStore file); the test kills it once objects
are landing, then checks the bucket and the index it left behind, and reruns the update to
completion.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest

from s3explore import DuckDBStore, MontyStore, S3Store
from s3explore.local_s3 import LocalS3
from tests.conftest import CREDENTIALS

pytestmark = pytest.mark.real_s3

DOCS = 240
KILL_AFTER = 48  # objects landed before the kill
CHUNK = 8

CHILD = textwrap.dedent(
    """
    import sys
    from tests.stores.test_crash import DOCS, crash_docs, crash_store

    endpoint, bucket, path, kind = sys.argv[1:5]
    store = crash_store(endpoint, bucket, path, kind)
    store.connect()
    print(store.update(crash_docs(pause_after=DOCS // 2), workers=4, chunk_size={chunk}),
          flush=True)
    """
).format(chunk=CHUNK)


def crash_docs(pause_after: int | None = None):
    """Streamed, like a real long update; the same documents in the child and the rerun.

    The child's stream stalls at ``pause_after`` until it is killed (its parent never writes
    to its stdin), so a fast server cannot finish the update before the kill lands."""
    for i in range(DOCS):
        if i == pause_after:
            sys.stdin.read()
        yield {"task_id": f"run/{i:05d}", "step": i, "energy": -1.5 * i, "payload": "x" * 300}


def crash_store(endpoint: str, bucket: str, path: str, kind: str) -> S3Store:
    index = (DuckDBStore("crash", path=f"{path}.duckdb") if kind == "duckdb"
             else MontyStore("crash", database_path=path))
    return S3Store(index, bucket, s3_profile=dict(CREDENTIALS), endpoint_url=endpoint,
                   compress=True, searchable_fields=["step", "energy"])


def count_objects(s3_server: LocalS3, bucket: str) -> int:
    paginator = s3_server.client().get_paginator("list_objects_v2")
    return sum(page.get("KeyCount", 0) for page in paginator.paginate(Bucket=bucket))


def listed(s3_server: LocalS3, bucket: str) -> set[str]:
    paginator = s3_server.client().get_paginator("list_objects_v2")
    return {o["Key"] for page in paginator.paginate(Bucket=bucket)
            for o in page.get("Contents", [])}


@pytest.mark.parametrize("kind", ["duckdb", "monty"])
@pytest.mark.slow
def test_sigkill_mid_update_leaves_no_entry_without_object_and_rerun_completes(
    s3_server, bucket, tmp_path, request, record_property, kind
):
    path = str(tmp_path / "index")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, s3_server.endpoint_url, bucket, path, kind],
        cwd=request.config.rootpath, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while count_objects(s3_server, bucket) < KILL_AFTER:
            if child.poll() is not None:
                out, err = child.communicate()
                pytest.fail(f"the update ended before it could be killed:\n{out}\n{err}")
            assert time.monotonic() < deadline, "the child never started uploading"
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate()
    assert child.returncode == -signal.SIGKILL

    landed = listed(s3_server, bucket)
    assert KILL_AFTER <= len(landed) < DOCS, "the kill must hit the middle of the update"
    store = crash_store(s3_server.endpoint_url, bucket, path, kind)
    store.connect()
    try:
        entries = {e["task_id"]: e for e in store.index.query()}
        # The consumer indexes each batch of CHUNK as it lands, so batches were flushed.
        assert entries, "no index batch was flushed before the kill"
        dangling = sorted(set(entries) - landed)
        assert not dangling, f"index entries without objects: {dangling[:5]}"
        report = store.verify()
        assert report.dangling == [] and report.mismatched == []  # ... with the right bytes
        assert set(report.orphans) == landed - set(entries)
        record_property("landed_at_kill", len(landed))
        record_property("indexed_at_kill", len(entries))

        result = store.update(crash_docs(), workers=4, chunk_size=CHUNK)
        assert result.ok and result.written == DOCS
        assert store.count() == DOCS
        assert store.verify().ok
        assert store.get("run/00239")["energy"] == -1.5 * 239
    finally:
        store.close()
