"""IndexBrowser: one page of index rows at a time, filtered and sorted by the index store."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from html import escape
from typing import Any

import ipywidgets as widgets
import pandas as pd
from traitlets import Int, Unicode, observe

from s3explore._errors import (
    ConfigurationError,
    QueryError,
    S3ExploreError,
    UnknownFieldWarning,
)
from s3explore._stores import StoredObject, query_time_limit
from s3explore.widgets._base import ErrorBox, Hooks, StoreWidget
from s3explore.widgets._display import (
    NATURAL_SORT_LIMIT,
    default_columns,
    natural_order,
)
from s3explore.widgets._export import ExportPanel
from s3explore.widgets._exportrun import Selection, read_frame
from s3explore.widgets._filters import EXAMPLES, combine, parse_filter
from s3explore.widgets._state import Pager, SortState, check_page_size
from s3explore.widgets._style import html
from s3explore.widgets._table import Row, Table
from s3explore.widgets._viewer import DocumentViewer

PAGE_SIZES = (10, 25, 50, 100)
# What one page may cost a MongoDB server (maxTimeMS): text typed into the filter box must
# not keep it busy for the API's default minute.
PAGE_TIME_LIMIT_MS = 10_000



@contextlib.contextmanager
def _typo_hints(hints: list[str]) -> Iterator[None]:
    """Collect into ``hints`` the typo hints the store gives for an empty result (a field
    no entry has, and the close names that do), once each, for the error line; any other
    warning is passed on as it came."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnknownFieldWarning)
        yield
    for warning in caught:
        if not issubclass(warning.category, UnknownFieldWarning):
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)
        elif str(warning.message) not in hints:
            hints.append(str(warning.message))

