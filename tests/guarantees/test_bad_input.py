"""The bad-input catalogue (docs/errors.md): a clear error naming the culprit, and nothing
already stored is damaged.

Every test starts from a store holding one document, ``keep``, and checks after the bad
input that its object bytes, its metadata and its index entry are exactly as before. Bad
documents reuse the key ``keep`` wherever they have a key, so writing anything before the
check would overwrite it.
"""

from __future__ import annotations

import socket
import zlib

import msgpack
import pytest
import zstandard

from s3explore import (
    BucketNotFoundError,
    ConfigurationError,
    CorruptObjectError,
    CredentialsError,
    InvalidDocumentError,
    InvalidKeyError,
    MemoryStore,
    MetadataTooLargeError,
    MongoStore,
    QueryError,
    S3Store,
    StoreConnectionError,
)
from s3explore.local_s3 import LocalS3
from tests.conftest import CREDENTIALS

KEEP = {"task_id": "keep", "formula": "Fe2O3", "nsites": 5, "sites": [1.5, 2.5]}


class Stocked:
    """A store holding KEEP, and a way to prove KEEP is untouched."""

    def __init__(self, store: S3Store, s3_server: LocalS3, bucket: str) -> None:
        self.store = store
        self.raw = s3_server.client()
        self.bucket = bucket
        assert store.update([KEEP]).ok
        self.before = self.state()

    def state(self) -> tuple:
        key = self.store.sub_dir + "keep"
        obj = self.raw.get_object(Bucket=self.bucket, Key=key)
        listing = self.raw.list_objects_v2(Bucket=self.bucket).get("Contents", [])
        entry = self.store.index.query_one({"task_id": "keep"})
        return (obj["Body"].read(), obj["Metadata"], entry, sorted(o["Key"] for o in listing))

    def assert_intact(self) -> None:
        assert self.state() == self.before
        assert self.store.get("keep") == KEEP
        assert self.store.count() == 1


@pytest.fixture
def stocked(make_store, s3_server, bucket) -> Stocked:
    store = make_store(compress=True, searchable_fields=["formula", "nsites"])
    return Stocked(store, s3_server, bucket)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ------------------------------------------------------------------ documents (update)

BAD_DOCUMENTS = [
    # id, document, exception class, fragments the reason must contain, key reported
    ("no-key-field", {"formula": "NaCl"}, InvalidDocumentError, ["no key field 'task_id'",
                                                                 "formula"], None),
    ("empty-key", {"task_id": ""}, InvalidKeyError, ["'task_id'", "empty"], None),
    ("key-too-long", {"task_id": "k" * 1025}, InvalidKeyError, ["1025 bytes", "1024"], "k" * 60),
    ("dotdot-key", {"task_id": "a/../keep"}, InvalidKeyError, ["'a/../keep'", "'..'"],
     "a/../keep"),
    ("dot-key", {"task_id": "./keep"}, InvalidKeyError, ["'./keep'", "'.'"], "./keep"),
    ("slash-key", {"task_id": "/keep"}, InvalidKeyError, ["'/keep'", "starts with '/'"], "/keep"),
    ("newline-key", {"task_id": "ke\nep"}, InvalidKeyError, ["'ke\\nep'", "control"], "ke\nep"),
    ("nul-key", {"task_id": "keep\x00"}, InvalidKeyError, ["'keep\\x00'", "control"], "keep\x00"),
    ("del-key", {"task_id": "ke\x7fep"}, InvalidKeyError, ["control"], "ke\x7fep"),
    ("float-key", {"task_id": 1.5}, InvalidKeyError, ["'task_id'", "float"], "1.5"),
    ("none-key", {"task_id": None}, InvalidKeyError, ["'task_id'", "NoneType"], "None"),
    ("bool-key", {"task_id": True}, InvalidKeyError, ["'task_id'", "bool"], "True"),
    ("dict-key", {"task_id": {"id": 1}}, InvalidKeyError, ["'task_id'", "dict"], "{'id': 1}"),
    ("set-value", {**KEEP, "tags": {"a", "b"}}, InvalidDocumentError,
     ["'keep'", "msgpack cannot encode", "set"], "keep"),
    ("object-value", {**KEEP, "calc": object()}, InvalidDocumentError,
     ["'keep'", "msgpack cannot encode", "object"], "keep"),
    ("huge-int", {**KEEP, "n": 2**64}, InvalidDocumentError, ["'keep'", "msgpack cannot encode"],
     "keep"),
    ("metadata-over-limit", {**KEEP, "formula": "O" * 3000}, MetadataTooLargeError,
     ["'keep'", "2048-byte limit", "formula="], "keep"),
    ("int-document", 42, InvalidDocumentError, ["must be dicts", "int"], None),
    ("str-document", "keep", InvalidDocumentError, ["must be dicts", "str"], None),
    ("list-document", ["task_id", "keep"], InvalidDocumentError, ["must be dicts", "list"], None),
    ("none-document", None, InvalidDocumentError, ["must be dicts", "NoneType"], None),
]


