"""Typed pandas DataFrames and Arrow tables from index fields and object fields.

``DataFrameMixin`` gives every store ``query_df``, ``fields``, ``to_arrow`` and ``to_parquet``;
``_api.py`` composes it with the store classes. Frames are built column by column: index
documents are read in batches, flattened to dotted paths, turned into one Arrow array per
column and per batch, and only then into pandas. No row-wise DataFrame is ever built.

Conventions (the same for every store):

- one row per index document, the key column first, then the requested ``fields`` in the
  order given, then the other columns sorted by name, then the ``fetch`` columns;
- nested dicts are flattened to dotted names (``calc.encut``); an empty dict counts as absent;
  list values stay whole, as they were read (Python lists from the index, numpy arrays from
  objects decoded by ``fetch``); in Arrow they are list columns;
- datetimes become ``datetime64``, integers with gaps nullable ``Int64``, booleans with gaps
  ``boolean``, strings pandas' ``str`` dtype;
- a column whose values Arrow cannot hold in one type (``1`` in one document, ``"x"`` in
  another) stays an ``object`` column of the original values in ``query_df``; in
  ``to_arrow``/``to_parquet`` it is written as strings, with a warning naming the column;
- a requested field is *unknown* when no document of the whole index has it (a field that is
  only absent from the current result or page gives an all-null column instead): QueryError
  naming it, with close matches.

On a real MongoDB with pymongoarrow installed, ``query_df`` and ``to_arrow`` read through
pymongoarrow's ``find_arrow_all`` instead of decoding dicts. pymongoarrow infers each field's
type from the data and may return a value of another type in a later document as null; set
``USE_PYMONGOARROW = False`` here for indexes with mixed-type fields. ``to_parquet`` always
reads in batches.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pymongo.errors import PyMongoError

from s3explore._errors import ConfigurationError, NotConnectedError, QueryError
from s3explore._stores import S3Store, Store
from s3explore._stores._base import Sort, check_paging, check_sort, get_path
from s3explore._stores._mongo import iter_batches

BATCH_SIZE = 50_000
# Index fields S3Store writes for its own use; left out of S3Store frames unless asked for.
BOOKKEEPING_FIELDS = frozenset({"s3-to-mongo-keys", "obj_hash", "compression", "sub_dir"})
MAX_MISSING_WARNINGS = 20
USE_PYMONGOARROW = True
# Frames between a warning raised while reading and the caller of query_df: _warn_missing,
# Reader.pieces, frame_from_pieces, query_df.
_TO_CALLER = 5

_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError,
                 OverflowError, TypeError, ValueError)
_LOGICAL = frozenset({"$and", "$or", "$nor"})
_TAKES_LIST = frozenset({"$in", "$nin", "$all"})
_ABSENT = object()
_CONTAINERS = (list, tuple, dict, np.ndarray)

Chunk = pa.Array | list  # one column of one batch: Arrow, or Python objects Arrow cannot type
Piece = tuple[int, dict[str, Chunk]]  # (rows, columns) of one batch


# ---------------------------------------------------------------- argument checks


def check_fields(fields: Any, what: str = "fields") -> list[str] | None:
    """``None`` or a de-duplicated list of dotted paths; QueryError for anything else."""
    if fields is None:
        return None
    if isinstance(fields, str):
        fields = [fields]
    elif isinstance(fields, Mapping):  # a projection dict such as {"nsites": 1}
        fields = [name for name, wanted in fields.items() if wanted]
    if not isinstance(fields, (list, tuple)):
        raise QueryError(f"{what} must be a list of field names such as ['formula', "
                         f"'calc.encut'], not {type(fields).__name__}")
    for name in fields:
        if (not isinstance(name, str) or not name or name.startswith(("$", "."))
                or name.endswith(".") or ".." in name):
            raise QueryError(f"{what} holds {name!r}, which is not a field name; use dotted "
                             "paths such as 'calc.encut'")
    return list(dict.fromkeys(fields))


def check_criteria_shape(criteria: Any) -> dict:
    """Catch malformed criteria before any index store sees them, naming the culprit."""
    if criteria is None:
        return {}
    if not isinstance(criteria, Mapping):
        raise QueryError(f"criteria must be a dict such as {{'nsites': {{'$gt': 10}}}}, "
                         f"not {type(criteria).__name__}: {criteria!r:.60}")
    for name, value in criteria.items():
        if not isinstance(name, str) or not name:
            raise QueryError(f"criteria field names must be non-empty strings, got {name!r}")
        if name in _LOGICAL:
            if not (isinstance(value, (list, tuple)) and value
                    and all(isinstance(c, Mapping) for c in value)):
                raise QueryError(f"{name} takes a non-empty list of criteria dicts, e.g. "
                                 f"{{'{name}': [{{'nsites': 2}}, {{'formula': 'Si'}}]}}; "
                                 f"got {value!r:.60}")
            for clause in value:
                check_criteria_shape(clause)
        elif isinstance(value, Mapping) and any(str(k).startswith("$") for k in value):
            plain = [k for k in value if not str(k).startswith("$")]
            if plain:
                raise QueryError(f"criteria for {name!r} mix operators and field names "
                                 f"({list(value)}); write {{'{name}.{plain[0]}': ...}} to "
                                 "match inside a sub-document")
            for op, arg in value.items():
                if op in _TAKES_LIST and not isinstance(arg, (list, tuple)):
                    raise QueryError(f"{op} on {name!r} takes a list of values, "
                                     f"got {arg!r:.60}")
    return dict(criteria)


def check_fetch(store: Any, fetch: Any) -> list[str]:
    paths = check_fields(fetch, "fetch") or []
    if paths and not isinstance(store, S3Store):
        raise ConfigurationError(
            f"fetch= reads fields from the S3 objects, but {store.name} is an index store "
            "without objects; select index fields with fields= instead")
    return paths


def check_batch_size(batch_size: Any) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigurationError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
    return batch_size


# ---------------------------------------------------------------- flattening


_EMPTY: dict = {}


def _columns(docs: list[dict], prefix: str, flatten: bool, fill: Any, skip: frozenset,
             out: dict[str, list]) -> None:
    """Column-wise flattening: each column is pulled out of all documents at once (C loops
    via ``map``); only columns holding dicts are walked again, one level down."""
    for name in set().union(*docs):
        if name in skip:
            continue
        values = list(map(dict.get, docs, repeat(name), repeat(fill)))
        path = f"{prefix}{name}"
        kinds = set(map(type, values)) if flatten else ()
        if not any(issubclass(kind, dict) for kind in kinds):
            out[path] = values
            continue
        inner = [v if isinstance(v, dict) else _EMPTY for v in values]
        scalars = {k for k in kinds if not issubclass(k, dict)} - {type(None), type(fill)}
        if scalars:  # values beside the sub-documents stay under the parent's name
            out[path] = [fill if isinstance(v, dict) else v for v in values]
        _columns(inner, f"{path}.", flatten, fill, frozenset(), out)


class ColumnBuilder:
    """Collects documents, then hands them out as columns under dotted names.

    A field a document lacks is ``fill`` in its row; an empty dict counts as absent.
    """

    def __init__(self, flatten: bool = True, skip: Iterable[str] = (), fill: Any = None):
        self.flatten = flatten
        self.skip = frozenset(skip)
        self.fill = fill
        self.docs: list[dict] = []

    @property
    def rows(self) -> int:
        return len(self.docs)

    def add(self, doc: Mapping | None) -> None:
        self.docs.append(_EMPTY if not doc else doc if type(doc) is dict else dict(doc))

    def extend(self, docs: list) -> None:
        if set(map(type, docs)) == {dict}:  # what every driver returns: no per-doc work
            self.docs.extend(docs)
        else:
            for doc in docs:
                self.add(doc)

    def finish(self) -> dict[str, list]:
        out: dict[str, list] = {}
        _columns(self.docs, "", self.flatten, self.fill, self.skip, out)
        return out


def to_chunk(values: list, keep_containers: bool = False) -> Chunk:
    """An Arrow array when Arrow can type the values, else the values themselves.

    ``keep_containers`` (query_df): list, array and dict values stay the Python objects they
    are, since pandas holds them as objects anyway; Arrow only types the scalar columns.
    """
    if keep_containers:
        first = next((v for v in values if v is not None), None)
        if isinstance(first, _CONTAINERS):
            return values
    try:
        array = pa.array(values)
    except _ARROW_ERRORS:
        return values
    if keep_containers and pa.types.is_nested(array.type):
        return values
    return array


def _under(path: str, names: Iterable[str]) -> list[str]:
    return sorted(n for n in names if n == path or n.startswith(path + "."))


def column_order(names: Iterable[str], key: str, fields: list[str] | None,
                 fetch: list[str]) -> list[str]:
    """Key first, then ``fields`` in the order asked, the rest by name, fetched paths last."""
    names = set(names)
    fetched = list(dict.fromkeys(n for p in fetch for n in (_under(p, names) or [p])))
    ordered = [key]
    for field in fields or []:
        ordered += _under(field, names) or [field]
    ordered = [n for n in ordered if n not in fetched]
    ordered += sorted(names - set(ordered) - set(fetched))
    return list(dict.fromkeys(ordered + fetched))


# ---------------------------------------------------------------- reading the index


def index_of(store: Any) -> Store:
    return store.index if isinstance(store, S3Store) else store


def projection(key: str, fields: list[str] | None) -> list[str] | None:
    """Index properties for ``fields``: the key added, paths inside a selected parent dropped
    (MongoDB rejects such path collisions)."""
    if fields is None:
        return None
    wanted = list(dict.fromkeys([key, *fields]))
    return [p for p in wanted if not any(p.startswith(q + ".") for q in wanted if q != p)]


def _fetch_columns(store: S3Store, keys: list, paths: list[str], flatten: bool,
                   missing: list) -> dict[str, list]:
    """Columns for ``paths`` read from the objects of ``keys`` (fetched in parallel)."""
    builder = ColumnBuilder(flatten)
    for key, doc in zip(keys, store.get_many(keys, on_missing="none"), strict=True):
        if doc is None:
            missing.append(key)
            builder.add(None)
            continue
        picked = {}
        for path in paths:
            value = get_path(doc, path, _ABSENT)
            if value is not _ABSENT:
                picked[path] = value
        builder.add(picked)
    return builder.finish()


class Reader:
    """One query_df / to_arrow / to_parquet call: yields batches, then checks the fields."""

    def __init__(self, store: Any, criteria: Any, fields: Any, sort: Sort | None, skip: int,
                 limit: int, fetch: Any = None, flatten: bool = True,
                 batch_size: int = BATCH_SIZE) -> None:
        self.store = store
        self.index = index_of(store)
        self.key = self.index.key
        self.criteria = check_criteria_shape(criteria)
        self.fields = check_fields(fields)
        self.sort = sort
        check_sort(sort)
        check_paging(skip, limit)
        self.skip, self.limit = skip, limit
        self.fetch = check_fetch(store, fetch)
        self.flatten = bool(flatten)
        self.batch_size = check_batch_size(batch_size)
        self.keep_containers = False  # query_df sets it: lists and dicts stay Python values
        self.seen: set[str] = set()
        self.missing_objects: list = []
        self.rows = 0

    @property
    def skip_fields(self) -> frozenset[str]:
        bookkeeping = isinstance(self.store, S3Store) and self.fields is None
        return BOOKKEEPING_FIELDS if bookkeeping else frozenset()

    def pieces(self, streaming: bool = False) -> Iterator[Piece]:
        """Batches of columns; ``streaming`` keeps to the batched path (pymongoarrow reads
        the whole result at once)."""
        whole = not streaming and use_pymongoarrow(self.index)
        for rows, columns in self._mongo_arrow_pieces() if whole else self._dict_pieces():
            self.rows += rows
            self.seen.update(columns)
            yield rows, columns
        self._warn_missing()

    def _dict_pieces(self) -> Iterator[Piece]:
        docs = self.index.query(self.criteria, projection(self.key, self.fields), self.sort,
                                self.skip, self.limit)
        for batch in iter_batches(docs, self.batch_size):
            builder = ColumnBuilder(self.flatten, self.skip_fields)
            builder.extend(batch)
            chunks = {n: to_chunk(v, self.keep_containers) for n, v in builder.finish().items()}
            if self.fetch:
                self._add_fetched(chunks, [doc.get(self.key) for doc in batch])
            yield builder.rows, chunks

    def _mongo_arrow_pieces(self) -> Iterator[Piece]:
        rows, chunks = mongo_arrow_piece(self)
        if self.fetch:
            keys = chunks.get(self.key, [None] * rows)
            self._add_fetched(chunks, keys if isinstance(keys, list) else keys.to_pylist())
        yield rows, chunks

    def _add_fetched(self, chunks: dict[str, Chunk], keys: list) -> None:
        """Add the ``fetch`` columns of these rows, read from their objects in parallel."""
        fetched = _fetch_columns(self.store, keys, self.fetch, self.flatten,
                                 self.missing_objects)
        for path in self.fetch:  # the object's value wins over the index's copy
            for name in _under(path, chunks):
                del chunks[name]
        chunks.update({n: to_chunk(v, self.keep_containers) for n, v in fetched.items()})

    def _warn_missing(self) -> None:
        missing = self.missing_objects
        for key in missing[:MAX_MISSING_WARNINGS]:
            warnings.warn(f"no object for key {key!r} in {self.store.name}; its fetched "
                          f"fields {self.fetch} are null", UserWarning, stacklevel=_TO_CALLER)
        if len(missing) > MAX_MISSING_WARNINGS:
            rest = missing[MAX_MISSING_WARNINGS:]
            warnings.warn(f"{len(rest)} more objects missing in {self.store.name}, their "
                          f"fetched fields are null: {rest!r:.2000}", UserWarning,
                          stacklevel=_TO_CALLER)
        if self.fetch and self.rows and len(missing) < self.rows:
            for path in self.fetch:
                if not _under(path, self.seen):
                    warnings.warn(f"fetch path {path!r} is in none of the "
                                  f"{self.rows - len(missing)} objects read; its column is "
                                  "all null (check the spelling with store.get(key))",
                                  UserWarning, stacklevel=_TO_CALLER)

    def check_fields_known(self) -> None:
        """QueryError for a requested field that no document of the whole index has."""
        for field in self.fields or []:
            # unflattened, "calc.encut" arrives inside a "calc" column: ask the index
            present = _under(field, self.seen) if self.flatten else field in self.seen
            if field == self.key or present:
                continue
            if self.index.query_one({field: {"$exists": True}}, [self.key]) is not None:
                continue  # sparse: present elsewhere in the index, null in this result
            known = self.seen | _sample_names(self.index)
            close = difflib.get_close_matches(field, sorted(known), n=3)
            hint = f"did you mean {close}? " if close else ""
            extra = (" Fields only in the objects are read with fetch=."
                     if isinstance(self.store, S3Store) else "")
            raise QueryError(f"unknown field {field!r}: no document in {self.index.name} has "
                             f"it; {hint}run store.fields() to list the fields.{extra}")

    def order(self) -> list[str]:
        fields = self.fields
        if fields is not None and not self.flatten:  # columns are the top-level names
            fields = list(dict.fromkeys(f.split(".")[0] for f in fields))
        return column_order(self.seen, self.key, fields, self.fetch)


def _collection(index: Any) -> Any:
    """The index's pymongo-compatible collection, or None (plain stores, not connected)."""
    try:
        return index.collection
    except (AttributeError, NotConnectedError):
        return None


