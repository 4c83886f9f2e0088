"""The frames layer's hooks: Arrow tables straight from DuckDB, the field inventory in SQL,
random samples."""

from __future__ import annotations

from typing import TYPE_CHECKING

from s3explore._query import Query, get_path
from s3explore._stores._duckdb._schema import PathInfo, bits
from s3explore._stores._duckdb._values import (
    BOOL,
    DATE,
    DICT,
    FLOAT,
    INT,
    LIST,
    NONE,
    STR,
    TAG_NAMES,
    unpack_doc,
)
from s3explore._stores._timezones import AWARE_FIELD, from_index

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from s3explore._stores._duckdb._store import DuckDBStore

_PATHS_PER_QUERY = 40
_ELEMENT_COLUMN = {STR: "es", BOOL: "eb", DATE: "ed"}


def _expression(info: PathInfo) -> str | None:
    """SQL for the path's values as one typed Arrow column, or None when they have no
    single type (mixed types, arrays of documents, ...)."""
    tags = bits(info.tags) - {NONE, DICT}
    if not tags:
        return "NULL"
    if tags <= {INT, FLOAT}:
        n = info.col("n")
        return f"{n}::BIGINT" if tags == {INT} and not info.big else n
    if len(tags) == 1 and (tag := next(iter(tags))) in (STR, BOOL, DATE):
        return info.col({STR: "s", BOOL: "b", DATE: "d"}[tag])
    if tags != {LIST} or info.via:
        return None
    items = bits(info.items)
    if not items:
        column, cast = "es", ""
    elif items <= {INT, FLOAT}:
        column, cast = "en", "::BIGINT[]" if items == {INT} and not info.big else ""
    elif len(items) == 1 and (item := next(iter(items))) in _ELEMENT_COLUMN:
        column, cast = _ELEMENT_COLUMN[item], ""
    else:
        return None
    # element columns hold nothing for empty arrays: [] where the path holds an array
    values = f"coalesce({info.col(column)}{cast}, [])" if info.col(column) else "[]"
    return f"CASE WHEN {info.col('t')} = {LIST} THEN {values} END"


def _paths(store: DuckDBStore, fields: list[str] | None) -> list[PathInfo] | None:
    catalog = store._catalog
    leaves = [i for i in catalog.paths.values() if bits(i.tags) - {DICT}]
    if fields is None:
        return sorted(leaves, key=lambda i: (i.path != store.key, i.path))
    chosen: dict[str, PathInfo] = {}
    for field in [*fields, AWARE_FIELD]:  # the frames layer reads which datetimes were aware
        for info in sorted(leaves, key=lambda i: i.path):
            if info.path == field or info.path.startswith(field + "."):
                chosen.setdefault(info.path, info)
    return list(chosen.values())


def find_arrow(store: DuckDBStore, q: Query) -> pa.Table | None:
    if store._catalog is None or (q.properties is not None and "_id" in q.properties):
        return None
    with store._state.lock:
        infos = _paths(store, q.properties)
        expressions = [_expression(info) for info in infos]
        if any(e is None for e in expressions):
            return None  # the frames layer builds these columns from documents
        columns = ", ".join(f"{e} AS c{i}" for i, e in enumerate(expressions)) or "_rid AS c"
        sql, params = store._select(columns, q)
        table = store._arrow(sql, params)
    if not infos:
        return table.drop_columns(["c"])
    table = table.rename_columns([info.path for info in infos])
    if q.properties is None:  # whole documents: only the fields these entries have
        table = table.select([n for n in table.column_names
                              if table.column(n).null_count < table.num_rows])
    return table


def _type_names(tags: int, items: int) -> str:
    names = {TAG_NAMES[t] for t in bits(tags) - {NONE, DICT, LIST}}
    if tags >> LIST & 1:
        inner = sorted("NoneType" if t == NONE else TAG_NAMES[t] for t in bits(items))
        names.add(f"list[{'|'.join(inner)}]" if inner else "list")
    return ", ".join(sorted(names) + (["null"] if tags >> NONE & 1 else []))


