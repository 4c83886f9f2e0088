"""The index backends every contract test runs on: one list, one way to build each.

A new backend is one entry here; the index-store contract suite (tests/stores/
test_index_stores.py) and the DataFrame tests pick it up.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import mongomock_ng

from s3explore import DuckDBStore, MemoryStore, MongoStore, MontyStore, Store

MONGODB_URI = os.environ.get("S3X_MONGODB_URI")

# name -> factory(collection name, a private folder) -> an unconnected store
INDEX_BACKENDS: dict[str, Callable[[str, Path], Store]] = {
    "memory": lambda name, _: MemoryStore(name),
    "monty-memory": lambda name, _: MontyStore(name),
    "monty-disk": lambda name, folder: MontyStore(name, database_path=str(folder / "monty")),
    "mongo-injected": lambda name, _: MongoStore("s3x_test", name,
                                                 client=mongomock_ng.MongoClient()),
    "mongo-real": lambda name, _: MongoStore.from_uri(MONGODB_URI, name, database="s3x_test"),
    "duckdb": lambda name, _: DuckDBStore(name),
    "duckdb-file": lambda name, folder: DuckDBStore(name, path=str(folder / "index.duckdb")),
}
# Backends that need a server this machine may not have, and how to enable them.
NEEDS = {"mongo-real": (MONGODB_URI, "set S3X_MONGODB_URI to run against a real MongoDB")}
# The embedded engines: enough for tests about layers above the index (DataFrames).
EMBEDDED = ["memory", "monty-memory", "duckdb"]


def make_index(kind: str, name: str, folder: Path) -> Store:
    """A backend's store, or pytest.skip when its server is not configured."""
    import pytest

    available, reason = NEEDS.get(kind, (True, ""))
    if not available:
        pytest.skip(reason)
    return INDEX_BACKENDS[kind](name, folder)
