"""MongoDB criteria and sorts as DuckDB SQL over the shadow columns, with parameters only.

Semantics are MongoDB's: a value matches an array holding it, ``null`` matches missing
fields, range operators only compare within the operand's type bracket (ints and floats
together), a path below an array of documents matches through any of them. Predicates are
built so that a NULL (missing column value) only ever means "no match": every negation is
taken of ``coalesce(predicate, FALSE)``.

What has no SQL form here (``$elemMatch``, positional paths such as ``a.0``, ``$type`` on
arrays, regular expressions DuckDB's RE2 cannot run) is evaluated on the stored document by
the ``s3x_match`` function with the clause passed as a parameter; see ``_store``.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Mapping
from typing import Any

from s3explore._errors import QueryError
from s3explore._query import check_regex
from s3explore._stores._duckdb import _match
from s3explore._stores._duckdb._rows import ELEMENT_COLUMN, VALUE_COLUMN
from s3explore._stores._duckdb._schema import Catalog, PathInfo, bits
from s3explore._stores._duckdb._values import (
    BOOL,
    BRACKET,
    BRACKET_BYTES,
    BYTES,
    DATE,
    DICT,
    FLOAT,
    INT,
    LIST,
    NONE,
    STR,
    enc,
    naive_utc,
    normalize,
    tag_of,
)

TRUE, FALSE = "TRUE", "FALSE"
_RANGE = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_LIST_TYPES = {"n": "DOUBLE[]", "s": "VARCHAR[]", "b": "BOOLEAN[]", "d": "TIMESTAMP[]",
               "k": "BLOB[]"}
_SORT_PAIRS = (("n", "on"), ("s", "os"), ("k", "ok"), ("b", "obb"), ("d", "od"))
_TYPE_ALIASES = {"double": 1, "string": 2, "object": 3, "array": 4, "binData": 5, "bool": 8,
                 "date": 9, "null": 10, "int": 16, "long": 18, "number": "number"}
_TYPE_TAGS = {1: (FLOAT,), 2: (STR,), 3: (DICT,), 5: (BYTES,), 8: (BOOL,), 9: (DATE,),
              10: (NONE,), "number": (INT, FLOAT)}
_LONG_IN_LIST = 50  # longer $in lists are joined as one list parameter
_PARAM = re.compile(r"\$(p\d+)\b")


def AND(parts: list[str]) -> str:
    parts = [p for p in parts if p != TRUE]
    if FALSE in parts:
        return FALSE
    return TRUE if not parts else parts[0] if len(parts) == 1 else f"({' AND '.join(parts)})"


def OR(parts: list[str]) -> str:
    parts = [p for p in parts if p != FALSE]
    if TRUE in parts:
        return TRUE
    return FALSE if not parts else parts[0] if len(parts) == 1 else f"({' OR '.join(parts)})"


def NOT(part: str) -> str:
    return FALSE if part == TRUE else TRUE if part == FALSE else f"(NOT coalesce({part}, FALSE))"


class _RowId(PathInfo):
    """``_id``: the entry's insertion number, a plain number column."""

    def col(self, suffix: str) -> str | None:
        return {"t": "2", "n": "_rid"}.get(suffix)


_ROW_ID = _RowId(0, "_id", tags=1 << INT)


def _operand(value: Any) -> Any:
    return naive_utc(value) if isinstance(value, _dt.datetime) else normalize(value)


