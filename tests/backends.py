"""The index backends every contract test runs on: one list, one way to build each.

A new backend is one entry here; the index-store contract suite (tests/stores/
test_index_stores.py) and the DataFrame tests pick it up.

"mongo-ferretdb" is MongoStore over pymongo and a real server: the process's FerretDB
(tests/servers.py), or the MongoDB that ``S3X_MONGODB_URI`` names. It never skips.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import mongomock_ng

from s3explore import DuckDBStore, MemoryStore, MongoStore, MontyStore, Store
from tests import servers

# name -> factory(collection name, a private folder) -> an unconnected store
INDEX_BACKENDS: dict[str, Callable[[str, Path], Store]] = {
    "memory": lambda name, _: MemoryStore(name),
    "monty-memory": lambda name, _: MontyStore(name),
    "monty-disk": lambda name, folder: MontyStore(name, database_path=str(folder / "monty")),
    "mongo-injected": lambda name, _: MongoStore("s3x_test", name,
                                                 client=mongomock_ng.MongoClient()),
    "mongo-ferretdb": lambda name, _: MongoStore.from_uri(servers.mongodb_uri(), name,
                                                          database="s3x_test"),
    "duckdb": lambda name, _: DuckDBStore(name),
    "duckdb-file": lambda name, folder: DuckDBStore(name, path=str(folder / "index.duckdb")),
}
# Backends on a server: their collections are dropped after each test.
SERVER_BACKENDS = frozenset({"mongo-ferretdb"})
# The embedded engines: enough for tests about layers above the index (DataFrames).
EMBEDDED = ["memory", "monty-memory", "duckdb"]
# The DataFrame tests run on these: the embedded engines and MongoStore on a real server
# (whose columnar read, pymongoarrow, only runs on a real pymongo collection).
FRAME_BACKENDS = [*EMBEDDED, "mongo-ferretdb"]


def make_index(kind: str, name: str, folder: Path) -> Store:
    """A backend's unconnected store."""
    return INDEX_BACKENDS[kind](name, folder)


def drop_index(kind: str, store: Store) -> None:
    """Drop a server backend's collection (a no-op for the embedded ones), then close."""
    if kind in SERVER_BACKENDS:
        store.connect()
        store.collection.drop()
    store.close()
