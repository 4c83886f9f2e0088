"""Stage 2 of the translator: decide, node by node, how the criteria tree runs.

With the catalog (which paths exist, their columns and value types) each test becomes one of:
``Column(test, info)``, SQL over the path's shadow columns (``_sql``/``_operators`` write
it); ``Fallback(clause)``, the clause run on the stored document by ``s3x_match``; or a
``Const`` when the catalog already decides it (a path no document has). Planning is pure:
whether RE2 runs a pattern is asked before planning and handed in as ``re2_accepts``.

What has no SQL form here: ``$elemMatch`` with several conditions, positional paths such as
``a.0``, ``$type`` on arrays, dict operands, regular expressions RE2 cannot run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from s3explore._stores._duckdb import _tree as t
from s3explore._stores._duckdb._match import DictTest
from s3explore._stores._duckdb._schema import ROW_ID, Catalog, PathInfo
from s3explore._stores._duckdb._values import LIST, operand


@dataclass(frozen=True)
class Column:
    """A test run as SQL over the shadow columns of ``info``."""
    test: Any
    info: PathInfo


@dataclass(frozen=True)
class IsArray:
    """The value at the path is an array (for ``$elemMatch`` in SQL)."""
    path: str


@dataclass(frozen=True)
class Fallback:
    """A clause (criteria, or a ``DictTest``) run on the stored document by ``s3x_match``."""
    clause: Any


def path_info(catalog: Catalog | None, path: str) -> PathInfo | None:
    if path == "_id":
        return ROW_ID
    return catalog.get(path) if catalog is not None else None


def positional(catalog: Catalog | None, path: str) -> bool:
    """Paths without shadow columns, run by s3x_match: ``a.0``-style paths into arrays,
    and unknown paths once the catalog is full."""
    if catalog is not None and catalog.full and path_info(catalog, path) is None:
        return True
    parts = path.split(".")
    for i, part in enumerate(parts[1:], 1):
        if part.isdigit():
            parent = path_info(catalog, ".".join(parts[:i]))
            if parent is not None and (parent.multi or parent.via):
                return True
    return False


FALSE, TRUE = t.Const(False), t.Const(True)


class Planner:
    def __init__(self, catalog: Catalog | None, re2_accepts: Callable[[str], bool]) -> None:
        self.catalog = catalog
        self.re2_accepts = re2_accepts  # answers known before planning: no query here

    def info(self, path: str) -> PathInfo | None:
        return path_info(self.catalog, path)

    def positional(self, path: str) -> bool:
        return positional(self.catalog, path)

    def plan(self, node: Any) -> Any:
        return getattr(self, f"plan_{type(node).__name__.lower()}")(node)

    @staticmethod
    def fallback(clause: dict) -> Fallback:
        return Fallback(operand(clause))

    # ------------------------------------------------------------ logic

    def plan_and(self, node: t.And) -> t.And:
        return t.And(tuple(self.plan(p) for p in node.parts))

    def plan_or(self, node: t.Or) -> t.Or:
        return t.Or(tuple(self.plan(p) for p in node.parts))

    def plan_nor(self, node: t.Nor) -> t.Nor:
        return t.Nor(tuple(self.plan(p) for p in node.parts))

    def plan_not(self, node: t.Not) -> t.Not:
        return t.Not(self.plan(node.part))

    def plan_const(self, node: t.Const) -> t.Const:
        return node

    def plan_field(self, node: t.Field) -> Any:
        if self.positional(node.path):
            return self.fallback({node.path: dict(node.source)})
        return self.plan(node.test)

    # ------------------------------------------------------------ comparisons

    def plan_eq(self, node: t.Eq) -> Any:
        if self.positional(node.path):
            return self.fallback({node.path: node.value})
        info = self.info(node.path)
        if info is None:
            return TRUE if node.value is None else FALSE  # null matches missing fields
        if type(node.value) is dict:  # dicts have no column of their own
            return Fallback(DictTest(node.path, "$eq", [node.value]))
        return Column(node, info)

    def plan_in(self, node: t.In) -> Any:
        if self.positional(node.path):
            return self.fallback({node.path: {"$in": list(node.values)}})
        info = self.info(node.path)
        parts: list[Any] = []
        dicts = [v for v in node.values if type(v) is dict]
        if dicts and info is not None:
            parts.append(Fallback(DictTest(node.path, "$eq", dicts)))
        for value in node.values:
            if value is None or isinstance(value, re.Pattern):
                parts.append(self.plan(t.equals(node.path, value)))
        scalars = tuple(v for v in node.values if not (
            type(v) is dict or v is None or isinstance(v, re.Pattern)))
        if scalars and info is not None:
            parts.append(Column(t.In(node.path, scalars), info))
        return t.Or(tuple(parts))

    def plan_range(self, node: t.Range) -> Any:
        if self.positional(node.path):
            return self.fallback({node.path: {node.op: node.value}})
        info = self.info(node.path)
        if node.value is None:  # MongoDB: $gte/$lte null are equality with null
            return self.plan(t.Eq(node.path, None)) if node.op in ("$gte", "$lte") else FALSE
        if info is None or isinstance(node.value, re.Pattern):
            return FALSE
        if type(node.value) is dict:
            return Fallback(DictTest(node.path, node.op, [node.value]))
        return Column(node, info)

    def plan_exists(self, node: t.Exists) -> Any:
        info = self.info(node.path)
        if info is None:
            return t.Const(not node.present)
        return Column(node, info)

    # ------------------------------------------------------------ other operators

    def plan_regex(self, node: t.Regex) -> Any:
        if self.positional(node.path):
            return self.fallback({node.path: node.pattern} if node.bare else
                                 {node.path: {"$regex": node.pattern,
                                              "$options": node.options}})
        info = self.info(node.path)
        if info is None:
            return FALSE
        if node.re2 is None or not self.re2_accepts(node.re2):  # Python's re runs it
            return self.fallback({node.path: {"$regex": node.compiled()}})
        return Column(node, info)

    def plan_size(self, node: t.Size) -> Any:
        if self.positional(node.path):
            return self.fallback({node.path: {"$size": node.source}})
        info = self.info(node.path)
        if info is None or not info.multi or info.col("z") is None:
            return FALSE
        return Column(node, info)

    def plan_type(self, node: t.Type) -> Any:
        info = self.info(node.path)
        if info is None:
            return FALSE
        if info.multi:  # array elements count too
            return self.fallback({node.path: {"$type": node.spec}})
        return Column(node, info)

    def plan_mod(self, node: t.Mod) -> Any:
        info = self.info(node.path)
        return FALSE if info is None else Column(node, info)

    def plan_elemmatch(self, node: t.ElemMatch) -> Any:
        """In SQL when one condition decides it (see ``_tree.elem_match``): then "some
        element matches" is "some item or some element's field matches", which the element
        columns answer, for rows whose value at the path is an array. Several conditions
        must hold for one same element, which the columns cannot tell: those run on the
        document, as do arrays below arrays of documents and arrays of arrays."""
        path = node.path
        whole = self.fallback({path: {"$elemMatch": dict(node.spec)}})
        info = self.info(path)
        if (node.inner is None or info is None or self.positional(path) or not info.multi
                or info.via):
            return whole
        if node.field is None and info.items >> LIST & 1:  # arrays in arrays: item-wise
            return whole
        if node.field is not None:
            target = f"{path}.{node.field}"
            if self.positional(target):
                return whole
            if self.info(target) is None:
                return FALSE
        return t.And((Column(IsArray(path), info), self.plan(node.inner)))
