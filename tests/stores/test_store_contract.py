"""One contract for every store: equal inputs give the same result types and error classes.

The index stores (MemoryStore, DuckDBStore, MontyStore), S3Store and ManifestStore (the
read-only part: a published S3Store opened with ``s3explore.open``) answer the same reads
alike and refuse the same bad arguments with the same class (``ArgumentError``, which is a
ConfigurationError and a QueryError). Writes on a read-only store raise ReadOnlyStoreError
whatever their arguments.
"""

from __future__ import annotations

import inspect
import uuid
import zlib

import pytest

import s3explore
from s3explore import (
    ConfigurationError,
    DuckDBStore,
    ManifestStore,
    MemoryStore,
    MontyStore,
    QueryError,
    ReadOnlyStoreError,
    S3Store,
    UpdateResult,
)
from s3explore._checks import ArgumentError
from tests.conftest import CREDENTIALS

DOCS = [{"task_id": f"mp-{i}", "formula": ["Si", "NaCl", "GaAs"][i % 3], "nsites": i % 4}
        for i in range(12)]
READS = ["memory", "duckdb", "monty", "s3", "manifest"]


@pytest.fixture(scope="module")
def stores(moto_s3, tmp_path_factory):
    """Every kind of store, holding DOCS: name -> connected store."""
    bucket = moto_s3.create_bucket(f"contract-{uuid.uuid4().hex[:8]}")
    written = S3Store(MemoryStore("contract-index"), bucket, s3_profile=moto_s3.credentials,
                      endpoint_url=moto_s3.endpoint_url, compress=True,
                      searchable_fields=["formula", "nsites"])
    written.connect()
    assert written.update(DOCS).ok
    written.write_manifest()
    published = s3explore.open(f"s3://{bucket}/", s3_profile=dict(CREDENTIALS),
                               endpoint_url=moto_s3.endpoint_url,
                               cache_dir=tmp_path_factory.mktemp("contract-cache"))
    published.connect()
    found = {"memory": MemoryStore("contract-m"), "duckdb": DuckDBStore("contract-d"),
             "monty": MontyStore("contract-y")}
    for index in found.values():
        index.connect()
        index.update(DOCS)
    found.update(s3=written, manifest=published)
    yield found
    for store in found.values():
        store.close()


def strip(docs: list[dict]) -> list[dict]:
    return [{k: v for k, v in d.items() if k in ("task_id", "formula", "nsites")} for d in docs]


@pytest.mark.parametrize("kind", READS)
def test_reads_give_the_same_answers_and_types(stores, kind):
    store = stores[kind]
    assert isinstance(store.count({"formula": "Si"}), int) and store.count({"formula": "Si"}) == 4
    got = strip(store.query({"nsites": {"$gte": 2}}, sort={"task_id": 1}, skip=1, limit=3))
    want = strip(stores["memory"].query({"nsites": {"$gte": 2}}, sort={"task_id": 1},
                                        skip=1, limit=3))
    assert got == want and len(got) == 3
    assert sorted(store.distinct("formula")) == ["GaAs", "NaCl", "Si"]
    one = store.query_one({"task_id": "mp-5"}, ["formula"])
    assert one == {"formula": "GaAs"} or one == {"task_id": "mp-5", "formula": "GaAs"}


@pytest.mark.parametrize("kind", READS)
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"limit": -1}, "limit must be a whole number >= 0"),
    ({"skip": "2"}, "skip must be a whole number >= 0"),
])
def test_bad_paging_is_the_same_error_class_everywhere(stores, kind, kwargs, message):
    with pytest.raises(ArgumentError, match=message) as caught:
        list(stores[kind].query({}, **kwargs))
    assert isinstance(caught.value, ConfigurationError) and isinstance(caught.value, QueryError)


@pytest.mark.parametrize("kind", READS)
def test_bad_criteria_and_max_time_are_the_same_error_class_everywhere(stores, kind):
    with pytest.raises(QueryError, match="criteria"):
        stores[kind].count(["formula", "Si"])
    with pytest.raises(ArgumentError, match="max_time must be a positive number of seconds"):
        stores[kind].count({}, max_time=0)