def use_pymongoarrow(index: Any) -> bool:
    """pymongoarrow only for a real MongoDB collection, and only when installed."""
    if not USE_PYMONGOARROW:
        return False
    try:
        import pymongo.collection

        if not isinstance(_collection(index), pymongo.collection.Collection):
            return False
        import pymongoarrow.api  # noqa: F401
    except ImportError:
        return False
    return True


def mongo_arrow_piece(reader: Reader) -> Piece:
    """The whole result through pymongoarrow, as one batch of flattened columns."""
    from pymongoarrow.api import find_arrow_all

    names = projection(reader.key, reader.fields)
    kwargs: dict[str, Any] = {"projection": {"_id": 0} if names is None else
                              {**dict.fromkeys(names, 1), "_id": 0}}
    if reader.sort:
        kwargs["sort"] = check_sort(reader.sort)
    if reader.skip:
        kwargs["skip"] = reader.skip
    if reader.limit:
        kwargs["limit"] = reader.limit
    try:
        table = find_arrow_all(reader.index.collection, reader.criteria, **kwargs)
    except PyMongoError as exc:
        raise QueryError(f"the index {reader.index.name} rejected the query: {exc}") from exc
    while reader.flatten and any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()  # one level per call: "calc" -> "calc.encut"
    columns: dict[str, Chunk] = {}
    for name in table.column_names:
        if name == "_id" or name in reader.skip_fields:
            continue
        column = table.column(name).combine_chunks()
        plain = isinstance(column.type, pa.ExtensionType) or pa.types.is_struct(column.type)
        columns[name] = column.to_pylist() if plain else column  # ObjectId, Decimal128, dicts
    return table.num_rows, columns