class IndexBrowser(StoreWidget):
    """Browse an index page by page: count, filter, sort, and open rows in a DocumentViewer.

    Paging is server-side (``skip``/``limit`` on the index); only one page of index
    entries is ever read (ordered by the key, a page is found among the matching keys in
    natural order, ``mp-2`` before ``mp-10``: the keys are read once per count, up to
    100,000). ISO-8601 text columns show as datetimes; with ``fields=None`` the columns are
    the searchable fields, or every index field but ``last_updated`` (when the entry was
    written). ``page`` counts from 1. The filter takes Mongo-style JSON or the simple form
    ``nsites > 10 and formula in [Fe2O3, NaCl]``; typed filters are limited to plain
    query operators and bounded in size (see ``s3explore.widgets._guard``). An invalid filter
    (or any error of the store) shows an inline error and keeps the last good page, and the
    count says it is the last good result; ``error`` holds the message and ``state`` is
    ``error`` until a load succeeds (else ``ready``). ``on_open(callback)`` registers a
    function called with the key and the StoredObject whenever a document is opened.
    "Export" opens ``export_panel`` (see ``_export``): the cost line of the current filter,
    and the whole selection to a DataFrame (``selection_df``, ``export_df``) or to a Parquet
    or CSV file (``export``) in a background thread.
    The root element carries the CSS class ``s3x-browser``.
    """

    widget_name = "IndexBrowser"
    css_classes = ("s3x-browser",)

    page = Int(1, help="the page shown, from 1")
    page_size = Int(25, help="rows per page")
    filter = Unicode("", help="the filter applied (the last one that worked)")
    total = Int(0, help="documents matching the criteria and the filter")
    error = Unicode("", help="the last error shown, or empty")

    def __init__(
        self,
        store: Any,
        criteria: dict | None = None,
        fields: Sequence[str] | None = None,
        page_size: int = 25,
        sort: Mapping[str, int] | None = None,
        *,
        viewer: DocumentViewer | None = None,
        show_viewer: bool = True,
        page_sizes: Sequence[int] = PAGE_SIZES,
        **kwargs: Any,
    ) -> None:
        if criteria is not None and not isinstance(criteria, Mapping):
            raise QueryError(f"criteria must be a dict such as {{'nsites': {{'$gt': 10}}}}, "
                             f"not {type(criteria).__name__}")
        self._use_store(store)
        self.base_criteria = dict(criteria or {})
        self.fields = self._check_fields(fields)
        self._criteria = dict(self.base_criteria)
        self._sort = SortState.from_sort(sort)
        self._pager = Pager(0, check_page_size(page_size))
        self._rows = pd.DataFrame()
        self._selected: Any = None
        self._filter_text = ""
        self._stale = False  # the last load failed: the page shown is the last good one
        self._natural_keys: tuple[dict, list[Any] | None] | None = None
        self._opened = Hooks("on_open")
        self.viewer = viewer if viewer is not None else DocumentViewer(store)

        self._filter_box = widgets.Text(placeholder=EXAMPLES, continuous_update=False)
        self._filter_box.add_class("s3x-filter")
        self._filter_box.observe(self._on_filter_box, "value")
        self._count = html("", "s3x-count")
        self._error = ErrorBox()
        self._table = Table(on_sort=self.sort_by, on_open=self._open_row)
        self._prev = self._button("\u2039 Prev", "s3x-prev", self.prev_page)
        self._next = self._button("Next \u203a", "s3x-next", self.next_page)
        self._page_info = html("", "s3x-pageinfo")
        sizes = {check_page_size(n) for n in (*page_sizes, page_size)}
        self._size_box = widgets.Dropdown(options=_size_options(sizes),
                                          value=page_size)
        self._size_box.add_class("s3x-pagesize")
        self._size_box.observe(self._on_page_size, "value")

        self.export_panel = ExportPanel(store, self.selection)
        self.export_panel.layout.display = "none"
        self._export_toggle = widgets.ToggleButton(description="Export ▾", value=False)
        self._export_toggle.add_class("s3x-export-toggle")
        self._export_toggle.observe(lambda c: self.show_export(c["new"]), "value")
        toolbar = widgets.HBox([self._filter_box, self._count, self._export_toggle])
        toolbar.add_class("s3x-toolbar")
        footer = widgets.HBox([self._prev, self._page_info, self._next, self._size_box])
        footer.add_class("s3x-footer")
        card = widgets.VBox([toolbar, self.export_panel, self._error, self._table.widget,
                             footer])
        card.add_class("s3x-card")
        super().__init__([card] + ([self.viewer] if show_viewer else []), **kwargs)
        # The first page: bad criteria or fields raise here, there is no good page to keep.
        self._load(recount=True, raise_errors=True)

    # ------------------------------------------------------------ Python API

    @property
    def rows(self) -> pd.DataFrame:
        """The index entries of the page shown (key column first)."""
        return self._rows

    @property
    def criteria(self) -> dict:
        """The criteria of the page shown: the browser's criteria and the filter."""
        return dict(self._criteria)

    @property
    def sort(self) -> dict | None:
        return self._sort.as_sort()

    @property
    def page_count(self) -> int:
        return self._pager.page_count

    def next_page(self) -> bool:
        """Show the next page; False (and nothing changes) on the last page."""
        return self._pager.has_next and self._load(pager=self._pager.next())

    def prev_page(self) -> bool:
        return self._pager.has_prev and self._load(pager=self._pager.prev())

    def go_to(self, page: int) -> bool:
        """Show page ``page`` (from 1; moved into range)."""
        if isinstance(page, bool) or not isinstance(page, int):
            raise ConfigurationError(f"page must be a whole number, got {page!r}")
        return self._load(pager=self._pager.go(page))

    def sort_by(self, field: str, direction: int | None = None) -> bool:
        """Sort by ``field`` (1 or -1); without a direction, cycle asc -> desc -> none."""
        if direction is None:
            sort = self._sort.toggle(field)
        else:
            sort = SortState.from_sort({field: direction})
        return self._load(pager=self._pager.go(1), sort=sort)

    def apply_filter(self, text: str) -> bool:
        """Filter with ``text`` (see the class doc); False and an inline error when invalid."""
        try:
            extra = parse_filter(text)
        except QueryError as exc:
            self._show_error(exc, stale=True)
            return False
        ok = self._load(criteria=combine(self.base_criteria, extra), pager=self._pager.go(1),
                        recount=True, filter_text=text.strip())
        if ok and self._filter_box.value.strip() != text.strip():
            with self._quiet():
                self._filter_box.value = text
        if ok:
            self._forget_unmatched()
        return ok

    def refresh(self) -> bool:
        """Count again and reload the page (the index may have changed)."""
        return self._load(recount=True)

    # ------------------------------------------------------------ export (see _export)

    def selection(self) -> Selection:
        """What the browser shows: criteria with the filter, the table's row order (the
        index's sort, or the keys in natural order), and visible fields."""
        return Selection(self.criteria, self._index_sort(self._sort), self.fields,
                         self._keys_in_order(self._criteria, self._pager.total, self._sort))

    def selection_df(self, fetch: Sequence[str] | str | None = None) -> pd.DataFrame:
        """Every entry matching the filter (not only the page shown) as a DataFrame: the
        visible fields, rows in the table's order, with ``fetch`` paths read from the objects
        (S3Store). Blocks until read; for many objects prefer ``export`` to a file."""
        return read_frame(self.store, self.selection(),
                          self.export_panel.fetch_paths(fetch or []))

    def export(self, path: str | os.PathLike,
               fetch: Sequence[str] | str | None = None) -> int | None:
        """Write the selection (filter, visible fields, rows in the table's order) to
        ``path``, ending in .parquet or .csv, through the resumable ``store.to_parquet``.
        Plain Python: blocks and returns the rows written; in a kernel: runs in the
        background, shows progress in the panel and returns None (``export_panel.task``)."""
        return self.export_panel.to_file(path, fetch or [])

    def export_df(self, name: str = "selection",
                  fetch: Sequence[str] | str | None = None) -> pd.DataFrame | None:
        """``selection_df`` stored as the variable ``name`` in IPython's user namespace (when
        running in IPython) and as ``export_panel.dataframe``; in a kernel it reads in the
        background and returns None, in plain Python it blocks and returns the DataFrame."""
        return self.export_panel.to_dataframe(name, fetch or [])

    def show_export(self, visible: bool = True) -> None:
        """Show (or hide) the export panel; shown, its cost line is estimated afresh."""
        if self._export_toggle.value != visible:
            self._export_toggle.value = visible  # its observer comes back here
            return
        self.export_panel.layout.display = None if visible else "none"
        if visible:
            self.export_panel.refresh_cost()

    def open_document(self, key: Any) -> StoredObject | None:
        """Show the document under ``key`` in the viewer and mark its row; the StoredObject,
        or None when it could not be fetched (the viewer shows why). ``on_open`` callbacks
        are called after a successful fetch."""
        self._selected = key
        self._table.render(self._rows, self._sort, self._selected)
        stored = self.viewer.show(key)
        if stored is not None:
            problems = self._opened(key, stored)
            if problems:
                self._show_error("\n".join(problems))
        return stored

    def on_open(self, callback: Callable[[Any, StoredObject], Any],
                remove: bool = False) -> None:
        """Call ``callback(key, stored_object)`` whenever a document is opened (a row click or
        ``open_document``); ``remove=True`` unregisters it. A callback that raises is shown
        as an inline error."""
        self._opened.register(callback, remove)

    # ------------------------------------------------------------ loading

    def _load(self, *, criteria: dict | None = None, pager: Pager | None = None,
              sort: SortState | None = None, recount: bool = False,
              filter_text: str | None = None, raise_errors: bool = False) -> bool:
        """Read a page; commit it on success, keep the last good page on failure."""
        criteria = self._criteria if criteria is None else criteria
        pager = self._pager if pager is None else pager
        sort = self._sort if sort is None else sort
        hints: list[str] = []
        try:
            with query_time_limit(PAGE_TIME_LIMIT_MS), _typo_hints(hints):
                if recount:
                    pager = pager.with_total(self.store.count(criteria))
                    self._natural_keys = None
                rows = self._read_page(criteria, pager, sort)
        except S3ExploreError as exc:
            if raise_errors:
                raise
            self._show_error(exc, stale=True)
            return False
        self._criteria, self._pager, self._sort, self._rows = criteria, pager, sort, rows
        if filter_text is not None:
            self._filter_text = filter_text
        self._hide_error()
        self._render()
        if hints:  # "0 documents" after a typo: say which name no entry has
            self._show_error("\n".join(hints))
        if recount and self.export_panel.layout.display != "none":
            self.export_panel.refresh_cost()  # the cost line follows the filter
        return True



    def _read_page(self, criteria: dict, pager: Pager, sort: SortState) -> pd.DataFrame:
        """One page of index rows as shown: keys in natural order when the order is the
        key's (or none), bookkeeping columns left out unless asked for by ``fields``
        (``query_df`` has made ISO-8601 text columns datetimes)."""
        key = self.store.key
        ordered = self._keys_in_order(criteria, pager.total, sort)
        if ordered is not None:
            wanted = ordered[pager.skip:pager.skip + pager.limit]
            rows = self.store.query_df(combine(criteria, {key: {"$in": wanted}}),
                                       fields=self.fields)
            if key in rows.columns:
                position = {k: i for i, k in enumerate(wanted)}
                rows = rows.iloc[sorted(range(len(rows)),
                                        key=lambda i: position.get(rows[key].iloc[i], 0))]
                rows = rows.reset_index(drop=True)
        else:
            rows = self.store.query_df(criteria, fields=self.fields,
                                       sort=self._index_sort(sort), skip=pager.skip,
                                       limit=pager.limit)
        if self.fields is None:
            rows = default_columns(rows, key)
        return rows

    def _index_sort(self, sort: SortState) -> dict:
        """The index's sort for the table's rows: the key breaks ties, and without a sort
        the rows are in key order (so pages and exports agree, on every index store)."""
        return sort.as_sort(self.store.key) or {self.store.key: 1}

    def _keys_in_order(self, criteria: dict, total: int, sort: SortState) -> list | None:
        """The matching keys in the table's order when the browser orders them itself (no
        sort or the key's, natural order applies), else None: the index's sort serves."""
        key = self.store.key
        direction = 1 if not sort.pairs else (
            sort.pairs[0][1] if len(sort.pairs) == 1 and sort.pairs[0][0] == key else None)
        keys = self._natural(criteria, total) if direction is not None else None
        if keys is None:
            return None
        return keys if direction == 1 else keys[::-1]

    def _natural(self, criteria: dict, total: int) -> list[Any] | None:
        """The matching keys in natural order (read once per count), or None when the index's
        text order is right (keys without numbers) or there are too many to read."""
        if total > NATURAL_SORT_LIMIT:
            return None
        cached = self._natural_keys
        if cached is not None and cached[0] == criteria:
            return cached[1]
        keys = natural_order(self.store.distinct(self.store.key, criteria))
        self._natural_keys = (criteria, keys)
        return keys

    def _forget_unmatched(self) -> None:
        """After a new filter, the document shown is cleared from the viewer unless it
        matches the filter: it would read as an answer to the new filter."""
        if self._selected is None:
            return
        try:
            with query_time_limit(PAGE_TIME_LIMIT_MS):
                matches = self.store.count(combine(self._criteria,
                                                   {self.store.key: self._selected})) > 0
        except S3ExploreError:
            matches = False
        if not matches:
            self._selected = None
            self.viewer.clear()
            self._table.render(self._rows, self._sort, self._selected)

    def _check_fields(self, fields: Sequence[str] | None) -> list[str] | None:
        if fields is None:
            searchable = list(getattr(self.store, "searchable_fields", None) or [])
            return searchable or None  # None: every index field
        if isinstance(fields, str):
            fields = [fields]
        if not all(isinstance(f, str) and f for f in fields):
            raise ConfigurationError(f"fields must be a list of field names, got {fields!r}")
        return list(fields)

    # ------------------------------------------------------------ traits <-> state

    def _on_filter_box(self, change: dict) -> None:
        if self._reacting:
            self.apply_filter(change["new"])

    @observe("page")
    def _on_page(self, change: dict) -> None:
        if self._reacting:
            self.go_to(change["new"])

    @observe("page_size")
    def _on_page_size(self, change: dict) -> None:  # the trait and the dropdown
        if self._reacting:
            self._set_page_size(change["new"])

    @observe("filter")
    def _on_filter(self, change: dict) -> None:
        if self._reacting:
            self.apply_filter(change["new"])

    def _set_page_size(self, page_size: Any) -> bool:
        try:
            pager = self._pager.with_page_size(page_size)
        except ConfigurationError as exc:
            self._show_error(exc, stale=True)
            return False
        return self._load(pager=pager)

    def _sync_traits(self) -> None:
        with self._quiet():
            self.page = self._pager.page
            self.page_size = self._pager.page_size
            self.total = self._pager.total
            self.filter = self._filter_text
            size = self._pager.page_size
            if self._size_box.value != size:
                sizes = {value for _, value in self._size_box.options}
                if size not in sizes:
                    self._size_box.options = _size_options({*sizes, size})
                self._size_box.value = size

    # ------------------------------------------------------------ rendering

    def _button(self, label: str, css: str, action: Any) -> widgets.Button:
        button = widgets.Button(description=label)
        button.add_class(css)
        button.on_click(lambda _: action())
        return button

    def _show_error(self, error: BaseException | str, *, stale: bool = False) -> None:
        """The error box, ``error`` and ``state`` together; ``stale``: a load failed, so the
        count says the rows are the last good result, not the answer to what was asked."""
        with self._quiet():
            self.error = str(error)
            self._error.show(str(error))
            self._stale = self._stale or stale
            self.state = "error"
            self._render_count()
            self._sync_traits()

    def _hide_error(self) -> None:
        with self._quiet():
            self.error = ""
            self._error.clear()
            self._stale = False
            self.state = "ready"

    def _render_count(self) -> None:
        total = self._pager.total
        if self._stale:
            text = f"not updated · last good result: <b>{total}</b> documents"
        elif self._criteria != self.base_criteria:
            text = f"<b>{total}</b> documents match the filter"
        else:
            text = f"<b>{total}</b> documents"
        self._count.value = text
        (self._count.add_class if self._stale else self._count.remove_class)("s3x-stale")

    def _render(self) -> None:
        pager = self._pager
        self._render_count()
        self._page_info.value = escape(pager.describe())
        self._prev.disabled = not pager.has_prev
        self._next.disabled = not pager.has_next
        self._table.render(self._rows, self._sort, self._selected)
        self._sync_traits()

    def _open_row(self, row: Row) -> None:
        if row.key is None:
            return
        try:
            self.open_document(row.key)
        except Exception as exc:  # a click has no caller to raise to: show it
            self.viewer.show_error(row.key, exc)


def _size_options(sizes: set[int]) -> list[tuple[str, int]]:
    return [(f"{n} rows", n) for n in sorted(sizes)]
