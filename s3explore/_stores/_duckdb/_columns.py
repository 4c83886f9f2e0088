"""Projected documents rebuilt from the shadow columns, without decoding stored documents.

When every requested path (top-level or dotted) holds plain values of one type (or ints and
floats) and no array lies on the way, its ``t`` column says whether the value is there and
its value column holds it; the dicts above it exist where their own ``t`` says "dict". This
gives exactly MongoDB's projection (``{"a": {}}`` for a dict ``a`` without ``b``, nothing
for a scalar ``a``) at the cost of reading a few columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import repeat
from typing import Any

from s3explore._stores._duckdb._rows import VALUE_COLUMN
from s3explore._stores._duckdb._schema import Catalog, bits
from s3explore._stores._duckdb._values import BYTES, DICT, FLOAT, INT, LIST, NONE

FETCH = 4_096  # rows per fetch while reading


class _Node:
    """One path of the projection: a leaf with a value, or a dict holding other nodes."""

    __slots__ = ("children", "name", "order", "t", "v")

    def __init__(self, name: str, order: int) -> None:
        self.name = name
        self.order = order  # first appearance in the index: close to the documents' order
        self.t = -1  # index of the type tag column in the row
        self.v: int | None = None  # index of the value column (leaves)
        self.children: list[_Node] | None = None  # None: a leaf


class ColumnReader:
    """The SQL columns to select and how to turn one row of them into a document."""

    def __init__(self, columns: list[str], nodes: list[_Node], with_id: bool) -> None:
        self.columns = columns
        self.nodes = nodes
        self.with_id = with_id  # "_id" asked for: the entry's number, first

    @property
    def select(self) -> str:
        return ", ".join(self.columns) or "NULL"

    def doc(self, row: tuple, offset: int = 0) -> dict:
        doc = {"_id": row[offset]} if self.with_id else {}
        _fill(doc, self.nodes, row, offset)
        return doc

    def batch_docs(self, columns: list) -> list[dict]:
        """The documents of a batch of rows given as Arrow arrays (this reader's columns, in
        order), built column by column: each column becomes Python values in one call and
        the dicts are made by comprehensions, about a third of the cost of ``doc`` per row.
        A batch where some row lacks a field, holds null where others hold a dict, or mixes
        ints and floats in one column of an inner dict, is built row by row."""
        rows = len(columns[0]) if columns else 0
        fields = _fields(self.nodes, columns, rows)
        if fields is None:
            values = [col.to_pylist() for col in columns]
            return [self.doc(row) for row in zip(*values, strict=True)]
        if self.with_id:
            fields.insert(0, ("_id", columns[0].to_pylist()))
        return _dicts(fields, rows)

    def docs(self, cursor: Any) -> Iterator[dict]:
        try:
            while rows := cursor.fetchmany(FETCH):
                for row in rows:
                    yield self.doc(row)
        finally:
            cursor.close()


def _fill(doc: dict, nodes: list[_Node], row: tuple, offset: int) -> None:
    for node in nodes:
        tag = row[offset + node.t]
        if tag is None:
            continue
        if node.children is None:
            value = None if tag == NONE else row[offset + node.v]
            doc[node.name] = int(value) if tag == INT else value
        elif tag == DICT:
            inner: dict = {}
            _fill(inner, node.children, row, offset)
            doc[node.name] = inner


def _fields(nodes: list[_Node], columns: list, rows: int) -> list[tuple[str, list]] | None:
    """``(name, values)`` for ``nodes`` when every row holds every one of them (a dict where
    a node has children), else None."""
    import pyarrow as pa
    import pyarrow.compute as pc

    fields = []
    for node in nodes:
        tags = columns[node.t]
        if tags.null_count:
            return None  # a row without this field: row by row
        if node.children is not None:
            low, high = pc.min_max(tags).values()
            if not low.as_py() == high.as_py() == DICT:
                return None
            inner = _fields(node.children, columns, rows)
            if inner is None:
                return None
            fields.append((node.name, _dicts(inner, rows)))
            continue
        if node.v is None:  # a path that only ever held null
            fields.append((node.name, [None] * rows))
            continue
        values = columns[node.v]
        ints = pc.equal(tags, INT)
        if pc.any(ints).as_py():
            if pc.all(pc.or_(ints, pc.equal(tags, NONE))).as_py():
                values = values.cast(pa.int64())  # exact: ints beyond 2**53 have no column
            else:  # ints beside floats: each int made one again
                fields.append((node.name, [int(v) if t == INT else v for t, v in zip(
                    tags.to_pylist(), values.to_pylist(), strict=True)]))
                continue
        fields.append((node.name, _python(values, rows)))
    return fields


def _python(values: Any, rows: int) -> list:
    """``values.to_pylist()``; one string (or bool, datetime) shared by all rows when they
    hold the same one, as a group's key does (numbers excluded: -0.0 equals 0.0)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = values.type
    if rows > 1 and not values.null_count and not (
            pa.types.is_floating(kind) or pa.types.is_integer(kind)) and (
            values[0] == values[rows - 1]):  # cheap: a column of distinct keys stops here
        low, high = pc.min_max(values).values()
        if low.as_py() == high.as_py():
            return [low.as_py()] * rows
    return values.to_pylist()