class Translator:
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
                parts.append(self.eq(name, _operand(value)))
        return AND(parts)

    def info(self, path: str) -> PathInfo | None:
        if path == "_id":
            return _ROW_ID
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
                found = self.eq(path, _operand(arg))
                parts.append(found if op == "$eq" else NOT(found))
            elif op in ("$in", "$nin"):
                found = self.in_(path, [_operand(v) for v in arg])
                parts.append(found if op == "$in" else NOT(found))
            elif op in _RANGE:
                parts.append(self.range(path, op, _operand(arg)))
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
                parts.append(self.use_fallback({path: {op: arg}}))
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
        return f"s3x_match(_doc, {self.p(self.fallback(_operand(clause)))})"

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

    def regex(self, path: str, pattern: Any, options: str) -> str:
        if self.positional(path):
            return self.use_fallback({path: {"$regex": pattern, "$options": options}})
        check_regex(pattern, path, options)
        flags = set(options)
        if isinstance(pattern, re.Pattern):
            flags |= {f for f, bit in (("i", re.I), ("m", re.M), ("s", re.S), ("x", re.X))
                      if pattern.flags & bit}
            pattern = pattern.pattern
        info = self.info(path)
        if info is None:
            return FALSE
        prefix = "".join(sorted(flags - {"x"}))
        re2 = f"(?{prefix}){pattern}" if prefix else pattern
        if "x" in flags or not self.re2_accepts(re2):  # Python's re runs it exactly
            return self.use_fallback({path: {"$regex": re.compile(pattern, _flags(flags))}})
        if info.multi:
            col = info.col("es")
            return (FALSE if col is None else
                    f"len(list_filter({col}, lambda e: regexp_matches(e, {self.p(re2)}))) > 0")
        col = info.col("s")
        return FALSE if col is None else f"regexp_matches({col}, {self.p(re2)})"

    def size(self, path: str, arg: Any) -> str:
        if isinstance(arg, bool) or not isinstance(arg, (int, float)) or arg != int(arg):
            raise QueryError(f"$size on {path!r} takes a whole number, got {arg!r:.60}")
        if self.positional(path):
            return self.use_fallback({path: {"$size": arg}})
        info = self.info(path)
        if info is None or not info.multi or info.col("z") is None:
            return FALSE
        return f"list_contains({info.col('z')}, {self.p(int(arg))})"

    def all(self, path: str, values: list) -> str:
        if not values:
            return FALSE  # MongoDB: $all [] matches nothing
        parts = []
        for value in values:
            if isinstance(value, Mapping) and "$elemMatch" in value:
                parts.append(self.use_fallback({path: {"$elemMatch": value["$elemMatch"]}}))
            else:
                parts.append(self.eq(path, _operand(value)))
        return AND(parts)

    def type(self, path: str, spec: Any) -> str:
        if isinstance(spec, (list, tuple)):
            return OR([self.type(path, s) for s in spec])
        code = _TYPE_ALIASES.get(spec, spec) if isinstance(spec, str) else spec
        if code not in (*_TYPE_TAGS, 4, 16, 18):
            raise QueryError(f"$type on {path!r}: unknown or unsupported type {spec!r}; use "
                             f"one of {sorted(_TYPE_ALIASES)}")
        info = self.info(path)
        if info is None:
            return FALSE
        if info.multi:  # array elements count too
            return self.use_fallback({path: {"$type": spec}})
        t = info.col("t")
        if code == 4:
            return FALSE
        if code in (16, 18):
            if info.col("n") is None:
                return FALSE
            small = f"{info.col('n')} >= -2147483648 AND {info.col('n')} < 2147483648"
            return f"({t} = {INT} AND {'NOT ' if code == 18 else ''}({small}))"
        return OR([f"{t} = {tag}" for tag in _TYPE_TAGS[code]])

    def mod(self, path: str, arg: Any) -> str:
        if (not isinstance(arg, (list, tuple)) or len(arg) != 2
                or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in arg)
                or int(arg[0]) == 0):
            raise QueryError(f"$mod on {path!r} takes [divisor, remainder] with a divisor "
                             f"other than 0, got {arg!r:.60}")
        info = self.info(path)
        if info is None:
            return FALSE
        divisor, remainder = self.p(float(int(arg[0]))), self.p(float(int(arg[1])))
        if info.multi:
            col = info.col("en")
            if col is None:
                return FALSE
            return (f"len(list_filter({col}, lambda e: NOT isnan(e) AND "
                    f"trunc(e) % {divisor} = {remainder})) > 0")
        col = info.col("n")
        if col is None:
            return FALSE
        return f"(NOT isnan({col}) AND trunc({col}) % {divisor} = {remainder})"

    # ------------------------------------------------------------ sort

    def order_by(self, sort: list[tuple[str, int]] | None) -> str:
        """MongoDB's order: by type bracket, then value; ties in insertion order."""
        terms: list[str] = []
        for path, direction in sort or []:
            way = " DESC" if direction < 0 else ""
            info = self.info(path)
            if info is None:
                continue  # missing everywhere: every entry ties
            if info is _ROW_ID:
                terms.append(f"_rid{way}")
                continue
            t = info.col("t")
            present = bits(info.tags) - {NONE}
            if not info.multi and not present:
                continue  # only nulls: every entry ties
            single = {BRACKET[tag] for tag in present}
            column = info.col(VALUE_COLUMN.get(min(present), "-")) if present else None
            if not info.multi and len(single) == 1 and column:
                # one type besides null: missing and null (NULL here) sort first, as in MongoDB
                terms.append(f"{column}{way} NULLS {'LAST' if way else 'FIRST'}")
                continue
            bracket = f"coalesce({t} - ({t} >= {FLOAT})::UTINYINT, 1)"
            ob = info.col("ob") if info.multi else None
            terms.append(f"(CASE WHEN {ob} IS NOT NULL THEN {ob} ELSE {bracket} END){way}"
                         if ob else f"{bracket}{way}")
            for direct, override in _SORT_PAIRS:
                value = info.col(direct)
                if direct == "k" and info.tags >> DICT & 1:  # dicts: encoded when sorted
                    key = f"{_match.SORT_KEY}(_doc, {self.p(path)})"
                    value = f"CASE WHEN {t} = {DICT} THEN {key} ELSE {value or 'NULL'} END"
                override = info.col(override) if ob else None
                if ob and (value or override):  # rows with a sort key of their own use it
                    terms.append(f"(CASE WHEN {ob} IS NOT NULL THEN {override or 'NULL'} "
                                 f"ELSE {value or 'NULL'} END){way}")
                elif value:
                    terms.append(f"{value}{way}")
        return ", ".join([*terms, "_rid"])


def _flags(letters: set[str]) -> int:
    value = 0
    for letter in letters:
        value |= {"i": re.I, "m": re.M, "s": re.S, "x": re.X}[letter]
    return value
