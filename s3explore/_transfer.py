"""The one place that owns concurrency: a bounded, ordered parallel map, retries, progress.

``ordered_map`` runs a function over an iterable with at most ``workers`` calls running and
at most ``window`` results waiting, and yields outcomes in input order. Items are pulled
lazily, so a million-document update or query keeps memory flat. Closing the generator
cancels what has not started; setting ``stop`` stops pulling items but still yields the
outcomes of calls already running, so callers can account for work that landed.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from s3explore._checks import positive_int, positive_number
from s3explore._errors import ConfigurationError

T = TypeVar("T")
R = TypeVar("R")


# ---------------------------------------------------------------- progress callbacks


class Callback:
    """Progress callback in the fsspec style; this base class does nothing.

    Subclass and override what you need. s3explore calls these from one thread only (the
    thread that called ``update``/``query``), never from its worker threads.
    """

    def set_total(self, docs: int | None) -> None:
        """Number of documents expected, or None when the input has no length."""

    def advance(self, docs: int = 0, nbytes: int = 0, failed: int = 0) -> None:
        """``docs`` more documents done, ``nbytes`` more bytes moved, ``failed`` more failures."""

    def close(self) -> None:
        """The operation finished (or stopped)."""


DEFAULT_CALLBACK = Callback()


@dataclass(frozen=True)
class ProgressSnapshot:
    done: int
    total: int | None
    nbytes: int
    failed: int
    elapsed: float
    finished: bool

    @property
    def rate(self) -> float:
        """Documents per second so far."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate, when the total is known."""
        if self.total is None or self.rate == 0:
            return None
        return max(self.total - self.done - self.failed, 0) / self.rate

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min((self.done + self.failed) / self.total, 1.0)


class ProgressCounter(Callback):
    """Thread-safe counters: report from any thread, read ``snapshot()`` from another.

    This is what a widget attaches to a running update: the update reports here, and the
    thread that owns the widget polls the snapshot.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._start = clock()
        self._total: int | None = None
        self._done = self._bytes = self._failed = 0
        self._finished = False

    def set_total(self, docs: int | None) -> None:
        with self._lock:
            self._total = docs

    def advance(self, docs: int = 0, nbytes: int = 0, failed: int = 0) -> None:
        with self._lock:
            self._done += docs
            self._bytes += nbytes
            self._failed += failed

    def close(self) -> None:
        with self._lock:
            self._finished = True

    def snapshot(self) -> ProgressSnapshot:
        with self._lock:
            return ProgressSnapshot(self._done, self._total, self._bytes, self._failed,
                                    self._clock() - self._start, self._finished)


class TqdmCallback(Callback):
    """A tqdm.auto bar counting documents, with bytes and failures in its postfix."""

    def __init__(self, desc: str = "documents", **tqdm_kwargs: Any) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(desc=desc, unit="doc", **tqdm_kwargs)
        self._bytes = self._failed = 0

    def set_total(self, docs: int | None) -> None:
        self._bar.total = docs
        self._bar.refresh()

    def advance(self, docs: int = 0, nbytes: int = 0, failed: int = 0) -> None:
        self._bytes += nbytes
        self._failed += failed
        if nbytes or failed:
            self._bar.set_postfix(MB=f"{self._bytes / 1e6:.1f}", failed=self._failed,
                                  refresh=False)
        self._bar.update(docs + failed)

    def close(self) -> None:
        self._bar.close()


class _FunctionCallback(Callback):
    """Wraps ``fn(snapshot)`` so a plain function can follow progress."""

    def __init__(self, fn: Callable[[ProgressSnapshot], Any]) -> None:
        self._fn = fn
        self._counter = ProgressCounter()

    def set_total(self, docs: int | None) -> None:
        self._counter.set_total(docs)
        self._fn(self._counter.snapshot())

    def advance(self, docs: int = 0, nbytes: int = 0, failed: int = 0) -> None:
        self._counter.advance(docs, nbytes, failed)
        self._fn(self._counter.snapshot())

    def close(self) -> None:
        self._counter.close()
        self._fn(self._counter.snapshot())


def as_callback(progress: bool | Callback | Callable | None) -> Callback:
    """``None``/``False``: do nothing; ``True``: a tqdm bar; a Callback or a function."""
    if progress is None or progress is False:
        return DEFAULT_CALLBACK
    if progress is True:
        return TqdmCallback()
    if isinstance(progress, Callback):
        return progress
    if callable(progress):
        return _FunctionCallback(progress)
    raise ConfigurationError(
        f"progress must be None, True, a Callback or a callable, not {type(progress).__name__}"
    )


# ---------------------------------------------------------------- retries


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter; ``attempts`` counts the first try.

    ``deadline`` (seconds from the first try, None for none): no new attempt starts once it
    has passed, so a dead endpoint is reported after about ``deadline`` seconds however many
    attempts are allowed. An attempt that started in time runs to its own (botocore) timeout.
    """

    attempts: int = 5
    base_delay: float = 0.05
    max_delay: float = 2.0
    deadline: float | None = None

    def __post_init__(self) -> None:
        positive_int(self.attempts, "retries")
        positive_number(self.deadline, "deadline", none_ok=True)

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


def call_with_retries(
    fn: Callable[[], R], policy: RetryPolicy, is_transient: Callable[[BaseException], bool],
    clock: Callable[[], float] = time.monotonic,
) -> R:
    start = clock()
    for attempt in range(policy.attempts):
        try:
            return fn()
        except Exception as exc:
            if attempt + 1 >= policy.attempts or not is_transient(exc):
                raise
            delay = policy.delay(attempt)
            if policy.deadline is not None and clock() - start + delay >= policy.deadline:
                raise
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


