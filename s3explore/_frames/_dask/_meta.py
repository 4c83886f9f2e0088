"""The Dask frame's ``_meta`` and partitions that agree with it.

Columns are those ``query_df`` would give for the whole result: a small sample read with
``query_df`` itself (so fetch columns and types are real), widened by the index's field
inventory (``store.fields()``) for index fields the sample did not meet. When ``fields`` are
given and the sample has a value for each, the inventory (a pass over the whole index) is
skipped: one count per integer or boolean column tells whether it has gaps. Each partition is a
``query_df`` of its key range, conformed to those columns: an absent or all-null column
becomes typed nulls, so that concatenating the partitions gives the dtypes ``query_df`` gives
(int64 with gaps elsewhere -> Int64, int with float -> float64, as pandas' concat does), and a
column that converts to the frame's type without loss is converted. Fetch columns (paths read
from the objects, derived columns) of integers or booleans are nullable: any object may be
missing, or lack the path.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from s3explore._errors import warn
from s3explore._frames._columns import column_order, under

_BY_TYPE = {"int": "Int64", "float": "float64", "float, int": "float64", "str": "str",
            "bool": "boolean", "datetime": "datetime64[us]"}


def nullable(dtype: Any) -> Any:
    """A dtype of the same kind that can hold nulls."""
    if pd.api.types.is_bool_dtype(dtype) and not isinstance(dtype, pd.BooleanDtype):
        return pd.BooleanDtype()
    if pd.api.types.is_integer_dtype(dtype) and isinstance(dtype, np.dtype):
        return pd.UInt64Dtype() if dtype.kind == "u" else pd.Int64Dtype()
    return dtype


def nulls(dtype: Any, rows: int, index: pd.Index) -> pd.Series:
    if pd.api.types.is_object_dtype(dtype):
        return pd.Series([None] * rows, dtype=object, index=index)
    return pd.Series(pd.array([None] * rows, dtype=nullable(dtype)), index=index)


def _inventory_dtype(types: str) -> Any:
    return _BY_TYPE.get(types.replace(", null", ""), object)


def _fetched(name: str, fetch: list[str]) -> bool:
    return any(under(p, [name]) or name == p.split(".")[0] for p in fetch)


def covered(sample: pd.DataFrame, fields: list[str] | None, flatten: bool) -> bool:
    """Whether the sample alone gives the columns of ``fields``: each a column with a value
    and, flattened, nothing below it (a sub-document may hold other paths elsewhere)."""
    if fields is None:
        return False
    for field in fields:
        name = field if flatten else field.split(".")[0]
        if name not in sample.columns or bool(sample[name].isna().all()):
            return False
        if flatten and any(c.startswith(name + ".") for c in sample.columns):
            return False
    return True


def gaps(index: Any, criteria: dict, sample: pd.DataFrame, fetch: list[str]) -> set[str]:
    """The sample's int and bool columns that some matching entry lacks or holds null for
    (the dtypes that change with gaps; the others hold NaN, NaT or None as they are)."""
    found = set()
    for name, dtype in sample.dtypes.items():
        if isinstance(dtype, np.dtype) and dtype.kind in "biu" and not _fetched(name, fetch):
            clause = {name: None}  # null or absent
            if index.count({"$and": [criteria, clause]} if criteria else clause):
                found.add(name)
    return found


def build_meta(sample: pd.DataFrame, inventory: pd.DataFrame | None, key: str,
               fields: list[str] | None, fetch: list[str], flatten: bool,
               sparse: set[str] | frozenset[str] = frozenset()) -> pd.DataFrame:
    """An empty frame with the columns and dtypes of the whole result; ``sparse``: columns
    known to have gaps (without an inventory)."""
    dtypes: dict[str, Any] = dict(sample.dtypes.items())
    for name in sparse:
        dtypes[name] = nullable(dtypes[name])
    for name in dtypes:
        if _fetched(name, fetch):  # any object may be missing or lack the path: nulls
            dtypes[name] = nullable(dtypes[name])
    if inventory is not None:
        known = dict(zip(inventory["field"], inventory["types"], strict=True))
        fraction = dict(zip(inventory["field"], inventory["fraction"], strict=True))
        names = list(known)
        if fields is not None:  # the asked fields and the paths below them
            names = [n for f in fields for n in under(f, known)]
        if not flatten:
            names = [n.split(".")[0] for n in names]
        for name in names:
            if _fetched(name, fetch):
                continue  # fetched: the object's value replaces the index's copy
            if name not in dtypes:
                dtypes[name] = _inventory_dtype(str(known.get(name, "")))
            elif fraction.get(name, 1) < 1:  # sparse in the index: nulls elsewhere
                dtypes[name] = nullable(dtypes[name])
    order = column_order(dtypes, key, fields if flatten else None, fetch)
    return pd.DataFrame({n: pd.Series([], dtype=dtypes.get(n, object)) for n in order})


def _widens(found: Any, dtype: Any) -> bool:
    """Whether ``found`` values convert to ``dtype`` without loss (a partition's column
    to the frame's type: anything to object, int or bool to their nullable kind, int to
    float)."""
    if pd.api.types.is_object_dtype(dtype):
        return True
    if nullable(found) == dtype:
        return True
    return (pd.api.types.is_float_dtype(dtype) and pd.api.types.is_integer_dtype(found)
            and isinstance(found, np.dtype))


def conform(frame: pd.DataFrame, meta: pd.DataFrame, start: int, where: str) -> pd.DataFrame:
    """``frame`` with exactly ``meta``'s columns, its rows numbered from ``start``."""
    index = pd.RangeIndex(start, start + len(frame))
    extra = [c for c in frame.columns if c not in meta.columns]
    if extra:
        warn(f"{where} has column(s) {extra} that the frame's columns, taken from a sample "
             "of the index, lack; they are left out of this frame: name them in fields= "
             "to read them")
    if not len(frame):
        return meta.iloc[:0].set_axis(index)
    frame = frame.set_axis(index)
    columns = {}
    for name, dtype in meta.dtypes.items():
        column = frame[name] if name in frame.columns else None
        if column is None or (column.dtype != dtype and bool(column.isna().all())):
            column = nulls(dtype, len(frame), index)
        elif column.dtype != dtype and _widens(column.dtype, dtype):
            column = column.astype(dtype)
        columns[name] = column
    return pd.DataFrame(columns, index=index)
