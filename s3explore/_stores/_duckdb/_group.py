"""``groupby`` in SQL: groups numbered by DuckDB, members read in one ordered query.

Semantics are those of ``Store.groupby`` (and MongoDB's ``$group`` on ``$path``): a document
joins a group when every key path reaches a value through dicts (a missing key leaves it
out, ``null`` is a value of its own, a path below an array is missing), an array or dict is
one value as a whole, values compare as MongoDB compares them (``1`` and ``1.0`` are one
group, ``True`` and ``1`` two). Groups come in MongoDB's order of their key values (null,
numbers, strings, dicts, arrays, bytes, booleans, dates; dicts, arrays and bytes by their
whole value), ``skip``/``limit`` count groups, members keep the query's sort, and a group's
key is the value in its first member.

One query does it all: the distinct key values are numbered in order (``skip``/``limit``
keep the wanted numbers), every matching row is joined to its group's number, and the rows
come ordered by group then by the query's sort, in Arrow batches, so the groups are cut one
after the other while reading. Members are built column by column from the shadow columns
when their fields are plain (``_columns``), else decoded from the stored documents.

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

if TYPE_CHECKING:
    from s3explore._stores._duckdb._sql import Translator
    from s3explore._stores._duckdb._store import DuckDBStore

Groups = Iterator[tuple[dict, list[dict]]]
FETCH_ARROW = 65_536  # rows per Arrow batch while reading members


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
        # The groups' key values, numbered in order, then every member joined to its
        # number: a hash join, where numbering the rows with a window function sorted all
        # of them once more (twice the time at 10 million rows).
        names = [f"s3x_k{i}" for i in range(len(terms))]
        numbered = (f"SELECT {', '.join(names)}, row_number() OVER (ORDER BY "
                    f"{', '.join(names)}) AS s3x_group FROM (SELECT DISTINCT "
                    f"{', '.join(f'{t} AS {n}' for t, n in zip(terms, names, strict=True))} "
                    f"FROM {catalog.data} WHERE {where})")
        if q.skip or q.limit:
            numbered = f"SELECT * FROM ({numbered}) WHERE s3x_group > {tr.p(q.skip)}"
            if q.limit:
                numbered += f" AND s3x_group <= {tr.p(q.skip + q.limit)}"
        same = " AND ".join(f"({t}) IS NOT DISTINCT FROM s3x_keys.{n}"
                            for t, n in zip(terms, names, strict=True))
        sql = (f"WITH s3x_keys AS ({numbered}) SELECT s3x_group, {columns} FROM "
               f"{catalog.data} JOIN s3x_keys ON {same} WHERE {where} "
               f"ORDER BY s3x_group, {tr.order_by(q.sort)}")
        batches = _arrow_batches(store, sql, tr.params)
    if reader is not None:
        build = reader.batch_docs
    else:
        def build(columns: list) -> list[dict]:
            return [_member(data, rid, props) for rid, data in zip(
                columns[0].to_pylist(), columns[1].to_pylist(), strict=True)]
    return _cut(_runs(batches, build), keys)


def _arrow_batches(store: DuckDBStore, sql: str, params: dict) -> Iterator[Any]:
    """The result in Arrow record batches, the query run now (under the caller's lock)."""
    import duckdb

    cursor = store.connection.cursor()
    try:
        reader = cursor.sql(sql, params=params).to_arrow_reader(FETCH_ARROW)
    except duckdb.Error as exc:
        cursor.close()
        raise QueryError(f"the index {store.name} could not run the query: {exc}") from None
    return _batches(cursor, reader)


def _batches(cursor: Any, reader: Any) -> Iterator[Any]:
    try:
        yield from reader
    finally:
        cursor.close()


def _runs(batches: Iterator[Any], build: Any) -> Iterator[tuple[int, list[dict]]]:
    """(group number, members) for each run of one group within a batch of rows."""
    import numpy as np

    for batch in batches:
        numbers = batch.column(0).to_numpy()
        if not len(numbers):
            continue
        docs = build(batch.columns[1:])
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