def _sample_names(index: Store, size: int = 200) -> set[str]:
    builder = ColumnBuilder()
    for doc in index.query(limit=size):
        builder.add(doc)
    return set(builder.finish())


# ---------------------------------------------------------------- pandas


def _series(chunks: list[Chunk], rows: int) -> pd.Series:
    arrays = [c for c in chunks if isinstance(c, pa.Array)]
    if len(arrays) == len(chunks):
        common = common_type([a.type for a in arrays])
        if common is not None:
            return _arrow_series(pa.chunked_array([_cast(a, common) for a in arrays],
                                                  type=common))
    values: list = []
    for chunk in chunks:
        values.extend(chunk if isinstance(chunk, list) else chunk.to_pylist())
    return pd.Series(values, dtype=object, index=pd.RangeIndex(rows))


def _arrow_series(column: pa.ChunkedArray) -> pd.Series:
    kind = column.type
    if pa.types.is_integer(kind) and column.null_count:
        dtype = pd.UInt64Dtype() if pa.types.is_unsigned_integer(kind) else pd.Int64Dtype()
        return column.to_pandas(types_mapper=lambda _: dtype)
    if pa.types.is_boolean(kind) and column.null_count:
        return column.to_pandas(types_mapper=lambda _: pd.BooleanDtype())
    if (pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_struct(kind)
            or pa.types.is_null(kind)):
        return pd.Series(column.to_pylist(), dtype=object)
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
    return pd.DataFrame(data, index=pd.RangeIndex(total))


