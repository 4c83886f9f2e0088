"""MongoDB criteria and sorts as DuckDB SQL over the shadow columns, with parameters only.

Semantics are MongoDB's: a value matches an array holding it, ``null`` matches missing
fields, range operators only compare within the operand's type bracket (ints and floats
together), a path below an array of documents matches through any of them. Predicates are
built so that a NULL (missing column value) only ever means "no match": every negation is
taken of ``coalesce(predicate, FALSE)``.

What has no SQL form here (``$elemMatch`` with several conditions, positional paths such as
``a.0``, ``$type`` on arrays, regular expressions DuckDB's RE2 cannot run) is evaluated on the
stored document by the ``s3x_match`` function with the clause passed as a parameter.

Here: the dispatch of criteria to operators and the comparisons (equality, ``$in``, ranges,
``$exists``); the other operators are in ``_operators``, sorts in ``_order``, the boolean
folding in ``_logic``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from s3explore._errors import QueryError
from s3explore._stores._duckdb import _match
from s3explore._stores._duckdb._logic import AND, FALSE, NOT, OR, TRUE
from s3explore._stores._duckdb._operators import Operators
from s3explore._stores._duckdb._order import order_by
from s3explore._stores._duckdb._rows import ELEMENT_COLUMN, VALUE_COLUMN
from s3explore._stores._duckdb._schema import ROW_ID, Catalog, PathInfo
from s3explore._stores._duckdb._values import (
    BRACKET,
    BRACKET_BYTES,
    LIST,
    NONE,
    enc,
    operand,
    tag_of,
)

_RANGE = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_LIST_TYPES = {"n": "DOUBLE[]", "s": "VARCHAR[]", "b": "BOOLEAN[]", "d": "TIMESTAMP[]",
               "k": "BLOB[]"}


_LONG_IN_LIST = 50  # longer $in lists are joined as one list parameter
_PARAM = re.compile(r"\$(p\d+)\b")


class Translator(Operators):
    """One query's WHERE and ORDER BY; ``params`` collects the values in order."""

    def __init__(self, catalog: Catalog | None, fallback: Callable[[dict], str],
                 re2_accepts: Callable[[str], bool]) -> None:
        self.catalog = catalog
        self.fallback = fallback  # clause -> token for s3x_match
        self.re2_accepts = re2_accepts
        self.values: dict[str, Any] = {}

    def p(self, value: Any) -> str:
        """A named parameter for ``value``; fragments dropped by simplification (a FALSE in
        an AND) take theirs with them, as ``args`` binds only the names the SQL uses."""
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"${name}"

    def args(self, sql: str) -> dict[str, Any]:
        used = set(_PARAM.findall(sql))
        return {name: value for name, value in self.values.items() if name in used}

    # ------------------------------------------------------------ documents and logic

    def where(self, criteria: Mapping) -> str:
        parts = []
        for name, value in criteria.items():
            if name in ("$and", "$or", "$nor"):
                inner = [self.where(c) for c in value]
                parts.append(AND(inner) if name == "$and" else OR(inner) if name == "$or"
                             else NOT(OR(inner)))
            elif name.startswith("$"):
                raise QueryError(f"DuckDBStore cannot run the top-level operator {name!r}")
            elif isinstance(value, Mapping) and value and all(
                    str(k).startswith("$") for k in value):
                parts.append(self.ops(name, value))
            else:
                parts.append(self.eq(name, operand(value)))
        return AND(parts)

    def info(self, path: str) -> PathInfo | None:
        if path == "_id":
            return ROW_ID
        return self.catalog.get(path) if self.catalog is not None else None

    def positional(self, path: str) -> bool:
        """Paths without shadow columns, run by s3x_match: ``a.0``-style paths into arrays,
        and unknown paths once the catalog is full."""
        if self.catalog is not None and self.catalog.full and self.info(path) is None:
            return True
        parts = path.split(".")
        for i, part in enumerate(parts[1:], 1):
            if part.isdigit():
                parent = self.info(".".join(parts[:i]))
                if parent is not None and (parent.multi or parent.via):
                    return True
        return False

    def ops(self, path: str, ops: Mapping) -> str:
        if self.positional(path):
            return self.use_fallback({path: dict(ops)})
        parts = []
        for op, arg in ops.items():
            if op == "$options":
                if "$regex" not in ops:
                    raise QueryError(f"$options on {path!r} needs a $regex beside it")
                continue
            if op == "$regex":
                parts.append(self.regex(path, arg, ops.get("$options", "")))
            elif op in ("$eq", "$ne"):
                found = self.eq(path, operand(arg))
                parts.append(found if op == "$eq" else NOT(found))
            elif op in ("$in", "$nin"):
                found = self.in_(path, [operand(v) for v in arg])
                parts.append(found if op == "$in" else NOT(found))
            elif op in _RANGE:
                parts.append(self.range(path, op, operand(arg)))
            elif op == "$exists":
                info = self.info(path)
                found = FALSE if info is None else self.present(info)
                parts.append(found if arg else NOT(found))
            elif op == "$not":
                parts.append(NOT(self.negated(path, arg)))
            elif op == "$size":
                parts.append(self.size(path, arg))
            elif op == "$all":
                parts.append(self.all(path, arg))
            elif op == "$elemMatch":
                if not isinstance(arg, Mapping):
                    raise QueryError(f"$elemMatch on {path!r} takes a dict of criteria")
                parts.append(self.elem_match(path, arg))
            elif op == "$type":
                parts.append(self.type(path, arg))
            elif op == "$mod":
                parts.append(self.mod(path, arg))
            else:
                raise QueryError(f"DuckDBStore does not support the operator {op!r} "
                                 f"(on {path!r})")
        return AND(parts)

    def negated(self, path: str, arg: Any) -> str:
        if isinstance(arg, re.Pattern):
            return self.eq(path, arg)
        if isinstance(arg, Mapping) and arg and all(str(k).startswith("$") for k in arg):
            return self.ops(path, arg)
        raise QueryError(f"$not on {path!r} takes a regular expression or a dict of "
                         f"operators, got {arg!r:.60}")

    def use_fallback(self, clause: dict) -> str:
        return f"s3x_match(_doc, {self.p(self.fallback(operand(clause)))})"

    def dict_test(self, path: str, op: str, operands: list[dict]) -> str:
        return f"s3x_match(_doc, {self.p(self.fallback(_match.DictTest(path, op, operands)))})"

    # ------------------------------------------------------------ leaves

    def present(self, info: PathInfo) -> str:
        return f"coalesce({info.col('x')}, FALSE)" if info.multi else f"{info.col('t')} IS NOT NULL"

    def is_null(self, info: PathInfo | None) -> str:
        """Matches ``null``: missing, null, or (below/in arrays) a null or absent element."""
        if info is None:
            return TRUE
        if info.multi:
            return f"(NOT coalesce({info.col('x')}, FALSE) OR coalesce({info.col('u')}, FALSE))"
        return f"({info.col('t')} IS NULL OR {info.col('t')} = {NONE})"

    def eq(self, path: str, value: Any) -> str:
        if self.positional(path):
            return self.use_fallback({path: value})
        info = self.info(path)
        if isinstance(value, re.Pattern):
            return self.regex(path, value, "")
        if value is None:
            return self.is_null(info)
        if info is None:
            return FALSE
        if type(value) is dict:  # dicts have no column of their own
            return self.dict_test(path, "$eq", [value])
        suffix, param = self.typed(value)
        if info.multi:
            col = info.col(ELEMENT_COLUMN[suffix])
            return FALSE if col is None else f"list_contains({col}, {self.p(param)})"
        col = info.col(suffix)
        if col is None or (tag_of(value) == LIST):
            return FALSE  # no array was ever stored on this path
        return f"{col} = {self.p(param)}"

    @staticmethod
    def typed(value: Any) -> tuple[str, Any]:
        tag = tag_of(value)
        suffix = VALUE_COLUMN[tag]
        if suffix == "k":
            return suffix, enc(value)
        return suffix, float(value) if suffix == "n" else value

    def in_(self, path: str, values: list) -> str:
        if self.positional(path):
            return self.use_fallback({path: {"$in": values}})
        info = self.info(path)
        parts: list[str] = []
        groups: dict[str, list] = {}
        dicts = [v for v in values if type(v) is dict]
        if dicts and info is not None:
            parts.append(self.dict_test(path, "$eq", dicts))
        for value in values:
            if type(value) is dict:
                continue
            if value is None or isinstance(value, re.Pattern):
                parts.append(self.eq(path, value))
            elif info is not None:
                suffix, param = self.typed(value)
                if not info.multi and tag_of(value) == LIST:
                    continue
                groups.setdefault(suffix, []).append(param)
        for suffix, params in groups.items():
            params = list(dict.fromkeys(params))
            if info.multi:
                col = info.col(ELEMENT_COLUMN[suffix])
                if col is not None:
                    parts.append(f"list_has_any({col}, {self.p(params)}::{_LIST_TYPES[suffix]})")
                continue
            col = info.col(suffix)
            if col is None:
                continue
            if len(params) > _LONG_IN_LIST:
                parts.append(f"{col} IN (SELECT unnest({self.p(params)}::"
                             f"{_LIST_TYPES[suffix]}))")
            else:
                parts.append(f"{col} IN ({', '.join(self.p(v) for v in params)})")
        return OR(parts)

    def range(self, path: str, op: str, value: Any) -> str:
        if self.positional(path):
            return self.use_fallback({path: {op: value}})
        info = self.info(path)
        if value is None:  # MongoDB: $gte/$lte null are equality with null
            return self.is_null(info) if op in ("$gte", "$lte") else FALSE
        if info is None or isinstance(value, re.Pattern):
            return FALSE
        if type(value) is dict:
            return self.dict_test(path, op, [value])
        sql_op = _RANGE[op]
        suffix, param = self.typed(value)
        if suffix == "k":
            return self.encoded_range(info, sql_op, param, BRACKET[tag_of(value)])
        if info.multi:
            col = info.col(ELEMENT_COLUMN[suffix])
            if col is None:
                return FALSE
            if suffix == "n":  # NaN is no number to compare
                col = f"list_filter({col}, lambda e: NOT isnan(e))"
            agg = "list_max" if ">" in sql_op else "list_min"
            return f"{agg}({col}) {sql_op} {self.p(param)}"
        col = info.col(suffix)
        if col is None:
            return FALSE
        nan = f" AND NOT isnan({col})" if suffix == "n" and ">" in sql_op else ""
        return f"({col} {sql_op} {self.p(param)}{nan})"

    def encoded_range(self, info: PathInfo, sql_op: str, param: bytes, bracket: int) -> str:
        """Dicts, arrays and bytes compare by their sortable encoding, within their bracket."""
        low = BRACKET_BYTES[bracket]
        high = bytes([low[0] + 1])
        if info.multi:
            col = info.col("ek")
            if col is None:
                return FALSE
            test = f"e {sql_op} {self.p(param)} AND e >= {self.p(low)} AND e < {self.p(high)}"
            return f"len(list_filter({col}, lambda e: {test})) > 0"
        col = info.col("k")
        if col is None:
            return FALSE
        return (f"({col} {sql_op} {self.p(param)} AND {col} >= {self.p(low)} "
                f"AND {col} < {self.p(high)})")

    def order_by(self, sort: list[tuple[str, int]] | None) -> str:
        return order_by(self, sort)