@pytest.mark.parametrize("kind", ["memory", "duckdb", "monty", "s3"])
def test_remove_docs_without_criteria_is_one_error_class_on_every_writable_store(stores, kind):
    with pytest.raises(ArgumentError, match=r"pass \{\} to remove everything") as caught:
        stores[kind].remove_docs(None)
    assert isinstance(caught.value, QueryError) and isinstance(caught.value, ConfigurationError)
    assert stores[kind].count() == len(DOCS)  # nothing removed


@pytest.mark.parametrize("call", [
    lambda s: s.remove_docs(None), lambda s: s.remove_docs({}),
    lambda s: s.update(DOCS), lambda s: s.update([], on_error="collect"),
])
def test_a_read_only_store_refuses_every_write_whatever_its_arguments(stores, call):
    with pytest.raises(ReadOnlyStoreError, match="read-only"):
        call(stores["manifest"])
    assert stores["manifest"].count() == len(DOCS)


def test_update_result_types_are_documented_per_kind(stores):
    """Index stores return how many documents they upserted (an int, where maggma returns
    None); S3Store returns an UpdateResult whose ``written`` is that count."""
    assert stores["memory"].update(DOCS[:2]) == 2
    assert stores["duckdb"].update(DOCS[:2]) == 2
    result = stores["s3"].update(DOCS[:2])
    assert isinstance(result, UpdateResult) and result.written == 2 and result.ok


@pytest.mark.parametrize("kind", ["s3", "manifest"])
@pytest.mark.parametrize("call", [
    lambda s: list(s.query({}, on_error="ignore")),
    lambda s: list(s.get_many(["mp-1"], on_missing="maybe")),
    lambda s: list(s.query({}, workers=0)),
])
def test_bad_read_choices_are_the_same_error_class_on_both_object_stores(stores, kind, call):
    with pytest.raises(ArgumentError, match="must be"):
        call(stores[kind])


def test_verify_has_the_same_signature_on_s3store_and_manifeststore():
    mine = inspect.signature(ManifestStore.verify).parameters
    theirs = inspect.signature(S3Store.verify).parameters
    assert list(mine) == list(theirs)
    assert {n: p.default for n, p in mine.items()} == {n: p.default for n, p in theirs.items()}


@pytest.mark.slow
def test_manifest_verify_deep_finds_an_unreadable_object_and_refuses_quarantine(
        moto_s3, tmp_path):
    bucket = moto_s3.create_bucket(f"contract-deep-{uuid.uuid4().hex[:8]}")
    written = S3Store(MemoryStore("deep-index"), bucket, s3_profile=moto_s3.credentials,
                      endpoint_url=moto_s3.endpoint_url, compress=True,
                      searchable_fields=["formula"])
    with written:
        assert written.update(DOCS[:4]).ok
        written.write_manifest()
    # mp-2's object becomes bytes no decoder reads, under its old metadata
    raw = moto_s3.client()
    metadata = raw.head_object(Bucket=bucket, Key="mp-2")["Metadata"]
    raw.put_object(Bucket=bucket, Key="mp-2", Body=zlib.compress(b"\xc1 not msgpack"),
                   Metadata=metadata)
    published = s3explore.open(f"s3://{bucket}/", s3_profile=dict(CREDENTIALS),
                               endpoint_url=moto_s3.endpoint_url, cache_dir=tmp_path)
    with published:
        shallow = published.verify(check_hashes=False)
        assert shallow.unreadable == [] and shallow.dangling == []
        deep = published.verify(check_hashes=False, deep=True)
        assert deep.unreadable == ["mp-2"] and deep.bodies_read == 4
        with pytest.raises(ReadOnlyStoreError, match="quarantine"):
            published.verify(quarantine="quarantine/")


@pytest.mark.parametrize("kind", READS)
def test_the_frames_entry_points_answer_like_query(stores, kind):
    """``_entry_query``/``_index_entries`` (what the frames layer reads through) give the documents
    ``query`` gives, on object stores too (their ``_find`` hook no longer calls ``query``)."""
    store = stores[kind]
    q = store._entry_query({"nsites": 1}, None, {"task_id": 1})
    assert strip(store._index_entries(q)) == strip(store.query({"nsites": 1}, sort={"task_id": 1}))
    assert len(strip(store._index_entries(q))) == 3
