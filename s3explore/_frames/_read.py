"""Reading an index in batches of columns, and ``fetch=``.

The index is asked once per call: through ``Store._entry_table`` (a whole Arrow table, when
the backend has a columnar reader) or ``Store._index_entries`` in batches of dicts; objects
are read through ``ObjectBackedStore._parallel_reads`` (S3Store, ManifestStore). Frames use
only these documented protected methods of stores, never the backend hooks. An S3Store's
index may be any store with maggma's API (maggma's own too); then its public ``query`` is
used.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Any

from s3explore._checks import ON_ERROR_READ, one_of
from s3explore._codec import ETAG_FIELD
from s3explore._errors import (
    ConfigurationError,
    CorruptObjectError,
    ObjectNotFoundError,
    QueryError,
    warn,
)
from s3explore._frames._columns import (
    ABSENT,
    Chunk,
    ColumnBuilder,
    Piece,
    column_order,
    setting,
    table_columns,
    to_chunk,
    under,
)
from s3explore._frames._recipes import parse_fetch
from s3explore._query import Query, check_fields, get_path
from s3explore._stores import ObjectBackedStore, Store
from s3explore._transfer import iter_batches

BATCH_SIZE = 50_000
# Index fields S3Store writes for its own use; left out of S3Store frames unless asked for.
BOOKKEEPING_FIELDS = frozenset({"s3-to-mongo-keys", "obj_hash", ETAG_FIELD, "compression",
                                "sub_dir"})
MAX_MISSING_WARNINGS = 20


def index_of(store: Any) -> Any:
    return store.index if isinstance(store, ObjectBackedStore) else store


def projection(key: str, fields: list[str] | None) -> list[str] | None:
    """Index properties for ``fields``: the key added, paths inside a selected parent dropped
    (MongoDB rejects such path collisions)."""
    if fields is None:
        return None
    wanted = list(dict.fromkeys([key, *fields]))
    return [p for p in wanted if not any(p.startswith(q + ".") for q in wanted if q != p)]


def index_query(index: Any, criteria: Any, properties: list[str] | None, sort: Any,
                skip: Any, limit: Any) -> Query:
    """The validated Query, with the index's own operator checks when it is one of ours."""
    if isinstance(index, Store):
        return index._entry_query(criteria, properties, sort, skip, limit)
    return Query.build(criteria, properties, sort, skip, limit)


def find(index: Any, q: Query) -> Iterator[dict]:
    """Index documents for ``q``: ``Store._index_entries``, or a foreign store's ``query``."""
    if isinstance(index, Store):
        return index._index_entries(q)
    return _without_ids(index.query(criteria=q.criteria, properties=q.properties,
                                    sort=dict(q.sort) if q.sort else None, skip=q.skip,
                                    limit=q.limit))


def entry_table(index: Any, q: Query) -> Any:
    """The entries for ``q`` as one Arrow table, when the index is one of ours and its
    engine reads columns; else None."""
    return index._entry_table(q) if isinstance(index, Store) else None


def _without_ids(docs: Iterator[dict]) -> Iterator[dict]:
    for doc in docs:  # maggma's stores hand out MongoDB's _id; ours never do
        doc.pop("_id", None)
        yield doc


def fetch_spec(store: Any, fetch: Any) -> tuple[list[str], dict[str, Callable]]:
    paths, derived = parse_fetch(fetch)
    if (paths or derived) and not isinstance(store, ObjectBackedStore):
        raise ConfigurationError(
            f"fetch= reads fields from the S3 objects, but {store.name} is an index store "
            "without objects; select index fields with fields= instead")
    return paths, derived


ON_ERROR = ON_ERROR_READ
_CORRUPT = object()


def _pick(doc: dict, key: Any, paths: list[str], derived: dict[str, Callable]) -> dict:
    """The fetched values of one document: its paths, then the derived columns."""
    picked = {}
    for path in paths:
        value = get_path(doc, path, ABSENT)
        if value is not ABSENT:
            picked[path] = value
    for name, derive in derived.items():
        try:
            picked[name] = derive(doc)
        except Exception as exc:
            exc.s3explore_key = key  # type: ignore[attr-defined]  # as map_objects' errors
            exc.add_note(f"while computing fetch column {name!r} for key {key!r}")
            raise
    return picked