def inventory(store: DuckDBStore) -> pd.DataFrame:
    """``fields()`` over the whole index, computed in SQL (columns as the frames layer's)."""
    import pandas as pd

    columns = ["field", "types", "count", "fraction", "distinct", "example"]
    catalog = store._catalog
    if catalog is None:
        return _sampled(pd.DataFrame([], columns=columns), 0)
    with store._state.lock:
        total = store._count({})
        infos = [i for i in catalog.paths.values() if i.path != AWARE_FIELD and (
            bits(i.tags) - {DICT, NONE} or (not i.tags >> DICT & 1 and i.tags))]
        found = []
        for start in range(0, len(infos), _PATHS_PER_QUERY):
            group = infos[start:start + _PATHS_PER_QUERY]
            selects = []
            for info in group:
                t = info.col("t")
                # a FILTER costs a pass of its own: left out where no dict was ever stored
                here = f" FILTER (WHERE {t} <> {DICT})" if info.tags >> DICT & 1 else ""
                items = f"bit_or({info.col('it')})" if info.col("it") else "0"
                selects += [f"count({t}){here}", f"bit_or(1::INTEGER << {t}){here}", items,
                            f"min(_rid) FILTER (WHERE {t} NOT IN ({DICT}, {NONE}))"]
            row = store._execute(f"SELECT {', '.join(selects)} FROM {catalog.data}",
                                 []).fetchone()
            for i, info in enumerate(group):
                count, tags, items, rid = row[4 * i:4 * i + 4]
                distinct = _distinct(store, info, store.key) if count else 0
                found.append((info, count, tags, items, distinct, rid))
        rids = sorted({f[5] for f in found if f[5] is not None})
        docs = {}
        if rids:
            docs = dict(store._execute(f"SELECT _rid, _doc FROM {catalog.data} WHERE _rid IN "
                                       "(SELECT unnest(?::BIGINT[]))", [rids]).fetchall())
    rows = []
    for info, count, tags, items, distinct, rid in found:
        if not count:
            continue
        example = get_path(from_index(unpack_doc(docs[rid])), info.path) if rid in docs else None
        rows.append({"field": info.path, "types": _type_names(tags or 0, items or 0),
                     "count": count, "fraction": count / total if total else 0.0,
                     "distinct": distinct, "example": example})
    rows.sort(key=lambda r: (r["field"] != store.key, r["field"]))
    return _sampled(pd.DataFrame(rows, columns=columns), total)


def _distinct(store: DuckDBStore, info: PathInfo, key: str) -> int:
    """Distinct values of one path, one query per column: DuckDB counts a lone
    ``count(DISTINCT ...)`` on all cores, but several in one query (beside other aggregates)
    take twice as long. Direct value columns hold nothing where the path holds a dict or an
    array (``_rows``); arrays are told apart by their elements' encodings."""
    t = info.col("t")
    if path_is_key(store, info, key):
        return store._execute(f"SELECT count({info.col('s')}) FROM {store._catalog.data}",
                              []).fetchone()[0]
    counts = [f"count(DISTINCT {info.col(s)})" for s in ("n", "s", "b", "d", "k")
              if info.col(s)]
    if info.col("ek"):
        counts.append(f"count(DISTINCT {info.col('ek')}) FILTER (WHERE {t} = {LIST})")
    total = 0
    for count in counts:
        total += store._execute(f"SELECT {count} FROM {store._catalog.data}", []).fetchone()[0]
    return total


def path_is_key(store: DuckDBStore, info: PathInfo, key: str) -> bool:
    """Whether every string at the key path is the one its entry is stored under: then
    (``_key`` being unique) they are all distinct, and counting them is a scan instead of a
    hash table of millions of strings. The store's key is checked, not assumed: the file may
    have been built with another one. A string holding NUL is encoded otherwise (``enc``):
    the check then fails, and the values are counted one by one."""
    s = info.col("s")
    if info.path != key or info.multi or s is None or bits(info.tags) - {STR, NONE}:
        return False
    found = store._execute(
        f"SELECT bool_and(_key = '\\x0F'::BLOB || encode({s}) || '\\x00\\x00'::BLOB) "
        f"FROM {store._catalog.data} WHERE {s} IS NOT NULL", []).fetchone()[0]
    return found is True


def _sampled(frame: pd.DataFrame, total: int) -> pd.DataFrame:
    frame.attrs.update(sampled=total)
    return frame


def sample(store: DuckDBStore, n: int) -> list[dict]:
    catalog = store._catalog
    if catalog is None:
        return []
    with store._state.lock:
        # n is a validated int (the base checks it), so it can be part of the SQL text
        cursor = store._execute(f"SELECT _doc FROM {catalog.data} USING SAMPLE "
                                f"reservoir({int(n)} ROWS)", [])
    try:
        return [from_index(unpack_doc(data)) for (data,) in cursor.fetchall()]
    finally:
        cursor.close()
