"""MongoStore against a real server over TCP: FerretDB (MongoDB's wire protocol) on 127.0.0.1.

The tests that kill a server, or need one with authentication, start a FerretDB of their own;
the others use the process's shared server (or the MongoDB that S3X_MONGODB_URI names). A
test that shows where FerretDB differs from MongoDB says so in its name or a comment.
"""

from __future__ import annotations

import subprocess
import traceback
import uuid

import pytest
from pymongo import monitoring

from s3explore import (
    AccessDeniedError,
    CredentialsError,
    InvalidDocumentError,
    MongoStore,
    QueryError,
    StoreConnectionError,
)
from s3explore._stores._mongo_uri import (
    DEFAULT_MAX_TIME_MS,
    SERVER_SELECTION_MS,
    SOCKET_MARGIN_MS,
)
from tests import servers
from tests.servers import FerretDB

PASSWORD = "Sekr1t-pw-4242"


def collection_name() -> str:
    return f"c{uuid.uuid4().hex[:10]}"


@pytest.fixture
def shared():
    """A connected store on the shared server, dropped afterwards."""
    store = MongoStore.from_uri(servers.mongodb_uri(), collection_name(), database="s3x_test")
    store.connect()
    yield store
    store.collection.drop()
    store.close()


@pytest.fixture
def own_server():
    with FerretDB() as db:
        yield db


def restart(db: FerretDB) -> None:
    """Start a killed FerretDB again on its port and data folder (what it wrote survives)."""
    log = db.folder / "ferretdb.log"
    with log.open("ab") as out:
        db.process = subprocess.Popen(db._command(), stdout=out, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, env=db._environment())
    servers._wait_for(db._ready, db.process, db.name, log, 60)


# ---------------------------------------------------------------- a server that goes away


@pytest.mark.timeout(120)  # a hang would end here: every wait of the store is bounded
@pytest.mark.slow
def test_a_server_killed_mid_iteration_is_a_connection_error_naming_the_store(own_server):
    store = MongoStore.from_uri(own_server.uri, collection_name(), database="s3x_test")
    store.connect()
    # loaded with insert_many: FerretDB's upserts (update's path) take ~10 ms each
    store.collection.insert_many([{"task_id": f"t{i:04d}", "n": i} for i in range(1000)])
    # bounded waits: server selection, and a socket that stops answering (maxTimeMS + margin)
    options = store.collection.database.client.options
    assert options.server_selection_timeout == SERVER_SELECTION_MS / 1000
    assert options.pool_options.socket_timeout == (store.max_time_ms + SOCKET_MARGIN_MS) / 1000
    assert store.max_time_ms == DEFAULT_MAX_TIME_MS
    found = store.query(sort={"task_id": 1})
    first = [next(found) for _ in range(10)]  # the first batch (101) is here; the rest is not
    own_server.kill()
    with pytest.raises(StoreConnectionError, match="lost the connection to the index") as info:
        first.extend(found)
    assert store.name in str(info.value)
    with pytest.raises(StoreConnectionError, match=store.name.replace(".", r"\.")):
        store.count()
    store.close()


@pytest.mark.timeout(120)
@pytest.mark.slow
def test_a_server_killed_between_put_and_index_flush_leaves_no_entry_without_object(
        make_store):
    with FerretDB() as db:
        def index():
            return MongoStore.from_uri(db.uri, "s3-index", database="s3x_test")

        store = make_store(index=index(), searchable_fields=["n"])

        def kill_at_six(snapshot):  # six objects landed, four indexed, two pending
            if snapshot.done == 6 and db.running:
                db.kill()

        docs = [{"task_id": f"k{i:02d}", "n": i, "body": "x" * 500} for i in range(10)]
        with pytest.raises(StoreConnectionError, match="without index entries") as info:
            store.update(docs, chunk_size=4, workers=1, progress=kill_at_six)
        assert "mongo://127.0.0.1" in str(info.value)
        store.close()

        restart(db)
        again = make_store(index=index(), searchable_fields=["n"])
        entries = again.index.query(properties=["task_id"])
        indexed = sorted(e["task_id"] for e in entries)
        assert indexed == ["k00", "k01", "k02", "k03"]  # the batch flushed before the kill
        for key in indexed:  # every entry names an object that is there
            assert again.get(key)["n"] == int(key[1:])
        result = again.update(docs, chunk_size=4)  # the rerun indexes the rest
        assert result.ok and again.count() == 10
        again.close()


# ---------------------------------------------------------------- write errors


def test_a_duplicate_key_in_a_unique_index_names_the_document(shared):
    assert shared.ensure_index("formula", unique=True) is True
    with pytest.raises(InvalidDocumentError, match=r"refused 1 of 3 documents: 'b' \(duplicate "
                                                   r"key") as info:
        shared.update([{"task_id": "a", "formula": "Si"}, {"task_id": "b", "formula": "Si"},
                       {"task_id": "c", "formula": "Ge"}])
    assert info.value.key == "b" and shared.name in str(info.value)
    # MongoDB names the index's field and value ("duplicate key {'formula': 'Si'}");
    # FerretDB's error has no keyValue ("duplicate key in a unique index")
    if not shared._ferretdb:
        assert "'formula': 'Si'" in str(info.value)
    assert sorted(shared.distinct("task_id")) == ["a", "c"]  # the others were written


