"""Partitions as key ranges, computed in the index store.

The client reads the matching keys once, in the index's own key order (one projected query
on the key, columnar where the backend can), and cuts them into runs of ``partition_size``.
Each partition is then a criterion on the key (``$gte`` first key, ``$lt`` the next run's
first key) that the worker's index answers with its key index: no skip/limit, which would
make every partition re-read all the entries before it.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from s3explore._frames._columns import setting
from s3explore._frames._read import entry_table, find, index_of, index_query
from s3explore._query import get_path, has_path


@dataclass(frozen=True)
class Slice:
    """One partition: its criteria (the user's AND a key range), where its rows start in
    the whole result, and how many entries it held when planned."""

    number: int
    criteria: dict
    start: int
    rows: int
    first: Any = None
    last: Any = None

    def __repr__(self) -> str:
        return f"Slice({self.number}, keys {self.first!r:.40}..{self.last!r:.40}, {self.rows} rows)"


def _kind(value: Any) -> str | None:
    """Values a range criterion compares the same way in every engine: strings, numbers."""
    if isinstance(value, str):
        return "str"
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return "number"
    return None


def _arrow_ranged(kind: pa.DataType) -> bool:
    return (pa.types.is_string(kind) or pa.types.is_large_string(kind)
            or pa.types.is_integer(kind) or pa.types.is_floating(kind))


def keys_in_order(store: Any, criteria: Any) -> tuple[Any, int, bool]:
    """The keys of the index entries matching ``criteria`` in the index's key order (a list,
    or an Arrow array left as it is: only the partitions' bounds become Python values), how
    many matching entries have no key (null or absent), and whether the keys are all of one
    kind that ranges can cut."""
    index = index_of(store)
    key = index.key
    q = index_query(index, criteria, [key], {key: 1}, 0, 0)
    table = entry_table(index, q)
    if table is not None and key in table.column_names:
        column = table.column(key)
        if _arrow_ranged(column.type):
            keys = column.drop_null()
            return keys, len(column) - len(keys), True
        values = column.to_pylist()
    else:
        values = [get_path(d, key) if has_path(d, key) else None for d in find(index, q)]
    keys = [v for v in values if v is not None]
    kinds = {_kind(k) for k in keys}
    return keys, len(values) - len(keys), len(kinds) == 1 and None not in kinds


def at(keys: Any, positions: list[int]) -> list:
    if isinstance(keys, list):
        return [keys[i] for i in positions]
    return keys.take(pa.array(positions, pa.int64())).to_pylist()


def _both(criteria: dict, clause: dict) -> dict:
    return {"$and": [criteria, clause]} if criteria else clause


def plan(store: Any, criteria: Any, partition_size: Any,
         sizer: Callable[[Any], int] | None = None) -> list[Slice]:
    """The partitions of the entries matching ``criteria``, ``partition_size`` entries each,
    or, with ``sizer``, as many as ``sizer(keys)`` says (called with the matching keys)."""
    size = setting(partition_size, "partition_size") if sizer is None else 0
    index = index_of(store)
    key = index.key
    criteria = index_query(index, criteria, None, None, 0, 0).criteria
    keys, keyless, ranged = keys_in_order(store, criteria)
    if sizer is not None:
        size = sizer(keys)
    starts = list(range(0, len(keys), size))
    ends = [min(start + size, len(keys)) for start in starts]
    slices: list[Slice] = []
    if ranged:  # each run from its first key up to the next run's first key
        firsts = at(keys, starts)
        lasts = at(keys, [end - 1 for end in ends])
        for number, (first, last) in enumerate(zip(firsts, lasts, strict=True)):
            upper = ({"$lt": firsts[number + 1]} if number + 1 < len(firsts)
                     else {"$lte": last})
            clause = {key: {"$gte": first, **upper}}
            slices.append(Slice(number, _both(criteria, clause), starts[number],
                                ends[number] - starts[number], first, last))
    else:  # mixed key types: MongoDB ranges compare within one type only; list them
        for number, (start, end) in enumerate(zip(starts, ends, strict=True)):
            run = keys[start:end]
            slices.append(Slice(number, _both(criteria, {key: {"$in": run}}), start,
                                len(run), run[0], run[-1]))
    if keyless:  # entries without a key still get their rows, in one last partition
        slices.append(Slice(len(slices), _both(criteria, {key: None}), len(keys), keyless))
    return slices
