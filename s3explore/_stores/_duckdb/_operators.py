"""Stage 3 of the translator, continued: the SQL of ``$regex``, ``$size``, ``$type``,
``$mod`` and ``$elemMatch``'s array test over the shadow columns (comparisons are in
``_sql``). Each method gets a planned test and its path's ``PathInfo``, and returns a
``Frag`` carrying the parameters it bound."""

from __future__ import annotations

from typing import Any

from s3explore._stores._duckdb import _tree as t
from s3explore._stores._duckdb._logic import FALSE, OR, Frag
from s3explore._stores._duckdb._plan import IsArray
from s3explore._stores._duckdb._schema import PathInfo
from s3explore._stores._duckdb._values import BOOL, BYTES, DATE, DICT, FLOAT, INT, LIST, NONE, STR

_TYPE_TAGS = {1: (FLOAT,), 2: (STR,), 3: (DICT,), 5: (BYTES,), 8: (BOOL,), 9: (DATE,),
              10: (NONE,), "number": (INT, FLOAT)}


class OperatorSql:
    """Mixed into ``_sql.Emitter``, whose ``bind`` names parameters."""

    def bind(self, params: dict[str, Any], value: Any) -> str:
        raise NotImplementedError

    def regex(self, node: t.Regex, info: PathInfo) -> Frag:
        params: dict[str, Any] = {}
        if info.multi:
            col = info.col("es")
            if col is None:
                return FALSE
            return Frag(f"len(list_filter({col}, lambda e: regexp_matches(e, "
                        f"{self.bind(params, node.re2)}))) > 0", params)
        col = info.col("s")
        if col is None:
            return FALSE
        return Frag(f"regexp_matches({col}, {self.bind(params, node.re2)})", params)

    def size(self, node: t.Size, info: PathInfo) -> Frag:
        params: dict[str, Any] = {}
        return Frag(f"list_contains({info.col('z')}, {self.bind(params, node.size)})", params)

    def type(self, node: t.Type, info: PathInfo) -> Frag:
        tag = info.col("t")
        if node.code == 4:
            return FALSE  # arrays: the planner sent paths holding some to the document
        if node.code in (16, 18):
            if info.col("n") is None:
                return FALSE
            small = f"{info.col('n')} >= -2147483648 AND {info.col('n')} < 2147483648"
            return Frag(f"({tag} = {INT} AND {'NOT ' if node.code == 18 else ''}({small}))")
        return OR([Frag(f"{tag} = {code}") for code in _TYPE_TAGS[node.code]])

    def mod(self, node: t.Mod, info: PathInfo) -> Frag:
        params: dict[str, Any] = {}
        col = info.col("en" if info.multi else "n")
        if col is None:
            return FALSE
        divisor = self.bind(params, float(node.divisor))
        remainder = self.bind(params, float(node.remainder))
        if info.multi:
            return Frag(f"len(list_filter({col}, lambda e: NOT isnan(e) AND "
                        f"trunc(e) % {divisor} = {remainder})) > 0", params)
        return Frag(f"(NOT isnan({col}) AND trunc({col}) % {divisor} = {remainder})", params)

    def is_array(self, node: IsArray, info: PathInfo) -> Frag:
        return Frag(f"{info.col('t')} = {LIST}")
