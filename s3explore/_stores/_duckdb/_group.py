"""``groupby`` in SQL: groups numbered by DuckDB, members read in one ordered query.

Semantics are those of ``Store.groupby`` (and MongoDB's ``$group`` on ``$path``): a document
joins a group when every key path reaches a value through dicts (a missing key leaves it
out, ``null`` is a value of its own, a path below an array is missing), an array or dict is
one value as a whole, values compare as MongoDB compares them (``1`` and ``1.0`` are one
group, ``True`` and ``1`` two). Groups come in MongoDB's order of their key values (null,
numbers, strings, dicts, arrays, bytes, booleans, dates; dicts, arrays and bytes by their
whole value), ``skip``/``limit`` count groups, members keep the query's sort, and a group's
key is the value in its first member.

One query does it all: ``dense_rank()`` over the key columns numbers the groups, QUALIFY
keeps the wanted ones, and the rows come ordered by group then by the query's sort, so the
groups are cut one after the other while reading. Members are rebuilt from the shadow
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

from s3explore._query import Query, get_path, has_path, nested
from s3explore._stores._duckdb import _match
from s3explore._stores._duckdb._columns import FETCH, column_reader
from s3explore._stores._duckdb._project import project
from s3explore._stores._duckdb._values import BYTES, DICT, FLOAT, LIST, enc, unpack_doc

if TYPE_CHECKING:
    from s3explore._stores._duckdb._sql import Translator
    from s3explore._stores._duckdb._store import DuckDBStore

Groups = Iterator[tuple[dict, list[dict]]]


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
        sql = (f"SELECT dense_rank() OVER (ORDER BY {', '.join(terms)}) AS s3x_group, "
               f"{columns} FROM {catalog.data} WHERE {tr.where(q.criteria)} AND "
               f"{' AND '.join(present)}")
        if q.skip or q.limit:
            sql += f" QUALIFY s3x_group > {tr.p(q.skip)}"
            if q.limit:
                sql += f" AND s3x_group <= {tr.p(q.skip + q.limit)}"
        sql += f" ORDER BY s3x_group, {tr.order_by(q.sort)}"
        cursor = store._execute(sql, tr.args(sql))
    if reader is not None:
        docs = ((row[0], reader.doc(row, 1)) for row in _rows(cursor))
    else:
        docs = ((g, _member(data, rid, props)) for g, rid, data in _rows(cursor))
    return _cut(docs, keys)


def _rows(cursor: Any) -> Iterator[tuple]:
    try:
        while rows := cursor.fetchmany(FETCH):
            yield from rows
    finally:
        cursor.close()


def _member(data: bytes, rid: int, props: list[str] | None) -> dict:
    doc = unpack_doc(data)
    return doc if props is None else project(doc, props, rid)


def _cut(numbered: Iterator[tuple[int, dict]], keys: list[str]) -> Groups:
    groups = itertools.groupby(numbered, key=lambda pair: pair[0])
    while True:
        # The collector is paused while a group's members are built (not while the caller
        # holds them): new dicts by the million make it traverse everything alive, again and
        # again, which doubled the time of a million-member groupby.
        paused = gc.isenabled()
        gc.disable()
        try:
            group = next(groups, None)
            docs = [doc for _, doc in group[1]] if group is not None else None
        finally:
            if paused:
                gc.enable()
        if docs is None:
            return
        yield nested({k: get_path(docs[0], k) for k in keys}), docs


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