def test_nested_arrays_are_refused_by_ferretdb_and_stored_by_mongodb(shared):
    # FerretDB v1 stores no array inside an array ("nested arrays are not supported")
    lattice = [[3.0, 0.0], [0.0, 3.0]]
    docs = [{"task_id": "flat", "sites": [1, 2]}, {"task_id": "matrix", "lattice": lattice}]
    if shared._ferretdb:
        with pytest.raises(InvalidDocumentError,
                           match=r"refused 1 of 2 documents: 'matrix' \(code 2: .*nested "
                                 "arrays") as info:
            shared.update(docs)
        assert info.value.key == "matrix"
        assert shared.distinct("task_id") == ["flat"]
    else:
        shared.update(docs)
        assert shared.query_one({"task_id": "matrix"})["lattice"] == lattice


# ---------------------------------------------------------------- authentication


@pytest.fixture(scope="module")
def auth_server():
    with FerretDB("alice", PASSWORD) as db:
        yield db


def test_the_right_credentials_work(auth_server):
    by_uri = MongoStore.from_uri(auth_server.uri, collection_name(), database="s3x_test")
    by_args = MongoStore("s3x_test", by_uri.collection_name, host="127.0.0.1",
                         port=auth_server.port, username="alice", password=PASSWORD,
                         auth_source="admin")
    with by_uri:
        by_uri.update([{"task_id": "a", "n": 1}])
    with by_args:
        assert by_args.query_one() == {"task_id": "a", "n": 1}
        by_args.collection.drop()


def test_a_wrong_password_is_a_credentials_error_that_never_shows_it(auth_server):
    wrong = "Wr0ng-pw-9999"
    stores = [
        MongoStore.from_uri(auth_server.uri.replace(PASSWORD, wrong), "c", database="s3x_test"),
        MongoStore("s3x_test", "c", host="127.0.0.1", port=auth_server.port, username="alice",
                   password=wrong, auth_source="admin"),
    ]
    for store in stores:
        with pytest.raises(CredentialsError, match="refused the login.*AuthenticationFailed"
                           ) as info:
            store.connect()
        assert store.name in str(info.value)
        shown = "".join(traceback.format_exception(info.value)) + repr(store) + str(store)
        assert wrong not in shown and PASSWORD not in shown


def test_no_credentials_on_a_server_that_needs_them_is_access_denied(auth_server):
    store = MongoStore.from_uri(auth_server.address + "s3x_test", "c")
    store.connect()  # buildInfo needs no login, as on MongoDB
    with pytest.raises(AccessDeniedError, match="Unauthorized") as info:
        store.count()
    assert store.name in str(info.value)
    store.close()


# ---------------------------------------------------------------- cursors and time limits


class _Commands(monitoring.CommandListener):
    """pymongo's command monitoring (a public API): which commands the client sent."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


def test_a_cursor_that_outlives_its_first_batch_returns_everything():
    commands = _Commands()
    store = MongoStore.from_uri(servers.mongodb_uri(), collection_name(), database="s3x_test",
                                event_listeners=[commands])
    store.connect()
    try:
        # loaded with insert_many: FerretDB's upserts (update's path) take ~10 ms each
        store.collection.insert_many([{"task_id": f"t{i:05d}", "n": i, "pad": "p" * 200}
                                      for i in range(1500)])
        commands.names.clear()
        keys = [d["task_id"] for d in store.query(properties=["task_id"])]
        assert "getMore" in commands.names  # more than one batch came back
        assert sorted(keys) == [f"t{i:05d}" for i in range(1500)]
        df = store.query_df(fields=["n"], sort={"n": -1})
        assert df["n"].tolist() == list(range(1499, -1, -1))
    finally:
        store.collection.drop()
        store.close()


def test_the_server_stops_a_query_at_max_time_ms(shared):
    shared.collection.insert_many([{"task_id": f"t{i:05d}", "name": f"name-{i}" * 8}
                                   for i in range(5000)])
    store = MongoStore.from_uri(servers.mongodb_uri(), shared.collection_name,
                                database="s3x_test", max_time_ms=1)
    slow = {"name": {"$regex": "9.*9.*9.*9$"}}  # unanchored: every document is read
    with store:
        with pytest.raises(QueryError, match=r"stopped the query after its time limit of 1 ms"):
            list(store.query(slow))
        with pytest.raises(QueryError, match=r"time limit of 1 ms \(maxTimeMS\)"):
            store.count(slow)
        # FerretDB's distinct refuses maxTimeMS ("unknown field"): it runs without one there
        if store._ferretdb:
            assert len(store.distinct("task_id", slow)) == shared.count(slow) > 0