@pytest.mark.parametrize(("doc", "error", "fragments", "key"),
                         [case[1:] for case in BAD_DOCUMENTS], ids=[c[0] for c in BAD_DOCUMENTS])
@pytest.mark.slow
def test_bad_document_is_reported_by_key_and_the_rest_of_the_batch_lands(
    stocked, doc, error, fragments, key
):
    good = {"task_id": "new-1", "formula": "Si", "nsites": 2}
    result = stocked.store.update([doc, good], errors="collect")

    assert result.written == 1 and not result.ok
    [failure] = result.failures
    assert type(failure.error) is error
    for fragment in fragments:
        assert fragment in failure.reason
    assert failure.key == key
    assert stocked.store.get("new-1") == good
    stocked.store.remove_docs({"task_id": "new-1"}, remove_s3_object=True)
    stocked.assert_intact()


def test_non_ascii_values_and_keys_are_stored_and_indexed(stocked):
    doc = {"task_id": "mp-\u00e9", "formula": "Fe\u2082O\u2083", "nsites": 5}
    assert stocked.store.update([doc]).ok
    assert stocked.store.get("mp-\u00e9") == doc
    assert stocked.store.query_one({"formula": "Fe\u2082O\u2083"}, ["task_id"]) == {
        "task_id": "mp-\u00e9"}
    stocked.store.remove_docs({"task_id": "mp-\u00e9"}, remove_s3_object=True)
    stocked.assert_intact()


def test_non_ascii_searchable_field_name_is_refused_by_key(make_store, s3_server, bucket):
    stocked = Stocked(make_store(searchable_fields=["f\u00f6rmula"]), s3_server, bucket)
    result = stocked.store.update([{"task_id": "new", "f\u00f6rmula": "Si"}], errors="collect")
    [failure] = result.failures
    assert failure.key == "new" and "not ASCII" in failure.reason
    assert "f\u00f6rmula" in failure.reason
    stocked.assert_intact()


def test_key_too_long_only_with_the_sub_dir_is_refused(make_store, s3_server, bucket):
    stocked = Stocked(make_store(sub_dir="a" * 100), s3_server, bucket)
    result = stocked.store.update([{"task_id": "k" * 1000}], errors="collect")
    [failure] = result.failures
    assert isinstance(failure.error, InvalidKeyError)
    assert "with sub_dir 'aaaa" in failure.reason and "1024" in failure.reason
    stocked.assert_intact()


def test_duplicate_keys_in_one_batch_store_the_first_and_report_the_rest(stocked):
    batch = [{"task_id": "twin", "v": 1}, {"task_id": "twin", "v": 2}, {"task_id": "twin", "v": 3}]
    result = stocked.store.update(batch, errors="collect")
    assert result.written == 1 and result.failed_keys == ["twin", "twin"]
    assert all("'twin' appears again" in f.reason for f in result.failures)
    assert stocked.store.get("twin") == {"task_id": "twin", "v": 1}
    assert stocked.store.count({"task_id": "twin"}) == 1