# ---------------------------------------------------------------- Arrow


def common_type(types: Iterable[pa.DataType]) -> pa.DataType | None:
    """The type every chunk can be cast to (null -> any, int -> float, ...), or None."""
    distinct = list(dict.fromkeys(types))
    if len(distinct) == 1:
        return distinct[0]
    try:
        schemas = [pa.schema([pa.field("c", t)]) for t in distinct]
        return pa.unify_schemas(schemas, promote_options="permissive").field("c").type
    except _ARROW_ERRORS:
        return None


def _cast(array: pa.Array, kind: pa.DataType) -> pa.Array:
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
            warnings.warn(f"column {name!r} mixes types Arrow cannot hold in one column; it "
                          "is written as strings (query_df keeps the original values)",
                          UserWarning, stacklevel=4)
        return pa.schema(fields)


def conform(arrays: Mapping[str, pa.Array], rows: int, schema: pa.Schema) -> pa.RecordBatch:
    columns = []
    for field in schema:
        array = arrays.get(field.name)
        if array is None:
            columns.append(pa.nulls(rows, field.type))
        elif pa.types.is_string(field.type) and not pa.types.is_string(array.type):
            columns.append(as_strings(array) if array.null_count < len(array)
                           else pa.nulls(rows, pa.string()))
        else:
            columns.append(_cast(array, field.type))
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


