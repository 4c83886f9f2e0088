"""``store.estimate()``: what a query would cost before it runs.

Entries that match come from ``estimate_count`` (exact when the engine answers in time);
objects to GET are one per entry when ``fetch=`` reads fields from the objects, none
otherwise. Bytes and seconds are measured: a few matching objects are fetched (``SAMPLE_GETS``
at most, within the time limit), their sizes give the bytes per object, and every GET timed
for this store in this session gives the seconds per GET, divided among the store's workers.
The index holds no object sizes, so nothing is guessed without a measurement: with no GET
measured, bytes and seconds are None.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from s3explore._errors import ObjectNotFoundError, QueryError
from s3explore._query import check_fields
from s3explore._stores._counting import (
    CountEstimate,
    Deadline,
    check_max_time,
    engine_of,
    estimate_count,
)

SAMPLE_GETS = 5  # objects fetched to measure sizes and times, per estimate
SESSION_GETS = 50  # GET timings kept per store for the session's rate
_TIMINGS = "_s3x_get_timings"


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n} B"  # pragma: no cover


def _duration(s: float) -> str:
    """How long, read after "in": "under a second", "about 8 s", "about 3 min"."""
    if s < 1:
        return "under a second"
    if s < 120:
        return f"about {s:.0f} s"
    return f"about {s / 60:.0f} min" if s < 7200 else f"about {s / 3600:.1f} h"


@dataclass(frozen=True)
class CostEstimate:
    """What a query would cost: ``entries`` (a ``CountEstimate``), ``objects`` to GET, and
    the ``bytes`` and ``seconds`` expected (None when no GET could be measured), from
    ``sampled`` GETs measured now and ``timed`` GETs of this session, ``workers`` at a time.
    ``str()`` is one line: "1,234 entries, 1,234 objects to GET, about 12.3 MB in about 8 s".
    """

    entries: CountEstimate
    objects: int
    bytes: int | None
    seconds: float | None
    sampled: int = 0
    timed: int = 0
    workers: int = 1

    def __str__(self) -> str:
        entries = f"{self.entries} entries"
        if not self.objects:
            return f"{entries}, no objects to GET (answered from the index)"
        objects = f"{'at least ' if not self.entries.exact else ''}{self.objects:,} objects"
        if self.bytes is None or self.seconds is None:
            return f"{entries}, {objects} to GET (no GET measured: size and time unknown)"
        return (f"{entries}, {objects} to GET, about {_size(self.bytes)} in "
                f"{_duration(self.seconds)} ({self.workers} at a time; measured on "
                f"{self.timed} GETs)")

    def __repr__(self) -> str:
        return f"CostEstimate({self})"


def estimate(store: Any, criteria: Any, fetch: Any, max_time: Any) -> CostEstimate:
    max_time = check_max_time(max_time)
    if fetch is not None and (isinstance(fetch, str) or not isinstance(fetch, (list, tuple))):
        raise QueryError(f"fetch must be a list of dotted paths in the objects, as for "
                         f"query_df, or None; got {fetch!r}")
    paths = check_fields(list(fetch or []), "fetch") or []
    if paths and not callable(getattr(store, "get_object", None)):
        raise QueryError(f"fetch= reads fields from S3 objects, but {store.name} is an index "
                         "store without objects; leave fetch out")
    criteria = store._criteria(criteria)
    deadline = Deadline(max_time)
    entries = estimate_count(store, criteria, None if max_time is None else max_time / 2)
    if not paths or not entries.count:
        return CostEstimate(entries, 0, 0, 0.0)
    sizes = _measure(store, criteria, deadline)
    timings = store.__dict__.get(_TIMINGS, [])
    workers = max(1, int(getattr(store, "s3_workers", 1) or 1))
    if not sizes or not timings:
        return CostEstimate(entries, entries.count, None, None, len(sizes), len(timings),
                            workers)
    per_object = sum(sizes) / len(sizes)
    per_get = sum(timings) / len(timings)
    return CostEstimate(entries, entries.count, round(per_object * entries.count),
                        per_get * entries.count / workers, len(sizes), len(timings), workers)


def _measure(store: Any, criteria: dict, deadline: Deadline) -> list[int]:
    """Stored sizes of up to SAMPLE_GETS matching objects, fetched while time is left; each
    GET's seconds join the store's session timings."""
    index = engine_of(store)
    keys = [e[index.key] for e in index.query(criteria, properties=[index.key],
                                              limit=SAMPLE_GETS) if index.key in e]
    timings = store.__dict__.setdefault(_TIMINGS, [])
    sizes = []
    for key in keys:
        if deadline.expired and sizes:
            break
        start = time.perf_counter()
        try:
            got = store.get_object(key)
        except ObjectNotFoundError:  # an entry without its object: not a GET to measure
            continue
        timings.append(time.perf_counter() - start)
        sizes.append(got.stored_size)
    del timings[:-SESSION_GETS]
    return sizes
