"""Index stores over pymongo-compatible collections: MongoDB itself, and the shared base.

pymongo is imported when a MongoStore connects (or parses a URI), not with s3explore: it is
a large part of the import time, and DuckDB or embedded indexes do not need it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import quote_plus

from s3explore._errors import (
    ConfigurationError,
    MissingDependencyError,
    NotConnectedError,
    QueryError,
    StoreConnectionError,
)
from s3explore._query import Query, get_path, nested
from s3explore._secrets import option_secrets, redact_options, scrub, url_secrets
from s3explore._stores._base import Store
from s3explore._stores._config import Sealed, seal
from s3explore._stores._mongo_uri import (  # noqa: F401 -- query_time_limit: importable here
    _SCHEMES,
    _TIME_LIMIT,
    DEFAULT_MAX_TIME_MS,
    _check_ms,
    _check_uri,
    _hosts,
    _invalid_uri,
    _path_database,
    _pymongo_errors,
    client_options,
    query_time_limit,
    refusal,
    refused_error,
    server_info,
    write_failure,
    write_reason,
)
from s3explore._stores._portable import PORTABLE_OPERATORS
from s3explore._stores._swap import swap_in_mongo
from s3explore._stores._timezones import AWARE_FIELD, from_index_all

STORE_ARGS = frozenset({"key", "last_updated_field", "last_updated_type", "validator"})
# pymongo options that carry secrets (any name with a word of _secrets.SECRET_WORDS counts
# too): never shown, never serialized
SECRET_OPTIONS = frozenset({"password", "tlscertificatekeyfilepassword",
                            "authmechanismproperties"})


def _is_pymongo_collection(coll: Any) -> bool:
    """A real pymongo Collection (not mongomock's or montydb's), without importing pymongo."""
    collection = sys.modules.get("pymongo.collection")
    return collection is not None and isinstance(coll, collection.Collection)


def mongo_projection(names: list[str] | None) -> dict:
    if not names:
        return {"_id": 0}
    # AWARE_FIELD: which datetimes were aware (_timezones.py); "_id" only when asked for
    return {"_id": 0, AWARE_FIELD: 1, **dict.fromkeys(names, 1)}


class MongoLikeStore(Store):
    """Shared implementation over a pymongo-compatible collection."""

    supported_operators: frozenset[str] | None = PORTABLE_OPERATORS
    # The engine's own errors beside pymongo's (which are always caught)
    _query_errors: tuple[type[BaseException], ...] = ()
    _transient: ClassVar[tuple[str, ...]] = ("_coll", "_client", "_server")
    _ferretdb: str | None = None  # FerretDB's version when the server is FerretDB
    _swap = swap_in_mongo  # the server compares and sets

    @property
    def atomic_swaps(self) -> bool:  # FerretDB 1.24 lets racing filtered replaces all win
        return not self._ferretdb

    def __init__(self, collection_name: str, **store_kwargs: Any) -> None:
        super().__init__(**store_kwargs)
        if not isinstance(collection_name, str) or not collection_name:
            raise ConfigurationError(f"collection_name must be a non-empty string, got "
                                     f"{collection_name!r}")
        self.collection_name = collection_name
        self._coll: Any = None

    def _store_config(self) -> dict[str, Any]:
        """The Store base's arguments, for ``_config``."""
        return {"key": self.key, "last_updated_field": self.last_updated_field,
                "last_updated_type": self.last_updated_type, "validator": self.validator}

    def _open(self) -> Any:
        """Return a connected collection."""
        raise NotImplementedError

    def _release(self) -> None:
        """Close what ``_open`` opened."""

    def _connect(self, force_reset: bool) -> None:
        if self._coll is None or force_reset:
            if self._coll is not None:
                self._release()
            self._coll = self._open()

    def _close(self) -> None:
        if self._coll is not None:
            self._release()
        self._coll = None

    @property
    def collection(self) -> Any:
        """The connected pymongo-compatible collection."""
        if self._coll is None:
            raise NotConnectedError(f"{self.name} is not connected; call connect() or use `with`")
        return self._coll

    @property
    def _collection(self) -> Any:  # maggma's name for it
        return self.collection

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.collection_name!r}, key={self.key!r})"

    def _time_limit(self) -> int | None:
        """Milliseconds the server may spend on one query; None: no limit (embedded engines,
        which run in this process, get none: they are interruptible or refuse slow regexes)."""
        return None

    def _translate(self, exc: BaseException) -> Exception:
        if isinstance(exc, _pymongo_errors("ExecutionTimeout")):
            ms = self._time_limit()
            limit = f"its time limit of {ms} ms (maxTimeMS)" if ms else "the server's limit"
            return QueryError(
                f"the index {self.name} stopped the query after {limit}; narrow the criteria "
                "(an anchored regex such as '^Fe' can use an index) or raise max_time_ms")
        if isinstance(exc, _pymongo_errors("ConnectionFailure")):  # also a socket timeout
            return StoreConnectionError(f"lost the connection to the index {self.name}: "
                                        f"{type(exc).__name__}")
        refused = refusal(self.name, exc) if isinstance(
            exc, _pymongo_errors("OperationFailure")) else None
        return refused or QueryError(f"the index {self.name} rejected the query: "
                                     f"{scrub(str(exc), self._secrets())}")

    def _secrets(self) -> list[str]:
        """Credentials to scrub from a library's message."""
        return []

    def _guarded(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except (*self._query_errors, *_pymongo_errors("PyMongoError")) as exc:
            raise self._translate(exc) from exc

    # ------------------------------------------------------------ hooks

    def _find(self, q: Query) -> Iterator[dict]:
        def cursor() -> Any:
            ms = self._time_limit()
            found = self.collection.find(q.criteria, mongo_projection(q.properties),
                                         **({"max_time_ms": ms} if ms else {}))
            if q.sort:
                found = found.sort(q.sort)
            if q.skip:
                found = found.skip(q.skip)
            return found.limit(q.limit) if q.limit else found

        return self._run(cursor)

    def _run(self, open_cursor: Any) -> Iterator[dict]:
        """Iterate a cursor, with the backend's errors turned into ours."""
        try:
            yield from from_index_all(open_cursor())
        except (*self._query_errors, *_pymongo_errors("PyMongoError")) as exc:
            raise self._translate(exc) from exc

    def _limits(self) -> dict[str, int]:
        """``maxTimeMS`` for commands that take it, when there is a limit."""
        ms = self._time_limit()
        return {"maxTimeMS": ms} if ms else {}

    def _count(self, criteria: dict) -> int:
        return self._guarded(self.collection.count_documents, criteria, **self._limits())

    def _distinct(self, field: str, criteria: dict) -> list:
        # FerretDB's distinct refuses maxTimeMS ("unknown field"): its socket timeout bounds it
        limits = {} if self._ferretdb else self._limits()
        return list(self._guarded(self.collection.distinct, field, criteria, **limits))

    def _upsert(self, docs: list[dict], keys: list[str]) -> None:
        try:
            self._write(docs, keys)
        except (*self._query_errors, *_pymongo_errors("PyMongoError")) as exc:
            raise write_failure(self.name, exc, docs, keys[0], self._secrets()) from exc

    def _write(self, docs: list[dict], keys: list[str]) -> None:
        from pymongo import ReplaceOne

        requests = [ReplaceOne({k: get_path(d, k) for k in keys}, d, upsert=True) for d in docs]
        self.collection.bulk_write(requests, ordered=False)

    def _delete(self, criteria: dict) -> None:
        self._guarded(self.collection.delete_many, criteria)

    def _create_index(self, field: str, unique: bool) -> bool:
        try:
            self.collection.create_index(field, unique=unique)
            return True
        except Exception:  # an engine without indexes, or duplicates under unique=True
            return False


class MongoStore(MongoLikeStore):
    """A MongoDB collection through pymongo, with maggma's constructor.

    ``client=`` injects any pymongo-compatible client (tests, shared clients).
    ``mongoclient_kwargs`` go to ``pymongo.MongoClient``. The password (and a URI's
    credentials, and secret options) is never shown, logged or serialized, and is held
    sealed, so ``vars(store)`` does not show it either. ``max_time_ms``: how long the server
    may work on one query (``maxTimeMS``; None for no limit); a query that runs out raises
    QueryError.
    """

    supported_operators = None  # the server decides

    def __init__(
        self,
        database: str,
        collection_name: str,
        host: str = "localhost",
        port: int = 27017,
        username: str = "",
        password: str = "",
        ssh_tunnel: Any = None,
        safe_update: bool = False,
        auth_source: str | None = None,
        mongoclient_kwargs: dict | None = None,
        default_sort: dict | None = None,
        *,
        uri: str | None = None,
        client: Any = None,
        max_time_ms: int | None = DEFAULT_MAX_TIME_MS,
        **store_kwargs: Any,
    ) -> None:
        if ssh_tunnel is not None:
            raise ConfigurationError(
                "ssh_tunnel (maggma's SSHTunnel) is not supported by s3explore; open the "
                "tunnel yourself (ssh -L 27017:db-host:27017 gateway) and pass host/port")
        # maggma's Store arguments go to the base; anything else is a pymongo option
        options = {k: store_kwargs.pop(k) for k in list(store_kwargs) if k not in STORE_ARGS}
        super().__init__(collection_name, **store_kwargs)
        if not isinstance(database, str) or not database:
            raise ConfigurationError(f"database must be a non-empty string, got {database!r}")
        if mongoclient_kwargs is not None and not isinstance(mongoclient_kwargs, dict):
            raise ConfigurationError("mongoclient_kwargs must be a dict of pymongo.MongoClient "
                                     f"options, got {type(mongoclient_kwargs).__name__}")
        if uri is None and isinstance(host, str) and host.startswith(_SCHEMES):
            uri, host = host, "localhost"  # pymongo takes a URI as host=; so do we
        if uri is not None:
            _check_uri(uri)
        self.database = database
        self.port = port
        self.username = username
        self.safe_update = bool(safe_update)
        self.auth_source = auth_source
        self.default_sort = default_sort
        self.max_time_ms = _check_ms(max_time_ms, "max_time_ms")
        # Sealed: never shown, not in repr, errors, logs, vars() or as_dict's JSON.
        self.__password = Sealed(password)
        self.__uri = Sealed(uri)
        self.__client_kwargs = Sealed({**(mongoclient_kwargs or {}), **options})
        self.host = _hosts(uri) if uri is not None else host
        self._injected = client
        self._client: Any = None
        self._server: str | None = None  # buildInfo's ferretdbVersion ("" for MongoDB)

    @classmethod
    def from_uri(cls, uri: str, collection_name: str, database: str | None = None,
                 **kwargs: Any) -> MongoStore:
        """A store from a ``mongodb://`` or ``mongodb+srv://`` URI (maggma's MongoURIStore)."""
        _check_uri(uri)
        if database is None:
            import pymongo.uri_parser

            error = None
            try:  # pymongo's parser, but an SRV URI's hosts are not looked up here
                database = (_path_database(uri) if uri.startswith("mongodb+srv://")
                            else pymongo.uri_parser.parse_uri(uri).get("database"))
            except (*_pymongo_errors("PyMongoError"), ValueError) as exc:
                error = _invalid_uri(uri, exc)
            if error is not None:  # raised outside the handler: no chained pymongo text
                raise error
            if not database:
                raise ConfigurationError("the URI names no database; pass database=")
        return cls(database, collection_name, uri=uri, **kwargs)

    @property
    def mongoclient_kwargs(self) -> dict:
        """The pymongo options, with secret ones shown as ``***`` and URLs redacted."""
        options = self.__client_kwargs.unseal()
        return {k: "***" if k.lower() in SECRET_OPTIONS else v
                for k, v in redact_options(options).items()}

    def _config(self) -> dict[str, Any]:
        password, uri, options = (self.__password.unseal(), self.__uri.unseal(),
                                  self.__client_kwargs.unseal())
        config = {"database": self.database, "collection_name": self.collection_name,
                  "host": self.host, "port": self.port, "username": self.username,
                  "password": seal(password) if password else "",
                  "safe_update": self.safe_update, "auth_source": self.auth_source,
                  "mongoclient_kwargs": seal(options) if options else {},
                  "default_sort": self.default_sort, "max_time_ms": self.max_time_ms,
                  **self._store_config()}
        if uri is not None:
            config["uri"] = seal(uri) if url_secrets(uri) else uri
        return config

    def _secrets(self) -> list[str]:
        """Every credential this store holds, to scrub from a library's message."""
        return [s for s in (self.__password.unseal(), *url_secrets(self.__uri.unseal()),
                            *option_secrets(self.__client_kwargs.unseal())) if s]

    def _time_limit(self) -> int | None:
        if not _is_pymongo_collection(self._coll):
            return None  # an injected embedded client (mongomock): no server to enforce it
        limits = [ms for ms in (self.max_time_ms, _TIME_LIMIT.get()) if ms]
        return min(limits) if limits else None

    def _delete(self, criteria: dict) -> None:
        ms = self._time_limit()
        if ms is None:
            return super()._delete(criteria)
        import pymongo  # loaded already: the collection is pymongo's

        with pymongo.timeout(ms / 1000):  # delete_many takes no maxTimeMS; this sends one
            return super()._delete(criteria)

    @property
    def _where(self) -> str:
        """Host(s) and port, never credentials."""
        return self.host if self.__uri.unseal() else f"{self.host}:{self.port}"

    def __repr__(self) -> str:
        return (f"MongoStore({self.database!r}, {self.collection_name!r}, host={self._where!r}, "
                f"key={self.key!r})")

    @property
    def name(self) -> str:
        return f"mongo://{self._where}/{self.database}/{self.collection_name}"

    def _find(self, q: Query) -> Iterator[dict]:
        if not q.sort and self.default_sort:
            q = Query(q.criteria, q.properties, list(self.default_sort.items()), q.skip, q.limit)
        return super()._find(q)

    def _write(self, docs: list[dict], keys: list[str]) -> None:
        try:
            super()._write(docs, keys)
        except (KeyError, *_pymongo_errors("OperationFailure", "DocumentTooLarge")):
            # FerretDB stops an unordered batch at its first refusal, gives it a wrong index
            # and no counts (pymongo: KeyError): there too, one at a time to name the refused
            if not (self.safe_update or self._ferretdb):
                raise
            refused = []
            for doc in docs:
                try:
                    self.collection.replace_one({k: get_path(doc, k) for k in keys}, doc,
                                                upsert=True)
                except _pymongo_errors("WriteError", "DocumentTooLarge") as exc:
                    refused.append((get_path(doc, keys[0]), write_reason(
                        getattr(exc, "details", None) or {"errmsg": type(exc).__name__})))
            if refused:
                raise refused_error(self.name, refused, len(docs), self._secrets()) from None

    def _groupby(self, keys: list[str], q: Query) -> Iterator[tuple[dict, list[dict]]]:
        if self._ferretdb:  # FerretDB's $group has no $push: the documents are grouped here
            return Store._groupby(self, keys, q)
        return self._server_groupby(keys, q)

    def _server_groupby(self, keys: list[str], q: Query) -> Iterator[tuple[dict, list[dict]]]:
        """Group on the server with an aggregation, so only the groups travel."""
        present = [{k: {"$exists": True}} for k in keys]
        pipeline: list[dict] = [{"$match": {"$and": [q.criteria, *present]}}]
        if q.sort:
            pipeline.append({"$sort": dict(q.sort)})
        if q.properties is not None:
            pipeline.append({"$project": {n: 1 for n in {*keys, *q.properties, self.key}}})
        # group ids cannot hold dotted names: k0, k1, ... stand for the keys
        group_id = {f"k{i}": f"${k}" for i, k in enumerate(keys)}
        pipeline += [{"$group": {"_id": group_id, "docs": {"$push": "$$ROOT"}}},
                     {"$sort": {f"_id.k{i}": 1 for i in range(len(keys))}}]
        if q.skip:
            pipeline.append({"$skip": q.skip})
        if q.limit:
            pipeline.append({"$limit": q.limit})
        for group in self._run(lambda: self.collection.aggregate(pipeline, allowDiskUse=True,
                                                                 **self._limits())):
            values = {k: group["_id"][f"k{i}"] for i, k in enumerate(keys)}
            docs = [{f: v for f, v in d.items() if f != "_id"} for d in group["docs"]]
            yield nested(values), docs

    def _sample(self, n: int) -> list[dict]:
        pipeline = [{"$sample": {"size": n}}, {"$project": {"_id": 0}}]
        try:  # FerretDB has no $sample stage: the first n documents there
            return super()._sample(n) if self._ferretdb else list(
                from_index_all(self.collection.aggregate(pipeline)))
        except (NotImplementedError, *_pymongo_errors("PyMongoError")):
            return super()._sample(n)

    def _find_arrow(self, q: Query) -> Any:
        from s3explore._stores._mongo_arrow import find_arrow

        return find_arrow(self, q)

    def _open(self) -> Any:
        if self._injected is not None:
            return self._injected[self.database][self.collection_name]
        import pymongo
        import pymongo.errors as perr

        given_uri = self.__uri.unseal()
        kwargs = client_options(self.__client_kwargs.unseal(), given_uri, self.auth_source,
                                self.max_time_ms)
        auth = ""
        if self.username:
            auth = f"{quote_plus(self.username)}:{quote_plus(self.__password.unseal())}@"
        uri = given_uri or f"mongodb://{auth}{self.host}:{self.port}/"
        # Errors are built inside the handlers but raised after them, so no pymongo exception
        # (whose text may quote the URI) travels along as __context__.
        error: Exception | None = None
        try:
            client = pymongo.MongoClient(uri, **kwargs)
        except (perr.PyMongoError, ValueError, TypeError) as exc:  # malformed URI or options
            error = _invalid_uri(uri, exc, self._secrets())
        if error is not None:
            raise error
        try:  # buildInfo needs no privileges; a wrong password fails its login first
            self._server = server_info(client) or ""
        except perr.OperationFailure as exc:
            error = refusal(self.name, exc) or StoreConnectionError(
                f"MongoDB at {self.name} refused to answer (code {exc.code})")
        except perr.PyMongoError as exc:
            error = StoreConnectionError(f"cannot reach MongoDB for {self.name}: "
                                         f"{type(exc).__name__}")
        if error is not None:
            client.close()
            raise error
        self._client = client
        return client[self.database][self.collection_name]

    def _release(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client, self._server = None, None

    @property
    def _ferretdb(self) -> str | None:
        """FerretDB's version when the server is FerretDB (which lacks some of MongoDB's
        commands and options), else None; asked at connect (an injected client: not asked,
        taken for MongoDB)."""
        return self._server or None


class MongograntStore(MongoStore):
    """A MongoDB collection whose credentials come from mongogrant (optional extra)."""

    def __init__(self, mongogrant_spec: str, collection_name: str,
                 mgclient_config_path: str | None = None, **kwargs: Any) -> None:
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
        super().__init__(database or "db", collection_name, host=host, **kwargs)

    def _config(self) -> dict[str, Any]:
        return {"mongogrant_spec": self.mongogrant_spec, "collection_name": self.collection_name,
                "mgclient_config_path": self.mgclient_config_path, **self._store_config()}

    def _open(self) -> Any:
        from mongogrant.client import Client
        from mongogrant.config import Config

        client = (Client(Config(check=False, path=self.mgclient_config_path))
                  if self.mgclient_config_path else Client())
        return client.db(self.mongogrant_spec)[self.collection_name]