# ---------------------------------------------------------------- fields inventory


def _type_names(values: list, has_null: bool) -> str:
    """``"float, int, null"``; lists as ``list[str]`` with the item types of all of them."""
    names = {type(v).__name__ for v in values if not isinstance(v, list)}
    lists = [v for v in values if isinstance(v, list)]
    if lists:
        items = sorted({type(item).__name__ for v in lists for item in v})
        names.add(f"list[{'|'.join(items)}]" if items else "list")
    return ", ".join(sorted(names) + (["null"] if has_null else []))


def _distinct(values: list) -> int:
    seen = set()
    for value in values:
        try:
            seen.add(value)
        except TypeError:  # lists and dicts are compared by their repr
            seen.add(("unhashable", repr(value)))
    return len(seen)


def sample_docs(index: Store, size: int) -> list[dict]:
    """``size`` random documents when the index can draw them ($sample), else the first."""
    collection = _collection(index)
    if collection is not None and index.count() > size:
        try:
            return list(collection.aggregate([{"$sample": {"size": size}},
                                              {"$project": {"_id": 0}}]))
        except (NotImplementedError, PyMongoError):
            pass  # montydb has no aggregate: the first documents will do
    return list(index.query(limit=size))


def inventory(store: Any, sample: int) -> pd.DataFrame:
    if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1:
        raise ConfigurationError(f"sample must be a whole number >= 1, got {sample!r}")
    index = index_of(store)
    docs = sample_docs(index, sample)
    skip = BOOKKEEPING_FIELDS if isinstance(store, S3Store) else ()
    builder = ColumnBuilder(skip=skip, fill=_ABSENT)
    for doc in docs:
        builder.add(doc)
    columns = builder.finish()
    rows = []
    for name in column_order(columns, index.key, None, []):
        if name not in columns:
            continue
        present = [v for v in columns[name] if v is not _ABSENT]
        values = [v for v in present if v is not None]
        types = _type_names(values, has_null=len(values) < len(present))
        rows.append({"field": name, "types": types, "count": len(present),
                     "fraction": len(present) / len(docs), "distinct": _distinct(values),
                     "example": values[0] if values else None})
    frame = pd.DataFrame(rows, columns=["field", "types", "count", "fraction", "distinct",
                                        "example"])
    frame.attrs.update(sampled=len(docs))
    return frame


