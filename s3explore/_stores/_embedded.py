"""Embedded index stores, no server needed: MemoryStore (mongomock) and MontyStore (montydb)."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from typing import Any

from s3explore._errors import ConfigurationError
from s3explore._query import Query, get_path
from s3explore._stores._base import Store
from s3explore._stores._mongo import MongoLikeStore, mongo_projection
from s3explore._stores._timezones import as_stored

_OPEN_ATTEMPTS = 40  # 2 s of 50 ms waits for another process's first config write


def _configured(folder: str) -> bool:
    """Whether montydb's storage config of ``folder`` is written (by an earlier open)."""
    try:
        return os.path.getsize(os.path.join(folder, ".monty.storage")) > 0
    except OSError:
        return False


class MemoryStore(MongoLikeStore):
    """An in-memory index (mongomock), like maggma's MemoryStore.

    The data lives as long as the store object; a MemoryStore sent to another process
    arrives empty, as maggma's does.
    """

    _swap = Store._swap  # one process: compare and set under a lock, not in mongomock

    def __init__(self, collection_name: str = "memory_db", **store_kwargs: Any) -> None:
        super().__init__(collection_name, **store_kwargs)
        self._client: Any = None

    def _config(self) -> dict[str, Any]:
        return {"collection_name": self.collection_name, **self._store_config()}

    def _open(self) -> Any:
        import mongomock_ng

        # One client per store, kept across close()/connect() so the data survives them.
        if self._client is None:
            self._client = mongomock_ng.MongoClient()
        return self._client.db[self.collection_name]

    def _find(self, q: Query) -> Iterator[dict]:
        # mongomock's Cursor.__next__ re-slices its whole result list on every call, which is
        # quadratic (minutes for 100k documents); take the computed list once instead.
        def results() -> Iterator[dict]:
            found = self.collection.find(q.criteria, mongo_projection(q.properties))
            if q.sort:
                found = found.sort(q.sort)
            compute = getattr(found, "_compute_results", None)
            if compute is None:  # another mongomock: its public, slower path
                found = found.skip(q.skip)
                return found.limit(q.limit) if q.limit else found
            return iter(compute()[q.skip:q.skip + q.limit if q.limit else None])

        return self._run(results)

    def _write(self, docs: list[dict], keys: list[str]) -> None:
        # mongomock scans the whole collection for every upsert; look the batch's keys up
        # once, insert what is new and replace only what exists.
        if len(keys) != 1 or "." in keys[0]:
            return super()._write(docs, keys)
        (field,) = keys
        latest = {_lookup(d[field]): d for d in docs}  # the last one of a key wins
        # one pass over the key field beats mongomock's $in, which compares every pair
        # (an aware key is compared as stored: naive UTC)
        raw = self._raw_documents()
        stored = raw if raw is not None else self._find(Query({}, [field]))
        existing = {_lookup(d.get(field)) for d in stored} & latest.keys()
        new = [d for k, d in latest.items() if k not in existing]
        if new:
            self.collection.insert_many([dict(d) for d in new])
        replace = [d for k, d in latest.items() if k in existing]
        if replace:
            super()._write(replace, keys)
        return None

    def _raw_documents(self) -> Iterator[dict] | None:
        """mongomock's own documents, read under its lock and never handed out (so not
        copied); None from a mongomock without them."""
        return getattr(getattr(self.collection, "_store", None), "documents", None)

    def _versions(self, keys: list[Any], key: str, field: str) -> dict[Any, str]:
        # mongomock's $in compares every pair and copies every document it returns; one
        # pass over its own documents costs a dict lookup each
        raw = self._raw_documents()
        if raw is None or "." in key or "." in field:
            return super()._versions(keys, key, field)
        wanted = {_lookup(k): k for k in keys}
        found = {}
        for doc in raw:
            hit = wanted.get(_lookup(doc.get(key)))
            if hit is not None:
                found[hit] = doc.get(field) or ""
        return found

    def _sample(self, n: int) -> list[dict]:
        # mongomock's $sample feeds the collection through its quadratic cursor (164 s at
        # 100k entries); draw from the result list _find reads once instead.
        docs = list(self._find(Query({})))
        return random.sample(docs, min(n, len(docs)))

    @property
    def name(self) -> str:
        return f"mem://{self.collection_name}"


