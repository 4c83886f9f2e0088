"""``store.facets()``: the value counts or the histogram of one field under a filter,
computed in the index engine, within a time limit.

Value counts: the ``limit`` most frequent values (array items count one by one; nulls and
missing fields are no values), ties in MongoDB's order of values. ``bins=None``: numbers with
more than ``limit`` distinct values get a histogram of ``DEFAULT_BINS`` equal-width bins from
the smallest to the largest (the last bin holds the largest; one bin when all are equal);
``bins=0`` always counts values, ``bins=n`` always bins. ``attrs``: ``field``, ``kind``
("values" or "histogram"), ``complete``, ``values`` (distinct values), ``counted`` (values
counted), ``other_values``/``other_count`` (beyond the top rows; for a histogram
``other_count`` is the values that are not numbers), ``scanned`` (entries read when counted
here), ``seconds``, ``index`` and ``max_time``. None where a number could not be counted in
time. ``max_time=None``: no limit of its own (a MongoStore's ``max_time_ms`` still applies).

DuckDB counts in SQL, MongoDB in an aggregation (``_mongo_facets``); the embedded engines,
foreign indexes and what an engine cannot count (DuckDB: dicts, bytes, nested arrays;
FerretDB: histograms, as it lacks ``$min``, ``$max`` and ``$bucket``) are counted here from
the entries, reading only the field, looking at the clock as they go. An S3Store or
ManifestStore answers from its index. When ``max_time`` runs out, the result says so
(``attrs["complete"]`` is False) and holds what was counted so far (nothing, for a query the
engine interrupted).
"""

from __future__ import annotations

import bisect
import datetime as _dt
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from s3explore._checks import ArgumentError
from s3explore._errors import QueryError
from s3explore._query import Query, check_fields, whole_number
from s3explore._stores._base import Store, sortable
from s3explore._stores._counting import (
    Bounded,
    Deadline,
    check_max_time,
    engine_of,
)
from s3explore._stores._hints import check, from_user

DEFAULT_BINS = 10
_NOTHING = object()


@dataclass
class Counted:
    """What an engine counted; ``values``/``counted`` None when not known."""

    top: list = field(default_factory=list)  # [(value, count)], largest first
    values: int | None = 0  # distinct values
    counted: int | None = 0  # values counted (array items one by one)
    complete: bool = True
    scanned: int | None = None  # entries read, when counted here from the entries


@dataclass
class Binned:
    edges: list = field(default_factory=list)
    counts: list = field(default_factory=list)
    others: int | None = 0  # values that are not numbers
    complete: bool = True
    scanned: int | None = None


class FacetFrame(pd.DataFrame):
    """The ``facets()`` table; its repr starts with what it counts and whether it is
    complete. ``attrs`` holds the numbers (see ``Store.facets``)."""

    @property
    def caption(self) -> str:
        a = self.attrs
        where = a.get("index", "the index")
        if a.get("kind") == "histogram":
            text = f"histogram of {a.get('field')!r} in {where}: {a.get('bins', 0)} bins"
            if a.get("other_count"):
                text += f", {a['other_count']:,} values that are not numbers left out"
        else:
            text = f"values of {a.get('field')!r} in {where}: top {len(self):,}"
            if a.get("values") is not None:
                text += f" of {a['values']:,} distinct"
            if a.get("other_count"):
                text += f", {a['other_count']:,} more in {a.get('other_values') or '?'} others"
        if not a.get("complete", True):
            scanned = a.get("scanned")
            read = f" after reading {scanned:,} entries" if scanned else ""
            text += (f" -- INCOMPLETE: gave up at max_time={a.get('max_time')} s{read} "
                     "(raise max_time for all)")
        return text

    def __repr__(self) -> str:
        return f"{self.caption}\n{super().__repr__()}"

    def _repr_html_(self) -> str | None:
        html = super()._repr_html_()
        return None if html is None else f"<p><i>{self.caption}</i></p>{html}"


