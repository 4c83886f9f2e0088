"""maggma's own Builders run on s3explore stores, as sources and as targets."""

from __future__ import annotations

import datetime as dt
import pickle
import uuid

import numpy as np
import pytest
from maggma.builders import MapBuilder
from maggma.stores import MemoryStore as MaggmaMemoryStore

from s3explore import MemoryStore, MongoStore, S3Store, UpdateError
from tests import servers
from tests.conftest import CREDENTIALS
from tests.maggma.builders import ByElementCount, DosSummary

T0 = dt.datetime(2024, 1, 2, 3, 4, 5)


def material(i: int, **extra) -> dict:
    return {
        "task_id": f"mp-{i}",
        "formula": f"X{i}O{i % 3 + 1}",
        "nelements": i % 3 + 1,
        "structure": {"lattice": np.eye(3) * (3.0 + i / 10)},
        "dos": {"energies": np.linspace(-5, 5, 11), "densities": np.arange(11.0) * (i + 1)},
        "last_updated": T0,
        **extra,
    }


def s3_store(s3_server, bucket, **kwargs) -> S3Store:
    kwargs.setdefault("index", MemoryStore(f"idx-{bucket}-{len(kwargs)}"))
    return S3Store(bucket=bucket, s3_profile=dict(CREDENTIALS),
                   endpoint_url=s3_server.endpoint_url, compress=True,
                   searchable_fields=["formula", "nelements"], **kwargs)


@pytest.fixture
def source(s3_server, bucket):
    store = s3_store(s3_server, bucket)
    with store:
        store.update([material(i) for i in range(12)])
    return store


def expected_summary(i: int) -> dict:
    doc = material(i)
    return {"formula": doc["formula"], "dos_max": 10.0 * (i + 1),
            "lattice_a": 3.0 + i / 10, "state": "successful"}


def summaries(target) -> dict:
    target.connect()
    return {d["task_id"]: {k: d[k] for k in ("formula", "dos_max", "lattice_a", "state")}
            for d in target.query()}


def test_map_builder_from_an_s3store_into_a_maggma_store(source):
    target = MaggmaMemoryStore("summary")  # maggma's own; it cannot reconnect once closed
    DosSummary(source, target).run()
    target._coll = None  # reopen it empty, as a second run would
    target.connect()
    assert target.count() == 0
    target = MaggmaMemoryStore("summary")
    builder = DosSummary(source, target)
    builder.connect()
    items = [builder.process_item(item) for item in builder.get_items()]
    builder.update_targets(items)
    assert summaries(target) == {f"mp-{i}": expected_summary(i) for i in range(12)}


@pytest.mark.parametrize("target_kind", ["s3explore-memory", "s3explore-s3"])
@pytest.mark.slow
def test_map_builder_from_an_s3store_is_complete_then_incremental(
        source, target_kind, s3_server, bucket):
    target = {
        "s3explore-memory": lambda: MemoryStore("summary"),
        "s3explore-s3": lambda: s3_store(s3_server, bucket, sub_dir="summary",
                                         index=MemoryStore("summary-idx")),
    }[target_kind]()
    builder = DosSummary(source, target)
    builder.run()
    assert summaries(target) == {f"mp-{i}": expected_summary(i) for i in range(12)}
    target.connect()
    assert target.query_one({"task_id": "mp-3"})["last_updated"] == T0

    builder.connect()
    assert list(builder.get_items()) == []  # nothing changed: nothing to do
    later = T0 + dt.timedelta(days=1)
    source.connect()
    source.update([material(4, last_updated=later), material(7, last_updated=later)])
    assert sorted(d["task_id"] for d in builder.get_items()) == ["mp-4", "mp-7"]
    builder.run()
    target.connect()
    assert target.query_one({"task_id": "mp-7"})["last_updated"] == later


@pytest.mark.slow
def test_map_builder_into_an_s3store_from_a_maggma_source(s3_server, bucket):
    maggma_source = MaggmaMemoryStore("raw")
    maggma_source.connect()
    maggma_source.update([{**material(i), "structure": {"lattice": np.eye(3).tolist()},
                           "dos": {"densities": list(range(11))}} for i in range(5)])

    class Plain(DosSummary):
        def unary_function(self, item):
            item["dos"]["densities"] = np.asarray(item["dos"]["densities"], float)
            return super().unary_function(item)

    target = s3_store(s3_server, bucket, index=MemoryStore("into-s3"))
    Plain(maggma_source, target).run()
    target.connect()
    assert target.count() == 5 and target.count({"state": "successful"}) == 0  # not searchable
    assert target.get("mp-2")["dos_max"] == 10.0
    assert {d["state"] for d in target.query()} == {"successful"}


