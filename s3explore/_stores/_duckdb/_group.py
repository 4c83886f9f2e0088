"""``groupby`` in SQL: groups numbered by DuckDB, members read in one ordered query.

Semantics are those of ``Store.groupby`` (and MongoDB's ``$group`` on ``$path``): a document
joins a group when every key path reaches a value through dicts (a missing key leaves it
out, ``null`` is a value of its own, a path below an array is missing), an array or dict is
one value as a whole, values compare as MongoDB compares them (``1`` and ``1.0`` are one
group, ``True`` and ``1`` two). Groups come in MongoDB's order of their key values (null,
numbers, strings, dicts, arrays, bytes, booleans, dates; dicts, arrays and bytes by their
whole value), ``skip``/``limit`` count groups, members keep the query's sort, and a group's
key is the value in its first member.

The distinct key values are numbered in order first (``skip``/``limit`` keep the wanted
numbers). With a few groups, each is then read by a query of its own, in the query's sort,
run by DuckDB on a side thread while Python builds the previous group's members (building
them is most of the time; the two overlap on separate cores). With many groups, one query
joins every matching row to its group's number and orders the rows by group then by the
query's sort, and the groups are cut one after the other while reading its Arrow batches.
All of a groupby's queries read one snapshot (one transaction), so a write in between
cannot split a group or move a member. Members are built column by column from the shadow
columns when their fields are plain (``_columns``), else decoded from the stored documents.

Where the columns cannot tell values apart, ``groupby_from_documents`` reads the documents
and groups in Python: ints beyond 2**53 (the number column is a DOUBLE), ``_id`` or
positional keys (``a.0``), and unknown paths once the catalog is full.
"""

from __future__ import annotations

import gc
import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from s3explore._errors import QueryError
from s3explore._query import Query, get_path, has_path, nested
from s3explore._stores._duckdb import _match
from s3explore._stores._duckdb._columns import column_reader
from s3explore._stores._duckdb._project import project
from s3explore._stores._duckdb._values import BYTES, DICT, FLOAT, LIST, enc, unpack_doc
from s3explore._transfer import side_thread

if TYPE_CHECKING:
    from s3explore._stores._duckdb._sql import Translator
    from s3explore._stores._duckdb._store import DuckDBStore

Groups = Iterator[tuple[dict, list[dict]]]
FETCH_ARROW = 65_536  # rows per Arrow batch while reading members
# Up to this many groups, a query per group (each a scan of the matching rows' key columns)
# costs less than joining and sorting all the rows, and lets DuckDB read ahead.
FEW_GROUPS = 16


def _key_terms(tr: Translator, path: str) -> list[str] | None:
    """SQL terms whose tuple is the key's value in MongoDB's order (equal tuples, equal
    values); [] when no document has the path; None when SQL cannot tell."""
    if path == "_id" or tr.positional(path):
        return None
    info = tr.info(path)
    if info is None:
        return None if tr.catalog.full else []
    if info.big:
        return None
    t = info.col("t")
    # type bracket (ints and floats together), then the value's own column
    terms = [f"{t} - ({t} >= {FLOAT})::UTINYINT"]
    terms += [c for c in (info.col("n"), info.col("s")) if c]
    # dicts, arrays and bytes compare by their sortable encoding: an array's is the last of
    # its row's encoded elements (``_rows``), a dict's is computed from the document
    whole = []
    if info.tags >> DICT & 1:
        whole.append(f"WHEN {t} = {DICT} THEN {_match.SORT_KEY}(_doc, {tr.p(path)})")
    if info.tags >> LIST & 1:
        whole.append(f"WHEN {t} = {LIST} THEN {info.col('ek')}[-1]")
    if info.tags >> BYTES & 1:
        whole.append(f"WHEN {t} = {BYTES} THEN {info.col('k')}")
    if whole:
        terms.append(f"(CASE {' '.join(whole)} END)")
    terms += [c for c in (info.col("b"), info.col("d")) if c]
    return terms


