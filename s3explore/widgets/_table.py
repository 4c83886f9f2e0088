"""The browser's table: a header of sort buttons and a pool of clickable rows.

Each row is its cells (one HTML widget, a CSS grid) under a transparent button covering the
row, so a click anywhere on the row opens it in every front end. Rows are pooled: paging
changes their values instead of creating widgets.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

import ipywidgets as widgets
import pandas as pd

from s3explore.widgets._format import cell_text, is_number
from s3explore.widgets._state import SortState
from s3explore.widgets._style import html

SORT_MARKS = {1: " \u25b2", -1: " \u25bc"}
# Column widths in ``ch`` (the width of "0"), measured from the header and the texts of the
# page shown: a date gets its 19 characters, a small number a narrow column. Longer texts
# are cut with an ellipsis and shown whole on hover (the cell's title).
MIN_WIDTH, MAX_WIDTH = 4, 40
HEADER_ROOM = 1.15  # a bold header is wider than the same text in cells
KEY_ROOM = 1.05  # the key column's monospace digits are a little wider than "0" of the UI font


class Row:
    """One pooled table row."""

    def __init__(self, on_click: Callable[[Row], None]) -> None:
        self.key: Any = None
        self.cells = html("", "s3x-cellbox")
        self.hit = widgets.Button(description="", tooltip="open this document")
        self.hit.add_class("s3x-hit")
        self.hit.on_click(lambda _: on_click(self))
        self.box = widgets.Box([self.cells, self.hit])
        self.box.add_class("s3x-row")

    def show(self, key: Any, cells_html: str, selected: bool) -> None:
        self.key = key
        self.cells.value = cells_html
        self.hit.tooltip = f"open {key}"
        self.box.layout.display = None
        (self.box.add_class if selected else self.box.remove_class)("s3x-selected")

    def hide(self) -> None:
        self.key = None
        self.box.layout.display = "none"


class Table:
    """``widget`` shows a DataFrame page; header clicks call ``on_sort(field)``, row clicks
    ``on_open(row)``."""

    def __init__(self, on_sort: Callable[[str], Any], on_open: Callable[[Row], Any]) -> None:
        self._on_sort = on_sort
        self._on_open = on_open
        self.header = widgets.GridBox([])
        self.header.add_class("s3x-header")
        self.nothing = html('<div class="s3x-nothing">No documents match.</div>')
        self.rows: list[Row] = []
        self.widget = widgets.VBox([self.header])
        self.widget.add_class("s3x-table")

    def render(self, frame: pd.DataFrame, sort: SortState, selected: Any) -> None:
        columns = [str(c) for c in frame.columns]
        template = grid_template(column_widths(frame))
        right = {c: _numeric(frame[c]) for c in columns}
        self._render_header(columns, template, right, sort)
        while len(self.rows) < len(frame):
            self.rows.append(Row(self._on_open))
        records = frame.itertuples(index=False, name=None) if columns else []
        shown = 0
        for row, values in zip(self.rows, records, strict=False):
            key = _python(values[0])
            cells = "".join(_cell(v, i == 0, right[c])
                            for i, (c, v) in enumerate(zip(columns, values, strict=True)))
            row.show(key, f'<div class="s3x-cells" style="grid-template-columns: {template}">'
                     f"{cells}</div>", selected is not None and str(key) == str(selected))
            shown += 1
        for row in self.rows[shown:]:
            row.hide()
        nothing = [self.nothing] if not shown else []
        self.widget.children = [self.header, *nothing, *(r.box for r in self.rows)]

    def _render_header(self, columns: list[str], template: str, right: dict[str, bool],
                       sort: SortState) -> None:
        buttons = list(self.header.children)
        if [b.tooltip for b in buttons] != [f"sort by {c}" for c in columns]:
            buttons = [self._sort_button(c) for c in columns]
            self.header.children = buttons
        self.header.layout.grid_template_columns = template
        for button, column in zip(buttons, columns, strict=True):
            button.description = column + SORT_MARKS.get(sort.direction(column), "")
            button.tooltip = f"sort by {column}"
            (button.add_class if right[column] else button.remove_class)("s3x-right")

    def _sort_button(self, column: str) -> widgets.Button:
        button = widgets.Button(tooltip=f"sort by {column}")
        button.add_class("s3x-sort")
        button.on_click(lambda _: self._on_sort(column))
        return button


def column_widths(frame: pd.DataFrame) -> list[int]:
    """Each column's width in ``ch``: its longest text on this page or its header (with room
    for a sort mark), between MIN_WIDTH and MAX_WIDTH."""
    widths = []
    for position, column in enumerate(frame.columns):
        header = len(str(column)) + 2  # " \u25b2" when sorted, so sorting does not shift it
        longest = max((len(cell_text(v)) for v in frame[column]), default=0)
        if position == 0:
            longest = longest * KEY_ROOM
        needed = max(header * HEADER_ROOM, longest) + 1
        widths.append(int(min(max(round(needed + 0.49), MIN_WIDTH), MAX_WIDTH)))
    return widths


def grid_template(widths: list[int]) -> str:
    """Columns at least their content's width; spare room shared in proportion to it, so
    narrow columns stay narrow on a wide page."""
    return " ".join(f"minmax({w}ch, {w}fr)" for w in widths)


def _numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _python(value: Any) -> Any:
    """A numpy scalar key as the Python int or str it stands for."""
    return value.item() if hasattr(value, "item") and not isinstance(value, str) else value


def _cell(value: Any, is_key: bool, right: bool) -> str:
    text = cell_text(value)
    full = cell_text(value, limit=500)
    css = "s3x-cell" + (" s3x-keycell" if is_key else "") + (
        " s3x-right" if right or is_number(value) else "")
    return f'<div class="{css}" title="{escape(full)}">{escape(text)}</div>'
