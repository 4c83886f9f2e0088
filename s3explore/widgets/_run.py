"""Work in one background thread that only reports into a ProgressCounter: ``BackgroundRun``
(the thread's life) and ``BackgroundUpdate`` (one ``store.update``; exports subclass the
same base in ``_exportrun``).

The widget that owns a run polls ``snapshot()`` from its own thread (the kernel's event loop,
or the caller in plain Python) and is the only one that touches widgets: ipywidgets updates
from worker threads are fragile under ipykernel 7.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable
from typing import Any

from s3explore._stores import Failure, UpdateResult
from s3explore._transfer import ProgressCounter, ProgressSnapshot

OnUnreadable = Callable[[Failure], None]


class BackgroundRun:
    """``start()`` runs ``self._run`` in a daemon thread; ``cancel()`` sets ``cancel_event``,
    which the work watches; the owner polls ``snapshot()`` and ``done()``."""

    def __init__(self, name: str, counter: ProgressCounter | None = None) -> None:
        self.counter = counter if counter is not None else ProgressCounter()
        self.cancel_event = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:  # pragma: no cover -- every run says what it does
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def started(self) -> bool:
        return self._thread.ident is not None

    def done(self) -> bool:
        return self.started() and not self._thread.is_alive()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def snapshot(self) -> ProgressSnapshot:
        return self.counter.snapshot()


class BackgroundUpdate(BackgroundRun):
    """``start()`` runs ``store.update(open_docs(report_unreadable), ...)``; ``cancel()``
    stops new uploads.

    After ``done()``: ``result`` is the UpdateResult (also when the update raised part way,
    if the error carried one) and ``error`` the exception, if any. ``source_failures`` are
    documents that could not even be read (reported by the source); they are counted like the
    store's own failures, so ``result.failures`` holds them first, then the store's.
    """

    def __init__(self, store: Any, open_docs: Callable[[OnUnreadable], Iterable],
                 workers: int | None = None) -> None:
        super().__init__("s3explore-upload")
        self.store = store
        self._open_docs = open_docs
        self.workers = workers
        self.result: UpdateResult | None = None
        self.source_failures: list[Failure] = []
        self.skipped = 0  # documents left out because the store holds them unchanged
        self._lock = threading.Lock()

    def report_unreadable(self, failure: Failure) -> None:
        """Called by the source, in the upload thread, for a document it could not read."""
        with self._lock:
            self.source_failures.append(failure)
        self.counter.advance(failed=1)

    def report_skipped(self, n: int) -> None:
        """Called in the upload thread for documents left out of the upload: they count as
        handled, so the bar still reaches the total."""
        with self._lock:
            self.skipped += n
        self.counter.advance(docs=n)

    def _run(self) -> None:
        try:
            docs = self._open_docs(self.report_unreadable)
            # "collect": per-document failures come back in the result and are listed;
            # only an error that stops the whole run (the index went away) raises.
            result = self.store.update(docs, workers=self.workers, progress=self.counter,
                                       cancel=self.cancel_event, on_error="collect")
        except Exception as exc:
            self.error = exc
            result = getattr(exc, "result", None)
        finally:
            self.counter.close()
        self.result = self._with_unreadable(result)

    def _with_unreadable(self, result: UpdateResult | None) -> UpdateResult | None:
        """``result`` with the unreadable documents as its first failures (a copy: the
        store's own result object is not changed)."""
        if not isinstance(result, UpdateResult):
            return None
        with self._lock:
            unreadable = list(self.source_failures)
        return dataclasses.replace(result, failures=unreadable + list(result.failures))

    def failures(self) -> list[Failure]:
        """Unreadable source documents first, then what the update reported."""
        if self.result is not None:
            return list(self.result.failures)
        with self._lock:
            return list(self.source_failures)
