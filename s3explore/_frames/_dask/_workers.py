"""Stores on Dask workers: how they travel, where they reconnect, and what cannot travel.

A store goes into the task graph wrapped in a ``StoreRef``: copied without its clients (the
stores' ``__getstate__``), shown by the store's own repr (no secrets), and tokenized by a
keyed digest, so neither task keys nor reprs are derived from readable configuration. On a
worker the first task that needs it reconnects a copy (profile names resolve there, inline
credentials travel sealed) and later tasks in that process reuse it. In the process that
built the graph, tasks use the caller's own store object, so an in-memory index works with
the threaded scheduler or an in-process cluster.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import hmac
import json
import os
import sys
import threading
import uuid
import weakref
from collections.abc import Iterator
from typing import Any

from s3explore._errors import ConfigurationError
from s3explore._frames._read import index_of
from s3explore._stores import DuckDBStore, MemoryStore, MontyStore, Sealed

PROCESS = uuid.uuid4().hex  # tells this process apart from workers, whatever their pid
_SALT = os.urandom(32)  # tokens are keyed digests: equal within a session, opaque outside
_LIVE: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()
_CONNECTED: collections.OrderedDict[str, Any] = collections.OrderedDict()
_USERS: collections.Counter[str] = collections.Counter()  # tasks using a store's index file
_LOCK = threading.Lock()
MAX_CONNECTED = 8  # stores kept connected per worker process


def process_id() -> str:
    return PROCESS


def memory_only(index: Any) -> str | None:
    """Why ``index`` cannot be read from another process, or None when it can."""
    if isinstance(index, MemoryStore) or type(index).__name__ in ("MemoryStore",
                                                                  "MongomockStore"):
        return f"the index {index.name} is a {type(index).__name__}, which lives in this " \
               "process's memory"
    if isinstance(index, DuckDBStore) and index.path is None:
        return f"the index {index.name} is a DuckDBStore in memory (no path=)"
    if isinstance(index, MontyStore) and index.database_path is None:
        return f"the index {index.name} is a MontyStore in memory (no database_path=)"
    return None


def travel_error(reason: str) -> ConfigurationError:
    return ConfigurationError(
        f"{reason}: a copy sent to the worker processes of a Dask cluster arrives empty. "
        "Keep the index where the workers can read it: a DuckDBStore file on storage they "
        "share (DuckDBStore('index', path=..., read_only=True)), a MontyStore file, or "
        "MongoDB; or run in this process (dask.config.set(scheduler='threads'), or a "
        "LocalCluster(processes=False))")


def writer_error(index: Any) -> ConfigurationError:
    return ConfigurationError(
        f"the index file {index.path!r} is open for writing in this process, and DuckDB then "
        "lets no other process read it: close it (store.close()) and open the index with "
        "DuckDBStore(..., read_only=True) for the analysis")


def _fingerprint(store: Any) -> bytes:
    """The store's whole configuration, credentials included (only ever hashed, salted)."""
    def reveal(value: Any) -> Any:
        return repr(value.unseal()) if isinstance(value, Sealed) else repr(value)

    return json.dumps(store.as_dict(), sort_keys=True, default=reveal).encode()


class StoreRef:
    """A store as it travels in a task graph (see the module docstring)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        try:
            digest = hmac.new(_SALT, _fingerprint(store), hashlib.sha256).hexdigest()
        except Exception:  # cannot travel; fine for the threaded scheduler, which never copies
            digest = uuid.uuid4().hex
        self.token = f"{type(store).__name__}-{digest[:16]}"
        self.origin = PROCESS
        _LIVE[self.token] = store

    def __repr__(self) -> str:
        return f"StoreRef({self.store!r})"

    def __dask_tokenize__(self) -> str:
        return self.token

    def __getstate__(self) -> dict:
        return {"store": self.store, "token": self.token, "origin": self.origin}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    @contextlib.contextmanager
    def use(self) -> Iterator[Any]:
        """The store to read from in this process, connected, for one task.

        A worker's copy keeps its S3 client between tasks, but an index file is closed as
        soon as no task of this process reads it: an open DuckDB file, even read-only,
        keeps every other process from writing to it.
        """
        live = _LIVE.get(self.token) if self.origin == PROCESS else None
        if live is not None:
            yield live
            return
        store = self.get()
        index = index_of(store)
        closes = isinstance(index, DuckDBStore)
        with _LOCK:
            if closes and not _USERS[self.token]:
                index.connect()
            _USERS[self.token] += 1
        try:
            yield store
        finally:
            with _LOCK:
                _USERS[self.token] -= 1
                if closes and not _USERS[self.token]:
                    index.close()

    def get(self) -> Any:
        """The store to read from in this process, connected (see ``use``)."""
        if self.origin == PROCESS:
            live = _LIVE.get(self.token)
            if live is not None:
                return live
        with _LOCK:
            store = _CONNECTED.get(self.token)
            if store is not None:
                _CONNECTED.move_to_end(self.token)
                return store
            store = self._reconnect()
            _CONNECTED[self.token] = store
            while len(_CONNECTED) > MAX_CONNECTED:
                _, old = _CONNECTED.popitem(last=False)
                old.close()
            return store

    def _reconnect(self) -> Any:
        store = self.store
        index = index_of(store)
        reason = memory_only(index)
        if reason is not None:
            raise travel_error(reason)
        if isinstance(index, DuckDBStore) and not index.read_only:
            index.read_only = True  # workers only read; read-only opens can share the file
        store.connect()
        objects = getattr(store, "objects", None)
        if objects is not None:  # the worker's task threads share this client: one pool for all
            objects.with_workers(objects.workers * _task_threads())
        return store


def _task_threads() -> int:
    """Tasks this Dask worker runs at once (1 outside a distributed worker)."""
    try:
        from distributed import get_worker

        return max(1, int(get_worker().state.nthreads))
    except (ImportError, ValueError, AttributeError):
        return 1


def current_client(client: Any) -> Any:
    """The distributed Client the work will run on: the one given, else the default one
    when dask's scheduler setting points at it."""
    if client is not None:
        return client
    if "distributed" not in sys.modules:
        return None
    import dask

    scheduler = dask.config.get("scheduler", None)
    if scheduler not in (None, "dask.distributed", "distributed"):
        return None
    from distributed import default_client

    try:
        return default_client()
    except ValueError:
        return None


def other_processes(client: Any = None) -> bool:
    """Whether tasks may run in processes other than this one (as far as can be told now)."""
    import dask

    if client is None:
        scheduler = dask.config.get("scheduler", None)
        if scheduler in ("processes", "multiprocessing"):
            return True
    client = current_client(client)
    if client is None:
        return False
    cluster = getattr(client, "cluster", None)
    if cluster is not None and getattr(cluster, "processes", True) is False:
        return False
    ids = client.run(process_id)
    # no workers yet (an adaptive cluster): assume they will be elsewhere
    return not ids or any(i != PROCESS for i in ids.values())


def check_travel(store: Any, client: Any = None) -> None:
    """ConfigurationError, before any task runs, when workers in other processes could
    not read the index."""
    index = index_of(store)
    reason = memory_only(index)
    writer = (isinstance(index, DuckDBStore) and index.path is not None
              and not index.read_only and index._conn is not None)
    if (reason is None and not writer) or not other_processes(client):
        return
    raise travel_error(reason) if reason is not None else writer_error(index)
