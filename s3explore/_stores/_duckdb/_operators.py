"""The Translator's operators beyond comparisons: ``$regex``, ``$size``, ``$all``,
``$type`` and ``$mod`` as SQL over the shadow columns (see ``_sql``)."""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping
from typing import Any

from s3explore._errors import QueryError
from s3explore._query import check_regex
from s3explore._stores._duckdb._logic import AND, FALSE, OR
from s3explore._stores._duckdb._values import (
    BOOL,
    BYTES,
    DATE,
    DICT,
    FLOAT,
    INT,
    LIST,
    NONE,
    STR,
    operand,
)

_TYPE_ALIASES = {"double": 1, "string": 2, "object": 3, "array": 4, "binData": 5, "bool": 8,
                 "date": 9, "null": 10, "int": 16, "long": 18, "number": "number"}
_TYPE_TAGS = {1: (FLOAT,), 2: (STR,), 3: (DICT,), 5: (BYTES,), 8: (BOOL,), 9: (DATE,),
              10: (NONE,), "number": (INT, FLOAT)}


_SCALAR_TYPES = (int, float, str, bool, _dt.datetime)


class Operators:
    """Mixed into ``Translator``, whose ``info``, ``positional``, ``p``, ``eq`` and
    ``use_fallback`` these use."""

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

    def elem_match(self, path: str, spec: Mapping) -> str:
        """``$elemMatch`` in SQL where one condition decides it: on an array's items
        (``{"$gt": 5}``) or on one field of its documents (``{"x": 5}``, ``{"x": {"$lt":
        5}}``), with one non-null scalar operand, no negation. Then "some element matches"
        is "some item or some element's field matches", which the element columns answer,
        for rows whose value at ``path`` is an array. Several conditions must hold for one
        same element, which the columns cannot tell: those run on the document."""
        simple = self._one_condition(spec)
        info = self.info(path)
        if (simple is None or info is None or self.positional(path) or not info.multi
                or info.via):  # below an array of documents: arrays of arrays
            return self.use_fallback({path: {"$elemMatch": dict(spec)}})
        field, op, value = simple
        if field is None and info.items >> LIST & 1:  # arrays in arrays: matched item-wise
            return self.use_fallback({path: {"$elemMatch": dict(spec)}})
        target = path if field is None else f"{path}.{field}"
        if field is not None and (self.positional(target) or self.info(target) is None):
            return FALSE if self.info(target) is None and not self.positional(target) else (
                self.use_fallback({path: {"$elemMatch": dict(spec)}}))
        test = self.ops(target, {op: value})
        return AND([f"{info.col('t')} = {LIST}", test])

    @staticmethod
    def _one_condition(spec: Mapping) -> tuple[str | None, str, Any] | None:
        """(field or None, operator, operand) when ``spec`` is one plain condition."""
        if len(spec) != 1:
            return None
        (name, cond), = spec.items()
        field = None
        if not name.startswith("$"):
            if "." in name or name.isdigit() or not name:
                return None
            field = name
            if not (isinstance(cond, Mapping) and len(cond) == 1
                    and next(iter(cond)).startswith("$")):
                cond = {"$eq": cond}
            (name, cond), = cond.items()
        if name not in _ELEMENT_OPS:
            return None
        operands = cond if name == "$in" and isinstance(cond, list) else [cond]
        if name == "$in" and not isinstance(cond, list):
            return None
        if not operands or not all(_scalar(operand(v)) for v in operands):
            return None
        return field, name, cond

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
                parts.append(self.elem_match(path, value["$elemMatch"]))
            else:
                parts.append(self.eq(path, operand(value)))
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


_ELEMENT_OPS = frozenset({"$eq", "$gt", "$gte", "$lt", "$lte", "$in"})


def _scalar(value: Any) -> bool:
    return value is not None and type(value) in _SCALAR_TYPES


def _flags(letters: set[str]) -> int:
    value = 0
    for letter in letters:
        value |= {"i": re.I, "m": re.M, "s": re.S, "x": re.X}[letter]
    return value
