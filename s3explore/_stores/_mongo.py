"""Index stores over pymongo-compatible collections: MongoDB, mongomock (memory), montydb."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote_plus

import pymongo
import pymongo.errors as perr
from pymongo import ReplaceOne

from s3explore._errors import (
    ConfigurationError,
    InvalidDocumentError,
    MissingDependencyError,
    NotConnectedError,
    QueryError,
    StoreConnectionError,
)
from s3explore._s3client import redact_url
from s3explore._stores._base import (
    Properties,
    Sort,
    Store,
    check_criteria,
    check_paging,
    check_sort,
    nested,
    property_names,
)

# Query operators every backend here understands; MongoDB itself accepts more.
PORTABLE_OPERATORS = frozenset(
    "$eq $ne $gt $gte $lt $lte $in $nin $and $or $nor $not $exists $type $regex $options "
    "$all $elemMatch $size $mod".split()
)


def _operators(criteria: Any) -> Iterator[str]:
    if isinstance(criteria, Mapping):
        for k, v in criteria.items():
            if isinstance(k, str) and k.startswith("$"):
                yield k
            yield from _operators(v)
    elif isinstance(criteria, list):
        for item in criteria:
            yield from _operators(item)


class MongoLikeStore(Store):
    """Shared implementation over a pymongo-compatible collection."""

    supported_operators: frozenset[str] | None = PORTABLE_OPERATORS
    _query_errors: tuple[type[BaseException], ...] = (perr.OperationFailure,)

    def __init__(self, collection_name: str, key: str = "fs_id") -> None:
        super().__init__(key)
        if not isinstance(collection_name, str) or not collection_name:
            raise ConfigurationError(f"collection_name must be a non-empty string, got "
                                     f"{collection_name!r}")
        self.collection_name = collection_name
        self._coll: Any = None

    def _open(self) -> Any:
        """Return a connected collection."""
        raise NotImplementedError

    def _release(self) -> None:
        """Close what ``_open`` opened."""

    def connect(self, force_reset: bool = False) -> None:
        if self._coll is None or force_reset:
            if self._coll is not None:
                self._release()
            self._coll = self._open()

    def close(self) -> None:
        if self._coll is not None:
            self._release()
        self._coll = None

    @property
    def collection(self) -> Any:
        """The connected pymongo-compatible collection."""
        if self._coll is None:
            raise NotConnectedError(f"{self.name} is not connected; call connect() or use `with`")
        return self._coll

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.collection_name!r}, key={self.key!r})"

    # -- queries
    def _criteria(self, criteria: Any) -> dict:
        criteria = check_criteria(criteria)
        if self.supported_operators is not None:
            unknown = sorted(set(_operators(criteria)) - self.supported_operators)
            if unknown:
                raise QueryError(
                    f"{type(self).__name__} does not support the operator(s) {unknown}; "
                    f"supported: {' '.join(sorted(self.supported_operators))}"
                )
        return criteria

    def _projection(self, properties: Properties) -> dict | None:
        names = property_names(properties)
        if names is None:
            return {"_id": 0}
        projection = {name: 1 for name in names}
        if "_id" not in projection:
            projection["_id"] = 0
        return projection

    def _translate(self, exc: BaseException) -> Exception:
        if isinstance(exc, perr.AutoReconnect | perr.ServerSelectionTimeoutError):
            return StoreConnectionError(f"lost the connection to the index {self.name}: "
                                        f"{type(exc).__name__}")
        return QueryError(f"the index {self.name} rejected the query: {exc}")

    def query(
        self,
        criteria: dict | None = None,
        properties: Properties = None,
        sort: Sort | None = None,
        skip: int = 0,
        limit: int = 0,
    ) -> Iterator[dict]:
        criteria = self._criteria(criteria)
        sort_list = check_sort(sort)
        check_paging(skip, limit)
        projection = self._projection(properties)
        return self._iterate(criteria, projection, sort_list, skip, limit)

    def _iterate(self, criteria, projection, sort_list, skip, limit) -> Iterator[dict]:
        def cursor() -> Any:
            found = self.collection.find(criteria, projection)
            if sort_list:
                found = found.sort(sort_list)
            if skip:
                found = found.skip(skip)
            return found.limit(limit) if limit else found

        return self._run(cursor)

    def _run(self, open_cursor: Callable[[], Any]) -> Iterator[dict]:
        """Iterate a cursor, with the backend's errors turned into ours."""
        try:
            yield from open_cursor()
        except (*self._query_errors, perr.PyMongoError) as exc:
            raise self._translate(exc) from exc

    def count(self, criteria: dict | None = None) -> int:
        criteria = self._criteria(criteria)
        try:
            return self.collection.count_documents(criteria)
        except (*self._query_errors, perr.PyMongoError) as exc:
            raise self._translate(exc) from exc

    def distinct(self, field: str, criteria: dict | None = None) -> list:
        criteria = self._criteria(criteria)
        try:
            return list(self.collection.distinct(field, criteria))
        except (*self._query_errors, perr.PyMongoError) as exc:
            raise self._translate(exc) from exc

    # -- writes
    def update(self, docs: Any, key: list[str] | str | None = None) -> int:
        """Upsert documents by ``key`` (the store's key by default); returns how many."""
        keys = [key] if isinstance(key, str) else list(key or [self.key])
        upserts = list(self._upserts([docs] if isinstance(docs, Mapping) else docs, keys))
        if upserts:
            try:
                self._write(upserts, keys)
            except (*self._query_errors, perr.PyMongoError) as exc:
                raise StoreConnectionError(
                    f"writing {len(upserts)} documents to the index {self.name} failed: "
                    f"{type(exc).__name__}; nothing was lost from S3, rerun the update"
                ) from exc
        return len(upserts)

    def _upserts(self, docs: Iterable[Any], keys: list[str]) -> Iterator[tuple[dict, dict]]:
        """Validated ``(filter, replacement)`` pairs."""
        for doc in docs:
            if not isinstance(doc, Mapping):
                raise InvalidDocumentError(f"documents must be dicts, got {type(doc).__name__}")
            missing = [k for k in keys if k not in doc]
            if missing:
                raise InvalidDocumentError(
                    f"document has no key field(s) {missing}; add them or pass key=",
                    key=str(doc.get(self.key)) if self.key in doc else None,
                )
            yield {k: doc[k] for k in keys}, {k: v for k, v in doc.items() if k != "_id"}

    def _write(self, upserts: list[tuple[dict, dict]], keys: list[str]) -> None:
        self.collection.bulk_write([ReplaceOne(f, d, upsert=True) for f, d in upserts],
                                   ordered=False)

    def remove_docs(self, criteria: dict) -> None:
        criteria = self._criteria(criteria)
        self.collection.delete_many(criteria)

    def ensure_index(self, key: str, unique: bool = False) -> bool:
        try:
            self.collection.create_index(key, unique=unique)
            return True
        except Exception:
            return False