# ---------------------------------------------------------------- the mixin


class DataFrameMixin:
    """DataFrame and Arrow methods for every store (index stores and S3Store)."""

    def query_df(
        self,
        criteria: dict | None = None,
        fields: list[str] | None = None,
        sort: Sort | None = None,
        skip: int = 0,
        limit: int = 0,
        fetch: list[str] | None = None,
        flatten: bool = True,
        *,
        batch_size: int = BATCH_SIZE,
    ) -> pd.DataFrame:
        """One row per index document matching ``criteria``, as a typed DataFrame.

        ``fields``: dotted paths to read (pushed down to the index as a projection; the key
        is always included). ``fetch`` (S3Store only): dotted paths read from the objects
        themselves, in parallel; a path an object lacks is null, a missing object gives
        nulls and a warning naming its key. ``flatten=False`` keeps sub-documents as dict
        values instead of dotted columns. Raises QueryError for malformed criteria, an
        operator the index store does not support, or a field no index document has.
        """
        reader = Reader(self, criteria, fields, sort, skip, limit, fetch, flatten, batch_size)
        reader.keep_containers = True
        return frame_from_pieces(reader.pieces(), reader)

    def fields(self, sample: int = 1000) -> pd.DataFrame:
        """Inventory of the index: one row per dotted field, over up to ``sample`` documents.

        Columns: ``field``, ``types`` (Python type names seen, ``null`` for explicit nulls),
        ``count`` and ``fraction`` of sampled documents that have it, ``distinct`` values on
        the sample, and an ``example`` value.
        """
        return inventory(self, sample)

    def to_arrow(self, criteria: dict | None = None, fields: list[str] | None = None, *,
                 batch_size: int = BATCH_SIZE) -> pa.Table:
        """The index documents matching ``criteria`` as an Arrow table (flattened columns).

        Read ``batch_size`` documents at a time, so memory holds the table plus one batch of
        documents. Types are unified across batches (null -> any, int -> float); a column
        whose types conflict is written as strings, with a warning naming it.
        """
        reader = Reader(self, criteria, fields, None, 0, 0, batch_size=batch_size)
        return table_from_pieces(reader.pieces(), reader)

    def to_parquet(self, path: str | os.PathLike, criteria: dict | None = None,
                   fields: list[str] | None = None, *, batch_size: int = BATCH_SIZE,
                   **parquet_kwargs: Any) -> int:
        """Write the matching index documents to a Parquet file, ``batch_size`` at a time.

        Memory stays at about one batch, whatever the size of the index: each batch goes to
        a temporary Arrow file beside ``path`` (removed at the end), and the Parquet file is
        written once the column types of all batches are known, so the folder needs room for
        the uncompressed data once more. A column whose types conflict is written as strings,
        with a warning. Returns the number of rows written; ``parquet_kwargs`` go to
        ``pyarrow.parquet.ParquetWriter`` (e.g. ``compression="zstd"``).
        """
        reader = Reader(self, criteria, fields, None, 0, 0, batch_size=batch_size)
        # Only the dict path streams; pymongoarrow reads everything at once.
        return write_parquet(reader.pieces(streaming=True), reader, path, **parquet_kwargs)


