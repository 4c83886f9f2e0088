"""MontyStore's batched writes: one key lookup per batch instead of one scan per document.

The per-document path (montydb's ``replace_one(upsert=True)``, still used for dotted keys and
key values the batch cannot compare) is the oracle: every batch must leave the index exactly
as that path would.
"""

from __future__ import annotations

import glob
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3explore import MontyStore, StoreConnectionError

STORAGES = ["memory", "sqlite", "flatfile"]


class PerDocumentMonty(MontyStore):
    """The old write path: montydb's replace_one(upsert=True), one document at a time."""

    def _write_batch(self, latest: dict, keys: list[str]) -> bool:
        return False


class CountingMonty(MontyStore):
    """Records whether the batched path ran, so fallbacks are seen to happen."""

    batched: list[bool]

    def _write_batch(self, latest: dict, keys: list[str]) -> bool:
        done = super()._write_batch(latest, keys)
        self.batched.append(done)
        return done


_names = iter(range(10**9))


def open_store(cls: type[MontyStore], storage: str, tmp_path, **kwargs) -> MontyStore:
    name = f"w{next(_names)}"  # montydb's memory storage is process-wide: fresh names
    path = None if storage == "memory" else str(tmp_path / name)
    store = cls(name, database_path=path, storage="sqlite" if path is None else storage,
                **kwargs)
    store.connect()
    if isinstance(store, CountingMonty):
        store.batched = []
    return store


def contents(store: MontyStore) -> list[str]:
    return sorted(repr(sorted(d.items())) for d in store.query())


@pytest.fixture(params=STORAGES)
def storage(request) -> str:
    return request.param


def test_mixed_new_and_existing_keys(storage, tmp_path):
    store = open_store(CountingMonty, storage, tmp_path)
    store.update([{"task_id": "a", "n": 1}, {"task_id": "b", "n": 1}])
    store.update([{"task_id": "b", "n": 2}, {"task_id": "c", "n": 2}])
    assert store.batched == [True, True]
    assert {d["task_id"]: d["n"] for d in store.query()} == {"a": 1, "b": 2, "c": 2}
    assert store.count() == 3


def test_last_copy_of_a_key_in_a_batch_wins(storage, tmp_path):
    store = open_store(CountingMonty, storage, tmp_path)
    store.update([{"task_id": "old", "n": 0}])
    store.update([{"task_id": "a", "n": 1}, {"task_id": "old", "n": 1},
                  {"task_id": "a", "n": 2}, {"task_id": "old", "n": 3}])
    assert store.batched == [True, True]
    assert sorted((d["task_id"], d["n"]) for d in store.query()) == [("a", 2), ("old", 3)]


def test_replaced_entries_keep_no_stale_fields(storage, tmp_path):
    store = open_store(MontyStore, storage, tmp_path)
    store.update({"task_id": "a", "gone": True, "n": 1})
    store.update({"task_id": "a", "n": 2})
    assert list(store.query()) == [{"task_id": "a", "n": 2}]


def test_mongo_equality_of_key_values(storage, tmp_path):
    # 1 and 1.0 are one key; "1", True and None are others, as in MongoDB
    store = open_store(CountingMonty, storage, tmp_path)
    store.update([{"task_id": 1, "v": "int"}, {"task_id": "1", "v": "str"},
                  {"task_id": True, "v": "bool"}, {"task_id": None, "v": "null"}])
    store.update([{"task_id": 1.0, "v": "float"}, {"task_id": False, "v": "false"}])
    assert all(store.batched)
    got = sorted((repr(d["task_id"]), d["v"]) for d in store.query())
    assert got == [("'1'", "str"), ("1.0", "float"), ("False", "false"), ("None", "null"),
                   ("True", "bool")]


def test_compound_keys_are_batched(storage, tmp_path):
    store = open_store(CountingMonty, storage, tmp_path)
    store.update([{"a": 1, "b": 1, "n": 0}, {"a": 1, "b": 2, "n": 0}], key=["a", "b"])
    store.update([{"a": 1, "b": 2, "n": 1}, {"a": 2, "b": 2, "n": 1}], key=["a", "b"])
    assert store.batched == [True, True]
    assert sorted((d["a"], d["b"], d["n"]) for d in store.query()) == [
        (1, 1, 0), (1, 2, 1), (2, 2, 1)]


def test_dotted_keys_fall_back_to_per_document_upserts(storage, tmp_path):
    store = open_store(CountingMonty, storage, tmp_path)
    store.update([{"calc": {"id": 1}, "n": 0}, {"calc": {"id": 2}, "n": 0}], key="calc.id")
    store.update([{"calc": {"id": 2}, "n": 1}, {"calc": {"id": 2}, "n": 2}], key="calc.id")
    assert store.batched == []  # never tried: dotted keys are matched by montydb itself
    assert sorted((d["calc"]["id"], d["n"]) for d in store.query()) == [(1, 0), (2, 2)]


