"""MongoDB's sort order as SQL ORDER BY terms over the shadow columns: by type bracket, then
value; arrays by their first element (as MemoryStore); ties in insertion order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from s3explore._stores._duckdb import _match
from s3explore._stores._duckdb._logic import Frag
from s3explore._stores._duckdb._rows import VALUE_COLUMN
from s3explore._stores._duckdb._schema import ROW_ID, PathInfo, bits
from s3explore._stores._duckdb._values import BRACKET, DICT, FLOAT, NONE

_SORT_PAIRS = (("n", "on"), ("s", "os"), ("k", "ok"), ("b", "obb"), ("d", "od"))


def order_by(info_of: Callable[[str], PathInfo | None],
             bind: Callable[[dict[str, Any], Any], str],
             sort: list[tuple[str, int]] | None) -> Frag:
    """MongoDB's order: by type bracket, then value; ties in insertion order. ``info_of``
    gives a path's catalog entry, ``bind`` names a parameter (``_sql.Emitter.bind``)."""
    terms: list[str] = []
    params: dict[str, Any] = {}
    for path, direction in sort or []:
        way = " DESC" if direction < 0 else ""
        info = info_of(path)
        if info is None:
            continue  # missing everywhere: every entry ties
        if info is ROW_ID:
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
                key = f"{_match.SORT_KEY}(_doc, {bind(params, path)})"
                value = f"CASE WHEN {t} = {DICT} THEN {key} ELSE {value or 'NULL'} END"
            override = info.col(override) if ob else None
            if ob and (value or override):  # rows with a sort key of their own use it
                terms.append(f"(CASE WHEN {ob} IS NOT NULL THEN {override or 'NULL'} "
                             f"ELSE {value or 'NULL'} END){way}")
            elif value:
                terms.append(f"{value}{way}")
    return Frag(", ".join([*terms, "_rid"]), params)