def check_bins(bins: Any) -> int | None:
    if bins is None:
        return None
    if isinstance(bins, bool) or not isinstance(bins, int) or not 0 <= bins <= 10_000:
        raise ArgumentError(f"bins must be None (decide from the values), 0 (count values) or "
                            f"a number of histogram bins up to 10000, got {bins!r}")
    return bins


def facets(store: Any, name: Any, criteria: Any, limit: Any, bins: Any,
           max_time: Any) -> pd.DataFrame:
    user = from_user(3)
    frame = _facets(store, name, criteria, limit, bins, max_time)
    if user and not len(frame) and frame.attrs["complete"]:
        check(store, store._criteria(criteria), [name])  # a typo hint (see _hints)
    return frame


def _facets(store: Any, name: Any, criteria: Any, limit: Any, bins: Any,
            max_time: Any) -> pd.DataFrame:
    if not isinstance(name, str):
        raise QueryError(f"field must be one dotted field name, got {name!r}")
    check_fields([name], "field")
    limit = whole_number(limit, "limit", 1)
    bins = check_bins(bins)
    max_time = check_max_time(max_time)
    criteria = store._criteria(criteria)
    engine = engine_of(store)
    start, deadline = time.monotonic(), Deadline(max_time)
    attrs = {"field": name, "index": getattr(engine, "name", type(engine).__name__),
             "max_time": max_time}
    if bins:
        return _histogram_frame(histogram(engine, name, criteria, bins, deadline),
                                attrs, start)
    counted = value_counts(engine, name, criteria, limit, deadline)
    numbers = counted.top and all(_is_number(v) for v, _ in counted.top)
    more = counted.values is None or counted.values > limit
    if bins is None and counted.complete and numbers and more:
        binned = histogram(engine, name, criteria, DEFAULT_BINS, deadline)
        if binned.complete:
            return _histogram_frame(binned, attrs, start)
    return _counts_frame(counted, attrs, start)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _counts_frame(c: Counted, attrs: dict, start: float) -> FacetFrame:
    top = sorted(c.top, key=lambda row: (-row[1], sortable(row[0])))
    frame = FacetFrame({"value": pd.Series([v for v, _ in top], dtype=object),
                        "count": pd.Series([n for _, n in top], dtype="int64")})
    shown = sum(n for _, n in top)
    frame.attrs.update(
        attrs, kind="values", complete=c.complete, values=c.values, counted=c.counted,
        other_values=None if c.values is None else c.values - len(top),
        other_count=None if c.counted is None else c.counted - shown,
        scanned=c.scanned, seconds=time.monotonic() - start)
    return frame


def _histogram_frame(b: Binned, attrs: dict, start: float) -> FacetFrame:
    frame = FacetFrame({"lower": pd.Series(b.edges[:-1], dtype="float64"),
                        "upper": pd.Series(b.edges[1:], dtype="float64"),
                        "count": pd.Series(b.counts, dtype="int64")})
    frame.attrs.update(attrs, kind="histogram", bins=len(b.counts), complete=b.complete,
                       counted=sum(b.counts), other_count=b.others, scanned=b.scanned,
                       seconds=time.monotonic() - start)
    return frame


# ------------------------------------------------------------ dispatch to the engines

def _engine(engine: Any) -> str:
    from s3explore._stores._duckdb import DuckDBStore
    from s3explore._stores._mongo import MongoStore

    if isinstance(engine, DuckDBStore):
        return "duckdb"
    return "mongo" if isinstance(engine, MongoStore) else "read"


def value_counts(engine: Any, name: str, criteria: dict, limit: int,
                 deadline: Deadline) -> Counted:
    kind = _engine(engine)
    if kind == "duckdb":
        from s3explore._stores._duckdb import _facets as duck

        found = duck.value_counts(engine, name, criteria, limit, deadline.left())
        if found is False:
            return Counted(complete=False)
        if found is not None:
            return Counted(*found)
    elif kind == "mongo":
        from s3explore._stores import _mongo_facets as mongo

        found = mongo.value_counts(engine, name, criteria, limit, deadline)
        if found is False:
            return Counted(complete=False)
        top, values, counted = found
        return Counted(top, values, counted, values is not None and counted is not None)
    return _read_counts(engine, name, criteria, limit, deadline)


