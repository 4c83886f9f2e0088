"""DuckDBStore: an embedded index store on DuckDB, in memory or in a file, for millions of
entries.

Documents are stored whole (msgpack, exact round trip) beside typed shadow columns per dotted
path (``_schema``), and MongoDB criteria and sorts run as SQL over those columns (``_sql``).
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Iterator
from typing import Any, ClassVar

from s3explore._errors import (
    ConfigurationError,
    NotConnectedError,
    QueryError,
    StoreConnectionError,
)
from s3explore._query import Query
from s3explore._stores._base import Store
from s3explore._stores._duckdb import _match
from s3explore._stores._duckdb._read import distinct, find
from s3explore._stores._duckdb._schema import Catalog
from s3explore._stores._duckdb._sql import Translator
from s3explore._stores._duckdb._write import Batch, KeyConflict, write_batch
from s3explore._stores._portable import PORTABLE_OPERATORS
from s3explore._stores._timezones import AWARE_FIELD
from s3explore._transfer import side_thread

CHUNK = 20_000  # documents per write transaction
CHECKPOINT = "1GB"  # write-ahead log size that makes DuckDB checkpoint (see _open_file)


class _Shared:
    """What every store object on one database and collection shares in this process."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.catalog: Catalog | None = None
        self.next_rid = 0
        self.replacing = False  # the last batch replaced stored entries


_shared: weakref.WeakValueDictionary[tuple, _Shared] = weakref.WeakValueDictionary()


