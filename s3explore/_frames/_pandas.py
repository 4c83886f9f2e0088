"""Batches of columns to one typed pandas DataFrame."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import pyarrow as pa

from s3explore._frames._arrow import cast, common_type
from s3explore._frames._columns import Chunk, Piece, python_values
from s3explore._frames._read import Reader


def _series(chunks: list[Chunk], rows: int) -> pd.Series:
    chunks = [a for c in chunks for a in (
        (c.chunks or [c.combine_chunks()]) if isinstance(c, pa.ChunkedArray) else [c])]
    arrays = [c for c in chunks if isinstance(c, pa.Array)]
    if len(arrays) == len(chunks):
        common = common_type([a.type for a in arrays])
        if common is not None:
            return _arrow_series(pa.chunked_array([cast(a, common) for a in arrays],
                                                  type=common))
    values: list = []  # a column Arrow cannot type: the original Python values
    for chunk in chunks:
        values.extend(chunk if isinstance(chunk, list) else python_values(chunk))
    return pd.Series(values, dtype=object, index=pd.RangeIndex(rows))


def _arrow_series(column: pa.ChunkedArray) -> pd.Series:
    kind = column.type
    if pa.types.is_integer(kind) and column.null_count:
        dtype = pd.UInt64Dtype() if pa.types.is_unsigned_integer(kind) else pd.Int64Dtype()
        return column.to_pandas(types_mapper=lambda _: dtype)
    if pa.types.is_boolean(kind) and column.null_count:
        return column.to_pandas(types_mapper=lambda _: pd.BooleanDtype())
    if pa.types.is_null(kind):
        return pd.Series([None] * len(column), dtype=object)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_struct(kind):
        return pd.Series(python_values(column), dtype=object)  # Python lists and dicts
    return column.to_pandas()


def frame_from_pieces(pieces: Iterable[Piece], reader: Reader) -> pd.DataFrame:
    chunks: dict[str, list[Chunk]] = {}
    total = 0
    for rows, columns in pieces:
        for name in set(chunks) - set(columns):
            chunks[name].append(pa.nulls(rows))  # null-typed: keeps the column's own type
        for name, chunk in columns.items():
            chunks.setdefault(name, [pa.nulls(total)] if total else []).append(chunk)
        total += rows
    reader.check_fields_known()
    data = {}
    for name in reader.order():
        if name in chunks:
            data[name] = _series(chunks.pop(name), total)
        else:  # a requested field or fetch path absent from this result
            data[name] = pd.Series([None] * total, dtype=object)
    if not data:
        return pd.DataFrame(index=pd.RangeIndex(total))
    # side by side, one block per column: the DataFrame constructor would copy columns of
    # one dtype into a single 2-D block (a second of copying for 10 million rows)
    return pd.concat(list(data.values()), axis=1, keys=list(data))
