"""Typed pandas DataFrames and Arrow tables from index fields and object fields.

The ``Store`` methods ``query_df``, ``fields``, ``to_arrow`` and ``to_parquet`` call the
functions here (imported on first use, so ``import s3explore`` loads neither pandas nor
pyarrow). Frames are built column by column: index documents are read in batches, flattened
to dotted paths, turned into one Arrow array per column and per batch, and only then into
pandas. No row-wise DataFrame is ever built.

Conventions (the same for every store):

- one row per index document, the key column first, then the requested ``fields`` in the
  order given, then the other columns sorted by name, then the ``fetch`` columns;
- nested dicts are flattened to dotted names (``calc.encut``); an empty dict counts as absent;
  list values stay whole, as they were read (Python lists from the index, numpy arrays from
  objects decoded by ``fetch``); in Arrow they are list columns;
- datetimes become ``datetime64``, integers with gaps nullable ``Int64``, booleans with gaps
  ``boolean``, strings pandas' ``str`` dtype;
- in ``query_df``, a text column (but the key) whose every value is an ISO 8601 date or date
  and time becomes ``datetime64`` too (UTC-aware when the values carry offsets;
  ``parse_dates=False`` keeps the text; ``to_arrow``, ``to_parquet`` and ``to_dask`` keep it);
- a column whose values Arrow cannot hold in one type (``1`` in one document, ``"x"`` in
  another) stays an ``object`` column of the original values in ``query_df``; in
  ``to_arrow``/``to_parquet`` it is written as strings, with a warning naming the column;
- a requested field is *unknown* when no document of the whole index has it (a field that is
  only absent from the current result or page gives an all-null column instead): QueryError
  naming it, with close matches.

The index is read through the store's documented protected methods (``Store`` in
``s3explore._stores._base``), never an engine's hooks: ``_entry_table`` when the backend can
return the whole result as one Arrow table (DuckDB; MongoStore with pymongoarrow installed),
else ``_index_entries`` in batches of dicts; ``fields()`` uses ``_entry_inventory`` and
``_entry_sample``. An object store's index that is not one of ours (a maggma store) is read
through its public ``query``. ``to_parquet`` always reads in batches.

Modules: ``_columns`` (flattening, Arrow chunks, column order), ``_read`` (the index and
``fetch=``), ``_pandas``, ``_arrow`` (tables, schema unification, Parquet), ``_inventory``.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd
import pyarrow as pa

from s3explore._checks import ArgumentError
from s3explore._errors import ConfigurationError
from s3explore._frames._arrow import table_from_pieces, write_parquet
from s3explore._frames._dates import iso_datetimes
from s3explore._frames._export import PART_SIZE, export_parquet
from s3explore._frames._inventory import FieldsFrame, inventory
from s3explore._frames._pandas import frame_from_pieces
from s3explore._frames._read import BATCH_SIZE, BOOKKEEPING_FIELDS, Reader

__all__ = ["BATCH_SIZE", "BOOKKEEPING_FIELDS", "FieldsFrame", "inventory", "query_df",
           "to_arrow", "to_parquet"]


def query_df(store: Any, criteria: dict | None = None, fields: list[str] | None = None,
             sort: Any = None, skip: int = 0, limit: int = 0, *,
             fetch: list[str] | None = None, flatten: bool = True,
             batch_size: int = BATCH_SIZE, on_error: str = "raise",
             parse_dates: bool = True) -> pd.DataFrame:
    """One row per index document matching ``criteria``, as a typed DataFrame.

    ``fields``: dotted paths to read (pushed down to the index as a projection; the key
    is always included). ``sort`` is a dict ``{field: 1 | -1}``; ``skip`` and ``limit``
    page the result. ``fetch`` (S3Store only): dotted paths read from the objects
    themselves, in parallel; a path an object lacks is null, a missing object gives
    nulls and a warning naming its key; an object that cannot be decoded raises
    CorruptObjectError, or with ``on_error="null"`` gives nulls, with ``"skip"`` no row, and
    one warning naming the keys. ``flatten=False`` keeps sub-documents as dict
    values instead of dotted columns. ``batch_size``: index documents turned into columns
    at a time. Raises QueryError for malformed criteria, an operator the index store does
    not support, or a field no index document has. A fetch over many objects that may be
    interrupted is better run as ``to_parquet(path, ..., fetch=...)``, which resumes.
    ``parse_dates``: a text column (but the key) whose every value is an ISO 8601 date or
    date and time becomes datetime64, UTC-aware when the values carry offsets (see
    ``_dates``); False keeps such columns as text.
    """
    if not isinstance(parse_dates, bool):
        raise ArgumentError(f"parse_dates must be True or False, got {parse_dates!r:.60}")
    reader = Reader(store, criteria, fields, sort, skip, limit, fetch, flatten, batch_size,
                    on_error)
    reader.keep_containers = True
    try:
        frame = frame_from_pieces(reader.pieces(), reader)
    except KeyboardInterrupt as stop:
        if fetch:  # what was fetched is lost: say how not to lose it next time
            stop.add_note(f"query_df keeps nothing of an interrupted fetch ({reader.rows} "
                          "rows were done); store.to_parquet(path, criteria, fields, "
                          "fetch=[...]) runs in parts and resumes where it stopped")
        raise
    return iso_datetimes(frame, reader.key) if parse_dates else frame


def to_arrow(store: Any, criteria: dict | None = None, fields: list[str] | None = None, *,
             batch_size: int = BATCH_SIZE) -> pa.Table:
    """The index documents matching ``criteria`` as an Arrow table (flattened columns).

    Read ``batch_size`` documents at a time, so memory holds the table plus one batch of
    documents. Types are unified across batches (null -> any, int -> float); a column
    whose types conflict is written as strings, with a warning naming it.
    """
    reader = Reader(store, criteria, fields, None, 0, 0, batch_size=batch_size)
    return table_from_pieces(reader.pieces(), reader)


def to_parquet(store: Any, path: str | os.PathLike, criteria: dict | None = None,
               fields: list[str] | None = None, *, fetch: Any = None, sort: Any = None,
               on_error: str = "raise", part_size: int = PART_SIZE, resume: bool = True,
               progress: Any = None, batch_size: int = BATCH_SIZE,
               **parquet_kwargs: Any) -> int:
    """Write the matching index documents to a Parquet file, ``batch_size`` at a time.

    With ``fetch`` (S3Store; the same specs as ``query_df``), the export reads the objects
    too and survives interruption: it runs in parts of ``part_size`` entries in key order,
    kept in ``<path>.parts/`` with a record of the finished ones, and run again with the
    same arguments after a crash or Ctrl-C it fetches only what is missing (``resume=False``
    starts afresh). ``progress``: True for a tqdm bar, or a Callback; ``on_error`` as in
    ``query_df``. The parts become ``path`` once all are in. ``sort`` (``{field: 1 | -1}``,
    as in ``query_df``; the key breaks ties) orders the rows; the parts are then taken in that
    order and resume only with the same sort.

    Memory stays at about one batch, whatever the size of the index: each batch goes to
    a temporary Arrow file beside ``path`` (removed at the end), and the Parquet file is
    written once the column types of all batches are known, so the folder needs room for
    the uncompressed data once more. A column whose types conflict is written as strings,
    with a warning. Returns the number of rows written; ``parquet_kwargs`` go to
    ``pyarrow.parquet.ParquetWriter`` (e.g. ``compression="zstd"``).
    """
    if fetch is not None:
        return export_parquet(store, path, criteria, fields, fetch, sort=sort, on_error=on_error,
                              part_size=part_size, resume=resume, progress=progress,
                              batch_size=batch_size, **parquet_kwargs)
    if progress is not None or on_error != "raise" or part_size != PART_SIZE or not resume:
        raise ConfigurationError("part_size, resume, progress and on_error apply to exports "
                                 "that fetch objects: pass fetch=[...] too")
    reader = Reader(store, criteria, fields, sort, 0, 0, batch_size=batch_size)
    # streaming: a backend's whole-result Arrow reader (_find_arrow) would hold it all
    return write_parquet(reader.pieces(streaming=True), reader, path, **parquet_kwargs)
