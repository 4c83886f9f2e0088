"""One batch of documents on its way into the index: keys, stored bytes and shadow columns,
as an Arrow table DuckDB inserts in one statement."""

from __future__ import annotations

import uuid
from typing import Any

from s3explore._errors import InvalidDocumentError
from s3explore._query import get_path
from s3explore._stores._duckdb._rows import PathColumns, walk_batch
from s3explore._stores._duckdb._schema import COLUMN_TYPES, Catalog
from s3explore._stores._duckdb._values import enc, pack_doc

_MISSING = object()


def _arrow_types() -> dict[str, Any]:
    import pyarrow as pa

    scalar = {"UTINYINT": pa.uint8(), "USMALLINT": pa.uint16(), "DOUBLE": pa.float64(),
              "VARCHAR": pa.string(), "BOOLEAN": pa.bool_(), "TIMESTAMP": pa.timestamp("us"),
              "BLOB": pa.binary(), "INTEGER": pa.int32()}
    out = {}
    for suffix, sql in COLUMN_TYPES.items():
        out[suffix] = pa.list_(scalar[sql[:-2]]) if sql.endswith("[]") else scalar[sql]
    return out


def _value(doc: dict, path: str) -> Any:
    return doc.get(path, _MISSING) if "." not in path else get_path(doc, path, _MISSING)


def missing_key(rid: int) -> bytes:
    """A unique ``_key`` for a document without the store's key field."""
    return b"\xff" + uuid.uuid4().bytes + rid.to_bytes(8, "big")


class Batch:
    """Documents (normalized, the last copy of a key kept) with their rows' values."""

    def __init__(self, docs: list[dict], store_key: str, keys: list[str], first_rid: int):
        self.keys = keys
        latest: dict[Any, dict] = {}
        top = keys[0] if len(keys) == 1 and "." not in keys[0] else None
        for doc in docs:  # aware datetimes become UTC when packed and in Arrow
            try:  # one top-level key (the usual case): a plain lookup
                ident = (enc(doc[top]),) if top else tuple(enc(_value(doc, k)) for k in keys)
            except TypeError as exc:
                raise InvalidDocumentError(f"a key field of document {get_path(doc, keys[0])!r} "
                                           f"holds a value the index cannot store ({exc})",
                                           key=str(get_path(doc, keys[0]))) from None
            latest.pop(ident, None)  # the last copy wins, in its own position
            latest[ident] = doc
        self.docs = list(latest.values())
        self.rids = list(range(first_rid, first_rid + len(self.docs)))
        if keys == [store_key]:
            self.store_keys = [ident[0] for ident in latest]
        else:  # by other fields: still one entry per store key
            self.store_keys = []
            for rid, doc in zip(self.rids, self.docs, strict=True):
                value = _value(doc, store_key)
                self.store_keys.append(missing_key(rid) if value is _MISSING else enc(value))
            last = {k: i for i, k in enumerate(self.store_keys)}
            keep = sorted(last.values())
            self.docs = [self.docs[i] for i in keep]
            self.rids = [self.rids[i] for i in keep]
            self.store_keys = [self.store_keys[i] for i in keep]
        self.packed = [pack_doc(d, _value(d, store_key)) for d in self.docs]
        self.slots = walk_batch(self.docs)
        self.columns: dict[str, PathColumns] = {}

    @property
    def rows(self) -> int:
        return len(self.docs)

    def seen(self, catalog: Catalog) -> dict[str, dict]:
        """Build every path's columns; return what each path holds, for ``Catalog.grow``."""
        columns: dict[str, PathColumns] = {}
        for path, slot in self.slots.items():
            info = catalog.get(path)
            multi = slot.multi or (info is not None and info.multi)
            columns[path] = PathColumns(self.rows, multi).fill(slot)
        self.columns = columns
        return {path: {"tags": c.tags, "items": c.items, "via": c.via, "big": c.big,
                       "multi": c.multi, "columns": set(c.values)} for path, c in columns.items()}

    def table(self, catalog: Catalog) -> Any:
        import pyarrow as pa

        types = _arrow_types()
        arrays: dict[str, Any] = {
            "_rid": pa.array(self.rids, pa.int64()),
            "_key": pa.array(self.store_keys, pa.binary()),
            "_doc": pa.array(self.packed, pa.binary()),
        }
        for path, column in self.columns.items():
            info = catalog.get(path)
            if info is None:
                continue  # beyond MAX_PATHS: kept in the document only
            for suffix, values in column.values.items():
                arrays[f"c{info.id}_{suffix}"] = pa.array(values, types[suffix])
        return pa.table(arrays)



class KeyConflict(Exception):
    """A plain INSERT met a key already stored; the batch is written again as an upsert."""


def write_batch(conn: Any, catalog: Any, translator: Any, batch: Batch, by_store_key: bool,
                upsert: bool) -> bool:
    """Insert ``batch`` in one statement, growing the schema first: a plain INSERT, or with
    ``upsert`` one that replaces the entries of keys already stored (keeping their place).
    A plain INSERT costs half as much and does not grow with the index, so it is tried while
    batches bring new keys only. Returns whether ``upsert`` replaced some stored entries."""
    import duckdb

    if not by_store_key:
        _replace_by_other_keys(conn, catalog, translator, batch)
    catalog.grow(conn, batch.seen(catalog))
    table = batch.table(catalog)
    names = table.column_names
    listed = ", ".join(names)
    conn.register("s3x_batch", table)
    if not upsert:
        try:
            conn.execute(f"INSERT INTO {catalog.data} ({listed}) SELECT {listed} FROM "
                         "s3x_batch")
        except duckdb.ConstraintException:
            raise KeyConflict from None  # the caller rolls back, then unregisters
        conn.unregister("s3x_batch")
        return False
    try:
        present = set(names)
        sets = ", ".join(f"{c} = {'excluded.' + c if c in present else 'NULL'}"
                         for c in ["_doc", *catalog.columns()])
        count = f"SELECT count(*) FROM {catalog.data}"
        before = conn.execute(count).fetchall()[0][0]
        conn.execute(f"INSERT INTO {catalog.data} ({listed}) SELECT {listed} FROM "
                     f"s3x_batch ON CONFLICT (_key) DO UPDATE SET {sets}")
        return conn.execute(count).fetchall()[0][0] - before < batch.rows
    finally:
        conn.unregister("s3x_batch")


def _replace_by_other_keys(conn: Any, catalog: Any, translator: Any, batch: Batch) -> None:
    """Upserts by other fields than the store's key: each document takes the place (and
    position) of the first entry whose fields match, as MongoDB's replace_one does."""
    for i, doc in enumerate(batch.docs):
        tr = translator()
        sql = (f"SELECT _rid FROM {catalog.data} WHERE "
               f"{tr.where({k: get_path(doc, k) for k in batch.keys})} ORDER BY _rid LIMIT 1")
        found = conn.execute(sql, tr.params).fetchone()
        if found is not None:
            conn.execute(f"DELETE FROM {catalog.data} WHERE _rid = ?", [found[0]])
            batch.rids[i] = found[0]