@pytest.mark.parametrize("docs", ["keep", b"keep", 42, None], ids=["str", "bytes", "int", "None"])
@pytest.mark.slow
def test_docs_that_are_not_a_collection_raise_before_anything_is_written(stocked, docs):
    with pytest.raises(InvalidDocumentError, match="iterable of dicts, not"):
        stocked.store.update(docs)
    stocked.assert_intact()


# ------------------------------------------------------------------ criteria


BAD_CRITERIA = [
    ("str", "formula", "criteria must be a dict", "str"),
    ("list", [{"formula": "Si"}], "criteria must be a dict", "list"),
    ("int", 5, "criteria must be a dict", "int"),
    ("unknown-operator", {"nsites": {"$foo": 1}}, "operator", "$foo"),
    ("where", {"$where": "this.nsites > 1"}, "operator", "$where"),
    ("nested-unknown", {"$and": [{"nsites": {"$gt": 1}}, {"formula": {"$bar": 1}}]},
     "operator", "$bar"),
]


@pytest.mark.parametrize(("criteria", "what", "culprit"), [c[1:] for c in BAD_CRITERIA],
                         ids=[c[0] for c in BAD_CRITERIA])
@pytest.mark.slow
def test_bad_criteria_raise_query_error_naming_the_culprit(stocked, criteria, what, culprit):
    store = stocked.store
    calls = [lambda: store.query(criteria), lambda: store.query_one(criteria),
             lambda: store.count(criteria), lambda: store.distinct("formula", criteria),
             lambda: store.remove_docs(criteria, remove_s3_object=True)]
    for call in calls:
        with pytest.raises(QueryError) as info:
            call()
        assert what in str(info.value) and culprit in str(info.value)
    stocked.assert_intact()


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [({"sort": {"nsites": 2}}, "'nsites' must be 1 or -1"), ({"sort": "nsites"}, "sort must be"),
     ({"skip": -1}, "skip"), ({"limit": "10"}, "limit"), ({"properties": 5}, "properties")],
    ids=["sort-direction", "sort-type", "skip", "limit", "properties"],
)
def test_bad_sort_paging_and_properties_raise_query_error(stocked, kwargs, fragment):
    with pytest.raises(QueryError, match=fragment):
        list(stocked.store.query(**kwargs))
    stocked.assert_intact()


# ------------------------------------------------------------------ corrupt objects


def _packed_bad() -> bytes:
    return msgpack.packb({"task_id": "bad", "formula": "Si", "nsites": 1})


CORRUPT_BODIES = [
    # id, compression of the store, stored body, fragment of the message
    ("zlib-garbage", True, b"\x00 definitely not zlib", "declared zlib"),
    ("zlib-truncated-stream", True, zlib.compress(_packed_bad())[:-4], "truncated stream"),
    ("zlib-declared-but-plain", True, _packed_bad(), "declared zlib but its body does not "
                                                     "decompress (not compressed"),
    ("zlib-declared-but-zstd", True, zstandard.ZstdCompressor().compress(_packed_bad()),
     "(zstd:"),
    ("zlib-truncated-msgpack", True, zlib.compress(_packed_bad()[:-3]), "not a valid msgpack"),
    ("zstd-garbage", "zstd", b"\x00 definitely not zstd", "declared zstd"),
    ("zstd-declared-but-plain", "zstd", _packed_bad(), "declared zstd"),
    ("zstd-truncated-msgpack", "zstd", zstandard.ZstdCompressor().compress(_packed_bad()[:-3]),
     "not a valid msgpack"),
    ("plain-truncated-msgpack", False, _packed_bad()[:-3], "not a valid msgpack"),
    ("plain-empty", False, b"", "not a valid msgpack"),
    ("plain-not-a-map", False, msgpack.packb([1, 2, 3]), "holds a msgpack list, not a document"),
]


