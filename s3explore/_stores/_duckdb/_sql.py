"""MongoDB criteria and sorts as DuckDB SQL over the shadow columns, with parameters only.

Semantics are MongoDB's: a value matches an array holding it, ``null`` matches missing
fields, range operators only compare within the operand's type bracket (ints and floats
together), a path below an array of documents matches through any of them. Predicates are
built so that a NULL (missing column value) only ever means "no match": every negation is
taken of ``coalesce(predicate, FALSE)``.

The translator works in stages, as compilers do:
1. ``_tree.parse``: the criteria as a typed tree, arguments checked once;
2. ``_plan.Planner``: each test marked to run on the shadow columns (``Column``), on the
   stored document (``Fallback``, by ``s3x_match``) or decided already (``Const``), from the
   catalog alone; whether RE2 runs each pattern is asked of DuckDB once, before planning;
3. ``Emitter`` (here and ``_operators``): one method per operator writes SQL, every
   fragment carrying the parameters it binds (``_logic.Frag``); fallback clauses travel as
   parameters (``_match.encode``).
Sorts are written by ``_order``. ``Translator`` is what the store's readers use.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any

from s3explore._stores._duckdb import _match
from s3explore._stores._duckdb import _tree as t
from s3explore._stores._duckdb._logic import AND, FALSE, NOT, OR, TRUE, Frag
from s3explore._stores._duckdb._operators import OperatorSql
from s3explore._stores._duckdb._order import order_by
from s3explore._stores._duckdb._plan import (
    Column,
    Fallback,
    IsArray,
    Planner,
    path_info,
    positional,
)
from s3explore._stores._duckdb._rows import ELEMENT_COLUMN, VALUE_COLUMN
from s3explore._stores._duckdb._schema import Catalog, PathInfo
from s3explore._stores._duckdb._values import BRACKET, BRACKET_BYTES, LIST, NONE, enc, tag_of

_RANGE = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_LIST_TYPES = {"n": "DOUBLE[]", "s": "VARCHAR[]", "b": "BOOLEAN[]", "d": "TIMESTAMP[]",
               "k": "BLOB[]"}
_LONG_IN_LIST = 50  # longer $in lists are joined as one list parameter


class Emitter(OperatorSql):
    """Planned trees as SQL fragments; parameters are named ``$p0``, ``$p1``... in the order
    bound, unique for the emitter's life (one query)."""

    def __init__(self) -> None:
        self._numbers = itertools.count()

    def bind(self, params: dict[str, Any], value: Any) -> str:
        name = f"p{next(self._numbers)}"
        params[name] = value
        return f"${name}"

    def emit(self, node: Any) -> Frag:
        if isinstance(node, Column):
            return self._column[type(node.test)](self, node.test, node.info)
        return self._nodes[type(node)](self, node)

    # ------------------------------------------------------------ logic and fallbacks

    def and_(self, node: t.And) -> Frag:
        return AND([self.emit(p) for p in node.parts])

    def or_(self, node: t.Or) -> Frag:
        return OR([self.emit(p) for p in node.parts])

    def nor(self, node: t.Nor) -> Frag:
        return NOT(OR([self.emit(p) for p in node.parts]))

    def not_(self, node: t.Not) -> Frag:
        return NOT(self.emit(node.part))

    def const(self, node: t.Const) -> Frag:
        return TRUE if node.value else FALSE

    def fallback(self, node: Fallback) -> Frag:
        params: dict[str, Any] = {}
        return Frag(f"{_match.FUNCTION}(_doc, {self.bind(params, _match.encode(node.clause))})",
                    params)

    # ------------------------------------------------------------ comparisons

    def eq(self, node: t.Eq, info: PathInfo) -> Frag:
        value = node.value
        if value is None:
            return self.is_null(info)
        suffix, param = self.typed(value)
        params: dict[str, Any] = {}
        if info.multi:
            col = info.col(ELEMENT_COLUMN[suffix])
            return FALSE if col is None else Frag(
                f"list_contains({col}, {self.bind(params, param)})", params)
        col = info.col(suffix)
        if col is None or tag_of(value) == LIST:
            return FALSE  # no array was ever stored on this path
        return Frag(f"{col} = {self.bind(params, param)}", params)

    @staticmethod
    def is_null(info: PathInfo) -> Frag:
        """Matches ``null``: missing, null, or (below/in arrays) a null or absent element."""
        if info.multi:
            return Frag(f"(NOT coalesce({info.col('x')}, FALSE) OR "
                        f"coalesce({info.col('u')}, FALSE))")
        return Frag(f"({info.col('t')} IS NULL OR {info.col('t')} = {NONE})")

    def exists(self, node: t.Exists, info: PathInfo) -> Frag:
        found = Frag(f"coalesce({info.col('x')}, FALSE)" if info.multi else
                     f"{info.col('t')} IS NOT NULL")
        return found if node.present else NOT(found)

    @staticmethod
    def typed(value: Any) -> tuple[str, Any]:
        suffix = VALUE_COLUMN[tag_of(value)]
        if suffix == "k":
            return suffix, enc(value)
        return suffix, float(value) if suffix == "n" else value

    def in_(self, node: t.In, info: PathInfo) -> Frag:
        """Scalars (and lists) only: the planner took nulls, patterns and dicts apart."""
        groups: dict[str, list] = {}
        for value in node.values:
            suffix, param = self.typed(value)
            if not info.multi and tag_of(value) == LIST:
                continue
            groups.setdefault(suffix, []).append(param)
        parts: list[Frag] = []
        for suffix, found in groups.items():
            values = list(dict.fromkeys(found))
            params: dict[str, Any] = {}
            if info.multi:
                col = info.col(ELEMENT_COLUMN[suffix])
                if col is not None:
                    parts.append(Frag(f"list_has_any({col}, {self.bind(params, values)}::"
                                      f"{_LIST_TYPES[suffix]})", params))
                continue
            col = info.col(suffix)
            if col is None:
                continue
            if len(values) > _LONG_IN_LIST:
                parts.append(Frag(f"{col} IN (SELECT unnest({self.bind(params, values)}::"
                                  f"{_LIST_TYPES[suffix]}))", params))
            else:
                names = ", ".join(self.bind(params, v) for v in values)
                parts.append(Frag(f"{col} IN ({names})", params))
        return OR(parts)

    def range(self, node: t.Range, info: PathInfo) -> Frag:
        sql_op = _RANGE[node.op]
        suffix, param = self.typed(node.value)
        if suffix == "k":
            return self.encoded_range(info, sql_op, param, BRACKET[tag_of(node.value)])
        params: dict[str, Any] = {}
        if info.multi:
            col = info.col(ELEMENT_COLUMN[suffix])
            if col is None:
                return FALSE
            if suffix == "n":  # NaN is no number to compare
                col = f"list_filter({col}, lambda e: NOT isnan(e))"
            agg = "list_max" if ">" in sql_op else "list_min"
            return Frag(f"{agg}({col}) {sql_op} {self.bind(params, param)}", params)
        col = info.col(suffix)
        if col is None:
            return FALSE
        nan = f" AND NOT isnan({col})" if suffix == "n" and ">" in sql_op else ""
        return Frag(f"({col} {sql_op} {self.bind(params, param)}{nan})", params)

    def encoded_range(self, info: PathInfo, sql_op: str, param: bytes, bracket: int) -> Frag:
        """Dicts, arrays and bytes compare by their sortable encoding, within their bracket."""
        low = BRACKET_BYTES[bracket]
        high = bytes([low[0] + 1])
        params: dict[str, Any] = {}
        col = info.col("ek" if info.multi else "k")
        if col is None:
            return FALSE
        if info.multi:
            test = (f"e {sql_op} {self.bind(params, param)} AND e >= {self.bind(params, low)} "
                    f"AND e < {self.bind(params, high)}")
            return Frag(f"len(list_filter({col}, lambda e: {test})) > 0", params)
        return Frag(f"({col} {sql_op} {self.bind(params, param)} AND {col} >= "
                    f"{self.bind(params, low)} AND {col} < {self.bind(params, high)})", params)

    _nodes: dict[type, Callable] = {
        t.And: and_, t.Or: or_, t.Nor: nor, t.Not: not_, t.Const: const, Fallback: fallback}
    _column: dict[type, Callable] = {
        t.Eq: eq, t.In: in_, t.Range: range, t.Exists: exists,
        t.Regex: OperatorSql.regex, t.Size: OperatorSql.size, t.Type: OperatorSql.type,
        t.Mod: OperatorSql.mod, IsArray: OperatorSql.is_array}


