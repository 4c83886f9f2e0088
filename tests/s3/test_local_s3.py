"""The local S3 endpoints themselves: in-process and in a child process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from s3explore.local_s3 import LocalS3Process


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie still answers kill(0); it has exited all the same
        with open(f"/proc/{pid}/status") as status:
            return "\nState:\tZ" not in status.read()
    except FileNotFoundError:
        return False


def _wait_gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
def test_child_process_server_serves_and_stops():
    with LocalS3Process() as server:
        pid = server.pid
        server.create_bucket("child-process-bucket")
        client = server.client()
        client.put_object(Bucket="child-process-bucket", Key="k", Body=b"body")
        assert client.get_object(Bucket="child-process-bucket", Key="k")["Body"].read() == b"body"
    assert _wait_gone(pid)


@pytest.mark.slow
def test_latency_can_change_while_it_runs():
    with LocalS3Process() as server:
        server.create_bucket("latency-bucket")
        client = server.client()

        def one_request() -> float:
            start = time.perf_counter()
            client.head_bucket(Bucket="latency-bucket")
            return time.perf_counter() - start

        one_request()
        server.latency = 0.3
        time.sleep(0.2)  # the command travels through a pipe
        assert one_request() >= 0.3
        server.latency = 0
        time.sleep(0.2)
        assert one_request() < 0.3


@pytest.mark.slow
def test_child_stops_when_its_parent_is_killed(tmp_path):
    script = (
        "import sys, time\n"
        "from s3explore.local_s3 import LocalS3Process\n"
        "server = LocalS3Process(); server.start()\n"
        "print(server.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert _alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert _wait_gone(child), "the server outlived its parent"
    finally:
        parent.kill()
        parent.stdout.close()


def test_a_server_that_cannot_start_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(sys, "executable", "/bin/false")
    with pytest.raises(RuntimeError, match="did not start"):
        LocalS3Process(startup_timeout=5).start()
