"""A query whose object another writer replaced after the query read its entry: each body
it yields is the one its entry describes (the SHA-1 in the object's metadata tells)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from s3explore import S3Store, TransientS3Error
from s3explore import _codec as codec


def doc(i: int, writer: str) -> dict:
    return {"task_id": f"k{i}", "writer": writer, "payload": [writer] * (i + 1),
            "last_updated": dt.datetime(2024 if writer == "A" else 2025, 1, 1)}


@pytest.fixture
def pair(make_store) -> tuple[S3Store, S3Store]:
    """Two stores over one bucket and one index: two writers of the same collection."""
    first = make_store(compress=True, searchable_fields=["writer"])
    second = make_store(index=first.index, compress=True, searchable_fields=["writer"])
    assert first.update([doc(i, "A") for i in range(6)]).ok
    return first, second


def test_a_body_replaced_after_its_entry_was_read_is_left_out_when_it_no_longer_matches(pair):
    first, second = pair
    found = first.query({"writer": "A"}, sort={"task_id": 1}, workers=1)
    entries_read = next(found)  # the entries are read; k3's body is replaced below
    assert second.update([doc(3, "B")]).ok
    rest = list(found)
    assert entries_read["writer"] == "A"
    assert [d["task_id"] for d in [entries_read, *rest]] == ["k0", "k1", "k2", "k4", "k5"]
    assert all(d["writer"] == "A" for d in rest)


def test_a_replaced_body_comes_with_its_own_entry_when_it_still_matches(pair):
    first, second = pair
    found = first.query({}, sort={"task_id": 1}, workers=1)
    next(found)
    assert second.update([doc(3, "B")]).ok
    rest = {d["task_id"]: d for d in found}
    assert rest["k3"]["writer"] == "B" and rest["k3"]["payload"] == ["B"] * 4
    assert rest["k3"]["last_updated"] == dt.datetime(2025, 1, 1)  # from B's entry
    assert rest["k2"]["last_updated"] == dt.datetime(2024, 1, 1)


def test_an_entry_that_never_catches_up_is_an_error_naming_the_key(pair):
    first, second = pair
    found = first.query({"writer": "A"}, sort={"task_id": 1}, workers=1)
    next(found)
    # Another writer's put, whose entry is never written (it crashed in between).
    body = codec.encode_chunks(doc(2, "B"), "zlib", None, "k2")
    entry = codec.index_document(doc(2, "B"), "task_id", ["writer"], "", "zlib")
    second.objects.put_chunks("k2", body, codec.metadata_document(entry), digest=True)
    with pytest.raises(TransientS3Error, match="'k2'.*kept changing"):
        list(found)


def test_the_other_writers_entry_arriving_late_is_waited_for(pair):
    first, second = pair
    found = first.query({}, sort={"task_id": 1}, workers=1)
    next(found)
    late = doc(4, "B")
    body = codec.encode_chunks(late, "zlib", None, "k4")
    entry = codec.index_document(late, "task_id", ["writer"], "", "zlib")
    _, _, sha1 = second.objects.put_chunks("k4", body, codec.metadata_document(entry),
                                           digest=True)
    late_entry = {**entry, "obj_hash": sha1, "last_updated": late["last_updated"]}
    writes = threading.Timer(0.3, lambda: second.index.update([late_entry], key="task_id"))
    writes.start()
    try:
        rest = {d["task_id"]: d for d in found}
    finally:
        writes.join()
    assert rest["k4"]["writer"] == "B" and set(rest) == {"k1", "k2", "k3", "k4", "k5"}
    assert rest["k4"]["last_updated"] == dt.datetime(2025, 1, 1)  # the late entry's
