"""The Translator's operators beyond comparisons: ``$regex``, ``$size``, ``$all``,
``$type`` and ``$mod`` as SQL over the shadow columns (see ``_sql``)."""

from __future__ import annotations

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
    NONE,
    STR,
    operand,
)

_TYPE_ALIASES = {"double": 1, "string": 2, "object": 3, "array": 4, "binData": 5, "bool": 8,
                 "date": 9, "null": 10, "int": 16, "long": 18, "number": "number"}
_TYPE_TAGS = {1: (FLOAT,), 2: (STR,), 3: (DICT,), 5: (BYTES,), 8: (BOOL,), 9: (DATE,),
              10: (NONE,), "number": (INT, FLOAT)}


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


def _flags(letters: set[str]) -> int:
    value = 0
    for letter in letters:
        value |= {"i": re.I, "m": re.M, "s": re.S, "x": re.X}[letter]
    return value
