"""An endpoint that accepts connections and never answers is reported within the timeout."""

from __future__ import annotations

import time

import pytest

from s3explore import MemoryStore, S3ExploreError, S3Store
from s3explore._errors import ConfigurationError, TransientS3Error
from s3explore._transfer import RetryPolicy, call_with_retries
from tests.conftest import CREDENTIALS
from tests.hardening._hang import silent_endpoint, switchable_proxy


def material(i: int) -> dict:
    return {"task_id": f"mp-{i}", "formula": "NaCl", "sites": list(range(50))}


def silent_store(endpoint_url: str, **kwargs) -> S3Store:
    return S3Store(MemoryStore("silent"), "no-answer", s3_profile=dict(CREDENTIALS),
                   endpoint_url=endpoint_url, **kwargs)


def test_connect_to_a_silent_endpoint_names_it_and_the_timeout():
    with silent_endpoint() as endpoint:
        store = silent_store(endpoint.endpoint_url, timeout=2)
        with pytest.raises(TransientS3Error) as info:
            store.connect()
    message = str(info.value)
    assert endpoint.endpoint_url in message and "'no-answer'" in message
    assert "no answer within 1 s (read timeout)" in message and "timeout=" in message
    assert info.value.code == "ReadTimeout"


def test_default_timeout_reports_a_silent_endpoint_well_before_botocores_minutes():
    # botocore alone: 60 s per attempt, times our 5 attempts. The bound is loose on purpose:
    # it proves the deadline, not a speed (the default is 20 s).
    with silent_endpoint() as endpoint:
        store = silent_store(endpoint.endpoint_url)
        started = time.monotonic()
        with pytest.raises(TransientS3Error, match="within 10 s"):
            store.connect()
    assert time.monotonic() - started < 60


@pytest.mark.parametrize("call", ["query", "query_one", "get", "update"])
def test_an_endpoint_that_stops_answering_mid_session(call, s3_server, bucket):
    with switchable_proxy(int(s3_server.endpoint_url.rsplit(":", 1)[1])) as (proxy, hang):
        store = S3Store(MemoryStore(f"hang-{call}"), bucket, s3_profile=dict(CREDENTIALS),
                        endpoint_url=proxy.endpoint_url, timeout=2, compress=True)
        store.connect()
        assert store.update([material(i) for i in range(3)]).ok
        hang.set()
        with pytest.raises(S3ExploreError) as info:
            if call == "query":
                list(store.query())
            elif call == "query_one":
                store.query_one({"task_id": "mp-1"})
            elif call == "get":
                store.get("mp-2")
            else:
                store.update([material(9)])
        store.close()
    message = str(info.value)
    assert proxy.endpoint_url in message
    assert "within 1 s (read timeout)" in message


def test_timeout_is_checked_and_kept_in_the_config():
    for bad in (0, -1, "20", True, None):
        with pytest.raises(ConfigurationError, match="timeout"):
            silent_store("http://127.0.0.1:9", timeout=bad)
    store = silent_store("http://127.0.0.1:9", timeout=90)
    assert store.as_dict()["timeout"] == 90
    assert S3Store.from_dict(store.as_dict()).objects.read_timeout == 45


def test_retries_stop_at_the_deadline():
    now = [0.0]

    def clock() -> float:
        return now[0]

    calls = []

    def slow_failure():
        calls.append(now[0])
        now[0] += 3.0  # each attempt "takes" 3 s
        raise TransientS3Error("timed out", code="ReadTimeout")

    policy = RetryPolicy(attempts=100, base_delay=0.0001, deadline=10)
    with pytest.raises(TransientS3Error):
        call_with_retries(slow_failure, policy, lambda e: True, clock=clock)
    assert calls == [0.0, 3.0, 6.0, 9.0]  # the 5th would start after 10 s
    with pytest.raises(ConfigurationError, match="deadline"):
        RetryPolicy(deadline=0)


def test_update_with_more_retries_still_stops_at_the_stores_deadline(s3_server, bucket):
    """update(retries=100) raises the attempts, not the deadline: without it, 100 attempts
    of 1 s each (the read timeout) would take over 100 s; the loose bound proves the
    deadline, not a speed."""
    with switchable_proxy(int(s3_server.endpoint_url.rsplit(":", 1)[1])) as (proxy, hang):
        store = S3Store(MemoryStore("hang-retries"), bucket, s3_profile=dict(CREDENTIALS),
                        endpoint_url=proxy.endpoint_url, timeout=2, compress=True)
        store.connect()
        hang.set()
        started = time.monotonic()
        result = store.update([material(1)], retries=100, errors="collect")
        elapsed = time.monotonic() - started
        store.close()
    assert [f.key for f in result.failures] == ["mp-1"] and "timeout" in result.failures[0].reason
    assert elapsed < 60