def _dicts(fields: list[tuple[str, list]], rows: int) -> list[dict]:
    """One dict per row from columns of values; literal dicts for up to four keys (the
    usual projections), the fastest way CPython has to make them."""
    names = [name for name, _ in fields]
    values = [column for _, column in fields]
    if not fields:
        return [{} for _ in range(rows)]
    if len(fields) == 1:
        (a,), (va,) = names, values
        return [{a: x} for x in va]
    if len(fields) == 2:
        (a, b), (va, vb) = names, values
        return [{a: x, b: y} for x, y in zip(va, vb, strict=True)]
    if len(fields) == 3:
        (a, b, c), (va, vb, vc) = names, values
        return [{a: x, b: y, c: z} for x, y, z in zip(va, vb, vc, strict=True)]
    if len(fields) == 4:
        (a, b, c, d), (va, vb, vc, vd) = names, values
        return [{a: x, b: y, c: z, d: w} for x, y, z, w in zip(va, vb, vc, vd, strict=True)]
    return list(map(dict, map(zip, repeat(names), zip(*values, strict=True))))


def _leaf_column(info: Any) -> str | bool | None:
    """The value column of a plain leaf, None when it only ever held null, False when the
    path holds something a column cannot give back (arrays, dicts, bytes, mixed types)."""
    if info.multi or info.big:
        return False
    kinds = bits(info.tags) - {NONE}
    if not kinds:
        return None
    if kinds & {DICT, LIST, BYTES} or not (len(kinds) == 1 or kinds == {INT, FLOAT}):
        return False
    return info.col(VALUE_COLUMN[min(kinds)]) or False


def column_reader(catalog: Catalog, properties: list[str] | None) -> ColumnReader | None:
    """A reader for ``properties``, or None when some of them need the stored documents."""
    if properties is None:
        return None
    names = list(dict.fromkeys(p for p in properties if p != "_id"))
    if any(b.startswith(a + ".") for a in names for b in names):
        return None  # "a" and "a.b": the whole of "a" (dicts and all) is wanted
    columns: list[str] = ["_rid"] if "_id" in properties else []
    roots: list[_Node] = []
    nodes: dict[str, _Node] = {}
    for name in names:
        parts = name.split(".")
        infos = [catalog.get(".".join(parts[:i + 1])) for i in range(len(parts))]
        if None in infos and catalog.full:
            return None  # unknown paths may still be in documents
        value = _leaf_column(infos[-1]) if infos[-1] is not None else None
        if value is False:
            return None
        siblings = roots
        for i, info in enumerate(infos):
            if info is None:
                break  # the dicts above may exist, this path never did
            path = ".".join(parts[:i + 1])
            node = nodes.get(path)
            if node is None:
                inner = i < len(parts) - 1
                if inner and (info.multi or info.tags >> LIST & 1):
                    return None  # an array on the way: the projection goes into it
                node = nodes[path] = _Node(parts[i], info.id)
                columns.append(info.col("t"))
                node.t = len(columns) - 1
                if inner:
                    node.children = []
                elif value is not None:
                    columns.append(value)
                    node.v = len(columns) - 1
                siblings.append(node)
            siblings = node.children
    for node in nodes.values():
        if node.children:
            node.children.sort(key=lambda n: n.order)
    return ColumnReader(columns, sorted(roots, key=lambda n: n.order), "_id" in properties)