def _lookup(value: Any) -> Any:
    """A key value as a dict key that tells apart what MongoDB's equality tells apart:
    strings (nearly every key) as they are, anything else by the repr of its stored form."""
    return value if type(value) is str else ("repr", repr(as_stored(value)))


class MontyStore(MongoLikeStore):
    """An embedded on-disk (or in-memory) index with montydb, no server needed."""

    _NO_MATCH = ("no match",)  # a key value the batched write leaves alone
    # Other processes may open the same folder, and a lock here cannot cover them
    atomic_swaps = False
    _swap = Store._swap

    def __init__(
        self,
        collection_name: str,
        database_path: str | None = None,
        database_name: str = "db",
        storage: str = "sqlite",
        storage_kwargs: dict | None = None,
        client_kwargs: dict | None = None,
        **store_kwargs: Any,
    ) -> None:
        super().__init__(collection_name, **store_kwargs)
        if storage not in ("sqlite", "flatfile", "lightning"):
            raise ConfigurationError(f"storage must be 'sqlite', 'flatfile' or 'lightning', "
                                     f"got {storage!r}")
        self.database_path = str(database_path) if database_path else None
        self.database_name = database_name
        self.storage = storage
        self.storage_kwargs = dict(storage_kwargs or {})
        self.client_kwargs = dict(client_kwargs or {})
        self._client: Any = None

    def _config(self) -> dict[str, Any]:
        return {"collection_name": self.collection_name, "database_path": self.database_path,
                "database_name": self.database_name, "storage": self.storage,
                "storage_kwargs": self.storage_kwargs, "client_kwargs": self.client_kwargs,
                **self._store_config()}

    def _open(self) -> Any:
        import montydb
        from montydb.errors import MontyError

        self._query_errors = (MontyError,)
        # montydb's BSON choice is process-wide; pymongo's bson is always present, so use it.
        # Its memory storage is process-wide too: same names, same collection.
        path = self.database_path or ":memory:"
        storage = self.storage if self.database_path else "memory"
        # montydb rewrites a folder's storage config on every set_storage (truncate, then
        # write): another process opening the folder meanwhile reads it empty. So the config
        # is written once, by the first open, and a read that catches the first write
        # half-done is retried.
        if not (self.database_path and _configured(self.database_path)):
            montydb.set_storage(path, storage=storage, use_bson=True, mongo_version="4.0",
                                **self.storage_kwargs)
        for attempt in range(_OPEN_ATTEMPTS):
            try:
                self._client = montydb.MontyClient(path, **self.client_kwargs)
                break
            except (ValueError, MontyError, OSError):
                if not self.database_path or attempt == _OPEN_ATTEMPTS - 1:
                    raise
                time.sleep(0.05)
        return self._client[self.database_name][self.collection_name]

    def _release(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None

    def _write(self, docs: list[dict], keys: list[str]) -> None:
        # montydb keeps no index (its create_index does nothing): each replace_one(upsert=True)
        # decodes and filters every entry in Python, so per-document upserts are quadratic (5,000
        # entries: 12 minutes). Per batch instead: read every entry's key once, insert what is
        # new and replace what exists by _id, through montydb's storage layer.
        latest = self._latest(docs, keys)
        if latest is None or not self._write_batch(latest, keys):
            for doc in docs:  # dotted keys, other key values, or a montydb without that layer
                self.collection.replace_one({k: get_path(doc, k) for k in keys}, doc, upsert=True)

    @classmethod
    def _match_value(cls, value: Any) -> Any:
        """Equal exactly when montydb's ``{key: value}`` matches (1 == 1.0, True != 1, null
        matches a missing field); ``cls._NO_MATCH`` for values left to the per-document path
        (NaN, which montydb never matches, lists, dates, ...)."""
        if value is None:
            return ("null",)
        if isinstance(value, bool):
            return ("bool", value)
        if isinstance(value, int | float):
            return cls._NO_MATCH if value != value else ("number", value)
        return ("str", value) if isinstance(value, str) else cls._NO_MATCH

    def _latest(self, docs: list[dict], keys: list[str]) -> dict | None:
        """``{match tuple: doc}``, the last copy of a key winning; None when not batchable."""
        if any("." in k for k in keys):
            return None
        latest: dict = {}
        for doc in docs:
            match = tuple(self._match_value(doc.get(k)) for k in keys)
            if self._NO_MATCH in match:
                return None
            latest[match] = doc
        return latest

    def _first_ids(self, entries: Iterator[tuple[Any, dict]], keys: list[str],
                   wanted: dict) -> dict | None:
        """``{match tuple: id}`` of the first stored entry of each wanted key (the one
        replace_one would have replaced); None if a stored key value is not batchable."""
        found: dict = {}
        for ident, entry in entries:
            match = tuple(self._match_value(entry.get(k)) for k in keys)
            if self._NO_MATCH in match:
                return None
            if match in wanted:
                found.setdefault(match, ident)
        return found

    def _write_batch(self, latest: dict, keys: list[str]) -> bool:
        """Insert and replace through montydb's storage layer; False if it is not there."""
        try:
            from montydb.cursor import MontyCursor
            from montydb.storage import sqlite as monty_sqlite
            from montydb.types import bson

            coll = self.collection
            storage = coll._storage
            target = storage
            for part in coll._components:  # how montydb's storage finds the collection
                target = target.contractor_cls(target, part)
        except (ImportError, AttributeError):
            return False
        if isinstance(target, monty_sqlite.SQLiteCollection):
            return self._write_sqlite(target, monty_sqlite, bson, latest, keys)
        stored = ((d["_id"], d) for d in storage.query(MontyCursor(coll), 0))
        found = self._first_ids(stored, keys, latest)
        if found is None:
            return False
        new = [{"_id": bson.ObjectId(), **d} for m, d in latest.items() if m not in found]
        if new:
            storage.write_many(coll, new, False)
        replace = [{"_id": found[m], **d} for m, d in latest.items() if m in found]
        if replace:
            storage.update_many(coll, replace)
        return True

    def _write_sqlite(self, target: Any, monty_sqlite: Any, bson: Any, latest: dict,
                      keys: list[str]) -> bool:
        # One transaction that takes the write lock before the lookup: a batch lands whole or
        # not at all, and another process cannot add the same key between lookup and write.
        # (montydb's own insert_many also compares every new id with a list of every stored
        # one, O(entries) per document, and opens a connection per call.)
        import sqlite3

        from montydb.errors import MontyError

        database, table = target._database, monty_sqlite.SQLITE_RECORD_TABLE
        try:
            if not database.collection_exists(target._name):
                database.collection_create(target._name)
            with target._conn._connect(target._col_path, target.wconcern) as conn:
                conn.isolation_level = None  # the transaction is ours
                conn.execute("BEGIN IMMEDIATE")
                try:
                    rows = conn.execute(f"SELECT k, v FROM [{table}]")
                    stored = (((k, doc["_id"]), doc) for k, v in rows
                              for doc in [bson.document_decode(v, codec_options=target.coptions)])
                    found = self._first_ids(stored, keys, latest)
                    if found is None:
                        conn.execute("ROLLBACK")
                        return False
                    new = [{"_id": bson.ObjectId(), **d} for m, d in latest.items()
                           if m not in found]
                    conn.executemany(monty_sqlite.INSERT_RECORD.format(table), [
                        (bson.id_encode(d["_id"]), target._encode_doc(d)) for d in new])
                    conn.executemany(monty_sqlite.UPDATE_RECORD.format(table), [
                        (target._encode_doc({"_id": found[m][1], **d}), found[m][0])
                        for m, d in latest.items() if m in found])
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:  # locked, read-only, disk full: a store error upstream
            raise MontyError(f"sqlite: {exc}") from exc
        return True

    @property
    def name(self) -> str:
        return f"monty://{self.database_path or ':memory:'}/{self.collection_name}"
