"""One contract for every store: equal inputs give the same result types and error classes.

The index stores (MemoryStore, DuckDBStore, MontyStore), S3Store and ManifestStore (the
read-only part: a published S3Store opened with ``s3explore.open``) answer the same reads
alike and refuse the same bad arguments with the same class (``ArgumentError``, which is a
ConfigurationError and a QueryError). Writes on a read-only store raise ReadOnlyStoreError
whatever their arguments.

S3Store and ManifestStore share one public API (``ObjectBackedStore``): neither overrides a
public method of it, so their signatures cannot drift apart; ManifestStore's refusals come
from the one ``ReadOnly`` piece.
"""

from __future__ import annotations

import ast
import inspect
import uuid
import zlib
from pathlib import Path

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
from s3explore._errors import InvalidDocumentError, ObjectNotFoundError
from s3explore._stores import ObjectBackedStore, Store
from s3explore._stores._readonly import ReadOnly
from tests.conftest import CREDENTIALS

DOCS = [{"task_id": f"mp-{i}", "formula": ["Si", "NaCl", "GaAs"][i % 3], "nsites": i % 4}
        for i in range(12)]
READS = ["memory", "duckdb", "monty", "s3", "manifest"]
WRITABLE = ["memory", "duckdb", "monty", "s3"]
OBJECT_STORES = ["s3", "manifest"]


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


@pytest.mark.parametrize("kind", WRITABLE)
def test_every_update_returns_an_update_result(stores, kind):
    """One result type on every writable store (maggma's returns None): ``written`` counts
    the documents upserted, ``ok`` says nothing failed."""
    result = stores[kind].update(DOCS[:2])
    assert type(result) is UpdateResult and result.written == 2 and result.ok
    assert result.failures == [] and result.seconds >= 0


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


# ---------------------------------------------------------------- one API, hooks beneath


def public_names(cls: type) -> set[str]:
    return {n for n in dir(cls) if not n.startswith("_")}


@pytest.mark.parametrize("cls", [S3Store, ManifestStore])
def test_object_stores_override_no_public_method_of_their_base(cls):
    """Every public method of ObjectBackedStore (and Store) is the base's own on S3Store and
    ManifestStore: they implement hooks, so equal calls cannot take different signatures."""
    below = cls.__mro__[:cls.__mro__.index(ObjectBackedStore)]
    overridden = sorted(n for n in public_names(ObjectBackedStore)
                        if any(n in vars(c) for c in below))
    assert overridden == []
    for name in ("query", "get", "get_object", "get_many", "update", "remove_docs", "verify",
                 "rebuild_index_from_s3_data", "distinct", "groupby"):
        assert name in vars(ObjectBackedStore), name  # defined once, with explicit arguments


def test_the_read_only_store_is_composed_not_derived_from_s3store():
    assert not issubclass(ManifestStore, S3Store)
    assert issubclass(ManifestStore, ObjectBackedStore) and issubclass(ManifestStore, ReadOnly)
    assert issubclass(S3Store, ObjectBackedStore) and not issubclass(S3Store, ReadOnly)
    assert ManifestStore.read_only and not getattr(S3Store, "read_only", False)


@pytest.mark.parametrize("name", ["query", "get", "get_object", "get_many", "update",
                                  "remove_docs", "verify"])
def test_both_object_stores_take_the_same_arguments(name):
    mine = inspect.signature(getattr(ManifestStore, name))
    theirs = inspect.signature(getattr(S3Store, name))
    assert mine == theirs


# ---------------------------------------------------------------- same answers, same types


@pytest.mark.parametrize("kind", READS)
def test_groupby_gives_the_same_groups_everywhere(stores, kind):
    groups = [(g, sorted(d["task_id"] for d in docs))
              for g, docs in stores[kind].groupby("formula", {"nsites": {"$lt": 3}})]
    want = [(g, sorted(d["task_id"] for d in docs))
            for g, docs in stores["memory"].groupby("formula", {"nsites": {"$lt": 3}})]
    assert groups == want and [g for g, _ in groups] == [
        {"formula": "GaAs"}, {"formula": "NaCl"}, {"formula": "Si"}]


