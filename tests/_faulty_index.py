"""A pymongo-compatible client over mongomock whose writes start failing on demand.

``MongoStore(..., client=FlakyMongoClient(fail_after=2))`` behaves like a MongoDB that
accepts two ``bulk_write`` calls and then drops the connection (``AutoReconnect``), the way
a real server does when the network goes away mid-update. Reads go to the same mongomock
data, so a test can inspect what actually reached the index.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import mongomock_ng
import pymongo.errors


class FlakyCollection:
    """Delegates to a mongomock collection; ``bulk_write``/``find`` fail when told to."""

    def __init__(self, inner: Any, owner: FlakyMongoClient) -> None:
        self._inner = inner
        self._owner = owner

    def bulk_write(self, requests: list, ordered: bool = True, **kwargs: Any) -> Any:
        self._owner.check("bulk_write")
        return self._inner.bulk_write(requests, ordered=ordered, **kwargs)

    def find(self, *args: Any, **kwargs: Any) -> FlakyCursor:
        return FlakyCursor(self._inner.find(*args, **kwargs), self._owner)

    def count_documents(self, *args: Any, **kwargs: Any) -> Any:
        self._owner.check("count_documents")
        return self._inner.count_documents(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class FlakyCursor:
    """Like pymongo's cursor, it talks to the server (and fails) when iterated, not created."""

    def __init__(self, inner: Any, owner: FlakyMongoClient) -> None:
        self._inner = inner
        self._owner = owner

    def sort(self, *args: Any, **kwargs: Any) -> FlakyCursor:
        self._inner = self._inner.sort(*args, **kwargs)
        return self

    def skip(self, n: int) -> FlakyCursor:
        self._inner = self._inner.skip(n)
        return self

    def limit(self, n: int) -> FlakyCursor:
        self._inner = self._inner.limit(n)
        return self

    def __iter__(self) -> Iterator[dict]:
        self._owner.check("find")
        return iter(self._inner)


class _Database:
    def __init__(self, inner: Any, owner: FlakyMongoClient) -> None:
        self._inner = inner
        self._owner = owner

    def __getitem__(self, name: str) -> FlakyCollection:
        return FlakyCollection(self._inner[name], self._owner)


class FlakyMongoClient:
    """``fail_after``: how many calls of each method in ``failing`` succeed before they fail.

    ``None`` never fails. ``calls`` counts the calls, failed ones included; ``raw`` is the
    underlying mongomock client, untouched by the fault.
    """

    def __init__(self, fail_after: int | None = None,
                 failing: tuple[str, ...] = ("bulk_write",)) -> None:
        self.raw = mongomock_ng.MongoClient()
        self.fail_after = fail_after
        self.failing = set(failing)
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def check(self, method: str) -> None:
        with self._lock:
            done = self.calls.get(method, 0)
            self.calls[method] = done + 1
        if method in self.failing and self.fail_after is not None and done >= self.fail_after:
            raise pymongo.errors.AutoReconnect("connection closed (injected by the test)")

    def __getitem__(self, name: str) -> _Database:
        return _Database(self.raw[name], self)

    def close(self) -> None:
        pass
