"""FacetPanel: the most frequent values (or a histogram) of a few fields, as buttons that
narrow a filter.

The selection logic is pure (``Choice``, ``selection_criteria``, ``facet_criteria``); the
widget is a thin view over ``store.facets``. Each field's counts are taken under the base
criteria and the choices made on the *other* fields (faceted search), so a field's own
values stay visible and several can be chosen (they combine with ``$in``, or ``$or`` for
ranges). A facet the engine could not finish within ``max_time`` is shown as partial
(``state == "partial"``) instead of blocking the kernel.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

import ipywidgets as widgets
from traitlets import Dict, Unicode

from s3explore._errors import QueryError
from s3explore.widgets._base import ErrorBox, Hooks, StoreWidget
from s3explore.widgets._filters import combine


@dataclass(frozen=True)
class Choice:
    """One clickable value: ``value`` itself, or the bin ``lower <= x < upper`` (``<=`` for
    the last bin, which holds the maximum)."""

    value: Any = None
    lower: float | None = None
    upper: float | None = None
    last: bool = False

    @property
    def is_range(self) -> bool:
        return self.lower is not None

    def clause(self) -> Any:
        if not self.is_range:
            return self.value
        return {"$gte": self.lower, "$lte" if self.last else "$lt": self.upper}

    def label(self, count: int) -> str:
        if self.is_range:
            close = "]" if self.last else ")"
            lower, upper = _edges(self.lower, self.upper)
            return f"[{lower}, {upper}{close}  {count:,}"
        return f"{self.value}  {count:,}"


def _edges(lower: Any, upper: Any) -> tuple[str, str]:
    """A bin's edges with the fewest significant digits (3 at least) that tell them apart:
    a label, not the criteria, which keep the exact edges."""
    for digits in range(3, 18):
        shown = f"{lower:.{digits}g}", f"{upper:.{digits}g}"
        if shown[0] != shown[1]:
            return shown
    return f"{lower!r}", f"{upper!r}"


def selection_criteria(field: str, choices: Sequence[Choice]) -> dict:
    """Criteria for ``field`` being any of ``choices`` ({} for none)."""
    if not choices:
        return {}
    values = [c for c in choices if not c.is_range]
    ranges = [c for c in choices if c.is_range]
    clauses = []
    if values:
        clauses.append({field: values[0].value if len(values) == 1 and not ranges
                        else {"$in": [c.value for c in values]}})
    clauses += [{field: c.clause()} for c in ranges]
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


def facet_criteria(base: Mapping | None, selected: Mapping[str, Sequence[Choice]],
                   leave_out: str | None = None) -> dict:
    """The base criteria and every field's choices (but ``leave_out``'s), combined."""
    criteria = dict(base or {})
    for field, choices in selected.items():
        if field != leave_out:
            criteria = combine(criteria, selection_criteria(field, choices))
    return criteria


def choices_of(frame: Any) -> list[tuple[Choice, int]]:
    """The clickable choices of one ``store.facets`` table, with their counts."""
    if frame.attrs.get("kind") == "histogram":
        n = len(frame)
        return [(Choice(lower=float(lo), upper=float(hi), last=i == n - 1), int(c))
                for i, (lo, hi, c) in enumerate(zip(frame["lower"], frame["upper"],
                                                    frame["count"], strict=True)) if c]
    return [(Choice(value), int(c)) for value, c in zip(frame["value"], frame["count"],
                                                        strict=True)]


class FacetPanel(StoreWidget):
    """Value counts of ``fields`` as buttons; a click adds the value to the filter (or takes
    it out again). ``criteria`` is the resulting filter (the base criteria and the choices);
    ``on_change(callback)`` registers a function called with it after every click. Counts
    come from ``store.facets(field, ..., max_time=max_time)``: a field the engine could not
    count in time says "partial". With ``fetch=`` (paths in the S3 objects), a cost line says
    what ``query_df(criteria, fetch=fetch)`` would GET (``store.estimate``). The root element
    carries the CSS class ``s3x-facets``.
    """

    widget_name = "FacetPanel"
    css_classes = ("s3x-facets",)
    STATES = ("ready", "partial", "error")

    criteria = Dict(help="the filter: base criteria and the chosen values")
    matching = Unicode("", help="entries matching criteria: '1,234' or 'at least 1,000'")
    cost = Unicode("", help="with fetch=: what reading those paths would cost (one line)")
    error = Unicode("", help="the last error shown, or empty")

    def __init__(self, store: Any, fields: Sequence[str], criteria: Mapping | None = None, *,
                 limit: int = 8, max_time: float | None = 0.5,
                 fetch: Sequence[str] | None = None) -> None:
        if isinstance(fields, str) or not fields or not all(
                isinstance(f, str) and f for f in fields):
            raise QueryError(f"fields must be a non-empty list of field names, got {fields!r}")
        self._use_store(store)
        self.fields = list(dict.fromkeys(fields))
        self.limit, self.max_time = limit, max_time
        self.fetch = list(fetch) if fetch else None  # paths query_df would read from objects
        self.base_criteria = dict(criteria or {})
        self.selected: dict[str, list[Choice]] = {f: [] for f in self.fields}
        self.frames: dict[str, Any] = {}
        self._changed = Hooks("on_change")
        self._errors = ErrorBox()
        self._matching = widgets.HTML("")
        self._matching.add_class("s3x-facet-count")
        self._cost = widgets.HTML("")
        self._cost.add_class("s3x-facet-cost")
        self._boxes = {f: widgets.VBox() for f in self.fields}
        super().__init__([self._matching, self._cost, self._errors, *self._boxes.values()])
        self.refresh()

    def on_change(self, callback: Callable[[dict], Any], remove: bool = False) -> None:
        self._changed.register(callback, remove)

    def set_base(self, criteria: Mapping | None) -> None:
        """New base criteria (e.g. the browser's filter): counts again."""
        self.base_criteria = dict(criteria or {})
        self.refresh()

    def toggle(self, field: str, choice: Choice) -> None:
        """Choose ``choice`` of ``field``, or take it back; counts again and tells
        ``on_change``."""
        if field not in self.selected:
            raise QueryError(f"{field!r} is not one of this panel's fields {self.fields}")
        chosen = self.selected[field]
        chosen.remove(choice) if choice in chosen else chosen.append(choice)
        self.refresh()
        problems = self._changed(dict(self.criteria))
        if problems:
            self._show_error("; ".join(problems))

    def clear(self) -> None:
        for chosen in self.selected.values():
            chosen.clear()
        self.refresh()
        self._changed(dict(self.criteria))

    def refresh(self) -> None:
        """Count every field again under the current criteria."""
        self.criteria = facet_criteria(self.base_criteria, self.selected)
        self.error = ""
        self._errors.clear()
        partial = False
        try:
            found = self.store.estimate_count(self.criteria, max_time=self.max_time)
            self.matching = str(found)
            self._matching.value = f"{escape(self.matching)} entries match"
            if self.fetch:  # measured on a few GETs: see Store.estimate
                self.cost = str(self.store.estimate(self.criteria, self.fetch,
                                                    max_time=self.max_time))
                paths = escape(", ".join(self.fetch))
                self._cost.value = f"<i>fetch {paths}: {escape(self.cost)}</i>"
            for field in self.fields:
                frame = self.store.facets(
                    field, facet_criteria(self.base_criteria, self.selected, field),
                    self.limit, max_time=self.max_time)
                self.frames[field] = frame
                partial |= not frame.attrs.get("complete", True)
                self._draw(field, frame)
        except Exception as exc:  # a widget has no caller to raise to: shown inline
            self._show_error(f"{type(exc).__name__}: {exc}")
            return
        self.state = "partial" if partial else "ready"

    def link(self, browser: Any) -> None:
        """Narrow an IndexBrowser with this panel: a click filters the browser's rows, and
        the browser's filter box narrows these counts. Uses the browser's public API only
        (``base_criteria``, ``apply_filter``, its ``filter`` trait)."""
        from s3explore.widgets._filters import parse_filter

        original = dict(browser.base_criteria)

        def narrowed(_: dict) -> None:
            browser.base_criteria = facet_criteria(original, self.selected)
            browser.apply_filter(browser.filter)

        def filtered(change: dict) -> None:
            self.set_base(combine(original, parse_filter(change["new"])))

        self.on_change(narrowed)
        browser.observe(filtered, "filter")
        self.set_base(combine(original, parse_filter(browser.filter)))

    def _show_error(self, message: str) -> None:
        self.error = message
        self._errors.show(message)
        self.state = "error"

    def _draw(self, field: str, frame: Any) -> None:
        chosen = self.selected[field]
        note = "" if frame.attrs.get("complete", True) else " (partial: out of time)"
        title = widgets.HTML(f"<b>{escape(field)}</b>{escape(note)}")
        title.add_class("s3x-facet-title")
        buttons = []
        shown = choices_of(frame)
        listed = [c for c, _ in shown]
        for choice, count in shown + [(c, 0) for c in chosen if c not in listed]:
            button = widgets.ToggleButton(value=choice in chosen,
                                          description=choice.label(count),
                                          layout=widgets.Layout(width="auto"))
            button.add_class("s3x-facet-value")
            button.observe(lambda _, f=field, c=choice: self.toggle(f, c), "value")
            buttons.append(button)
        other = frame.attrs.get("other_count")
        more = [widgets.HTML(f"<i>{other:,} more in other values</i>")] if other else []
        self._boxes[field].children = [title, widgets.HBox(
            buttons, layout=widgets.Layout(flex_flow="row wrap")), *more]