@pytest.mark.parametrize("kind", READS)
def test_count_query_and_distinct_return_the_same_types(stores, kind):
    store = stores[kind]
    assert type(store.count()) is int and store.count() == len(DOCS)
    found = store.query({"formula": "Si"})
    assert not isinstance(found, list) and all(isinstance(d, dict) for d in found)
    assert isinstance(store.distinct("nsites"), list)
    assert store.query_one({"task_id": "absent"}) is None


@pytest.mark.parametrize("kind", OBJECT_STORES)
def test_object_reads_give_the_same_types_and_missing_keys_the_same_class(stores, kind):
    store = stores[kind]
    stored = store.get_object("mp-4", decode_objects=False)
    assert stored.key == "mp-4" and stored.doc["formula"] == "NaCl" and stored.stored_size > 0
    assert strip([store.get("mp-4")]) == strip([DOCS[4]])
    got = list(store.get_many(["mp-1", "absent", "mp-2"], on_missing="null"))
    assert [d and d["task_id"] for d in got] == ["mp-1", None, "mp-2"]
    assert [d["task_id"] for d in store.get_many(["absent", "mp-3"])] == ["mp-3"]
    with pytest.raises(ObjectNotFoundError):
        store.get("absent")
    with pytest.raises(ObjectNotFoundError):
        list(store.get_many(["absent"], on_missing="raise"))
    docs = list(store.query({"nsites": 3}, workers=2, decode_objects=False,
                            sort={"task_id": 1}))
    assert [d["task_id"] for d in docs] == ["mp-11", "mp-3", "mp-7"]


def test_object_sizes_for_the_frames_layer_agree_on_both_object_stores(stores):
    """``_object_size`` (what to_dask sizes partitions by) HEADs the object holding a key:
    on ManifestStore through its layout, so the same objects give the same sizes."""
    sizes = {kind: stores[kind]._object_size("mp-1") for kind in OBJECT_STORES}
    assert sizes["manifest"] == sizes["s3"] == stores["s3"].get_object("mp-1").stored_size
    with pytest.raises(ObjectNotFoundError):
        stores["manifest"]._object_size("absent")


@pytest.mark.parametrize("kind", READS)
@pytest.mark.parametrize("call", [
    lambda s: list(s.query(["formula"])),
    lambda s: s.distinct("formula", "formula = Si"),
    lambda s: list(s.groupby("formula", ["x"])),
    lambda s: s.query_one({"$where": 1}),
])
def test_bad_criteria_are_a_query_error_on_every_store(stores, kind, call):
    with pytest.raises(QueryError):
        call(stores[kind])


@pytest.mark.parametrize("kind", OBJECT_STORES)
@pytest.mark.parametrize("workers", [0, -2, "4", 1.5])
def test_bad_workers_are_an_argument_error_on_both_object_stores(stores, kind, workers):
    with pytest.raises(ArgumentError, match="workers"):
        list(stores[kind].query({}, workers=workers))
    with pytest.raises(ArgumentError, match="workers"):
        list(stores[kind].get_many(["mp-1"], workers=workers))


# ---------------------------------------------------------------- writes


@pytest.mark.parametrize("kind", WRITABLE)
def test_remove_docs_returns_none_on_every_writable_store(stores, kind):
    assert stores[kind].remove_docs({"task_id": "absent"}) is None
    assert stores[kind].count() == len(DOCS)


@pytest.mark.parametrize("kind", WRITABLE)
@pytest.mark.parametrize("bad", ["mp-1", b"mp-1", 42, None])
def test_docs_that_are_not_documents_are_one_error_class_on_every_writable_store(stores, kind,
                                                                                 bad):
    with pytest.raises(InvalidDocumentError, match="docs must be a dict or an iterable"):
        stores[kind].update(bad)
    assert stores[kind].count() == len(DOCS)