class DuckDBStore(Store):
    """An index store on DuckDB: ``DuckDBStore("index", path="idx.duckdb")``.

    Without ``path`` the index lives in memory for as long as the store object (a copy sent to
    another process arrives empty). A file can be written by one process at a time: a second
    process gets StoreConnectionError, or read-only access with ``read_only=True`` once the
    writer has closed it. ``duckdb_config`` goes to ``duckdb.connect(config=...)`` (e.g.
    ``{"memory_limit": "2GB", "threads": 2}``).

    Datetimes keep their microseconds; aware ones come back UTC-aware, as from every index
    store (see the README's "Datetimes and time zones"). Arrays sort by their first element,
    as in MemoryStore (MongoDB uses the smallest or largest).
    """

    supported_operators = PORTABLE_OPERATORS
    atomic_swaps = True  # a file has one writing process: a lock in it is enough
    _transient: ClassVar[tuple[str, ...]] = ("_conn", "_memory", "_state")

    def __init__(self, collection_name: str = "index", path: str | os.PathLike | None = None,
                 read_only: bool = False, duckdb_config: dict | None = None,
                 **store_kwargs: Any) -> None:
        super().__init__(**store_kwargs)
        if not isinstance(collection_name, str) or not collection_name:
            raise ConfigurationError(f"collection_name must be a non-empty string, got "
                                     f"{collection_name!r}")
        if duckdb_config is not None and not isinstance(duckdb_config, dict):
            raise ConfigurationError("duckdb_config must be a dict of DuckDB settings such "
                                     "as {'memory_limit': '2GB'}")
        if read_only and path is None:
            raise ConfigurationError("read_only=True needs the path of an index file")
        self.collection_name = collection_name
        self.path = os.fspath(path) if path is not None else None
        self.read_only = bool(read_only)
        self.duckdb_config = dict(duckdb_config or {})
        self._conn: Any = None
        self._memory: Any = None  # the in-memory database, kept across close()/connect()
        self._state: _Shared | None = None

    def _config(self) -> dict[str, Any]:
        return {"collection_name": self.collection_name, "path": self.path,
                "read_only": self.read_only, "duckdb_config": self.duckdb_config,
                "key": self.key, "last_updated_field": self.last_updated_field,
                "last_updated_type": self.last_updated_type, "validator": self.validator}

    @property
    def name(self) -> str:
        return f"duckdb://{self.path or ':memory:'}/{self.collection_name}"

    def __repr__(self) -> str:
        where = f", path={self.path!r}" if self.path else ""
        return f"DuckDBStore({self.collection_name!r}{where}, key={self.key!r})"

    # ------------------------------------------------------------ connection

    def _connect(self, force_reset: bool) -> None:
        if self._conn is not None and not force_reset:
            return
        self._close()
        import duckdb

        if self.path is None:
            if self._memory is None:
                self._memory = duckdb.connect(":memory:", config=self.duckdb_config)
                self._state = _Shared()
            conn = self._memory
        else:
            conn = self._open_file(duckdb)
        _match.install(conn)
        state = self._state
        if self.path is not None:
            key = (os.path.realpath(self.path), self.read_only, self.collection_name)
            state = _shared.get(key)
            if state is None:
                state = _shared[key] = _Shared()
        with state.lock:
            if state.catalog is None:
                try:
                    state.catalog = Catalog.open(conn, self.collection_name,
                                                 create=not self.read_only)
                    if state.catalog is not None:
                        state.next_rid = conn.execute(
                            f"SELECT coalesce(max(_rid), -1) + 1 FROM {state.catalog.data}"
                        ).fetchone()[0]
                except duckdb.Error as exc:
                    state.catalog = None
                    if conn is not self._memory:
                        conn.close()
                    raise self._damaged(exc) from None
        self._state = state
        self._conn = conn

    def _damaged(self, exc: BaseException) -> StoreConnectionError:
        where = self.path or ":memory:"
        return StoreConnectionError(
            f"the index file {where!r} cannot be read: it is damaged (cut short or "
            f"overwritten: {type(exc).__name__}: {str(exc)[:200]}); restore it from a copy, "
            "or delete it and rebuild the index (rebuild_index_from_s3_data(), or open() "
            "again for a manifest's cached index)")

    def _open_file(self, duckdb: Any) -> Any:
        folder = os.path.dirname(os.path.abspath(self.path))
        if not self.read_only and not os.path.isdir(folder):
            raise StoreConnectionError(f"cannot create the index file {self.path!r}: the "
                                       f"folder {folder!r} does not exist")
        if self.read_only and not os.path.exists(self.path):
            raise StoreConnectionError(f"the index file {self.path!r} does not exist; open it "
                                       "without read_only=True to create it")
        try:
            # DuckDB checkpoints (rewrites the table's changed blocks and its key index into
            # the file) whenever the log passes 16 MB, which with a large index costs more
            # than the batch itself; the log is as durable, and closing checkpoints it
            config = {"checkpoint_threshold": CHECKPOINT, **self.duckdb_config}
            return duckdb.connect(self.path, read_only=self.read_only, config=config)
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" in text.lower():
                holder = text.split("Conflicting lock is held in", 1)[-1].split(".")[0]
                raise StoreConnectionError(
                    f"the index file {self.path!r} is open for writing in another process"
                    f"{' (' + holder.strip() + ')' if 'PID' in holder else ''}; DuckDB allows "
                    "one writer per file: close it there, or open it read-only "
                    "(read_only=True) once that process has closed it") from None
            if "not a valid DuckDB database" in text or "Could not read" in text:
                raise self._damaged(exc) from None
            raise StoreConnectionError(f"cannot open the index file {self.path!r}: "
                                       f"{text}") from None
        except (duckdb.ConnectionException, duckdb.InvalidInputException) as exc:
            raise StoreConnectionError(
                f"cannot open the index file {self.path!r} ({exc}); this process already "
                "has it open with other settings (read_only or duckdb_config)") from None

    def _close(self) -> None:
        if self._conn is not None and self._conn is not self._memory:
            self._conn.close()
        self._conn = None

    @property
    def connection(self) -> Any:
        """The DuckDB connection (tables ``s3x_data_N``; see ``_schema``)."""
        if self._conn is None:
            raise NotConnectedError(f"{self.name} is not connected; call connect() or use `with`")
        return self._conn

    @property
    def _catalog(self) -> Catalog | None:
        self.connection  # noqa: B018 - raises NotConnectedError
        return self._state.catalog

    # ------------------------------------------------------------ reading

    def _translator(self) -> Translator:
        return Translator(self._catalog, self._re2_accepts)

    def _re2_accepts(self, pattern: str) -> bool:
        try:
            self.connection.cursor().execute("SELECT regexp_matches('', $p)", {"p": pattern})
            return True
        except Exception:  # RE2 lacks it (lookaround, backreferences): Python runs it
            return False

    def _select(self, columns: str, q: Query, ordered: bool = True) -> tuple[str, dict]:
        catalog = self._catalog
        tr = self._translator()
        sql = f"SELECT {columns} FROM {catalog.data} WHERE {tr.where(q.criteria)}"
        if ordered:  # ties and unsorted queries in insertion order, as MongoDB's
            sql += f" ORDER BY {tr.order_by(q.sort)}"
        if q.limit:
            sql += f" LIMIT {tr.p(q.limit)}"
        if q.skip:
            sql += f" OFFSET {tr.p(q.skip)}"
        return sql, tr.params

    def _execute(self, sql: str, params: list) -> Any:
        import duckdb

        cursor = self.connection.cursor()
        try:
            return cursor.execute(sql, params)
        except duckdb.Error as exc:
            cursor.close()
            raise QueryError(f"the index {self.name} could not run the query: {exc}") from None

    def _arrow(self, sql: str, params: list) -> Any:
        """The result as an Arrow table, straight from DuckDB."""
        import duckdb

        cursor = self.connection.cursor()
        try:
            return cursor.sql(sql, params=params).to_arrow_table()
        except duckdb.Error as exc:
            raise QueryError(f"the index {self.name} could not run the query: {exc}") from None
        finally:
            cursor.close()

    def _find(self, q: Query) -> Iterator[dict]:
        return find(self, q)

    def _count(self, criteria: dict) -> int:
        if self._catalog is None:
            return 0
        with self._state.lock:
            sql, params = self._select("count(*)", Query(criteria), ordered=False)
            return self._execute(sql, params).fetchone()[0]

    def _distinct(self, field: str, criteria: dict) -> list:
        return distinct(self, field, criteria)

    def _marks_aware(self) -> bool:
        catalog = self._catalog  # a path once seen stays in the catalog: never a false "no"
        return catalog is not None and (catalog.full or catalog.get(AWARE_FIELD) is not None)

    def _groupby(self, keys: list[str], q: Query) -> Iterator[tuple[dict, list[dict]]]:
        from s3explore._stores._duckdb._group import groupby

        return groupby(self, keys, q)

    # ------------------------------------------------------------ writing

    def _writable(self) -> Any:
        conn = self.connection
        if self.read_only:
            raise StoreConnectionError(f"the index {self.name} is open read-only; open it "
                                       "without read_only=True to change it")
        return conn

    def _upsert(self, docs: list[dict], keys: list[str]) -> None:
        conn = self._writable()
        by_store_key = keys == [self.key]
        if len(docs) <= CHUNK:
            with self._state.lock:
                batch = Batch(docs, self.key, keys, self._state.next_rid)
                self._state.next_rid += batch.rows
                self._write(conn, batch, by_store_key)
            return
        # Large updates: DuckDB writes one chunk (without holding the GIL) while Python
        # prepares the next one. Each chunk is its own transaction, written in order.
        with self._state.lock, side_thread("s3x-duckdb-write") as submit:
            pending = None
            for start in range(0, len(docs), CHUNK):
                batch = Batch(docs[start:start + CHUNK], self.key, keys, self._state.next_rid)
                self._state.next_rid += batch.rows
                if pending is not None:
                    pending.result()
                pending = submit(self._write, conn, batch, by_store_key)
            pending.result()

    def _write(self, conn: Any, batch: Batch, by_store_key: bool) -> None:
        """One batch, one transaction: a plain INSERT while batches bring new keys only (an
        index being built), an upsert from the first batch that meets stored keys until one
        replaces nothing again."""
        import duckdb

        state = self._state

        def work(upsert: bool) -> None:
            state.replacing = write_batch(conn, self._catalog, self._translator, batch,
                                          by_store_key, upsert)

        if not state.replacing:
            try:
                self._transaction(conn, lambda: work(False))
                return
            except KeyConflict:  # rolled back: written again as an upsert
                with contextlib.suppress(duckdb.Error):
                    conn.unregister("s3x_batch")
        self._transaction(conn, lambda: work(True))

    def _transaction(self, conn: Any, work: Any) -> None:
        import duckdb

        conn.execute("BEGIN TRANSACTION")
        try:
            work()
            conn.execute("COMMIT")
        except BaseException as exc:
            conn.execute("ROLLBACK")
            self._catalog.reload(conn)  # forget columns the rollback removed
            if isinstance(exc, duckdb.Error):
                raise StoreConnectionError(f"writing to the index {self.name} failed: {exc}; "
                                           "nothing of this batch was stored") from None
            raise

    def _delete(self, criteria: dict) -> None:
        conn = self._writable()
        catalog = self._catalog
        if catalog is None:
            return
        with self._state.lock:
            tr = self._translator()
            sql = f"DELETE FROM {catalog.data} WHERE {tr.where(criteria)}"
            self._transaction(conn, lambda: conn.execute(sql, tr.params))

    def _create_index(self, field: str, unique: bool) -> bool:
        # Column scans with zone maps need no index; uniqueness is kept for the key only.
        return not unique or field == self.key

    # ------------------------------------------------------------ frames layer

    def _find_arrow(self, q: Query) -> Any:
        from s3explore._stores._duckdb._arrow import find_arrow

        return find_arrow(self, q)

    def _inventory(self) -> Any:
        from s3explore._stores._duckdb._arrow import inventory

        return inventory(self)

    def _sample(self, n: int) -> list[dict]:
        from s3explore._stores._duckdb._arrow import sample

        return sample(self, n)