def histogram(engine: Any, name: str, criteria: dict, bins: int,
              deadline: Deadline) -> Binned:
    kind = _engine(engine)
    if kind == "duckdb":
        from s3explore._stores._duckdb import _facets as duck

        found = duck.histogram(engine, name, criteria, bins, deadline.left(), deadline)
        if found is False:
            return Binned(complete=False)
        if found is not None:
            return Binned(*found)
    elif kind == "mongo" and not engine._ferretdb:  # FerretDB lacks $min, $max, $bucket
        from s3explore._stores import _mongo_facets as mongo

        found = mongo.histogram(engine, name, criteria, bins, deadline)
        if found is False:
            return Binned(complete=False)
        edges, counts, others = found
        return Binned(edges, counts, others, others is not None)
    return _read_histogram(engine, name, criteria, bins, deadline)


# ------------------------------------------------------------ counted from the entries

def _entries(engine: Any, name: str, criteria: dict) -> Any:
    top = name.split(".")[0]
    if isinstance(engine, Store):
        return engine._find(Query(criteria, [top]))
    return engine.query(criteria=criteria, properties=[top])


def _values(value: Any, parts: list[str]) -> Any:
    """The values at the path, MongoDB-style: through arrays of documents, array values
    item by item; nulls left out."""
    if parts:
        if isinstance(value, dict):
            yield from _values(value.get(parts[0], _NOTHING), parts[1:])
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    yield from _values(item, parts)
        return
    for item in value if isinstance(value, list) else [value]:
        if item is not None and item is not _NOTHING:
            yield item


def _key(value: Any) -> Any:
    """Equal values once (1 and 1.0 together, as in MongoDB); True apart from 1."""
    if isinstance(value, bool):
        return ("bool", value)
    if _is_number(value) or isinstance(value, (str, _dt.datetime)):
        return ("value", value)
    try:
        hash(value)
        return ("other", type(value).__name__, value)
    except TypeError:
        return ("repr", repr(value))


def _scan(engine: Any, name: str, criteria: dict, deadline: Deadline, each: Any) -> tuple:
    """``each(value)`` for every value of the matching entries: ``(complete, entries read)``."""
    bounded = Bounded(_entries(engine, name, criteria), deadline)
    parts, n = name.split("."), 0
    for doc in bounded:
        n += 1
        for value in _values(doc, parts):
            each(value)
    return bounded.complete, n


def _read_counts(engine: Any, name: str, criteria: dict, limit: int,
                 deadline: Deadline) -> Counted:
    counts: dict[Any, list] = {}

    def each(value: Any) -> None:
        seen = counts.setdefault(_key(value), [value, 0])
        seen[1] += 1

    complete, read = _scan(engine, name, criteria, deadline, each)
    rows = sorted(counts.values(), key=lambda row: (-row[1], sortable(row[0])))
    return Counted([tuple(r) for r in rows[:limit]], len(rows), sum(r[1] for r in rows),
                   complete, read)


def _read_histogram(engine: Any, name: str, criteria: dict, bins: int,
                    deadline: Deadline) -> Binned:
    numbers: list = []
    others = [0]

    def each(value: Any) -> None:
        if _is_number(value):
            numbers.append(value)
        else:
            others[0] += 1

    complete, read = _scan(engine, name, criteria, deadline, each)
    if not numbers:
        return Binned([], [], others[0], complete, read)
    edges, counts = bin_values(numbers, bins)
    return Binned(edges, counts, others[0], complete, read)


def bin_values(numbers: list, bins: int) -> tuple[list, list]:
    """Equal-width bins from the smallest to the largest number; the last bin holds the
    largest; one bin when all are equal."""
    lo, hi = min(numbers), max(numbers)
    width = (hi - lo) / bins
    if width == 0:
        return [lo, hi], [len(numbers)]
    edges = [lo + i * width for i in range(bins)] + [hi]
    counts = [0] * bins
    for v in numbers:
        counts[min(bisect.bisect_right(edges, v) - 1, bins - 1)] += 1
    return edges, counts
