"""The transfer engine on its own: ordering, bounds, early stop, retries, progress."""

from __future__ import annotations

import threading
import time

import pytest

from s3explore._errors import ConfigurationError, TransientS3Error
from s3explore._transfer import (
    DEFAULT_CALLBACK,
    Callback,
    ProgressCounter,
    RetryPolicy,
    TqdmCallback,
    as_callback,
    call_with_retries,
    ordered_map,
)


class Gauge:
    """Counts calls running at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.peak = self.calls = 0

    def __call__(self, item: int) -> int:
        with self.lock:
            self.now += 1
            self.calls += 1
            self.peak = max(self.peak, self.now)
        time.sleep(0.002 * (item % 3))  # uneven durations, so completion order differs
        with self.lock:
            self.now -= 1
        return item * 10


def test_results_come_in_input_order():
    outcomes = list(ordered_map(Gauge(), range(200), workers=8))
    assert [o.item for o in outcomes] == list(range(200))
    assert [o.value for o in outcomes] == [i * 10 for i in range(200)]


def test_running_calls_never_exceed_workers():
    gauge = Gauge()
    list(ordered_map(gauge, range(100), workers=3))
    assert 1 < gauge.peak <= 3


def test_items_are_pulled_lazily_within_the_window():
    pulled = []

    def source():
        for i in range(10_000):
            pulled.append(i)
            yield i

    results = ordered_map(lambda i: i, source(), workers=2, window=4)
    first = next(results)
    assert first.value == 0
    assert len(pulled) <= 5  # the window, plus the item being handed over
    results.close()


def test_closing_early_cancels_what_has_not_started():
    gauge = Gauge()
    results = ordered_map(gauge, range(1000), workers=2, window=4)
    for outcome in results:
        if outcome.item == 5:
            break
    results.close()
    time.sleep(0.05)
    assert gauge.calls <= 5 + 4 + 2


def test_stop_event_drains_running_calls_and_skips_the_rest():
    stop = threading.Event()
    started = []

    def work(i: int) -> int:
        started.append(i)
        if i == 3:
            stop.set()
        time.sleep(0.01)
        return i

    done = [o.item for o in ordered_map(work, range(100), workers=2, window=4, stop=stop)]
    # everything that started is reported; nothing after the stop was pulled
    assert sorted(done) == sorted(started)
    assert len(done) < 10


def test_errors_are_returned_per_item():
    def work(i: int) -> int:
        if i % 4 == 0:
            raise ValueError(f"bad {i}")
        return i

    outcomes = list(ordered_map(work, range(12), workers=3))
    assert [o.item for o in outcomes if o.error] == [0, 4, 8]
    assert str(outcomes[4].error) == "bad 4"


def test_errors_from_the_source_propagate():
    def source():
        yield 1
        raise RuntimeError("source broke")

    with pytest.raises(RuntimeError, match="source broke"):
        list(ordered_map(lambda i: i, source(), workers=2))


@pytest.mark.parametrize("workers", [0, -1, 1.5, True, None])
def test_bad_worker_counts_are_refused(workers):
    with pytest.raises(ConfigurationError, match="workers"):
        list(ordered_map(lambda i: i, [1], workers=workers))


def test_retries_transient_errors_then_succeeds():
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TransientS3Error("slow down", code="SlowDown")
        return "ok"

    policy = RetryPolicy(attempts=5, base_delay=0.001)
    assert call_with_retries(flaky, policy, lambda e: isinstance(e, TransientS3Error)) == "ok"
    assert len(calls) == 3


def test_retries_give_up_after_attempts():
    calls = []

    def always() -> None:
        calls.append(1)
        raise TransientS3Error("slow down", code="SlowDown")

    with pytest.raises(TransientS3Error):
        call_with_retries(always, RetryPolicy(attempts=3, base_delay=0.001), lambda e: True)
    assert len(calls) == 3


def test_permanent_errors_are_not_retried():
    calls = []

    def broken() -> None:
        calls.append(1)
        raise ValueError("no")

    with pytest.raises(ValueError):
        call_with_retries(broken, RetryPolicy(attempts=5), lambda e: False)
    assert len(calls) == 1


def test_retry_policy_validates_attempts():
    with pytest.raises(ConfigurationError, match="retries"):
        RetryPolicy(attempts=0)


def test_backoff_grows_and_is_capped():
    policy = RetryPolicy(attempts=10, base_delay=0.1, max_delay=0.5)
    assert all(0 <= policy.delay(0) <= 0.1 for _ in range(50))
    assert all(0 <= policy.delay(8) <= 0.5 for _ in range(50))


def test_progress_counter_snapshot():
    now = [100.0]
    counter = ProgressCounter(clock=lambda: now[0])
    counter.set_total(10)
    counter.advance(docs=3, nbytes=300)
    counter.advance(failed=1)
    now[0] = 102.0
    snap = counter.snapshot()
    assert (snap.done, snap.failed, snap.nbytes, snap.total) == (3, 1, 300, 10)
    assert snap.rate == 1.5
    assert snap.eta == pytest.approx(6 / 1.5)
    assert snap.fraction == pytest.approx(0.4)
    assert not snap.finished
    counter.close()
    assert counter.snapshot().finished


def test_progress_counter_is_thread_safe():
    counter = ProgressCounter()

    def report(_: int) -> None:
        for _ in range(1000):
            counter.advance(docs=1, nbytes=2)

    list(ordered_map(report, range(8), workers=8))
    snap = counter.snapshot()
    assert (snap.done, snap.nbytes) == (8000, 16000)


def test_as_callback_choices():
    assert as_callback(None) is DEFAULT_CALLBACK
    assert as_callback(False) is DEFAULT_CALLBACK
    custom = Callback()
    assert as_callback(custom) is custom
    assert isinstance(as_callback(True), TqdmCallback)
    seen = []
    callback = as_callback(seen.append)
    callback.set_total(2)
    callback.advance(docs=1, nbytes=5)
    callback.close()
    assert [s.done for s in seen] == [0, 1, 1] and seen[-1].finished
    with pytest.raises(ConfigurationError, match="progress"):
        as_callback("yes")