# ---------------------------------------------------------------- the parallel map


@dataclass
class Outcome(Generic[T, R]):
    item: T
    value: R | None = None
    error: BaseException | None = None


def check_workers(workers: Any, name: str = "workers") -> int:
    return positive_int(workers, name)


_sizes = threading.local()


def note_size(nbytes: int) -> None:
    """Called from inside a call run by ``ordered_map``: its result holds about ``nbytes``
    (the loader knows it, e.g. from the body it read). Harmless anywhere else."""
    _sizes.n = getattr(_sizes, "n", 0) + nbytes


def _sized(fn: Callable[[T], R]) -> Callable[[T], tuple[R, int]]:
    def run(item: T) -> tuple[R, int]:
        _sizes.n = 0
        try:
            value = fn(item)
            return value, _sizes.n or _size(value)
        finally:
            _sizes.n = 0

    return run


def ordered_map(
    fn: Callable[[T], R],
    items: Iterable[T],
    workers: int,
    window: int | None = None,
    stop: threading.Event | None = None,
    max_bytes: int | None = None,
) -> Iterator[Outcome[T, R]]:
    """Yield ``Outcome(item, fn(item) or error)`` for each item, in input order.

    At most ``workers`` calls run at once and at most ``window`` (default ``2 * workers``)
    are submitted ahead of the consumer. With ``max_bytes``, the read-ahead is bounded in
    bytes too: results waiting for the consumer (their size as ``fn`` reported it with
    ``note_size``, else ``len`` of bytes) plus the calls still running (each counted as the
    largest result seen so far) stay under ``max_bytes``; until a first result is in, one
    call runs. One result larger than the budget still passes, alone. Exceptions from
    ``fn`` are returned, not raised; an exception from ``items`` itself propagates.
    """
    check_workers(workers)
    window = max(window or 2 * workers, workers)
    positive_int(max_bytes, "max_bytes", none_ok=True)
    call: Callable = fn if max_bytes is None else _sized(fn)
    iterator = iter(items)
    pending: deque[tuple[T, Future]] = deque()
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="s3explore")
    exhausted = False
    budget = _ByteBudget(max_bytes)

    def stopped() -> bool:
        return stop is not None and stop.is_set()

    try:
        while True:
            while (not exhausted and len(pending) < window and not stopped()
                   and budget.room(bool(pending))):
                try:
                    item = next(iterator)
                except StopIteration:
                    exhausted = True
                    break
                future = executor.submit(call, item)
                if max_bytes is not None:
                    budget.started(future)
                pending.append((item, future))
            if not pending:
                return
            item, future = pending.popleft()
            if stopped() and future.cancel():
                continue  # never started: nothing landed, nothing to report
            try:
                value = future.result()
            except Exception as exc:
                yield Outcome(item, error=exc)
            else:
                if max_bytes is not None:
                    value, size = value
                    budget.handed_over(future, size)
                yield Outcome(item, value=value)
    finally:
        # Closed early (the consumer stopped iterating) or done: drop queued calls; running
        # ones finish in the background since a request in flight cannot be interrupted.
        for _, future in pending:
            future.cancel()
        executor.shutdown(wait=False, cancel_futures=True)


class _ByteBudget:
    """The read-ahead in bytes, kept as running totals: each finished call adds its size
    (from the worker's done-callback) and each result handed over removes it, so asking
    whether there is room costs the same whatever the window. The consumer can take a
    result before its callback has run: then the callback adds nothing (never a moment
    with less counted than is held)."""

    def __init__(self, max_bytes: int | None) -> None:
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._held = 0  # finished results not yet handed to the consumer
        self._running = 0
        self._largest: int | None = None  # the guess for calls still running
        self._counted: set[Future] = set()  # finished, size in _held
        self._taken: set[Future] = set()  # handed over before their callback ran

    def started(self, future: Future) -> None:
        with self._lock:
            self._running += 1
        future.add_done_callback(self._finished)

    def _finished(self, future: Future) -> None:
        size = None
        if not future.cancelled() and future.exception() is None:
            size = future.result()[1]
        with self._lock:
            self._running -= 1
            if size is None:  # failed and cancelled calls hold nothing and measure nothing
                self._taken.discard(future)
                return
            self._largest = size if self._largest is None else max(self._largest, size)
            if future in self._taken:
                self._taken.discard(future)
            else:
                self._held += size
                self._counted.add(future)

    def handed_over(self, future: Future, size: int) -> None:
        with self._lock:
            if future in self._counted:
                self._counted.discard(future)
                self._held -= size
            else:
                self._taken.add(future)

    def room(self, anything_pending: bool) -> bool:
        if self.max_bytes is None or not anything_pending:
            return True
        with self._lock:
            if self._largest is None:
                return False  # nothing measured yet: one call at a time until something is
            return self._held + (self._running + 1) * self._largest <= self.max_bytes


def _size(value: Any) -> int:
    """Bytes a result holds, as far as cheaply known: ``len`` of bytes-likes, else 0."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len(value)
    return 0


def iter_batches(items: Iterable, size: int) -> Iterator[list]:
    """``items`` in lists of ``size`` (the last one shorter)."""
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@contextlib.contextmanager
def side_thread(name: str) -> Iterator[Callable[..., Future]]:
    """``submit(fn, *args) -> Future`` on one background thread, for work that overlaps the
    caller's (an engine writing one chunk while Python prepares the next); joined on exit."""
    with ThreadPoolExecutor(1, thread_name_prefix=name) as pool:
        yield pool.submit