def _fetched_docs(store: ObjectBackedStore, keys: list, on_error: str, paths: list[str],
                  derived: dict[str, Callable]) -> Iterator[Any]:
    """The fetched values of ``keys`` in order, picked in the worker threads (parallel):
    None for a missing object, _CORRUPT for one that cannot be decoded (unless
    on_error="raise")."""
    def load(key: Any) -> Any:
        try:
            doc = store.get(key)
        except ObjectNotFoundError:
            return None
        except CorruptObjectError:
            if on_error == "raise":
                raise
            return _CORRUPT
        return _pick(doc, key, paths, derived)

    for outcome in store._parallel_reads(load, keys):
        if outcome.error is not None:
            raise outcome.error
        yield outcome.value


def fetch_columns(store: ObjectBackedStore, keys: list, paths: list[str], flatten: bool,
                  missing: list, on_error: str = "raise",
                  corrupt: list | None = None,
                  derived: dict[str, Callable] | None = None) -> dict[str, list]:
    """Columns for ``paths`` read from the objects of ``keys`` (fetched in parallel). An
    object that cannot be decoded raises, or (``on_error``) gives nulls ("null") or no row
    ("skip"); its position is added to ``corrupt``."""
    builder = ColumnBuilder(flatten)
    picks = _fetched_docs(store, keys, on_error, paths, derived or {})
    for position, (key, picked) in enumerate(zip(keys, picks, strict=True)):
        if picked is _CORRUPT:
            if corrupt is not None:
                corrupt.append(position)
            if on_error == "null":
                builder.add(None)
            continue
        if picked is None:
            missing.append(key)
            builder.add(None)
            continue
        builder.add(picked)
    return builder.finish()


def sample_names(index: Any, size: int = 200) -> set[str]:
    builder = ColumnBuilder()
    builder.extend(list(find(index, Query({}, limit=size))))
    return set(builder.finish())