class MemoryStore(MongoLikeStore):
    """An in-memory index (mongomock), like maggma's MemoryStore."""

    def __init__(self, collection_name: str = "memory_db", key: str = "fs_id") -> None:
        super().__init__(collection_name, key)
        self._client: Any = None

    def _open(self) -> Any:
        import mongomock_ng

        # One client per store, kept across close()/connect() so the data survives them.
        if self._client is None:
            self._client = mongomock_ng.MongoClient()
        return self._client.db[self.collection_name]

    def _iterate(self, criteria, projection, sort_list, skip, limit) -> Iterator[dict]:
        # mongomock's Cursor.__next__ re-slices its whole result list on every call, which is
        # quadratic (minutes for 100k documents); take the computed list once instead.
        def results() -> Iterator[dict]:
            found = self.collection.find(criteria, projection)
            if sort_list:
                found = found.sort(sort_list)
            compute = getattr(found, "_compute_results", None)
            if compute is None:  # another mongomock: its public, slower path
                found = found.skip(skip)
                return found.limit(limit) if limit else found
            return iter(compute()[skip:skip + limit if limit else None])

        return self._run(results)

    def _write(self, upserts: list[tuple[dict, dict]], keys: list[str]) -> None:
        # mongomock scans the whole collection for every upsert; look the batch's keys up
        # once, insert what is new and replace only what exists.
        if len(keys) != 1:
            return super()._write(upserts, keys)
        (field,) = keys
        latest = {repr(f[field]): (f, d) for f, d in upserts}  # the last one of a key wins
        # one pass over the key field beats mongomock's $in, which compares every pair
        existing = {repr(d.get(field)) for d in self._iterate({}, {field: 1, "_id": 0},
                                                                None, 0, 0)} & latest.keys()
        new = [d for k, (_, d) in latest.items() if k not in existing]
        if new:
            self.collection.insert_many([dict(d) for d in new])
        replace = [(f, d) for k, (f, d) in latest.items() if k in existing]
        if replace:
            super()._write(replace, keys)
        return None

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
        key: str = "fs_id",
    ) -> None:
        super().__init__(collection_name, key)
        if storage not in ("sqlite", "flatfile", "lightning"):
            raise ConfigurationError(f"storage must be 'sqlite', 'flatfile' or 'lightning', "
                                     f"got {storage!r}")
        self.database_path = str(database_path) if database_path else None
        self.database_name = database_name
        self.storage = storage
        self._client: Any = None

    def _open(self) -> Any:
        import montydb
        from montydb.errors import MontyError

        self._query_errors = (MontyError,)
        # montydb's BSON choice is process-wide; pymongo's bson is always present, so use it.
        # Its memory storage is process-wide too: same names, same collection.
        path = self.database_path or ":memory:"
        storage = self.storage if self.database_path else "memory"
        montydb.set_storage(path, storage=storage, use_bson=True, mongo_version="4.0")
        self._client = montydb.MontyClient(path)
        return self._client[self.database_name][self.collection_name]

    def _release(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None

    def _write(self, upserts: list[tuple[dict, dict]], keys: list[str]) -> None:
        for filter_, doc in upserts:  # montydb has no bulk_write
            self.collection.replace_one(filter_, doc, upsert=True)

    @property
    def name(self) -> str:
        return f"monty://{self.database_path or ':memory:'}/{self.collection_name}"


class MongoStore(MongoLikeStore):
    """A MongoDB collection through pymongo. ``client=`` injects any pymongo-compatible client."""

    supported_operators = None  # the server decides

    def __init__(
        self,
        database: str,
        collection_name: str,
        host: str = "localhost",
        port: int = 27017,
        username: str = "",
        password: str = "",
        key: str = "fs_id",
        *,
        client: Any = None,
        **mongoclient_kwargs: Any,
    ) -> None:
        super().__init__(collection_name, key)
        if not isinstance(database, str) or not database:
            raise ConfigurationError(f"database must be a non-empty string, got {database!r}")
        self.database = database
        self.host = host
        self.port = port
        self.username = username
        self.__password = password  # never shown: not in repr, errors or logs
        self.__uri: str | None = None
        self._injected = client
        self._client: Any = None
        self.mongoclient_kwargs = mongoclient_kwargs

    @classmethod
    def from_uri(
        cls, uri: str, collection_name: str, database: str | None = None, key: str = "fs_id",
        **kwargs: Any,
    ) -> MongoStore:
        if not isinstance(uri, str) or not uri.startswith(("mongodb://", "mongodb+srv://")):
            raise ConfigurationError("uri must start with mongodb:// or mongodb+srv://")
        if database is None:
            try:
                database = pymongo.uri_parser.parse_uri(uri).get("database")
            except (perr.PyMongoError, ValueError) as exc:
                raise _invalid_uri(uri, exc) from None
            if not database:
                raise ConfigurationError("the URI names no database; pass database=")
        store = cls(database, collection_name, key=key, **kwargs)
        store.__uri = uri
        store.host = uri.split("://", 1)[1].rsplit("@", 1)[-1].split("/", 1)[0]
        return store

    @property
    def _where(self) -> str:
        """Host(s) and port, never credentials."""
        return self.host if self.__uri else f"{self.host}:{self.port}"

    def __repr__(self) -> str:
        return (f"MongoStore({self.database!r}, {self.collection_name!r}, host={self._where!r}, "
                f"key={self.key!r})")

    @property
    def name(self) -> str:
        return f"mongo://{self._where}/{self.database}/{self.collection_name}"

    def groupby(
        self,
        keys: list[str] | str,
        criteria: dict | None = None,
        properties: Properties = None,
        sort: Sort | None = None,
        skip: int = 0,
        limit: int = 0,
    ) -> Iterator[tuple[dict, list[dict]]]:
        """Group on the server with an aggregation, so only the groups travel."""
        keys = [keys] if isinstance(keys, str) else list(keys)
        if not keys:
            raise QueryError("groupby needs at least one key")
        check_paging(skip, limit)
        criteria = self._criteria(criteria)
        present = [{k: {"$exists": True}} for k in keys]
        pipeline: list[dict] = [{"$match": {"$and": [criteria, *present]}}]
        sort_list = check_sort(sort)
        if sort_list:
            pipeline.append({"$sort": dict(sort_list)})
        names = property_names(properties)
        if names is not None:
            pipeline.append({"$project": {n: 1 for n in {*keys, *names, self.key}}})
        # group ids cannot hold dotted names: k0, k1, ... stand for the keys
        group_id = {f"k{i}": f"${k}" for i, k in enumerate(keys)}
        pipeline += [{"$group": {"_id": group_id, "docs": {"$push": "$$ROOT"}}},
                     {"$sort": {f"_id.k{i}": 1 for i in range(len(keys))}}]
        if skip:
            pipeline.append({"$skip": skip})
        if limit:
            pipeline.append({"$limit": limit})
        try:
            for group in self.collection.aggregate(pipeline, allowDiskUse=True):
                values = {k: group["_id"][f"k{i}"] for i, k in enumerate(keys)}
                docs = [{f: v for f, v in d.items() if f != "_id"} for d in group["docs"]]
                yield nested(values), docs
        except perr.PyMongoError as exc:
            raise self._translate(exc) from exc

    def _open(self) -> Any:
        if self._injected is not None:
            return self._injected[self.database][self.collection_name]
        kwargs = dict(self.mongoclient_kwargs)
        if "serverselectiontimeoutms" not in (self.__uri or "").lower():
            kwargs.setdefault("serverSelectionTimeoutMS", 5000)  # fail fast, not after 30 s
        auth = ""
        if self.username:
            auth = f"{quote_plus(self.username)}:{quote_plus(self.__password)}@"
        uri = self.__uri or f"mongodb://{auth}{self.host}:{self.port}/"
        try:
            client = pymongo.MongoClient(uri, **kwargs)
        except (perr.PyMongoError, ValueError) as exc:  # malformed URI, host or options
            raise _invalid_uri(uri, exc) from None
        try:
            client.admin.command("ping")
        except perr.OperationFailure as exc:
            client.close()
            raise StoreConnectionError(f"MongoDB at {self.name} refused the login "
                                       f"(code {exc.code}); check username and password") from None
        except perr.PyMongoError as exc:
            client.close()
            raise StoreConnectionError(f"cannot reach MongoDB for {self.name}: "
                                       f"{type(exc).__name__}") from None
        self._client = client
        return client[self.database][self.collection_name]

    def _release(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None


class MongograntStore(MongoStore):
    """A MongoDB collection whose credentials come from mongogrant (optional extra)."""

    def __init__(
        self, mongogrant_spec: str, collection_name: str, key: str = "fs_id",
        mgclient_config_path: str | None = None, **kwargs: Any,
    ) -> None:
        try:
            import mongogrant  # noqa: F401
        except ImportError as exc:
            raise MissingDependencyError(
                "MongograntStore needs mongogrant: pip install 's3explore[mongogrant]'"
            ) from exc
        if not isinstance(mongogrant_spec, str) or ":" not in mongogrant_spec:
            raise ConfigurationError("mongogrant_spec looks like 'ro:host/db' or 'rw:host/db'")
        self.mongogrant_spec = mongogrant_spec
        self.mgclient_config_path = mgclient_config_path
        _, _, where = mongogrant_spec.partition(":")
        host, _, database = where.partition("/")
        super().__init__(database or "db", collection_name, host=host, key=key, **kwargs)

    def _open(self) -> Any:
        from mongogrant.client import Client
        from mongogrant.config import Config

        client = (Client(Config(check=False, path=self.mgclient_config_path))
                  if self.mgclient_config_path else Client())
        return client.db(self.mongogrant_spec)[self.collection_name]


def _invalid_uri(uri: str, exc: BaseException) -> ConfigurationError:
    # pymongo's messages name the bad part, not the password; the URI is shown redacted.
    return ConfigurationError(f"the MongoDB URI {redact_url(uri)!r} or its options are "
                              f"invalid: {exc}")


def iter_batches(items: Iterable, size: int) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
