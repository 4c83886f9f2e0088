"""Embedded index stores, no server needed: MemoryStore (mongomock) and MontyStore (montydb)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from s3explore._errors import ConfigurationError
from s3explore._query import Query, get_path
from s3explore._stores._mongo import MongoLikeStore, mongo_projection


class MemoryStore(MongoLikeStore):
    """An in-memory index (mongomock), like maggma's MemoryStore.

    The data lives as long as the store object; a MemoryStore sent to another process
    arrives empty, as maggma's does.
    """

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
        latest = {repr(d[field]): d for d in docs}  # the last one of a key wins
        # one pass over the key field beats mongomock's $in, which compares every pair
        existing = {repr(d.get(field)) for d in self._find(Query({}, [field]))} & latest.keys()
        new = [d for k, d in latest.items() if k not in existing]
        if new:
            self.collection.insert_many([dict(d) for d in new])
        replace = [d for k, d in latest.items() if k in existing]
        if replace:
            super()._write(replace, keys)
        return None

    def _sample(self, n: int) -> list[dict]:
        # mongomock's $sample feeds the collection through its quadratic cursor (164 s at
        # 100k entries); draw from the result list _find reads once instead.
        docs = list(self._find(Query({})))
        return random.sample(docs, min(n, len(docs)))

    @property
    def name(self) -> str:
        return f"mem://{self.collection_name}"


class MontyStore(MongoLikeStore):
    """An embedded on-disk (or in-memory) index with montydb, no server needed."""

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
        montydb.set_storage(path, storage=storage, use_bson=True, mongo_version="4.0",
                            **self.storage_kwargs)
        self._client = montydb.MontyClient(path, **self.client_kwargs)
        return self._client[self.database_name][self.collection_name]

    def _release(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None

    def _write(self, docs: list[dict], keys: list[str]) -> None:
        for doc in docs:  # montydb has no bulk_write
            self.collection.replace_one({k: get_path(doc, k) for k in keys}, doc, upsert=True)

    @property
    def name(self) -> str:
        return f"monty://{self.database_path or ':memory:'}/{self.collection_name}"
