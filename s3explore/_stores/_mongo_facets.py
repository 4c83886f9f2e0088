"""Facets and time-limited counts of a MongoStore, as aggregations on the server.

Value counts: ``$unwind`` (array items count one by one), ``$group`` by value, the largest
groups first; one pipeline answers everything when the field has at most ``GROUP_CAP``
distinct values, two ``$count`` pipelines say how many others there are beyond that.
Histograms: the range from ``$min``/``$max`` and the bins from ``$bucket``. FerretDB has
neither: its histograms are counted by the caller from the entries, reading only the field
(one scan, where sorted pipelines and a ``$count`` per bin took 20 times longer at 100k
entries). On a real server every step runs under ``pymongo.timeout`` (the time left), so a
slow server makes the answer incomplete instead of blocking; an injected embedded client
(mongomock) has no server to bound it and runs to the end.
"""

from __future__ import annotations

import contextlib
from typing import Any

from s3explore._stores._mongo import MongoStore, _is_pymongo_collection, _pymongo_errors

GROUP_CAP = 1000  # groups read in the first pipeline; more: two $count pipelines for the rest
_OUT_OF_TIME = object()


def _timed(store: MongoStore, seconds: float | None) -> Any:
    """``pymongo.timeout`` for the time left (also bounded by the store's max_time_ms)."""
    if not _is_pymongo_collection(store._coll):
        return contextlib.nullcontext()
    import pymongo

    limits = [s for s in (seconds, (store._time_limit() or 0) / 1000) if s]
    return pymongo.timeout(min(limits)) if limits else contextlib.nullcontext()


def _out_of_time(exc: BaseException) -> bool:
    return isinstance(exc, _pymongo_errors("ExecutionTimeout")) or bool(
        getattr(exc, "timeout", False))


def _call(store: MongoStore, seconds: float | None, work: Any) -> Any:
    """``work()`` under the time left: its result, or _OUT_OF_TIME."""
    if seconds is not None and seconds < 0.001:  # as in DuckDB: not worth a request
        return _OUT_OF_TIME
    try:
        with _timed(store, seconds):
            return work()
    except _pymongo_errors("PyMongoError") as exc:
        if _out_of_time(exc):
            return _OUT_OF_TIME
        raise store._translate(exc) from exc


def _aggregate(store: MongoStore, pipeline: list[dict], seconds: float | None) -> Any:
    return _call(store, seconds, lambda: list(store.collection.aggregate(pipeline)))


def count_within(store: MongoStore, criteria: dict, cap: int | None,
                 seconds: float | None) -> tuple[int, bool]:
    found = _call(store, seconds, lambda: store.collection.count_documents(
        criteria, **({"limit": cap} if cap else {})))
    return (0, False) if found is _OUT_OF_TIME else (found, True)


def _items(field: str, criteria: dict) -> list[dict]:
    """The stages that leave one document per non-null value (array items one by one)."""
    stages: list[dict] = [{"$match": criteria}] if criteria else []
    parts = field.split(".")
    # every level: $unwind does not look through arrays of documents on its own
    unwind = [{"$unwind": "$" + ".".join(parts[:i])} for i in range(1, len(parts) + 1)]
    return [*stages, *unwind, {"$match": {field: {"$ne": None}}}]


def _count(store: MongoStore, pipeline: list[dict], seconds: float | None) -> Any:
    rows = _aggregate(store, [*pipeline, {"$count": "n"}], seconds)
    return rows if rows is _OUT_OF_TIME else (rows[0]["n"] if rows else 0)


def value_counts(store: MongoStore, field: str, criteria: dict, limit: int,
                 deadline: Any) -> tuple[list, int | None, int | None] | bool:
    """``(top rows [(value, count)], distinct values, values counted)`` (the last two None
    when they could not be counted in time); False: out of time."""
    items = _items(field, criteria)
    cap = max(limit, GROUP_CAP)
    rows = _aggregate(store, [*items, {"$group": {"_id": f"${field}", "n": {"$sum": 1}}},
                              {"$sort": {"n": -1, "_id": 1}}, {"$limit": cap + 1}],
                      deadline.left())
    if rows is _OUT_OF_TIME:
        return False
    top = [(row["_id"], row["n"]) for row in rows[:limit]]
    if len(rows) <= cap:
        return top, len(rows), sum(row["n"] for row in rows)
    groups = _count(store, [*items, {"$group": {"_id": f"${field}"}}], deadline.left())
    total = _count(store, items, deadline.left())
    return (top, None if groups is _OUT_OF_TIME else groups,
            None if total is _OUT_OF_TIME else total)


def histogram(store: MongoStore, field: str, criteria: dict, bins: int,
              deadline: Any) -> tuple[list, list, int | None] | bool:
    """``(edges, counts, values that are not numbers or None if not counted in time)``;
    False: out of time."""
    numbers = [*_items(field, criteria), {"$match": {field: {"$type": "number"}}}]
    span = _span(store, field, numbers, deadline)
    if span is _OUT_OF_TIME:
        return False
    if span is None:
        return [], [], _others(store, field, criteria, 0, deadline)
    lo, hi, n = span
    width = (hi - lo) / bins
    if width == 0:  # one value: one bin
        return [lo, hi], [n], _others(store, field, criteria, n, deadline)
    edges = [lo + i * width for i in range(bins)] + [hi]
    counts = _bucket(store, field, numbers, edges, deadline)
    if counts is _OUT_OF_TIME:
        return False
    return edges, counts, _others(store, field, criteria, sum(counts), deadline)


def _span(store: MongoStore, field: str, numbers: list[dict], deadline: Any) -> Any:
    """``(min, max, count)`` of the numbers, None when there are none."""
    rows = _aggregate(store, [*numbers, {"$group": {
        "_id": None, "lo": {"$min": f"${field}"}, "hi": {"$max": f"${field}"},
        "n": {"$sum": 1}}}], deadline.left())
    if rows is _OUT_OF_TIME or not rows:
        return _OUT_OF_TIME if rows is _OUT_OF_TIME else None
    return rows[0]["lo"], rows[0]["hi"], rows[0]["n"]


def _bucket(store: MongoStore, field: str, numbers: list[dict], edges: list,
            deadline: Any) -> Any:
    """Counts per bin; the last bin holds its upper edge (the maximum)."""
    bins = len(edges) - 1
    rows = _aggregate(store, [*numbers, {"$bucket": {
        "groupBy": f"${field}", "boundaries": edges, "default": "max",
        "output": {"n": {"$sum": 1}}}}], deadline.left())
    if rows is _OUT_OF_TIME:
        return rows
    counts = [0] * bins  # "max": the largest value, which $bucket leaves out of the last bin
    for row in rows:
        at = bins - 1 if row["_id"] == "max" else edges.index(row["_id"])
        counts[min(at, bins - 1)] += row["n"]
    return counts


def _others(store: MongoStore, field: str, criteria: dict, numbers: int,
            deadline: Any) -> int | None:
    """Values (array items one by one) that are not numbers; None when out of time."""
    total = _count(store, _items(field, criteria), deadline.left())
    return None if total is _OUT_OF_TIME else total - numbers
