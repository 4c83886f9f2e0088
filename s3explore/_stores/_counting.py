"""Counts under a time limit: ``count(max_time=...)`` and ``estimate_count``.

Every engine answers "how many entries match, counting at most ``cap``, within ``seconds``"
(``count_within``): DuckDB in SQL, interrupted by a timer; MongoDB on the server, bounded by
``maxTimeMS``; the embedded engines and foreign indexes by reading keys until the time is
up. ``estimate_count`` builds on it: a capped count first (a small result is then exact at
once), the exact count with the time left, and a lower bound ("at least N") otherwise.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from s3explore._checks import positive_number
from s3explore._errors import QueryError
from s3explore._query import Query

FIRST_CAP = 1000  # a capped count this large comes first; fewer matches: exact at once
CHECK_EVERY = 256  # documents read between two looks at the clock


class Deadline:
    """``max_time`` seconds from now; ``None``: no limit."""

    def __init__(self, max_time: float | None) -> None:
        self.max_time = max_time
        self.end = None if max_time is None else time.monotonic() + max_time

    def left(self) -> float | None:
        """Seconds left (0 when past), None without a limit."""
        return None if self.end is None else max(0.0, self.end - time.monotonic())

    @property
    def expired(self) -> bool:
        return self.end is not None and time.monotonic() >= self.end


def check_max_time(max_time: Any, name: str = "max_time") -> float | None:
    found = positive_number(max_time, name, none_ok=True, none_means="no limit")
    return None if found is None else float(found)


@dataclass(frozen=True)
class CountEstimate:
    """How many entries match: ``count`` is exact when ``exact``, else a lower bound
    (``bound="at least"``) or the engine's estimate (``bound="about"``).

    ``str()`` reads "1,234", "at least 1,000" or "about 98,000"; ``int()`` gives ``count``.
    """

    count: int
    exact: bool
    bound: str = "exact"  # "exact", "at least" or "about"
    seconds: float = 0.0

    def __str__(self) -> str:
        return f"{self.count:,}" if self.exact else f"{self.bound} {self.count:,}"

    def __int__(self) -> int:
        return self.count


def engine_of(store: Any) -> Any:
    """The store that holds the entries: an S3Store's (or ManifestStore's) index."""
    from s3explore._stores._documents import ObjectBackedStore

    return store.index if isinstance(store, ObjectBackedStore) else store


def count_within(store: Any, criteria: dict, cap: int | None,
                 seconds: float | None) -> tuple[int, bool]:
    """``(n, finished)``: the entries matching ``criteria``, at most ``cap``; when
    ``seconds`` ran out first, ``finished`` is False and ``n`` a lower bound (maybe 0)."""
    from s3explore._stores._duckdb import DuckDBStore
    from s3explore._stores._mongo import MongoStore, _is_pymongo_collection

    store = engine_of(store)
    if isinstance(store, DuckDBStore):
        from s3explore._stores._duckdb._facets import count_within as duckdb_count

        return duckdb_count(store, criteria, cap, seconds)
    if isinstance(store, MongoStore) and _is_pymongo_collection(store._coll):
        from s3explore._stores._mongo_facets import count_within as mongo_count

        return mongo_count(store, criteria, cap, seconds)
    return _read_count(store, criteria, cap, seconds)


def _read_count(store: Any, criteria: dict, cap: int | None,
                seconds: float | None) -> tuple[int, bool]:
    """Count by reading keys (embedded engines, foreign indexes), looking at the clock."""
    from s3explore._stores._base import Store

    deadline = Deadline(seconds)
    if seconds is None and isinstance(store, Store) and not cap:
        return store._count(criteria), True
    if isinstance(store, Store):
        found = store._find(Query(criteria, [store.key], limit=cap or 0))
    else:  # a foreign (maggma) index: its public query
        found = store.query(criteria=criteria, properties=[store.key], limit=cap or 0)
    bounded = Bounded(found, deadline)
    n = sum(1 for _ in bounded)
    return n, bounded.complete


class Bounded:
    """Iterates ``found`` until ``deadline`` expires (looked at every ``CHECK_EVERY`` items),
    then closes it; ``complete`` says whether it ran to its end."""

    def __init__(self, found: Any, deadline: Any) -> None:
        self.found, self.deadline, self.complete = found, deadline, False

    def __iter__(self) -> Any:
        for n, item in enumerate(self.found, 1):
            yield item
            if n % CHECK_EVERY == 0 and self.deadline.expired:
                close = getattr(self.found, "close", None)
                if close is not None:
                    close()
                return
        self.complete = True


def timed_count(store: Any, criteria: dict, max_time: float) -> int:
    """``count(criteria, max_time=...)``: exact, or QueryError when the time runs out."""
    found, finished = count_within(store, criteria, None, max_time)
    if not finished:
        raise QueryError(
            f"counting the entries of {engine_of(store).name} that match took longer than "
            f"max_time={max_time:g} s; narrow the criteria, raise max_time, or use "
            "estimate_count() for a quick lower bound")
    return found


def estimate_count(store: Any, criteria: dict, max_time: float | None) -> CountEstimate:
    """Exact if it finishes in ``max_time``; else a lower bound, or MongoDB's estimate of
    the whole collection when there are no criteria. The time is shared: 40 % for a capped
    count (fewer matches than the cap: exact at once), the rest for the full count, of which
    20 % of ``max_time`` is kept for MongoDB's estimate when there are no criteria."""
    start = time.monotonic()
    deadline = Deadline(max_time)

    def result(count: int, exact: bool, bound: str = "exact") -> CountEstimate:
        return CountEstimate(count, exact, bound, time.monotonic() - start)

    def left(keep: float = 0.0) -> float | None:
        rest = deadline.left()
        return None if rest is None else max(0.0, rest - keep)

    first = 0
    if max_time is not None:
        first, finished = count_within(store, criteria, FIRST_CAP, 0.4 * max_time)
        if finished and first < FIRST_CAP:
            return result(first, True)
    keep = 0.2 * max_time if max_time is not None and not criteria else 0.0
    full, finished = count_within(store, criteria, None, left(keep))
    if finished:
        return result(full, True)
    if not criteria:  # stopped by the time limit (or by a MongoStore's max_time_ms)
        about = _estimated_total(store, left())
        if about is not None:
            return result(about, False, "about")
    return result(max(first, full), False, "at least")


def _estimated_total(store: Any, seconds: float | None) -> int | None:
    """MongoDB's metadata count of the whole collection (no scan), when there is one and
    it answers within ``seconds``."""
    from s3explore._stores._mongo import MongoStore, _is_pymongo_collection

    store = engine_of(store)
    if not (isinstance(store, MongoStore) and _is_pymongo_collection(store._coll)):
        return None
    from s3explore._stores._mongo_facets import _OUT_OF_TIME, _call

    try:
        found = _call(store, seconds, lambda: store.collection.estimated_document_count())
    except Exception:  # an engine without the command: no estimate, the bound stands
        return None
    return None if found is _OUT_OF_TIME else int(found)
