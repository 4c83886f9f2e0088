"""Nothing unreadable is written; what cannot be decoded is a CorruptObjectError everywhere."""

from __future__ import annotations

import msgpack
import pytest
from monty.msgpack import default as monty_default

from s3explore._errors import CorruptObjectError, UpdateError
from tests.materials._docs import Spin, dos, task_doc

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def enum_keyed(task_id: str) -> dict:
    """pymatgen's DOS densities keyed by Spin, as a user builds them by hand."""
    d = dos()
    return {"task_id": task_id, "densities": {Spin.up: d.densities[Spin.up]}}


@pytest.mark.slow
def test_update_refuses_enum_keys_naming_key_and_field(make_store):
    store = make_store(compress=True)
    result = store.update([enum_keyed("mp-bad"), task_doc("mp-good")], errors="collect")
    assert result.written == 1
    [failure] = result.failures
    assert failure.key == "mp-bad"
    assert "'densities'" in failure.reason and "Spin" in failure.reason
    assert "str keys" in failure.reason
    assert store.distinct("task_id") == ["mp-good"]
    with pytest.raises(UpdateError, match="mp-bad"):
        store.update([enum_keyed("mp-bad")])


def test_nested_tuple_keys_are_refused_with_their_path(make_store):
    store = make_store()
    doc = {"task_id": "t", "runs": [{"ok": 1}, {"grid": {(1, 2): 3.0}}]}
    result = store.update([doc], errors="collect")
    assert result.written == 0
    assert "'runs.1.grid'" in result.failures[0].reason


def put_unreadable(store, s3_server, bucket, task_id: str) -> None:
    """An object as maggma writes an enum-keyed dict (monty's default): keys become maps."""
    body = msgpack.packb(enum_keyed(task_id), default=monty_default)
    s3_server.client().put_object(Bucket=bucket, Key=task_id, Body=body)
    store.index.update([{"task_id": task_id}], key="task_id")


def test_unreadable_bodies_are_corrupt_everywhere(make_store, s3_server, bucket):
    store = make_store()
    store.update([task_doc("mp-good")])
    put_unreadable(store, s3_server, bucket, "mp-bad")
    with pytest.raises(CorruptObjectError, match="'mp-bad'.*key that is a map"):
        store.get("mp-bad")
    with pytest.warns(UserWarning, match="'mp-bad'"):
        skipped = list(store.query({}, sort={"task_id": 1}, on_error="skip"))
    assert [d["task_id"] for d in skipped] == ["mp-good"]
    with pytest.warns(UserWarning, match="'mp-bad'"):
        nulls = list(store.get_many(["mp-bad", "mp-good"], on_error="null"))
    assert nulls[0] is None and nulls[1]["task_id"] == "mp-good"
    report = store.verify(deep=True)
    assert report.unreadable == ["mp-bad"]
