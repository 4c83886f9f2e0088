"""swap_entries: compare and set of index entries by version, on every index backend.

S3Store's writer relies on it (see _confirm.py): an entry goes in only if its key still has
the version the writer saw before its put. On the backends that say ``atomic_swaps``, racing
threads swapping one key from one version must leave exactly one winner.
"""

from __future__ import annotations

import threading

import pytest

from s3explore import ConfigurationError
from tests.backends import INDEX_BACKENDS, drop_index, make_index


@pytest.fixture(params=sorted(INDEX_BACKENDS))
def index(request, tmp_path):
    store = make_index(request.param, f"swap_{tmp_path.name[-20:]}", tmp_path)
    store.connect()
    yield store
    drop_index(request.param, store)


def entry(key: str, version: str | None, value: int = 0) -> dict:
    doc = {"task_id": key, "value": value}
    if version is not None:
        doc["obj_etag"] = version
    return doc


def test_each_entry_goes_in_only_over_the_version_seen(index):
    index.update([entry("tagged", "v1"), entry("untagged", None), entry("stale", "v7")])
    won = index.swap_entries(
        [entry("tagged", "v2", 1), entry("untagged", "v3", 1), entry("new", "v4", 1),
         entry("stale", "v5", 1), entry("taken", "v6", 1)],
        ["v1", "", None, "v6", ""])
    assert won == [True, True, True, False, False]
    now = {e["task_id"]: (e.get("obj_etag"), e["value"]) for e in index.query()}
    assert now == {"tagged": ("v2", 1), "untagged": ("v3", 1), "new": ("v4", 1),
                   "stale": ("v7", 0)}
    # The same swap again loses everywhere: the versions moved on
    assert index.swap_entries([entry("tagged", "v8", 2), entry("new", "v9", 2)],
                              ["v1", None]) == [False, False]
    assert index.count() == 4  # no second entry for a key whose insert lost


def test_which_indexes_swap_atomically(index, request):
    """Those whose writers need no listing: not MontyStore (other processes may open its
    folder) nor FerretDB 1.24 (there, four threads racing a filtered replace of one key
    from one version often all win: this test's race, run on it while writing this)."""
    backend = request.node.callspec.params["index"]
    assert index.atomic_swaps == (backend in ATOMIC)


ATOMIC = ["duckdb", "duckdb-file", "memory", "mongo-injected"]


@pytest.mark.parametrize("index", ATOMIC, indirect=True)
def test_racing_threads_swapping_one_key_leave_one_winner(index):
    index.update([entry(f"k{i}", "base") for i in range(20)])
    start = threading.Barrier(4)
    wins: list[list[bool]] = [[] for _ in range(4)]

    def racer(n: int) -> None:
        start.wait()
        for i in range(20):
            wins[n] += index.swap_entries([entry(f"k{i}", f"w{n}", n)], ["base"])

    threads = [threading.Thread(target=racer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [[n for n in range(4) if wins[n][i]] for i in range(20)]
    assert index.count() == 20
    for i, won in enumerate(winners):
        assert len(won) == 1, (i, won)
        assert index.query_one({"task_id": f"k{i}"})["obj_etag"] == f"w{won[0]}"


@pytest.mark.parametrize(("entries", "seen", "message"), [
    ([entry("a", "v")], [], "one seen version per entry"),
    ([{"value": 1}], [None], "key field 'task_id'"),
    ([entry("a", "v")], [3], "must be a string, '' or None"),
])
def test_bad_swaps_are_refused_by_name(index, entries, seen, message):
    with pytest.raises(ConfigurationError, match=message):
        index.swap_entries(entries, seen)
    assert index.count() == 0