def test_delete_orphans_and_retry_failed(source):
    source.connect()
    source.update([material(5, fail=True)])
    target = MemoryStore("orphans")
    DosSummary(source, target, delete_orphans=True).run()
    target.connect()
    assert target.query_one({"task_id": "mp-5"})["state"] == "failed"

    source.connect()
    source.remove_docs({"task_id": "mp-0"}, remove_s3_object=True)
    source.update([material(5)])  # fixed, same last_updated: only retry_failed sees it
    DosSummary(source, target, delete_orphans=True, retry_failed=True).run()
    target.connect()
    assert target.count({"task_id": "mp-0"}) == 0
    assert target.query_one({"task_id": "mp-5"})["state"] == "successful"
    assert target.count() == 11


@pytest.mark.slow
def test_group_builder_over_an_s3store(source):
    target = MemoryStore("groups")
    builder = ByElementCount(source, target, grouping_keys=["nelements"])
    builder.run()
    target.connect()
    groups = {d["nelements"]: d["formulas"] for d in target.query()}
    assert groups == {n: sorted(material(i)["formula"] for i in range(12) if i % 3 + 1 == n)
                      for n in (1, 2, 3)}
    assert sorted(target.query_one({"nelements": 2})["task_ids"]) == sorted(
        f"mp-{i}" for i in range(12) if i % 3 == 1)
    builder.connect()
    assert list(builder.get_items()) == []


def test_an_output_that_cannot_be_stored_fails_the_run_naming_the_key(source, s3_server, bucket):
    source.connect()
    source.update([material(3, notes="n" * 3000)])  # over S3's 2 KB of metadata once indexed
    target = s3_store(s3_server, bucket, sub_dir="loud", index=MemoryStore("loud"))
    target.searchable_fields.append("notes")
    with pytest.raises(UpdateError, match="'mp-3'") as caught:
        DosSummary(source, target).run()
    assert caught.value.result.failed_keys == ["mp-3"]
    assert target.count() == 11  # everything else landed and is indexed


@pytest.mark.slow
def test_a_builder_with_connected_s3explore_stores_pickles(source):
    target = MemoryStore("pickled-target")
    builder = DosSummary(source, target)
    builder.connect()
    clone = pickle.loads(pickle.dumps(builder))
    assert clone.source == source and clone.source is not source
    clone.source.connect()
    assert clone.source.get("mp-1")["formula"] == material(1)["formula"]
    # an in-memory index arrives empty in the copy, as maggma's MemoryStore does
    assert clone.source.index.count() == 0
    assert clone.process_item(source.query_one({"task_id": "mp-2"}))["dos_max"] == 30.0


# ---------------------------------------------------------------- MongoStores on a real server


def mongo_store(name: str) -> MongoStore:
    """An s3explore MongoStore on the shared FerretDB (or S3X_MONGODB_URI's MongoDB)."""
    return MongoStore.from_uri(servers.mongodb_uri(), f"{name}-{uuid.uuid4().hex[:8]}",
                               database="s3x_test")


def drop(*stores) -> None:
    for store in stores:
        store.connect()
        store.collection.drop()
        store.close()


class Formulas(MapBuilder):
    """Plain documents in (a MongoStore holds no numpy arrays), plain documents out."""

    def unary_function(self, item: dict) -> dict:
        return {"formula": item["formula"], "n_chars": len(item["formula"])}


def plain(i: int, **extra) -> dict:
    doc = material(i, **extra)
    del doc["structure"], doc["dos"]
    return doc


def test_map_and_group_builders_between_mongostores_on_a_real_server():
    source, mapped, grouped = mongo_store("src"), mongo_store("map"), mongo_store("group")
    try:
        with source:
            source.update([plain(i) for i in range(12)])
        Formulas(source, mapped).run()
        mapped.connect()
        assert {d["task_id"]: d["n_chars"] for d in mapped.query()} == {
            f"mp-{i}": len(material(i)["formula"]) for i in range(12)}
        builder = Formulas(source, mapped)
        builder.connect()
        assert list(builder.get_items()) == []  # nothing changed: nothing to do
        later = T0 + dt.timedelta(days=1)
        source.update([plain(4, last_updated=later)])
        assert [d["task_id"] for d in builder.get_items()] == ["mp-4"]

        # GroupBuilder groups with groupby: on FerretDB (no $push in $group) s3explore
        # groups the documents itself, on MongoDB the server does
        ByElementCount(source, grouped, grouping_keys=["nelements"]).run()
        grouped.connect()
        assert {d["nelements"]: d["formulas"] for d in grouped.query()} == {
            n: sorted(material(i)["formula"] for i in range(12) if i % 3 + 1 == n)
            for n in (1, 2, 3)}
    finally:
        drop(source, mapped, grouped)


def test_map_builder_from_an_s3store_indexed_in_mongodb_into_a_mongostore(s3_server, bucket):
    index, target = mongo_store("s3-index"), mongo_store("summary")
    source = s3_store(s3_server, bucket, index=index)
    try:
        with source:
            source.update([material(i) for i in range(6)])
        DosSummary(source, target).run()
        target.connect()
        assert {d["task_id"]: {k: d[k] for k in ("formula", "dos_max", "lattice_a", "state")}
                for d in target.query()} == {f"mp-{i}": expected_summary(i) for i in range(6)}
    finally:
        drop(index, target)