def groupby(store: DuckDBStore, keys: list[str], q: Query) -> Groups:
    catalog = store._catalog
    if catalog is None:
        return iter(())
    props = None if q.properties is None else list(dict.fromkeys(
        [*keys, *q.properties, store.key]))
    with store._state.lock:
        tr = store._translator()
        terms: list[str] = []
        for key in keys:
            found = _key_terms(tr, key)
            if found is None:
                return groupby_from_documents(store, keys, q)
            if not found:
                return iter(())  # a key no document has: no group
            terms += found
        present = [f"{tr.info(k).col('t')} IS NOT NULL" for k in keys]
        reader = column_reader(catalog, props)
        columns = reader.select if reader is not None else "_rid, _doc"
        where = f"{tr.where(q.criteria)} AND {' AND '.join(present)}"
        # The groups' key values, numbered in order: a hash join of every member to its
        # number, where numbering the rows with a window function sorted all of them once
        # more (twice the time at 10 million rows).
        filters = dict(tr.params)  # the parameters of the keys' terms and of ``where``
        names = [f"s3x_k{i}" for i in range(len(terms))]
        numbered = (f"SELECT {', '.join(names)}, row_number() OVER (ORDER BY "
                    f"{', '.join(names)}) AS s3x_group FROM (SELECT DISTINCT "
                    f"{', '.join(f'{t} AS {n}' for t, n in zip(terms, names, strict=True))} "
                    f"FROM {catalog.data} WHERE {where})")
        if q.skip or q.limit:
            numbered = f"SELECT * FROM ({numbered}) WHERE s3x_group > {tr.p(q.skip)}"
            if q.limit:
                numbered += f" AND s3x_group <= {tr.p(q.skip + q.limit)}"
        numbering = dict(tr.params)
        order = tr.order_by(q.sort)
        sorting = {k: v for k, v in tr.params.items() if k not in numbering}
        cursor = _snapshot(store, catalog.data)
        try:
            groups = _run(store, cursor, f"{numbered} ORDER BY s3x_group",
                          numbering).fetchall()
            # a Python function in the SQL (a fallback clause, a dict's sort key) runs per
            # row and holds the interpreter: run it over the rows once, not once per group
            python = _match.FUNCTION in where or _match.SORT_KEY in " ".join(terms)
            if len(groups) <= FEW_GROUPS and not python:
                same = " AND ".join(f"({t}) IS NOT DISTINCT FROM $s3x_v{i}"
                                    for i, t in enumerate(terms))
                sql = (f"SELECT {columns} FROM {catalog.data} WHERE {where} AND {same} "
                       f"ORDER BY {order}")
                # a second cursor on the same snapshot: one group is read from one while
                # the next group's query runs on the other
                cursors = (cursor, _snapshot(store, catalog.data))
                runs = _one_by_one(store, cursors, sql, {**filters, **sorting}, groups)
            else:
                same = " AND ".join(f"({t}) IS NOT DISTINCT FROM s3x_keys.{n}"
                                    for t, n in zip(terms, names, strict=True))
                sql = (f"WITH s3x_keys AS ({numbered}) SELECT s3x_group, {columns} FROM "
                       f"{catalog.data} JOIN s3x_keys ON {same} WHERE {where} "
                       f"ORDER BY s3x_group, {order}")
                runs = _numbered(_batches(cursor, _run(store, cursor, sql, tr.params,
                                                       arrow=True)))
        except BaseException:
            cursor.close()
            raise
    if reader is not None:
        build = reader.batch_docs
    else:
        def build(columns: list) -> list[dict]:
            return [_member(data, rid, props) for rid, data in zip(
                columns[0].to_pylist(), columns[1].to_pylist(), strict=True)]
    return _cut(_built(runs, build), keys)


def _snapshot(store: DuckDBStore, table: str) -> Any:
    """A cursor in a transaction of its own that has read ``table``: its snapshot is taken
    now (under the store's lock, which writes take too), whatever it runs later."""
    cursor = store.connection.cursor()
    try:
        cursor.execute("BEGIN TRANSACTION")
        cursor.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchall()
    except BaseException:
        cursor.close()
        raise
    return cursor


def _run(store: DuckDBStore, cursor: Any, sql: str, params: dict, arrow: bool = False) -> Any:
    """The query run now on ``cursor``; an Arrow batch reader with ``arrow``."""
    import duckdb

    try:
        if arrow:
            return cursor.sql(sql, params=params).to_arrow_reader(FETCH_ARROW)
        return cursor.execute(sql, params)
    except duckdb.Error as exc:
        raise QueryError(f"the index {store.name} could not run the query: {exc}") from None


