"""Reading a DuckDBStore: ``find`` (documents, projections read from columns when plain, pages
sorted on row numbers alone) and ``distinct`` (in SQL for plain values)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from s3explore._query import Query
from s3explore._stores._duckdb._columns import FETCH, column_reader
from s3explore._stores._duckdb._project import project
from s3explore._stores._duckdb._rows import walk
from s3explore._stores._duckdb._values import (
    BOOL,
    DATE,
    FLOAT,
    INT,
    NONE,
    NOTHING,
    STR,
    enc,
    unpack_doc,
)
from s3explore._stores._timezones import AWARE_FIELD, from_index_all, with_aware_field

if TYPE_CHECKING:
    from s3explore._stores._duckdb._store import DuckDBStore

PAGE = 50_000  # results up to this limit are read in two steps (see find)
_PLAIN_TAGS = sum(1 << t for t in (NONE, INT, FLOAT, STR, BOOL, DATE))


def find(store: DuckDBStore, q: Query) -> Iterator[dict]:
    """Documents as stored, their aware datetimes (see _timezones.py) UTC-aware again."""
    catalog = store._catalog
    if catalog is None:
        return iter(())
    if catalog.get(AWARE_FIELD) is not None:  # some entry has aware datetimes
        q = Query(q.criteria, with_aware_field(q.properties), q.sort, q.skip, q.limit)
    return from_index_all(_find(store, catalog, q))


def _find(store: DuckDBStore, catalog: Any, q: Query) -> Iterator[dict]:
    with store._state.lock:
        reader = column_reader(catalog, q.properties)
        if reader is not None:  # plain fields: no document to decode
            sql, params = store._select(reader.select, q)
            return reader.docs(store._execute(sql, params))
        if q.limit and q.limit <= PAGE:
            # A page: sort and cut on the row numbers alone, then read those documents
            # (carrying every document through the sort costs more than a second scan).
            sql, params = store._select("_rid", q)
            cursor = store._execute(sql, params)
            try:
                rids = [rid for (rid,) in cursor.fetchall()]
            finally:
                cursor.close()
            sql = (f"SELECT _rid, _doc FROM {catalog.data} WHERE _rid IN "
                   "(SELECT unnest($rids::BIGINT[]))")
            cursor = store._execute(sql, {"rids": rids})
            try:
                found = dict(cursor.fetchall())
            finally:
                cursor.close()
            return _page(rids, found, q.properties)
        sql, params = store._select("_rid, _doc", q)
        cursor = store._execute(sql, params)
    return _rows(cursor, q.properties)

def _page(rids: list[int], found: dict, properties: list[str] | None) -> Iterator[dict]:
    for rid in rids:
        data = found.get(rid)
        if data is not None:  # removed meanwhile by another thread
            doc = unpack_doc(data)
            yield doc if properties is None else project(doc, properties, rid)

def _rows(cursor: Any, properties: list[str] | None) -> Iterator[dict]:
    try:
        while True:
            rows = cursor.fetchmany(FETCH)
            if not rows:
                return
            for rid, data in rows:
                doc = unpack_doc(data)
                if properties is not None:
                    doc = project(doc, properties, rid)
                yield doc
    finally:
        cursor.close()

def distinct(store: DuckDBStore, field: str, criteria: dict) -> list:
    catalog = store._catalog
    info = catalog.get(field) if catalog is not None else None
    if info is None:
        return []
    if info.multi or info.big or info.tags & ~_PLAIN_TAGS:  # dicts, lists, bytes
        return _distinct_from_documents(store, field, criteria)
    cols = [info.col(s) or "NULL" for s in ("t", "n", "s", "b", "d")]
    t = cols[0]
    with store._state.lock:
        tr = store._translator()
        # 1 and 1.0 are one value; the first stored decides its type, as in MongoDB
        sql = (f"SELECT arg_min({t}, _rid), {', '.join(cols[1:])} FROM {catalog.data} "
               f"WHERE {tr.where(criteria)} AND {t} IS NOT NULL "
               f"GROUP BY {t} - ({t} >= 3)::UTINYINT, {', '.join(cols[1:])} "
               "ORDER BY min(_rid)")
        rows = store._execute(sql, tr.params).fetchall()
    out = []
    for tag, n, s, b, d in rows:
        if tag == NONE:
            out.append(None)
        else:
            value = next(v for v in (n, s, b, d) if v is not None)
            out.append(int(value) if tag == INT else value)
    return out

def _distinct_from_documents(store: DuckDBStore, field: str, criteria: dict) -> list:
    """MongoDB's distinct over whole documents: through arrays of documents, array values
    item by item, equal values (1 and 1.0, equal dicts) once, in order of appearance."""
    seen: dict[bytes, Any] = {}
    top = field.split(".")[0]
    for doc in store._find(Query(criteria, [top])):
        direct, cands = walk(doc).get(field, (NOTHING, None))
        for value in [direct] if cands is None else cands:
            items = value if type(value) is list else [value]
            for item in items:
                if item is not NOTHING:
                    seen.setdefault(enc(item), item)
    return list(seen.values())