class Translator:
    """One query's SQL pieces: ``where`` (criteria), ``order_by`` (a sort) and ``p`` (any
    other value) give SQL text; ``params`` the parameters of all the pieces given so far."""

    def __init__(self, catalog: Catalog | None, re2_accepts: Callable[[str], bool]) -> None:
        self.catalog = catalog
        self.re2_accepts = re2_accepts  # asks DuckDB: called before planning only
        self.emitter = Emitter()
        self._params: dict[str, Any] = {}

    def compile(self, criteria: Mapping) -> Frag:
        tree = t.parse(criteria)
        accepted = {form: self.re2_accepts(form) for form in
                    dict.fromkeys(r.re2 for r in t.regexes(tree)) if form is not None}
        return self.emitter.emit(Planner(self.catalog, accepted.__getitem__).plan(tree))

    def where(self, criteria: Mapping) -> str:
        return self._take(self.compile(criteria))

    def order_by(self, sort: list[tuple[str, int]] | None) -> str:
        return self._take(order_by(self.info, self.emitter.bind, sort))

    def p(self, value: Any) -> str:
        params: dict[str, Any] = {}
        return self._take(Frag(self.emitter.bind(params, value), params))

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._params)

    def _take(self, frag: Frag) -> str:
        self._params.update(frag.params)
        return frag.text

    def info(self, path: str) -> PathInfo | None:
        return path_info(self.catalog, path)

    def positional(self, path: str) -> bool:
        return positional(self.catalog, path)


__all__ = ["Emitter", "Translator"]