class Reader:
    """One query_df / to_arrow / to_parquet call: yields batches, then checks the fields."""

    def __init__(self, store: Any, criteria: Any, fields: Any, sort: Any, skip: Any,
                 limit: Any, fetch: Any = None, flatten: bool = True,
                 batch_size: Any = BATCH_SIZE, on_error: str = "raise") -> None:
        self.store = store
        self.index = index_of(store)
        self.key = self.index.key
        self.fields = check_fields(fields)
        self.query = index_query(self.index, criteria, projection(self.key, self.fields), sort,
                                 skip, limit)
        paths, self.derived = fetch_spec(store, fetch)
        self.paths = paths
        self.fetch = paths + [n for n in self.derived if n not in paths]  # column names
        self.on_error = one_of(on_error, "on_error", ON_ERROR)
        self.corrupt_objects: list = []
        self.flatten = bool(flatten)
        self.batch_size = setting(batch_size, "batch_size")
        self.keep_containers = False  # query_df sets it: lists and dicts stay Python values
        self.warn_unseen_paths = True  # an export in parts warns once, for all of them
        self.seen: set[str] = set()
        self.missing_objects: list = []
        self.rows = 0

    @property
    def skip_fields(self) -> frozenset[str]:
        bookkeeping = isinstance(self.store, ObjectBackedStore) and self.fields is None
        return BOOKKEEPING_FIELDS if bookkeeping else frozenset()

    def pieces(self, streaming: bool = False) -> Iterator[Piece]:
        """Batches of columns. Unless ``streaming`` or not flattening, a backend that reads
        the whole result as one Arrow table (``Store._entry_table``) is asked first."""
        table = None
        # flatten=False keeps sub-documents as stored: only documents tell which keys each
        # has (a struct column has all of them in every row; DuckDB's come flattened)
        columnar = self.flatten and not streaming
        if columnar:
            table = entry_table(self.index, self.query)
        found = self._dict_pieces() if table is None else self._table_pieces(table)
        for rows, columns in found:
            self.rows += rows
            self.seen.update(columns)
            yield rows, columns
        self._warn_missing()

    def _dict_pieces(self) -> Iterator[Piece]:
        for batch in iter_batches(find(self.index, self.query), self.batch_size):
            fetched = None
            if self.fetch:  # first: rows whose object cannot be decoded may be left out
                fetched, bad = self._fetched([doc.get(self.key) for doc in batch])
                if bad and self.on_error == "skip":
                    batch = [d for i, d in enumerate(batch) if i not in bad]
            builder = ColumnBuilder(self.flatten, self.skip_fields)
            builder.extend(batch)
            chunks = {n: to_chunk(v, self.keep_containers) for n, v in builder.finish().items()}
            if fetched is not None:
                self._merge_fetched(chunks, fetched)
            yield builder.rows, chunks

    def _table_pieces(self, table: Any) -> Iterator[Piece]:
        fetched = None
        if self.fetch:
            column = table.column(self.key).to_pylist() if self.key in table.column_names else (
                [None] * table.num_rows)
            fetched, bad = self._fetched(column)
            if bad and self.on_error == "skip":
                import pyarrow as pa

                table = table.filter(pa.array([i not in bad for i in range(table.num_rows)]))
        rows, chunks = table.num_rows, table_columns(table, self.flatten, self.skip_fields)
        if fetched is not None:
            self._merge_fetched(chunks, fetched)
        yield rows, chunks

    def _fetched(self, keys: list) -> tuple[dict[str, list], set[int]]:
        """The ``fetch`` columns of these rows, read from their objects in parallel, and
        the positions of objects that cannot be decoded."""
        bad: list[int] = []
        columns = fetch_columns(self.store, keys, self.paths, self.flatten,
                                self.missing_objects, self.on_error, bad, self.derived)
        self.corrupt_objects += [keys[i] for i in bad]
        return columns, set(bad)

    def _merge_fetched(self, chunks: dict[str, Chunk], fetched: dict[str, list]) -> None:
        for path in self.fetch:  # the object's value wins over the index's copy
            for name in under(path, chunks):
                del chunks[name]
        chunks.update({n: to_chunk(v, self.keep_containers) for n, v in fetched.items()})

    def _warn_missing(self) -> None:
        corrupt = self.corrupt_objects
        if corrupt:
            what = "their rows are left out" if self.on_error == "skip" else (
                f"their fetched fields {self.fetch} are null")
            warn(f"{len(corrupt)} object(s) in {self.store.name} could not be decoded and "
                 f"{what}: {corrupt[:20]!r:.2000}" + (" ..." if len(corrupt) > 20 else ""))
        missing = self.missing_objects
        for key in missing[:MAX_MISSING_WARNINGS]:
            warn(f"no object for key {key!r} in {self.store.name}; its fetched fields "
                 f"{self.fetch} are null")
        if len(missing) > MAX_MISSING_WARNINGS:
            rest = missing[MAX_MISSING_WARNINGS:]
            warn(f"{len(rest)} more objects missing in {self.store.name}, their fetched "
                 f"fields are null: {rest!r:.2000}")
        if self.warn_unseen_paths and self.fetch and self.rows and len(missing) < self.rows:
            for path in self.fetch:
                if not under(path, self.seen):
                    warn(f"fetch path {path!r} is in none of the {self.rows - len(missing)} "
                         "objects read; its column is all null (check the spelling with "
                         "store.get(key))")

    def check_fields_known(self) -> None:
        """QueryError for a requested field that no document of the whole index has."""
        for field in self.fields or []:
            # unflattened, "calc.encut" arrives inside a "calc" column: ask the index
            present = under(field, self.seen) if self.flatten else field in self.seen
            if field == self.key or present:
                continue
            if self.index.query_one({field: {"$exists": True}}, [self.key]) is not None:
                continue  # sparse: present elsewhere in the index, null in this result
            known = self.seen | sample_names(self.index)
            close = difflib.get_close_matches(field, sorted(known), n=3)
            hint = f"did you mean {close}? " if close else ""
            extra = (" Fields only in the objects are read with fetch=."
                     if isinstance(self.store, ObjectBackedStore) else "")
            raise QueryError(f"unknown field {field!r}: no document in {self.index.name} has "
                             f"it; {hint}run store.fields() to list the fields.{extra}")

    def order(self) -> list[str]:
        fields = self.fields
        if fields is not None and not self.flatten:  # columns are the top-level names
            fields = list(dict.fromkeys(f.split(".")[0] for f in fields))
        return column_order(self.seen, self.key, fields, self.fetch)