def test_unbatchable_key_values_fall_back(storage, tmp_path):
    store = open_store(CountingMonty, storage, tmp_path)
    # a stored key that is a list: MongoDB's {task_id: "x"} matches it, the batch cannot tell
    store.collection.insert_one({"task_id": ["x", "y"], "n": 0})
    store.update({"task_id": "x", "n": 1})
    assert store.batched == [False]
    assert list(store.query()) == [{"task_id": "x", "n": 1}]
    # a datetime key (BSON keeps milliseconds) goes to montydb as a whole batch
    import datetime as dt

    store.update({"task_id": dt.datetime(2024, 1, 1, 0, 0, 0, 1500), "n": 2})
    assert store.batched == [False]  # not even tried: the new key value is not batchable
    assert store.count() == 2


def test_existing_duplicates_replace_the_first_like_replace_one(storage, tmp_path):
    batched = open_store(MontyStore, storage, tmp_path)
    oracle = open_store(PerDocumentMonty, storage, tmp_path)
    for store in (batched, oracle):
        store.collection.insert_many([{"task_id": "a", "n": 1}, {"task_id": "a", "n": 2}])
        store.update({"task_id": "a", "n": 3})
    assert contents(batched) == contents(oracle)
    assert sorted(d["n"] for d in batched.query()) == [2, 3]


KEYS = st.one_of(st.sampled_from(["a", "b", "1", ""]), st.integers(-2, 2),
                 st.sampled_from([1.0, 0.5, float("nan")]), st.booleans(), st.none())
BATCHES = st.lists(st.lists(st.tuples(KEYS, st.integers(0, 9)), max_size=6), min_size=1,
                   max_size=4)


@pytest.mark.parametrize("storage_name", ["memory", "sqlite"])
@settings(max_examples=40, deadline=None)
@given(batches=BATCHES)
@pytest.mark.slow
def test_batches_leave_what_per_document_upserts_leave(storage_name, tmp_path_factory, batches):
    tmp_path = tmp_path_factory.mktemp("oracle")
    batched = open_store(MontyStore, storage_name, tmp_path)
    oracle = open_store(PerDocumentMonty, storage_name, tmp_path)
    try:
        for batch in batches:
            docs = [{"task_id": key, "n": n} for key, n in batch]
            batched.update(docs)
            oracle.update(docs)
        assert contents(batched) == contents(oracle)
    finally:
        batched.close()
        oracle.close()


def test_a_failing_batch_on_disk_writes_nothing(tmp_path):
    store = open_store(MontyStore, "sqlite", tmp_path)
    store.update({"task_id": "kept", "n": 0})
    with pytest.raises(OverflowError):  # bson refuses ints over 8 bytes
        store.update([{"task_id": "new", "n": 1}, {"task_id": "kept", "n": 1},
                      {"task_id": "bad", "n": 2**70}])
    assert list(store.query()) == [{"task_id": "kept", "n": 0}]


def test_a_locked_index_file_is_a_store_error(tmp_path):
    store = open_store(MontyStore, "sqlite", tmp_path, client_kwargs={"wtimeout": 100})
    store.update({"task_id": "a"})
    (path,) = glob.glob(str(tmp_path / "*" / "db" / "*.collection"))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the file
    try:
        with pytest.raises(StoreConnectionError, match="writing 1 documents to the index"):
            store.update({"task_id": "b"})
    finally:
        other.execute("ROLLBACK")
        other.close()
    store.update({"task_id": "b"})
    assert sorted(store.distinct("task_id")) == ["a", "b"]


def _open_and_write(path: str, name: str, start, errors) -> None:
    try:
        start.wait(30)
        for round_ in range(25):  # every open used to rewrite the config others were reading
            # a generous lock wait: four writers on a loaded 2-core machine may queue for
            # seconds, and waiting is not what this test is about (the config race is)
            store = MontyStore("shared", database_path=path,
                               client_kwargs={"wtimeout": 60_000})
            store.connect()
            store.update([{"task_id": f"{name}-{round_ % 5}", "by": name}])
            store.close()
    except BaseException as exc:
        errors.put(f"{name}: {type(exc).__name__}: {exc}")


@pytest.mark.slow
def test_processes_opening_one_new_folder_at_once_all_connect(tmp_path):
    # montydb wrote the folder's storage config on every open; a process reading it
    # meanwhile saw it empty ("ValueError: Empty module name").
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    start, errors = ctx.Event(), ctx.Queue()
    path = str(tmp_path / "index")
    procs = [ctx.Process(target=_open_and_write, args=(path, f"p{i}", start, errors))
             for i in range(4)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    assert problems == [] and [p.exitcode for p in procs] == [0, 0, 0, 0]
    with MontyStore("shared", database_path=path) as store:
        assert store.count() == 20