@pytest.mark.parametrize(("compress", "body", "fragment"), [c[1:] for c in CORRUPT_BODIES],
                         ids=[c[0] for c in CORRUPT_BODIES])
@pytest.mark.slow
def test_corrupt_object_body_is_a_corrupt_object_error_naming_the_key(
    make_store, s3_server, bucket, compress, body, fragment
):
    stocked = Stocked(make_store(compress=compress, searchable_fields=["formula"]), s3_server,
                      bucket)
    store = stocked.store
    assert store.update([{"task_id": "bad", "formula": "Si", "nsites": 1}]).ok
    raw = stocked.raw
    metadata = raw.head_object(Bucket=bucket, Key="bad")["Metadata"]
    raw.put_object(Bucket=bucket, Key="bad", Body=body, Metadata=metadata)  # behind our back

    reads = {"get": lambda: store.get("bad"),
             "get_many": lambda: list(store.get_many(["bad"])),
             "query": lambda: list(store.query({"task_id": "bad"})),
             "query_one": lambda: store.query_one({"formula": "Si"})}
    for name, read in reads.items():
        with pytest.raises(CorruptObjectError) as info:
            read()
        assert info.value.key == "bad", name
        assert "'bad'" in str(info.value) and fragment in str(info.value), name
    # Other objects are still readable, and verify() points at the rewritten one.
    assert store.get("keep") == KEEP and store.query_one({"task_id": "keep"}) == KEEP
    assert store.verify().mismatched == ["bad"]
    store.remove_docs({"task_id": "bad"}, remove_s3_object=True)
    stocked.assert_intact()


def test_index_says_zlib_but_a_foreign_body_without_metadata_is_plain(make_store, s3_server,
                                                                      bucket):
    """query() trusts the index entry; get() has no metadata and sniffs the body instead."""
    store = make_store(compress=True)
    assert store.update([{"task_id": "bad", "v": 1}]).ok
    s3_server.client().put_object(Bucket=bucket, Key="bad", Body=_packed_bad())  # no metadata
    with pytest.raises(CorruptObjectError, match="'bad' is declared zlib.*not compressed"):
        list(store.query())
    assert store.get("bad")["formula"] == "Si"


# ------------------------------------------------------------------ where the data lives


@pytest.mark.slow
def test_bucket_that_does_not_exist(stocked, s3_server):
    store = S3Store(MemoryStore("nb"), "no-such-bucket-here", s3_profile=dict(CREDENTIALS),
                    endpoint_url=s3_server.endpoint_url)
    with pytest.raises(BucketNotFoundError) as info:
        store.connect()
    message = str(info.value)
    assert "'no-such-bucket-here'" in message and s3_server.endpoint_url in message
    assert "create the bucket" in message
    stocked.assert_intact()


def test_unreachable_endpoint(stocked):
    endpoint = f"http://127.0.0.1:{closed_port()}"
    store = S3Store(MemoryStore("ne"), stocked.bucket, s3_profile=dict(CREDENTIALS),
                    endpoint_url=endpoint)
    with pytest.raises(StoreConnectionError) as info:
        store.connect()
    assert endpoint in str(info.value) and "check endpoint_url" in str(info.value)
    stocked.assert_intact()


def test_wrong_credentials(stocked):
    with LocalS3(access_keys={"testing"}) as guarded:
        store = S3Store(MemoryStore("wc"), stocked.bucket, endpoint_url=guarded.endpoint_url,
                        s3_profile={**CREDENTIALS, "aws_access_key_id": "NOT-A-KEY"})
        with pytest.raises(CredentialsError) as info:
            store.connect()
    message = str(info.value)
    assert "InvalidAccessKeyId" in message and f"'{stocked.bucket}'" in message
    assert "access key id is unknown" in message
    stocked.assert_intact()


