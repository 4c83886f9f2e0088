"""Projected documents rebuilt from the shadow columns, without decoding stored documents.

When every requested path (top-level or dotted) holds plain values of one type (or ints and
floats) and no array lies on the way, its ``t`` column says whether the value is there and
its value column holds it; the dicts above it exist where their own ``t`` says "dict". This
gives exactly MongoDB's projection (``{"a": {}}`` for a dict ``a`` without ``b``, nothing
for a scalar ``a``) at the cost of reading a few columns.
"""

from __future__ import annotations

from collections.abc import Iterator
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