@pytest.mark.parametrize("kind", WRITABLE)
def test_a_bad_document_among_good_ones_is_an_invalid_document_on_every_writable_store(
        stores, kind):
    """InvalidDocumentError on every writable store. Index stores raise it before writing
    anything; S3Store streams, so it stores the good ones first and raises an
    InvalidDocumentsError (an UpdateError and an InvalidDocumentError, its ``result``
    attached), or with on_error="collect" returns the failure, whose error is the same."""
    store = stores[kind]
    with pytest.raises(InvalidDocumentError, match="must be"):
        store.update([DOCS[0], ["task_id", "x"]])
    if kind == "s3":
        result = store.update([DOCS[0], ["task_id", "x"]], on_error="collect")
        assert isinstance(result, UpdateResult) and result.written == 1
        assert [type(f.error) for f in result.failures] == [InvalidDocumentError]
    assert store.count() == len(DOCS)


def test_an_object_store_names_its_invalid_documents_as_an_update_error(stores):
    """Failures of other kinds beside invalid documents stay a plain UpdateError; invalid
    documents alone are both classes, with the result and the first key."""
    from s3explore import InvalidDocumentsError, UpdateError

    with pytest.raises(InvalidDocumentsError) as caught:
        stores["s3"].update([DOCS[0], {"formula": "no key"}, ["task_id", "x"]])
    assert isinstance(caught.value, UpdateError) and caught.value.result.written == 1
    assert len(caught.value.result.failures) == 2 and caught.value.key is None


@pytest.mark.parametrize("call", [
    lambda s: s.swap_entries([{"task_id": "mp-1"}], [None]),
    lambda s: s.rebuild_index_from_s3_data(),
    lambda s: s.rebuild_metadata_from_index({"bad": {"$nope": 1}}),
    lambda s: s.verify(repair=True),
    lambda s: s.update("not even documents", key=3, workers=0),
    lambda s: s.remove_docs({}, remove_s3_object=True),
    lambda s: Store.update(s, DOCS),  # the index stores' path too
])
def test_every_write_path_of_the_read_only_store_is_one_error_class(stores, call):
    with pytest.raises(ReadOnlyStoreError, match=r"read-only .*S3Store\(\.\.\.\)\.update"):
        call(stores["manifest"])
    assert isinstance(ReadOnlyStoreError("x"), PermissionError)
    assert stores["manifest"].count() == len(DOCS)


# ---------------------------------------------------------------- the layers above

HOOKS = {"_connect", "_close", "_find", "_count", "_upsert", "_delete", "_distinct",
         "_groupby", "_create_index", "_find_arrow", "_sample", "_inventory", "_swap",
         "_versions", "_check_writable", "_read_entries", "_read_keys", "_read_object",
         "_ready_to_read", "_write", "_remove", "_verify", "_rebuild_index",
         "_rebuild_metadata", "_documents", "_entries_of", "_outcomes", "_read_settings"}


def test_frames_and_widgets_reach_stores_through_documented_methods_only():
    """No backend hook is named in the layers above, as an attribute of anything but their
    own objects or as a getattr string: they read through public methods and the documented
    protected ones (docs/architecture.md, "What the frames layer uses")."""
    root = Path(s3explore.__file__).parent
    named = []
    for path in sorted([*(root / "_frames").rglob("*.py"), *(root / "widgets").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            own = isinstance(node, ast.Attribute) and getattr(node.value, "id", "") == "self"
            name = (node.attr if isinstance(node, ast.Attribute) and not own else
                    node.value if isinstance(node, ast.Constant) else None)
            if name in HOOKS:
                named.append(f"{path.relative_to(root)}:{node.lineno} {name}")
    assert named == []