def test_unknown_profile_name(stocked, s3_server):
    store = S3Store(MemoryStore("up"), stocked.bucket, s3_profile="no-such-profile",
                    endpoint_url=s3_server.endpoint_url)
    with pytest.raises(CredentialsError, match="profile 'no-such-profile' is not in your AWS"):
        store.connect()
    stocked.assert_intact()


@pytest.mark.parametrize("workers", [0, -1, -8, 2.5, True, "4"])
def test_s3_workers_must_be_a_positive_whole_number(workers):
    with pytest.raises(ConfigurationError, match=f"s3_workers must be a whole number >= 1, "
                                                 f"got {workers!r}"):
        S3Store(MemoryStore("w"), "bucket", s3_workers=workers)


@pytest.mark.parametrize("workers", [0, -1])
@pytest.mark.slow
def test_per_call_workers_must_be_a_positive_whole_number(stocked, workers):
    store = stocked.store
    calls = {"update": lambda: store.update([{**KEEP, "nsites": 6}], workers=workers),
             "get_many": lambda: list(store.get_many(["keep"], workers=workers)),
             "query": lambda: list(store.query(workers=workers)),
             "verify": lambda: store.verify(workers=workers),
             "rebuild_index_from_s3_data": lambda: store.rebuild_index_from_s3_data(workers),
             "rebuild_metadata_from_index": lambda: store.rebuild_metadata_from_index(
                 workers=workers)}
    for name, call in calls.items():
        with pytest.raises(ConfigurationError, match=f"workers must be a whole number >= 1, "
                                                     f"got {workers}"):
            call()
            pytest.fail(f"{name}(workers={workers}) was accepted")
    stocked.assert_intact()


def test_unreachable_index_host(stocked):
    index = MongoStore("db", "entries", host="127.0.0.1", port=closed_port(),
                       serverSelectionTimeoutMS=200)
    with pytest.raises(StoreConnectionError, match=r"cannot reach MongoDB for "
                                                   r"mongo://127\.0\.0\.1:\d+/db/entries"):
        index.connect()
    stocked.assert_intact()


MALFORMED_URIS = [
    # id, uri, database=, fragment. With database= the URI is parsed only by connect(), and
    # pymongo's client merely warns about unknown options, so those cases parse it up front.
    ("port", "mongodb://user:Pw-S3cret@host:notaport/db", None, "Port"),
    ("port-at-connect", "mongodb://user:Pw-S3cret@host:notaport/db", "db", "Port"),
    ("no-host", "mongodb://user:Pw-S3cret@/db", None, "host"),
    ("no-host-at-connect", "mongodb://user:Pw-S3cret@/db", "db", "host"),
    ("bad-option-value", "mongodb://user:Pw-S3cret@host/db?tls=maybe", None, "tls"),
    ("unknown-option", "mongodb://user:Pw-S3cret@host/db?bogusOption=1", None, "bogusOption"),
]


@pytest.mark.parametrize(("uri", "database", "fragment"), [c[1:] for c in MALFORMED_URIS],
                         ids=[c[0] for c in MALFORMED_URIS])
def test_malformed_mongodb_uri_is_a_configuration_error(uri, database, fragment):
    def use() -> None:
        store = MongoStore.from_uri(uri, "entries", database=database)
        store.connect()

    with pytest.raises(ConfigurationError, match=fragment) as info:
        use()
    assert "mongodb://***@" in str(info.value)  # says which URI, without its password
    assert "Pw-S3cret" not in str(info.value)


def test_bad_mongo_client_option_is_a_configuration_error():
    index = MongoStore("db", "entries", host="127.0.0.1", serverSelectionTimeout=5)
    with pytest.raises(ConfigurationError, match="serverselectiontimeout"):
        index.connect()
