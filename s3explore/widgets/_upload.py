"""UploadWidget: store many documents with a live progress bar, Cancel, and a summary."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from html import escape
from typing import Any

import ipywidgets as widgets

from s3explore._errors import ConfigurationError
from s3explore._stores import Failure, UpdateResult
from s3explore._transfer import check_workers
from s3explore.widgets._base import Hooks, StoreWidget
from s3explore.widgets._format import failed_text, failure_lines, progress_text, summary_text
from s3explore.widgets._run import BackgroundUpdate
from s3explore.widgets._skip import skip_stored
from s3explore.widgets._sources import DocumentSource, _Sized, document_source
from s3explore.widgets._style import html

POLL_SECONDS = 0.25
MAX_WORKERS = 64
STATES = ("ready", "running", "cancelling", "done", "cancelled", "failed")


class UploadWidget(StoreWidget):
    """Upload ``source`` into ``store`` with ``store.update``, showing progress as it goes.

    ``source``: a list or iterable of dicts, a pandas DataFrame (one document per row), or a
    folder of ``.json``, ``.json.gz`` or ``.msgpack`` files (one document per file).
    The update runs in one background thread that only reports into a ProgressCounter; the
    widgets are updated by one owner: in a running event loop (a Jupyter kernel) an asyncio
    task polling a few times a second, otherwise ``start()`` blocks and polls until done.
    Cancel stops new uploads; what landed is indexed, nothing half-written is.
    ``state`` is one of ready, running, cancelling, done, cancelled, failed. Files that
    cannot be read count as failures of the run like documents the store refused: they are
    in ``result.failures`` and in every count shown. ``on_done(callback)`` registers a
    function called with the UpdateResult (None if the run failed without one) when a run
    ends.

    ``skip_stored`` (on by default; a checkbox too): documents whose key the index holds with
    the ``obj_hash`` of exactly the bytes this upload would write are left out and counted as
    skipped, so rerunning a cancelled or partly failed upload sends only what is missing or
    changed. ``workers`` must be 1 to 64; other numbers are refused, not changed.
    The bar ends green when everything was stored, orange when some documents failed and red
    when none could be stored (or the run failed).
    """

    widget_name = "UploadWidget"
    needs_s3 = True
    css_classes = ("s3x-uploader",)
    STATES = STATES

    def __init__(self, store: Any, source: Any, workers: int | None = None, *,
                 skip_stored: bool = True, poll_seconds: float = POLL_SECONDS,
                 **kwargs: Any) -> None:
        self._use_store(store)
        self.source: DocumentSource = document_source(source, store.key)
        if workers is not None:
            _check_range(workers)
        # The store's own s3_workers may exceed what the widget runs: say so in the status.
        store_workers = check_workers(getattr(store, "s3_workers", None) or 4)
        default_workers = workers if workers is not None else min(store_workers, MAX_WORKERS)
        if not poll_seconds > 0:
            raise ConfigurationError(f"poll_seconds must be > 0, got {poll_seconds!r}")
        self.poll_seconds = poll_seconds
        self.run: BackgroundUpdate | None = None
        self.task: asyncio.Task | None = None
        self._done_hooks = Hooks("on_done")

        target = escape(getattr(store, "name", type(store).__name__))
        self._title = html(f'Upload <span class="s3x-meta">{escape(self.source.description)} '
                           f"\u2192 {target}</span>", "s3x-title")
        # An IntText, not a BoundedIntText: the bounded one silently moves 100 to 64.
        self._workers = widgets.IntText(value=default_workers, description="workers",
                                        tooltip=f"parallel uploads, 1 to {MAX_WORKERS}",
                                        style={"description_width": "initial"},
                                        layout=widgets.Layout(width="130px"))
        self._workers.add_class("s3x-workers")
        self._workers.observe(self._on_workers, "value")
        self._skip = widgets.Checkbox(value=bool(skip_stored), indent=False,
                                      description="skip documents already stored",
                                      layout=widgets.Layout(width="auto"))
        self._skip.add_class("s3x-skip")
        self._start = widgets.Button(description="Start", button_style="primary",
                                     icon="upload")
        self._start.add_class("s3x-upload")
        self._start.on_click(lambda _: self.start())
        self._cancel = widgets.Button(description="Cancel", disabled=True, icon="stop")
        self._cancel.add_class("s3x-cancel")
        self._cancel.on_click(lambda _: self.cancel())
        total = self.source.total
        self._bar = widgets.IntProgress(value=0, min=0, max=max(total or 1, 1),
                                        description=self._count_text(0))
        self._bar.add_class("s3x-progress")
        ready = f"Ready: {self.source.description}."
        if workers is None and store_workers > MAX_WORKERS:
            ready += (f" Workers: {MAX_WORKERS}, the most this widget runs (the store's "
                      f"s3_workers is {store_workers}).")
        self._status = html(escape(ready), "s3x-status")
        self._failures = html("", "s3x-failures")
        controls = widgets.HBox([self._workers, self._start, self._cancel, self._skip])
        controls.add_class("s3x-controls")
        card = widgets.VBox([self._title, controls, self._bar, self._status, self._failures])
        card.add_class("s3x-card")
        super().__init__([card], **kwargs)

    # ------------------------------------------------------------ Python API

    @property
    def workers(self) -> int:
        return self._workers.value

    @workers.setter
    def workers(self, value: int) -> None:
        self._workers.value = _check_range(value)

    @property
    def skip_stored(self) -> bool:
        """Leave out documents the store holds unchanged (see the class doc)."""
        return self._skip.value

    @skip_stored.setter
    def skip_stored(self, value: bool) -> None:
        self._skip.value = bool(value)

    @property
    def result(self) -> UpdateResult | None:
        """The UpdateResult once a run has finished."""
        return self.run.result if self.run is not None and self.run.done() else None

    @property
    def failures(self) -> list[Failure]:
        """Documents that were not stored: unreadable files first, then failed uploads."""
        return self.run.failures() if self.run is not None else []

    def on_done(self, callback: Callable[[UpdateResult | None], Any],
                remove: bool = False) -> None:
        """Call ``callback(result)`` when a run ends (done, cancelled or failed; ``result`` is
        None if it failed without one); ``remove=True`` unregisters it. A callback that
        raises is reported in the status line."""
        self._done_hooks.register(callback, remove)

    def start(self) -> UpdateResult | None:
        """Start uploading. In a running event loop this returns at once (``task`` follows
        the run); otherwise it blocks until the run ends and returns the UpdateResult."""
        if self.state in ("running", "cancelling"):
            return None
        if self.run is not None and not self.source.reusable:
            self._status.value = escape("This source was an iterator and has been read; "
                                        "make a new UploadWidget to upload more.")
            return None
        open_docs = self.source.documents
        if self.skip_stored:  # run is bound below, before the upload thread starts
            open_docs = self._skipping(open_docs, lambda n: run.report_skipped(n))
        run = BackgroundUpdate(self.store, open_docs, self.workers)
        self.run = run
        self.state = "running"
        self._start.disabled = self._workers.disabled = self._skip.disabled = True
        self._cancel.disabled = False
        self._failures.value = ""
        self._bar.bar_style = ""
        self._bar.value = 0
        run.start()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return self._poll_blocking(run)
        self.task = loop.create_task(self._poll_async(run))
        return None

    def cancel(self) -> None:
        """Stop starting uploads; those in flight finish and are indexed."""
        if self.run is not None and self.state == "running":
            self.run.cancel()
            self.state = "cancelling"
            self._cancel.disabled = True
            self._status.value = escape("Cancelling: waiting for the uploads in flight\u2026")

    def wait(self, timeout: float | None = None) -> UpdateResult | None:
        """Block until the background upload ends (plain Python; in a kernel, await
        ``widget.task`` instead)."""
        if self.run is not None:
            self.run.join(timeout)
        return self.result

    def _skipping(self, open_docs: Callable[[Any], Iterable],
                  on_skipped: Callable[[int], None]) -> Callable[[Any], Iterable]:
        """``open_docs`` without the documents stored unchanged (checked in the upload
        thread); keeps the source's length so the bar knows the total."""
        total = self.source.total

        def opened(on_unreadable: Any) -> Iterable:
            def documents() -> Iterator:
                return skip_stored(self.store, open_docs(on_unreadable), on_skipped)
            return _Sized(documents, total) if total is not None else documents()

        return opened

    def _on_workers(self, change: dict) -> None:
        """A number typed in the box outside 1-64 is refused in the status line and put
        back, never changed quietly."""
        try:
            _check_range(change["new"])
        except ConfigurationError as exc:
            self._status.value = escape(f"{exc}; kept {change['old']}.")
            self._workers.value = change["old"]

    # ------------------------------------------------------------ the owner's polling

    def _poll_blocking(self, run: BackgroundUpdate) -> UpdateResult | None:
        while not run.join(self.poll_seconds):
            self._show_progress(run)
        self._finish(run)
        return run.result

    async def _poll_async(self, run: BackgroundUpdate) -> UpdateResult | None:
        while not run.done():
            self._show_progress(run)
            await asyncio.sleep(self.poll_seconds)
        self._finish(run)
        return run.result

    def _count_text(self, handled: int) -> str:
        total = self.source.total
        return f"{handled} / {total}" if total is not None else f"{handled}"

    def _show_progress(self, run: BackgroundUpdate) -> None:
        snapshot = run.snapshot()
        handled = snapshot.done + snapshot.failed
        if snapshot.total is not None:
            self._bar.max = max(snapshot.total, 1)
        elif handled >= self._bar.max:
            self._bar.max = handled * 2  # no total: keep the bar moving
        self._bar.value = min(handled, self._bar.max)
        self._bar.description = self._count_text(handled)
        if self.state == "running":
            self._status.value = escape(progress_text(snapshot))

    def _finish(self, run: BackgroundUpdate) -> None:
        self._show_progress(run)
        failures = run.failures()
        result = run.result
        if run.error is not None:
            state, style = "failed", "danger"
            text = failed_text(run.error, result, failures)
        else:
            assert result is not None
            state = "cancelled" if result.cancelled else "done"
            style = _bar_style(result, failures, run.skipped)
            text = summary_text(result, self.source.total, failures, run.skipped)
        if self.source.total is None:
            self._bar.max = max(self._bar.value, 1)
        self._bar.bar_style = style
        self._status.value = escape(text)
        self._failures.value = _failures_html(failures)
        self._start.disabled = not self.source.reusable
        self._workers.disabled = self._skip.disabled = False
        self._cancel.disabled = True
        self.state = state
        problems = self._done_hooks(result)
        if problems:
            self._status.value = escape(" \u00b7 ".join([text, *problems]))


def _check_range(workers: Any) -> int:
    workers = check_workers(workers)
    if workers > MAX_WORKERS:
        raise ConfigurationError(f"workers must be 1 to {MAX_WORKERS} in the upload widget, got "
                                 f"{workers}; for more, call store.update(docs, workers=...)")
    return workers


def _bar_style(result: UpdateResult, failures: list[Failure], skipped: int) -> str:
    """Green: all stored; orange: cancelled, or some failed; red: nothing could be stored."""
    if failures and not result.written and not skipped:
        return "danger"
    if failures or result.cancelled:
        return "warning"
    return "success"


def _failures_html(failures: list[Failure]) -> str:
    if not failures:
        return ""
    items = "".join(f"<li>{escape(line)}</li>" for line in failure_lines(failures))
    return (f"<details open><summary>{len(failures)} document(s) not stored</summary>"
            f"<ul>{items}</ul></details>")
