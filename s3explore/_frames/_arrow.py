"""Batches of columns to one Arrow table or a Parquet file, with types unified across batches."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from s3explore._errors import ConfigurationError, warn
from s3explore._frames._columns import ARROW_ERRORS, Chunk, Piece

if TYPE_CHECKING:
    from s3explore._frames._read import Reader


def common_type(types: Iterable[pa.DataType]) -> pa.DataType | None:
    """The type every chunk can be cast to (null -> any, int -> float, ...), or None."""
    distinct = list(dict.fromkeys(types))
    if len(distinct) == 1:
        return distinct[0]
    stamps = [t for t in distinct if not pa.types.is_null(t)]
    if (len(stamps) > 1 and all(pa.types.is_timestamp(t) and t.tz for t in stamps)
            and len({t.unit for t in stamps}) == 1):
        return pa.timestamp(stamps[0].unit, "UTC")  # aware in several zones: the instants
    try:
        schemas = [pa.schema([pa.field("c", t)]) for t in distinct]
        return pa.unify_schemas(schemas, promote_options="permissive").field("c").type
    except ARROW_ERRORS:
        return None


def cast(array: pa.Array, kind: pa.DataType) -> pa.Array:
    return array if array.type == kind else array.cast(kind)


def _text(value: Any) -> str:
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return str(value)


def as_strings(chunk: Chunk) -> pa.Array:
    values = chunk if isinstance(chunk, list) else chunk.to_pylist()
    return pa.array([None if v is None else _text(v) for v in values], pa.string())


class SchemaTracker:
    """Unifies the per-batch column types into one schema; conflicts become strings."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.types: dict[str, list[pa.DataType]] = {}
        self.conflicts: set[str] = set()

    def add(self, columns: Mapping[str, Chunk]) -> dict[str, pa.Array]:
        arrays = {}
        for name, chunk in columns.items():
            if isinstance(chunk, list):
                self.conflicts.add(name)
                chunk = as_strings(chunk)
            self.types.setdefault(name, []).append(chunk.type)
            arrays[name] = chunk
        return arrays

    def schema(self) -> pa.Schema:
        fields = []
        for name in self.reader.order():
            kind = common_type(self.types.get(name, [pa.null()]))
            if kind is None:
                self.conflicts.add(name)
            fields.append(pa.field(name, pa.string() if name in self.conflicts else kind))
        for name in sorted(self.conflicts):
            warn(f"column {name!r} mixes types Arrow cannot hold in one column; it is written "
                 "as strings (query_df keeps the original values)")
        return pa.schema(fields)


def conform(arrays: Mapping[str, pa.Array], rows: int, schema: pa.Schema) -> pa.RecordBatch:
    columns = []
    for field in schema:
        array = arrays.get(field.name)
        if isinstance(array, pa.ChunkedArray):  # a whole table's column: one array here
            array = array.combine_chunks()
        if array is None:
            columns.append(pa.nulls(rows, field.type))
        elif pa.types.is_string(field.type) and not pa.types.is_string(array.type):
            columns.append(as_strings(array) if array.null_count < len(array)
                           else pa.nulls(rows, pa.string()))
        else:
            columns.append(cast(array, field.type))
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def table_from_pieces(pieces: Iterable[Piece], reader: Reader) -> pa.Table:
    tracker = SchemaTracker(reader)
    batches = [(rows, tracker.add(columns)) for rows, columns in pieces]
    reader.check_fields_known()
    schema = tracker.schema()
    return pa.Table.from_batches([conform(a, rows, schema) for rows, a in batches], schema)


def write_parquet(pieces: Iterable[Piece], reader: Reader, path: str | os.PathLike,
                  **parquet_kwargs: Any) -> int:
    """Stream batches to ``path``: each batch is spilled to an Arrow IPC file first, since
    the final schema (types unified across batches) is only known after the last one."""
    import pyarrow.ipc as ipc
    import pyarrow.parquet as pq

    target = Path(path)
    if not target.parent.is_dir():
        raise ConfigurationError(f"cannot write {str(target)!r}: the folder "
                                 f"{str(target.parent)!r} does not exist")
    tracker = SchemaTracker(reader)
    spill = Path(tempfile.mkdtemp(prefix="s3explore-parquet-", dir=target.parent))
    try:
        spilled = []
        for number, (rows, columns) in enumerate(pieces):
            arrays = tracker.add(columns)
            file = spill / f"{number}.arrow"
            batch = pa.RecordBatch.from_pydict(arrays) if arrays else None
            if batch is not None:
                with ipc.new_file(file, batch.schema) as writer:
                    writer.write_batch(batch)
            spilled.append((rows, file if batch is not None else None))
        reader.check_fields_known()
        schema = tracker.schema()
        try:
            with pq.ParquetWriter(target, schema, **parquet_kwargs) as writer:
                for rows, file in spilled:
                    arrays = {}
                    if file is not None:
                        with ipc.open_file(pa.memory_map(str(file))) as source:
                            stored = source.get_batch(0)
                            arrays = {n: stored.column(n) for n in stored.schema.names}
                        file.unlink()
                    writer.write_batch(conform(arrays, rows, schema))
        except BaseException:
            target.unlink(missing_ok=True)  # no half-written file that looks complete
            raise
    finally:
        shutil.rmtree(spill, ignore_errors=True)
    return reader.rows
