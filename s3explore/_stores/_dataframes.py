"""The DataFrame entry points of every store, with explicit signatures.

They hand over to the frames layer (``s3explore._frames``), which pandas, pyarrow and Dask
load on first use, so ``import s3explore`` stays light. An argument left at ``None`` takes
the frames layer's default, named in each docstring; only the arguments given are passed.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from s3explore._query import SortSpec
from s3explore._stores._hints import check, from_user

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


def _given(**options: Any) -> dict[str, Any]:
    """The options the caller set (not None), so the frames layer's defaults hold."""
    return {name: value for name, value in options.items() if value is not None}


class DataFrameMethods:
    """query_df, to_arrow, to_parquet, to_dask, map_objects and fields (a Store mixin)."""

    def query_df(self, criteria: dict | None = None, fields: list[str] | None = None,
                 sort: SortSpec = None, skip: int = 0, limit: int = 0, *,
                 fetch: list[str] | dict | None = None, flatten: bool = True,
                 batch_size: int | None = None, on_error: str = "raise",
                 parse_dates: bool = True) -> pd.DataFrame:
        """One row per index entry: the key, index ``fields`` and ``fetch`` paths from objects.

        ``batch_size``: entries read from the index at a time (50,000). ``on_error``: an
        object ``fetch`` cannot decode raises ("raise"), gives nulls ("null") or no row
        ("skip"). ``parse_dates``: text columns of ISO 8601 dates become datetimes (False:
        they stay text). See ``s3explore._frames.query_df`` for the column conventions.
        """
        from s3explore import _frames

        frame = _frames.query_df(self, criteria, fields, sort, skip, limit, fetch=fetch,
                                 flatten=flatten, on_error=on_error, parse_dates=parse_dates,
                                 **_given(batch_size=batch_size))
        if not len(frame) and from_user():
            check(self, self._criteria(criteria))  # unknown fields= raise in _frames
        return frame

    def to_dask(self, criteria: dict | None = None, fields: list[str] | None = None, *,
                fetch: list[str] | dict | None = None, flatten: bool = True,
                partition_size: int | None = None, partition_bytes: int | None = None,
                batch_size: int | None = None, client: Any = None) -> Any:
        """``query_df`` as a Dask DataFrame, one partition per key range of the index.

        ``partition_bytes``: stored bytes a ``fetch=`` partition downloads, at most (64 MiB);
        ``batch_size`` as in ``query_df``; ``client``: a ``distributed.Client``. Needs
        ``s3explore[dask]``. See ``s3explore._frames._dask.to_dask``.
        """
        from s3explore._frames import _dask

        return _dask.to_dask(self, criteria, fields, fetch=fetch, flatten=flatten,
                             partition_size=partition_size, client=client,
                             **_given(partition_bytes=partition_bytes, batch_size=batch_size))

    def map_objects(self, func: Any, criteria: dict | None = None, *,
                    properties: list[str] | None = None, partition_size: int | None = None,
                    on_missing: str = "skip", on_error: str = "raise",
                    client: Any = None) -> Any:
        """``func(doc)`` for every matching document, on Dask (a bag, or futures with
        ``client=``), ``partition_size`` entries a partition (1,000). Needs
        ``s3explore[dask]``. See ``s3explore._frames._dask.map_objects``.
        """
        from s3explore._frames import _dask

        return _dask.map_objects(self, func, criteria, properties=properties,
                                 on_missing=on_missing, on_error=on_error, client=client,
                                 **_given(partition_size=partition_size))

    def fields(self, sample: int = 1000) -> pd.DataFrame:
        """Every dotted path in the index: types, count and fraction, distinct values, example.

        Counts every entry when the index has at most ``sample`` entries (or computes the
        table itself), else a sample, and says so in the table's caption and ``attrs``. See
        ``s3explore._frames.inventory``.
        """
        from s3explore import _frames

        return _frames.inventory(self, sample)

    def to_arrow(self, criteria: dict | None = None, fields: list[str] | None = None, *,
                 batch_size: int | None = None) -> pa.Table:
        """The matching index documents as an Arrow table, read ``batch_size`` (50,000) at
        a time. See ``s3explore._frames.to_arrow``.
        """
        from s3explore import _frames

        return _frames.to_arrow(self, criteria, fields, **_given(batch_size=batch_size))

    def to_parquet(self, path: str | os.PathLike, criteria: dict | None = None,
                   fields: list[str] | None = None, *, fetch: list[str] | dict | None = None,
                   sort: SortSpec = None, on_error: str = "raise",
                   part_size: int | None = None, resume: bool = True,
                   progress: Any = None, batch_size: int | None = None,
                   **parquet_options: Any) -> int:
        """Stream the matching index documents to a Parquet file; returns the rows written.

        With ``fetch``, the export runs in parts of ``part_size`` entries (2,000) and
        ``resume``s after an interruption. ``sort`` orders the rows (the key breaks ties; a
        resumed export needs the same sort). ``parquet_options`` go to pyarrow's ParquetWriter
        (``compression=`` ...). See ``s3explore._frames.to_parquet``.
        """
        from s3explore import _frames

        return _frames.to_parquet(self, path, criteria, fields, fetch=fetch, sort=sort,
                                  on_error=on_error,
                                  resume=resume, progress=progress,
                                  **_given(part_size=part_size, batch_size=batch_size),
                                  **parquet_options)
