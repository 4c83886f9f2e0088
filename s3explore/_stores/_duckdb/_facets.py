"""Facets and time-limited counts of a DuckDBStore, in SQL over the shadow columns.

Each query runs on its own cursor, interrupted by a timer (``cursor.interrupt()``) when its
seconds run out: the caller gets None (ran out) rather than a frozen kernel. Paths whose
values SQL cannot count as they are (dicts, bytes, nested arrays, ints beyond 2**53) return
None from ``value_counts``/``histogram``, and the caller counts them from the documents.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from s3explore._errors import QueryError
from s3explore._query import Query
from s3explore._stores._duckdb._values import BOOL, BYTES, DATE, DICT, FLOAT, INT, LIST, NONE, STR

if TYPE_CHECKING:
    from s3explore._stores._duckdb._schema import PathInfo
    from s3explore._stores._duckdb._store import DuckDBStore

_OUT_OF_TIME = object()
MIN_SECONDS = 0.001  # less time left than this: given up without starting (a timer this
# short could fire before the query starts, and not stop it)
_PLAIN = sum(1 << t for t in (NONE, INT, FLOAT, STR, BOOL, DATE))
_NOT_ITEMS = (1 << DICT) | (1 << LIST) | (1 << BYTES)  # no element column holds them whole
_KINDS = (("n", "en"), ("s", "es"), ("b", "eb"), ("d", "ed"))  # direct, element columns


def _run(store: DuckDBStore, sql: str, params: dict, seconds: float | None) -> Any:
    """All rows of ``sql``, or _OUT_OF_TIME when ``seconds`` ran out (the query is
    interrupted)."""
    import duckdb

    if seconds is not None and seconds < MIN_SECONDS:
        return _OUT_OF_TIME
    cursor = store.connection.cursor()
    timer = threading.Timer(seconds, cursor.interrupt) if seconds is not None else None
    try:
        if timer is not None:
            timer.daemon = True
            timer.start()
        return cursor.execute(sql, params).fetchall()
    except duckdb.InterruptException:
        return _OUT_OF_TIME
    except duckdb.Error as exc:
        raise QueryError(f"the index {store.name} could not run the query: {exc}") from None
    finally:
        if timer is not None:
            timer.cancel()
        cursor.close()


def count_within(store: DuckDBStore, criteria: dict, cap: int | None,
                 seconds: float | None) -> tuple[int, bool]:
    if store._catalog is None:
        return 0, True
    with store._state.lock:
        sql, params = store._select("1", Query(criteria, limit=cap or 0), ordered=False)
        rows = _run(store, f"SELECT count(*) FROM ({sql})", params, seconds)
    return (0, False) if rows is _OUT_OF_TIME else (rows[0][0], True)


def _info(store: DuckDBStore, field: str) -> PathInfo | bool | None:
    """The path's catalog entry; False when SQL cannot count its values; None: no such
    path (nothing to count)."""
    catalog = store._catalog
    info = catalog.get(field) if catalog is not None else None
    if info is None:
        return False if catalog is not None and catalog.full else None
    if info.big or (not info.multi and info.tags & ~_PLAIN) or (
            info.multi and ((info.tags | info.items) & ((1 << DICT) | (1 << BYTES))
                            or info.items & _NOT_ITEMS)):
        return False
    return info


def _items(info: PathInfo, data: str, where: str) -> str | None:
    """SQL of the path's values, one row each: ``(g, vn, vs, vb, vd)``, ``g`` the kind
    (0 number, 1 string, 2 bool, 3 datetime), nulls left out."""
    parts = []
    for g, (direct, element) in enumerate(_KINDS):
        col = info.col(element if info.multi else direct)
        if col is None:
            continue
        value = f"unnest({col})" if info.multi else col
        cols = [value if i == g else "NULL" for i in range(4)]
        parts.append(f"SELECT {g} AS g, {', '.join(cols)} FROM m")
    if not parts:
        return None
    names = [info.col(e if info.multi else d) for d, e in _KINDS]
    selected = ", ".join(c for c in names if c is not None)
    union = " UNION ALL ".join(parts)
    return (f"WITH m AS (SELECT {selected} FROM {data} WHERE {where}), "
            f"items (g, vn, vs, vb, vd) AS ({union}) "
            "SELECT * FROM items WHERE coalesce(vn::VARCHAR, vs, vb::VARCHAR, vd::VARCHAR) "
            "IS NOT NULL")


def value_counts(store: DuckDBStore, field: str, criteria: dict, limit: int,
                 seconds: float | None) -> tuple[list, int, int] | bool | None:
    """``(top rows [(value, count)], distinct values, values counted)``; None: SQL cannot
    count this path; False: out of time."""
    info = _info(store, field)
    if info is None:
        return [], 0, 0
    if info is False:
        return None
    ints = not (info.tags | info.items) & (1 << FLOAT)
    with store._state.lock:
        tr = store._translator()
        items = _items(info, store._catalog.data, tr.where(criteria))
        if items is None:
            return [], 0, 0
        sql = (f"WITH v AS ({items}) SELECT g, vn, vs, vb, vd, count(*) AS c, "
               "count(*) OVER () AS groups, sum(count(*)) OVER () AS total FROM v "
               f"GROUP BY g, vn, vs, vb, vd ORDER BY c DESC, g, vn, vs, vb, vd "
               f"LIMIT {tr.p(limit)}")
        rows = _run(store, sql, tr.params, seconds)
    if rows is _OUT_OF_TIME:
        return False
    top = []
    for g, vn, vs, vb, vd, c, *_ in rows:
        value = (vn, vs, vb, vd)[g]
        if g == 0 and ints and float(value).is_integer():
            value = int(value)
        top.append((value, c))
    groups, total = (rows[0][6], int(rows[0][7])) if rows else (0, 0)
    return top, groups, total


def histogram(store: DuckDBStore, field: str, criteria: dict, bins: int,
              seconds: float | None, deadline: Any) -> tuple[list, list, int] | bool | None:
    """``(edges, counts, values that are not numbers)``; None: SQL cannot; False: out of
    time."""
    info = _info(store, field)
    if info is None:
        return [], [], 0
    if info is False:
        return None
    with store._state.lock:
        tr = store._translator()
        items = _items(info, store._catalog.data, tr.where(criteria))
        if items is None:
            return [], [], 0
        sql = (f"WITH v AS ({items}) SELECT min(vn), max(vn), count(vn), "
               "count(*) - count(vn) FROM v")
        rows = _run(store, sql, tr.params, seconds)
        if rows is _OUT_OF_TIME:
            return False
        lo, hi, numbers, other = rows[0]
        if not numbers:
            return [], [], other
        width = (hi - lo) / bins
        edges = [lo + i * width for i in range(bins)] + [hi]
        bucket = ("0" if width == 0 else
                  f"least(floor((vn - {tr.p(lo)}) / {tr.p(width)}), {tr.p(bins - 1)})")
        sql = (f"WITH v AS ({items}) SELECT {bucket}::BIGINT AS b, count(*) FROM v "
               "WHERE vn IS NOT NULL GROUP BY b")
        rows = _run(store, sql, tr.params, deadline.left())
    if rows is _OUT_OF_TIME:
        return False
    counts = [0] * (bins if width else 1)
    for b, c in rows:
        counts[int(b)] += c
    return (edges if width else [lo, hi]), counts, other
