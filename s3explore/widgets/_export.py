"""The browser's export panel: the cost line, and the selection to a DataFrame or a file.

The cost line is ``store.estimate(criteria, fetch=...)`` under a short time limit. An export
runs in a background thread (``_exportrun``) that reports into counters; this panel polls
them from the thread that owns the widgets: an asyncio task in a running event loop (a
Jupyter kernel), otherwise the call blocks and polls until the export ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from html import escape
from typing import Any

import ipywidgets as widgets

from s3explore._errors import ConfigurationError, S3ExploreError
from s3explore._transfer import ProgressCounter
from s3explore.widgets._exportrun import (
    BackgroundExport,
    ExportCancelled,
    Selection,
    check_fetch,
    check_target,
    check_variable,
    parts_of,
    read_frame,
    user_namespace,
    write_file,
)
from s3explore.widgets._style import html


class ExportBusyError(ConfigurationError):
    """Another export of this panel is still running."""


COST_SECONDS = 1.0  # what the cost line may take: it is redrawn after every filter
POLL_SECONDS = 0.2


class ExportPanel(widgets.VBox):
    """Cost line, fetch paths, "To DataFrame" (into a variable) and "Write file" controls.

    ``selection()`` gives what the browser shows now. ``state`` is ``idle``, ``running``,
    ``done``, ``failed`` or ``cancelled``; ``dataframe`` is the last DataFrame made and
    ``rows`` the rows of the last export; ``task`` the polling task in a kernel.
    ``part_size``: entries a resumable part of a file export holds (None: 500), so how much a
    Cancel waits for and a crash loses.
    """

    def __init__(self, store: Any, selection: Callable[[], Selection],
                 poll_seconds: float = POLL_SECONDS) -> None:
        self.store = store
        self.selection = selection
        self.poll_seconds = poll_seconds
        self.state = "idle"
        self.dataframe: Any = None
        self.rows: int | None = None
        self.cost: Any = None
        self.run: BackgroundExport | None = None
        self.task: asyncio.Task | None = None
        self.part_size: int | None = None
        self._on_result: Callable[[Any], None] | None = None

        self.has_objects = callable(getattr(store, "get_object", None))
        self._fetch = widgets.Text(placeholder="paths to read from the objects, e.g. "
                                   "structure.lattice, energy (none: index fields only)",
                                   continuous_update=False)
        self._fetch.add_class("s3x-export-fetch")
        self._fetch.observe(lambda _: self.refresh_cost(), "value")
        self._cost = html("", "s3x-cost")
        self._name = widgets.Text(value="selection", placeholder="variable name")
        self._name.add_class("s3x-export-name")
        self._to_df = _button("To DataFrame", "s3x-export-df",
                              lambda: self._from_button(self.to_dataframe))
        self._path = widgets.Text(placeholder="file: selection.parquet or selection.csv")
        self._path.add_class("s3x-export-path")
        self._to_file = _button("Write file", "s3x-export-file",
                                lambda: self._from_button(self.to_file))
        self._cancel = _button("Cancel", "s3x-export-cancel", self.cancel)
        self._cancel.disabled = True
        self._bar = widgets.IntProgress(value=0, min=0, max=1, description="")
        self._bar.add_class("s3x-export-progress")
        self._bar.layout.display = "none"
        self._status = html("", "s3x-export-status")
        fetch_row = _row(html("Fetch", "s3x-label"), self._fetch)
        fetch_row.layout.display = None if self.has_objects else "none"  # nothing to GET
        rows = [fetch_row, self._cost,
                _row(html("Variable", "s3x-label"), self._name, self._to_df),
                _row(html("File", "s3x-label"), self._path, self._to_file, self._cancel),
                self._bar, self._status]
        super().__init__(rows)
        self.add_class("s3x-export")

    # ------------------------------------------------------------ the cost line

    def fetch_paths(self, fetch: Any = None) -> list[str] | None:
        """``fetch`` checked, or the paths typed in the panel's box."""
        return check_fetch(self._fetch.value if fetch is None else fetch)

    def refresh_cost(self, fetch: Any = None) -> Any:
        """Estimate the selection's cost within ``COST_SECONDS`` and show it; the
        CostEstimate, or None when the store could not say (the line says why)."""
        try:
            paths = self.fetch_paths(fetch)
            cost = self.store.estimate(self.selection().criteria, fetch=paths,
                                       max_time=COST_SECONDS)
        except S3ExploreError as exc:
            self.cost = None
            self._cost.value = f"<b>Cost</b>: unknown \u2014 {escape(str(exc))}"
            return None
        self.cost = cost
        gave_up = [] if cost.entries.exact else [
            f"counting stopped after {COST_SECONDS:g} s, so the count is a bound"]
        if paths and cost.bytes is None and cost.entries.count:
            gave_up.append("no GET finished in time to measure size and time")
        notes = f" <i>({escape('; '.join(gave_up))})</i>" if gave_up else ""
        self._cost.value = f"<b>Cost</b>: {escape(str(cost))}{notes}"
        return cost

    # ------------------------------------------------------------ exports

    def to_dataframe(self, name: str | None = None, fetch: Any = None) -> Any:
        """The selection as a DataFrame, rows in the table's order (filter and sort), stored as
        the variable ``name`` (the box's name by default) in IPython's user namespace when
        running in IPython, and kept as ``dataframe``. Plain Python: blocks and returns it;
        in a kernel: returns None and fills the variable when the background read ends. A bad
        name or fetch path raises ConfigurationError (a click shows it in the status line
        instead)."""
        paths = self.fetch_paths(fetch)
        namespace = user_namespace()
        variable = check_variable(self._name.value if name is None else name, namespace)
        selection = self.selection()

        def work(counter: ProgressCounter) -> Any:
            counter.set_total(None)
            frame = read_frame(self.store, selection, paths)
            ProgressCounter.advance(counter, docs=len(frame))  # done: nothing left to cancel
            return frame

        def keep(frame: Any) -> str:
            self.dataframe = frame
            self.rows = len(frame)
            where = (f"in the variable <code>{escape(variable)}</code>"
                     if namespace is not None else "as <code>browser.export_panel.dataframe"
                     "</code> (not in IPython: no notebook variable)")
            if namespace is not None:
                namespace[variable] = frame
            return f"{len(frame):,} rows \u00d7 {len(frame.columns)} columns {where}"

        return self._start(BackgroundExport(work, "a DataFrame"), keep)

    def to_file(self, path: Any = None, fetch: Any = None) -> Any:
        """Write the selection to ``path`` (.parquet or .csv; the box's path by default),
        rows in the table's order, through the resumable ``store.to_parquet``. With fetch
        paths it runs in parts: Cancel stops it at the next part, and the same export run
        again resumes. Plain Python: blocks and returns the rows written; in a kernel: returns
        None and shows progress while it runs."""
        paths = self.fetch_paths(fetch)
        target, fmt = check_target(self._path.value if path is None else path)
        selection = self.selection()

        run = BackgroundExport(
            lambda counter: write_file(self.store, selection, target, fmt, paths, counter,
                                       self.part_size),
            str(target), parts_of(target, fmt, selection) if paths else None)

        def keep(rows: int) -> str:
            self.rows = rows
            done = f"{rows:,} rows written to <code>{escape(str(target))}</code>"
            if run.resumed:
                total = run.snapshot().total or run.resumed
                done += (f" (resumed: {run.resumed:,} entries were written before, "
                         f"{max(total - run.resumed, 0):,} fetched now)")
            return done

        return self._start(run, keep)

    def cancel(self) -> None:
        """Stop at the next part; the parts written stay, so the same export resumes. Only
        an export in parts (a file with fetch paths) can stop midway."""
        if self.run is not None and self.state == "running" and self.run.parts is not None:
            self.run.cancel()
            self._cancel.disabled = True
            self._status.value = "Cancelling at the next part\u2026"

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the export running in the background ends (plain Python)."""
        if self.run is not None:
            self.run.join(timeout)
        return self.run.result if self.run is not None else None

    # ------------------------------------------------------------ the owner's polling

    def _from_button(self, export: Callable[[], Any]) -> None:
        """A click has no caller to raise to: a refused input is shown in the status."""
        try:
            export()
        except S3ExploreError as exc:
            self.state = "failed"
            self._status.value = f'<span class="s3x-bad">{escape(str(exc))}</span>'

    def _start(self, run: BackgroundExport, keep: Callable[[Any], str]) -> Any:
        if self.state == "running":
            raise ExportBusyError("an export is running; wait for it or cancel it first")
        self.run, self._on_result, self.state = run, keep, "running"
        self._to_df.disabled = self._to_file.disabled = True
        self._cancel.disabled = run.parts is None  # nothing to stop at before the end
        self._bar.layout.display = None
        self._bar.bar_style, self._bar.value, self._bar.max = "", 0, 1
        self._status.value = f"Exporting to {escape(run.what)}\u2026" + (
            f" resuming after the {run.resumed:,} entries written before" if run.resumed
            else "")
        run.start()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            self.task = loop.create_task(self._poll(run))
            return None
        while not run.join(self.poll_seconds):
            self._show_progress(run)
        self._finish(run)
        if run.error is not None and not isinstance(run.error, ExportCancelled):
            raise run.error
        return run.result if run.error is None else None

    async def _poll(self, run: BackgroundExport) -> None:
        while not run.done():
            self._show_progress(run)
            await asyncio.sleep(self.poll_seconds)
        self._finish(run)

    def _show_progress(self, run: BackgroundExport) -> None:
        snap = run.snapshot()
        if snap.total:
            self._bar.max = snap.total
            self._bar.value = min(snap.done, snap.total)
            self._bar.description = f"{snap.done:,} / {snap.total:,}"
        else:  # no total known (a DataFrame, an index-only file): say it is working
            self._bar.max, self._bar.value = 1, 0
            self._bar.description = f"{snap.elapsed:.0f} s"

    def _finish(self, run: BackgroundExport) -> None:
        self._show_progress(run)
        self._to_df.disabled = self._to_file.disabled = False
        self._cancel.disabled = True
        if run.error is None and self._on_result is not None:
            self.state = "done"
            self._bar.bar_style, self._bar.max, self._bar.value = "success", 1, 1
            self._status.value = f"Done: {self._on_result(run.result)}."
        elif isinstance(run.error, ExportCancelled):
            self.state = "cancelled"
            self._bar.bar_style = "warning"
            snap = run.snapshot()
            of = f" of {snap.total:,}" if snap.total is not None else ""
            self._status.value = (
                f"Cancelled after {snap.done:,}{of} entries; they are kept in "
                f"<code>{escape(str(run.parts))}</code>: write the same file again to resume "
                "(only the rest is fetched).")
        else:
            self.state = "failed"
            self._bar.bar_style = "danger"
            self._status.value = (f'<span class="s3x-bad">Export to {escape(run.what)} failed: '
                                  f"{escape(str(run.error))}</span>")


def _button(label: str, css: str, action: Callable[[], Any]) -> widgets.Button:
    button = widgets.Button(description=label)
    button.add_class(css)
    button.on_click(lambda _: action())
    return button


def _row(*children: widgets.Widget) -> widgets.HBox:
    box = widgets.HBox(list(children))
    box.add_class("s3x-export-row")
    return box