def _one_by_one(store: DuckDBStore, cursors: tuple[Any, Any], sql: str, params: dict,
                groups: list[tuple]) -> Iterator[tuple[int, Any]]:
    """(group number, Arrow batch columns) for each group's members, one query per group,
    streamed: while the caller builds one group's members (read from one cursor), DuckDB runs
    the next group's query (on the other) up to its first batch."""
    def start(i: int) -> tuple[Any, Any]:
        found = {**params, **{f"s3x_v{n}": v for n, v in enumerate(groups[i][:-1])}}
        reader = _run(store, cursors[i % 2], sql, found, arrow=True)
        return reader, next(reader, None)

    try:
        with side_thread("s3x-duckdb-groups") as submit:
            ahead = submit(start, 0) if groups else None
            for i, (*_values, number) in enumerate(groups):
                reader, first = ahead.result()
                ahead = submit(start, i + 1) if i + 1 < len(groups) else None
                if first is not None:
                    yield number, first.columns
                for batch in reader:
                    yield number, batch.columns
    finally:
        for cursor in cursors:
            cursor.close()


def _numbered(batches: Iterator[Any]) -> Iterator[tuple[Any, Any]]:
    """(group numbers, member columns) of each batch of the joined query."""
    for batch in batches:
        yield batch.column(0).to_numpy(), batch.columns[1:]


def _batches(cursor: Any, reader: Any) -> Iterator[Any]:
    try:
        yield from reader
    finally:
        cursor.close()


def _built(runs: Iterator[tuple[Any, list]], build: Any) -> Iterator[tuple[int, list[dict]]]:
    """(group number, members) for each run of one group within a batch of rows; a run's
    number is one int (a group's own query) or an array of them (the joined query)."""
    import numpy as np

    for numbers, columns in runs:
        if not len(columns[0]):
            continue
        docs = build(columns)
        if not docs:
            continue
        if isinstance(numbers, int):
            yield numbers, docs
            continue
        cuts = [0, *(np.flatnonzero(numbers[1:] != numbers[:-1]) + 1).tolist(), len(docs)]
        for start, stop in itertools.pairwise(cuts):
            yield int(numbers[start]), docs[start:stop]


def _member(data: bytes, rid: int, props: list[str] | None) -> dict:
    doc = unpack_doc(data)
    return doc if props is None else project(doc, props, rid)


def _cut(runs: Iterator[tuple[int, list[dict]]], keys: list[str]) -> Groups:
    number, docs = None, []
    while True:
        # The collector is paused while a group's members are built (not while the caller
        # holds them): new dicts by the million make it traverse everything alive, again and
        # again, which doubled the time of a million-member groupby.
        paused = gc.isenabled()
        gc.disable()
        try:
            done = True
            for found, members in runs:
                if found != number and docs:
                    group, docs, number = docs, members, found
                    done = False
                    break
                number = found
                if docs:
                    docs.extend(members)
                else:
                    docs = members
            else:
                group, docs = docs, []
        finally:
            if paused:
                gc.enable()
        if group:
            yield nested({k: get_path(group[0], k) for k in keys}), group
        if done:
            return


def groupby_from_documents(store: DuckDBStore, keys: list[str], q: Query) -> Groups:
    """The documents in the query's order, grouped in Python by their keys' encodings."""
    props = None if q.properties is None else list(dict.fromkeys(
        [*keys, *q.properties, store.key]))
    found = store._find(Query(q.criteria, props, q.sort))

    def group_key(doc: dict) -> tuple:
        # 1 and 1.0 group together (one encoding); numbers beyond 2**53, which share an
        # encoding, stay apart by their exact value
        return tuple(_exact(get_path(doc, k)) for k in keys)

    docs = sorted((d for d in found if all(has_path(d, k) for k in keys)), key=group_key)
    stop = q.skip + q.limit if q.limit else None
    for _, members in itertools.islice(itertools.groupby(docs, key=group_key), q.skip, stop):
        members = list(members)
        yield nested({k: get_path(members[0], k) for k in keys}), members


def _exact(value: Any) -> tuple:
    return enc(value), (value if type(value) in (int, float) else 0)
