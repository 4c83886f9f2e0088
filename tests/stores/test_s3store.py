"""S3Store against real S3 endpoints over HTTP: moto's server and Versity S3 Gateway."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading

import numpy as np
import pytest
from botocore import UNSIGNED

from s3explore import (
    BucketNotFoundError,
    ConfigurationError,
    CredentialsError,
    InvalidDocumentError,
    MemoryStore,
    MetadataTooLargeError,
    NotConnectedError,
    ObjectNotFoundError,
    ProgressCounter,
    S3Store,
    StoreConnectionError,
    UpdateError,
)
from s3explore.local_s3 import LocalS3
from tests.conftest import CREDENTIALS

pytestmark = pytest.mark.real_s3


def material(i: int, **extra) -> dict:
    return {
        "task_id": f"mp-{i}",
        "formula": ["Fe2O3", "NaCl", "Si", "GaAs"][i % 4],
        "nsites": i % 7 + 1,
        "band_gap": round(0.1 * i, 3),
        "dos": {"energies": np.linspace(-5, 5, 50), "total": np.random.default_rng(i).random(50)},
        "last_updated": dt.datetime(2024, 1, 1) + dt.timedelta(hours=i),
        **extra,
    }


def raw_object(s3_server: LocalS3, bucket: str, key: str) -> dict:
    return s3_server.client().get_object(Bucket=bucket, Key=key)


# ------------------------------------------------------------------ round trips


@pytest.mark.parametrize("compress", [True, False, "zstd"])
@pytest.mark.parametrize("sub_dir", [None, "runs/2024"])
@pytest.mark.slow
def test_update_and_query_round_trip(make_store, compress, sub_dir):
    store = make_store(compress=compress, sub_dir=sub_dir, searchable_fields=["formula", "nsites"])
    docs = [material(i) for i in range(20)]
    result = store.update(docs)
    assert result.ok and result.written == 20 and result.bytes > 0
    back = list(store.query(sort={"task_id": 1}))
    assert [d["task_id"] for d in back] == sorted(d["task_id"] for d in docs)
    original = docs[3]
    fetched = store.query_one({"task_id": "mp-3"})
    assert fetched["last_updated"] == original["last_updated"]
    np.testing.assert_array_equal(fetched["dos"]["total"], original["dos"]["total"])
    assert store.count({"formula": "Si"}) == 5


def test_object_layout_and_metadata_are_maggmas(make_store, s3_server, bucket):
    store = make_store(compress=True, sub_dir="/a/b/", searchable_fields=["formula", "band_gap"])
    store.update([material(1)], additional_metadata=["nsites"])
    response = raw_object(s3_server, bucket, "a/b/mp-1")
    metadata = dict(response["Metadata"])
    body = response["Body"].read()
    # Beside maggma's fields, the body's own digest (which maggma ignores): its SHA-1 and
    # the ETag S3 gave it.
    assert metadata.pop("obj-hash") == hashlib.sha1(body).hexdigest()
    assert metadata.pop("obj-etag") == hashlib.md5(body).hexdigest() == response["ETag"][1:-1]
    assert metadata == {
        "nsites": "2", "formula": "NaCl", "band-gap": "0.1", "task-id": "mp-1",
        "sub-dir": "a/b/", "compression": "zlib",
        "s3-to-mongo-keys": json.dumps({"task_id": "task-id", "nsites": "nsites",
                                        "formula": "formula", "band_gap": "band-gap",
                                        "sub_dir": "sub-dir", "compression": "compression",
                                        "s3-to-mongo-keys": "s3-to-mongo-keys"}),
    }
    entry = store.index.query_one()
    assert entry["last_updated"] == dt.datetime(2024, 1, 1, 1)
    assert set(entry) == {"nsites", "formula", "band_gap", "task_id", "sub_dir", "compression",
                          "s3-to-mongo-keys", "last_updated", "obj_hash", "obj_etag"}
    assert entry["obj_etag"] == response["ETag"][1:-1]  # maggma has no such field
    assert entry["obj_hash"] == hashlib.sha1(body).hexdigest()


def test_store_hash_off_leaves_no_hash(make_store, s3_server, bucket):
    store = make_store(store_hash=False)
    store.update([material(1)])
    assert "obj_hash" not in store.index.query_one()
    assert not {"obj-hash", "obj-etag"} & raw_object(s3_server, bucket, "mp-1")["Metadata"].keys()


def test_missing_searchable_field_is_sparse(make_store):
    store = make_store(searchable_fields=["formula", "spacegroup"])
    store.update([material(1), {**material(2), "spacegroup": "Fm-3m"}])
    assert "spacegroup" not in store.index.query_one({"task_id": "mp-1"})
    assert store.index.query_one({"task_id": "mp-2"})["spacegroup"] == "Fm-3m"
    assert store.count({"spacegroup": {"$exists": True}}) == 1


def test_callers_documents_are_not_mutated(make_store):
    store = make_store(compress=True, searchable_fields=["formula"])
    doc = material(1)
    snapshot = {k: v for k, v in doc.items() if k != "dos"}
    store.update([doc])
    assert {k: v for k, v in doc.items() if k != "dos"} == snapshot
    assert "last_updated" in doc and "obj_hash" not in doc


def test_unpack_data_false_yields_stored_bytes(make_store):
    store = make_store(compress=True, unpack_data=False)
    store.update([material(1)])
    raw = next(store.query())
    assert isinstance(raw, bytes) and raw[:1] == b"\x78"


def test_get_get_object_and_get_many(make_store):
    store = make_store(compress="zstd")
    store.update([material(i) for i in range(6)])
    assert store.get("mp-2")["formula"] == "Si"
    obj = store.get_object("mp-2")
    assert obj.compression == "zstd" and obj.stored_size < obj.decoded_size
    assert obj.key == "mp-2" and obj.seconds >= 0
    got = list(store.get_many(["mp-5", "mp-0", "nope", "mp-3"], on_missing="none"))
    assert [d and d["task_id"] for d in got] == ["mp-5", "mp-0", None, "mp-3"]
    assert len(list(store.get_many(["mp-1", "nope"]))) == 1
    with pytest.raises(ObjectNotFoundError, match="'nope'"):
        list(store.get_many(["nope"], on_missing="raise"))
    with pytest.raises(ObjectNotFoundError, match="nope"):
        store.get("nope")
    with pytest.raises(ConfigurationError, match="on_missing"):
        list(store.get_many(["mp-1"], on_missing="ignore"))


@pytest.mark.slow
def test_properties_in_the_index_do_not_touch_s3(make_store, s3_server):
    store = make_store(searchable_fields=["formula", "nsites"])
    store.update([material(i) for i in range(10)])
    s3_server.reset_counters()
    rows = list(store.query(properties=["formula", "nsites"], sort={"task_id": 1}))
    assert rows[0] == {"formula": "Fe2O3", "nsites": 1}
    assert s3_server.requests["GET"] == 0
    rows = list(store.query(properties=["formula", "dos.energies"], limit=2))
    assert s3_server.requests["GET"] == 2
    assert set(rows[0]) == {"formula", "dos"} and set(rows[0]["dos"]) == {"energies"}


def test_missing_object_is_logged_and_skipped_or_raised(make_store, s3_server, bucket, caplog):
    store = make_store()
    store.update([material(i) for i in range(3)])
    s3_server.client().delete_object(Bucket=bucket, Key="mp-1")
    with caplog.at_level(logging.WARNING, logger="s3explore"):
        assert [d["task_id"] for d in store.query(sort={"task_id": 1})] == ["mp-0", "mp-2"]
    assert "mp-1" in caplog.text
    with pytest.raises(ObjectNotFoundError, match="mp-1"):
        list(store.query(on_missing="raise"))


# ------------------------------------------------------------------ parallel reads


def test_query_keeps_index_order_with_many_workers(make_store):
    store = make_store(s3_workers=8, searchable_fields=["band_gap"])
    store.update([material(i) for i in range(60)])
    order = [d["task_id"] for d in store.query(sort={"band_gap": -1})]
    assert order == [f"mp-{i}" for i in reversed(range(60))]


@pytest.fixture
def slow_s3():
    """A second server with 20 ms per request; moto shares buckets with the first."""
    with LocalS3(latency=0.02) as server:
        yield server


@pytest.mark.moto_only
@pytest.mark.slow
def test_requests_in_flight_are_bounded_by_workers(make_store, slow_s3):
    store = make_store(endpoint=slow_s3, s3_workers=3)
    store.update([material(i) for i in range(30)], workers=3)
    assert 1 < slow_s3.max_in_flight <= 3
    slow_s3.reset_counters()
    assert len(list(store.query(workers=5))) == 30
    assert 1 < slow_s3.max_in_flight <= 5


@pytest.mark.moto_only
@pytest.mark.slow
def test_stopping_iteration_stops_fetching(make_store, slow_s3):
    store = make_store(endpoint=slow_s3, s3_workers=4)
    store.update([material(i) for i in range(200)])
    slow_s3.reset_counters()
    results = store.query()
    for _ in range(3):
        next(results)
    results.close()
    threading.Event().wait(0.2)
    assert slow_s3.requests["GET"] <= 3 + 2 * 4 + 4


# ------------------------------------------------------------------ writes


def test_update_streams_any_iterable_and_reports_progress(make_store):
    store = make_store(searchable_fields=["formula"])
    counter = ProgressCounter()
    docs = (material(i) for i in range(25))
    result = store.update(docs, progress=counter, chunk_size=7)
    snap = counter.snapshot()
    assert result.written == 25 == snap.done == store.count()
    assert snap.total is None and snap.finished and snap.nbytes == result.bytes


def test_progress_counts_failures(make_store):
    store = make_store()
    counter = ProgressCounter()
    store.update([material(1), {"no": "key"}, material(2)], progress=counter, errors="collect")
    snap = counter.snapshot()
    assert (snap.total, snap.done, snap.failed) == (3, 2, 1)


def test_partial_failures_do_not_stop_the_batch(make_store):
    store = make_store(searchable_fields=["formula"])
    docs = [material(0), {"formula": "x"}, material(1, blob={1, 2}), "text",
            {"task_id": "../escape"}, material(2), material(2), material(3, formula="x" * 3000)]
    with pytest.raises(UpdateError, match="6 document.s. could not be stored") as caught:
        store.update(docs)
    assert "'mp-1': " in str(caught.value) and "errors='collect'" in str(caught.value)
    result = caught.value.result
    assert result.written == 2
    assert sorted(store.distinct("task_id")) == ["mp-0", "mp-2"]
    reasons = {f.key: f.reason for f in result.failures if f.key}
    keyless = [f.reason for f in result.failures if f.key is None]
    assert any("no key field 'task_id'" in r for r in keyless)
    assert any("must be dicts, got str" in r for r in keyless)
    assert "cannot encode" in reasons["mp-1"]
    assert "'.' or '..'" in reasons["../escape"]
    assert "appears again" in reasons["mp-2"]
    assert "metadata" in reasons["mp-3"]
    assert isinstance(next(f.error for f in result.failures if f.key == "mp-3"),
                      MetadataTooLargeError)
    assert not result.ok and len(result.failures) == 6


@pytest.mark.slow
def test_rerunning_an_update_is_idempotent(make_store, s3_server, bucket):
    store = make_store(searchable_fields=["formula"])
    docs = [material(i) for i in range(10)]
    first = store.update(docs)
    entries = sorted(store.index.query(), key=lambda e: e["task_id"])
    second = store.update(docs)
    assert first.written == second.written == 10
    assert sorted(store.index.query(), key=lambda e: e["task_id"]) == entries
    listed = s3_server.client().list_objects_v2(Bucket=bucket)["KeyCount"]
    assert listed == 10 == store.count()


def test_metadata_limit_is_configurable(make_store, s3_server):
    big = material(1, notes="n" * 2500)
    store = make_store(searchable_fields=["notes"])
    refused = store.update([big], errors="collect")
    assert not refused.ok and "metadata" in refused.failures[0].reason
    roomy = make_store(searchable_fields=["notes"], metadata_limit=8192)
    if isinstance(s3_server, LocalS3):  # moto stores any size of metadata
        assert roomy.update([big]).ok
        return
    # Versity S3 Gateway keeps AWS's 2 KB limit: the server's refusal is ours, named, and
    # nothing is indexed for the document.
    result = roomy.update([big], errors="collect")
    assert result.failed_keys == ["mp-1"] and "MetadataTooLarge" in result.failures[0].reason
    assert isinstance(result.failures[0].error, MetadataTooLargeError)
    assert roomy.count() == 0


@pytest.mark.moto_only
@pytest.mark.slow
def test_retries_ride_out_throttling_and_server_errors(bucket):
    with LocalS3(fail_rate=0.3, fail_methods=("PUT", "GET"), seed=7) as flaky:
        flaky.fail_rate = 0
        flaky.create_bucket(bucket)
        flaky.fail_rate = 0.3
        store = S3Store(MemoryStore("flaky"), bucket, s3_profile=dict(CREDENTIALS),
                        endpoint_url=flaky.endpoint_url, retries=10)
        store.objects.retry = type(store.objects.retry)(attempts=10, base_delay=0.001)
        with store:
            result = store.update([material(i) for i in range(40)])
            assert result.ok and store.count() == 40
            assert len(list(store.query())) == 40
        assert flaky.faults["SlowDown"] > 0 and flaky.faults["InternalError"] > 0


@pytest.mark.moto_only
def test_retries_exhausted_are_reported_per_key_and_not_indexed(bucket):
    def fails_odd(environ) -> bool:
        return environ["PATH_INFO"].rsplit("-", 1)[-1] in {"1", "3"}

    with LocalS3(fail_methods=("PUT",), fail_when=fails_odd) as faulty:
        faulty.create_bucket(bucket)
        store = S3Store(MemoryStore("exhausted"), bucket, s3_profile=dict(CREDENTIALS),
                        endpoint_url=faulty.endpoint_url)
        with store:
            result = store.update([material(i) for i in range(5)], retries=2, errors="collect")
            assert sorted(result.failed_keys) == ["mp-1", "mp-3"]
            assert all("SlowDown" in f.reason for f in result.failures)
            assert sorted(store.distinct("task_id")) == ["mp-0", "mp-2", "mp-4"]
            listed = faulty.client().list_objects_v2(Bucket=bucket).get("Contents", [])
            assert sorted(o["Key"] for o in listed) == ["mp-0", "mp-2", "mp-4"]


def test_cancel_indexes_what_landed_and_nothing_else(make_store, s3_server, bucket):
    store = make_store(s3_workers=2)
    cancel = threading.Event()

    def docs():
        for i in range(500):
            if i == 20:
                cancel.set()
            yield material(i)

    result = store.update(docs(), cancel=cancel, chunk_size=5)
    assert result.cancelled and not result.ok
    listed = {o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]}
    assert set(store.distinct("task_id")) == listed
    assert 0 < result.written == len(listed) < 500


def test_update_argument_validation(make_store):
    store = make_store()
    for bad in ("a string", 42, None):
        with pytest.raises(InvalidDocumentError, match="iterable of dicts"):
            store.update(bad)
    with pytest.raises(ConfigurationError, match="chunk_size"):
        store.update([material(1)], chunk_size=0)
    with pytest.raises(ConfigurationError, match="workers"):
        store.update([material(1)], workers=-2)
    with pytest.raises(ConfigurationError, match="additional_metadata"):
        store.update([material(1)], additional_metadata=[3])
    assert store.count() == 0


def test_remove_docs_with_and_without_objects(make_store, s3_server, bucket):
    store = make_store(searchable_fields=["formula"])
    store.update([material(i) for i in range(8)])
    store.remove_docs({"formula": "Fe2O3"})
    assert store.count() == 6
    assert s3_server.client().list_objects_v2(Bucket=bucket)["KeyCount"] == 8
    store.remove_docs({"formula": "NaCl"}, remove_s3_object=True)
    assert store.count() == 4
    assert s3_server.client().list_objects_v2(Bucket=bucket)["KeyCount"] == 6


@pytest.mark.slow
def test_index_delegation(make_store):
    store = make_store(searchable_fields=["formula", "nsites"])
    store.update([material(i) for i in range(8)])
    assert sorted(store.distinct("formula")) == ["Fe2O3", "GaAs", "NaCl", "Si"]
    groups = {g["formula"]: len(docs) for g, docs in store.groupby("formula")}
    assert groups == {"Fe2O3": 2, "GaAs": 2, "NaCl": 2, "Si": 2}
    assert store.ensure_index("formula")
    assert store.last_updated == dt.datetime(2024, 1, 1, 7)
    other = MemoryStore("other")
    other.connect()
    other.update([{"task_id": "mp-1", "last_updated": dt.datetime(2030, 1, 1)}])
    assert store.newer_in(other, exhaustive=True) == ["mp-1"]


# ------------------------------------------------------------------ rebuilds


@pytest.mark.parametrize("sub_dir", [None, "calc/v2"])
def test_rebuild_index_from_s3_data(make_store, sub_dir):
    store = make_store(compress=True, sub_dir=sub_dir, searchable_fields=["formula", "nsites"])
    store.update([material(i) for i in range(4)])
    zstd_writer = make_store(index=store.index, compress="zstd", sub_dir=sub_dir,
                             searchable_fields=["formula", "nsites"])
    zstd_writer.update([material(i) for i in range(4, 8)])
    before = {e["task_id"]: e for e in store.index.query()}
    store.index.remove_docs({"task_id": {"$in": ["mp-0", "mp-5"]}})
    assert store.rebuild_index_from_s3_data() == 8
    after = {e["task_id"]: e for e in store.index.query()}
    # entries that survived keep their last_updated; lost ones take the object's date
    for key in ("mp-0", "mp-5"):
        assert after[key].pop("last_updated") > before[key].pop("last_updated")
    assert after == before  # types (int nsites), compression, hashes and names restored
    assert isinstance(after["mp-5"]["nsites"], int)
    assert after["mp-5"]["compression"] == "zstd" and after["mp-0"]["compression"] == "zlib"


@pytest.mark.slow
def test_rebuild_into_an_empty_index_uses_object_dates(make_store):
    store = make_store(compress=True, searchable_fields=["formula"])
    store.update([material(1)])
    fresh = make_store(index=MemoryStore("fresh"), compress=True, searchable_fields=["formula"])
    assert fresh.rebuild_index_from_s3_data() == 1
    entry = fresh.index.query_one()
    assert entry["formula"] == "NaCl"
    assert abs(entry["last_updated"] - dt.datetime.now(dt.UTC).replace(tzinfo=None)) < dt.timedelta(
        minutes=5)
    assert fresh.get("mp-1")["formula"] == "NaCl"


def test_rebuild_metadata_from_index(make_store, s3_server, bucket):
    store = make_store(searchable_fields=["formula"])
    store.update([material(i) for i in range(3)])
    store.index.update([{**store.index.query_one({"task_id": "mp-1"}), "formula": "Changed"}])
    assert store.rebuild_metadata_from_index({"task_id": "mp-1"}) == 1
    rewritten = raw_object(s3_server, bucket, "mp-1")
    assert rewritten["Metadata"]["formula"] == "Changed"
    # the body's digest describes the body, not the entry: it stays
    assert rewritten["Metadata"]["obj-hash"] == hashlib.sha1(rewritten["Body"].read()).hexdigest()
    assert raw_object(s3_server, bucket, "mp-0")["Metadata"]["formula"] == "Fe2O3"
    report = store.verify()
    assert report.ok and report.hashes_from_index == 3 and report.unchecked == []


# ------------------------------------------------------------------ connecting


@pytest.mark.moto_only  # moto's gate refuses unknown access keys; the gateway has IAM accounts
def test_profile_by_name_from_aws_files(tmp_path, monkeypatch, s3_server, bucket):
    (tmp_path / "config").write_text("[profile lab]\nregion = eu-west-1\n")
    (tmp_path / "credentials").write_text(
        "[lab]\naws_access_key_id = LABKEYID\naws_secret_access_key = lab-secret-value\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    s3_server.access_keys = {"LABKEYID", "testing"}
    try:
        store = S3Store(MemoryStore("prof"), bucket, s3_profile="lab",
                        endpoint_url=s3_server.endpoint_url)
        with store:
            store.update([material(1)])
            assert store.client.meta.region_name == "eu-west-1"
            assert store.get("mp-1")["task_id"] == "mp-1"
        assert store.s3_profile == "lab"
        with pytest.raises(CredentialsError, match="'nobody'.*AWS config"):
            S3Store(MemoryStore("p2"), bucket, s3_profile="nobody",
                    endpoint_url=s3_server.endpoint_url).connect()
    finally:
        s3_server.access_keys = None


def test_bad_credentials_fail_clearly_at_connect(s3_server, bucket):
    s3_server.access_keys = {"testing"}
    try:
        store = S3Store(MemoryStore("badcred"), bucket, endpoint_url=s3_server.endpoint_url,
                        s3_profile={**CREDENTIALS, "aws_access_key_id": "WRONGKEY",
                                    "aws_secret_access_key": "not-the-secret"})
        with pytest.raises(CredentialsError, match="InvalidAccessKeyId") as info:
            store.connect()
        assert "not-the-secret" not in str(info.value) and "not-the-secret" not in repr(store)
    finally:
        s3_server.access_keys = None


def test_missing_bucket_and_unreachable_endpoint(s3_server):
    with pytest.raises(BucketNotFoundError, match="'no-such-bucket-x'.*127.0.0.1"):
        S3Store(MemoryStore("nb"), "no-such-bucket-x", s3_profile=dict(CREDENTIALS),
                endpoint_url=s3_server.endpoint_url).connect()
    with pytest.raises(StoreConnectionError, match="cannot reach the S3 endpoint"):
        S3Store(MemoryStore("ne"), "any-bucket", s3_profile=dict(CREDENTIALS),
                endpoint_url="http://127.0.0.1:1").connect()


def test_anonymous_requests_are_unsigned(make_store, s3_server, bucket):
    make_store().update([material(1)])
    public = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject", "s3:ListBucket"],
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]}
    s3_server.client().put_bucket_policy(Bucket=bucket, Policy=json.dumps(public))
    s3_server.access_keys = {"testing"}  # signed requests with other keys are refused
    try:
        store = S3Store(MemoryStore("anon"), bucket, anonymous=True,
                        endpoint_url=s3_server.endpoint_url,
                        s3_resource_kwargs={"region_name": "us-east-1"})
        with store:
            assert store.client.meta.config.signature_version is UNSIGNED
            assert store.get("mp-1")["task_id"] == "mp-1"
    finally:
        s3_server.access_keys = None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bucket": ""}, "bucket"),
        ({"s3_workers": 0}, "s3_workers"),
        ({"s3_workers": -3}, "s3_workers"),
        ({"compress": "lz4"}, "compress"),
        ({"endpoint_url": "127.0.0.1:9000"}, "endpoint_url"),
        ({"searchable_fields": ["formula", "nsites", 1]}, "searchable_fields"),
        ({"s3_profile": 42}, "s3_profile"),
        ({"s3_profile": {"aws_secret": "x"}}, "unknown entries"),
        ({"sub_dir": "../up"}, "sub_dir"),
        ({"index": "mongodb://x"}, "index must be a store"),
        ({"metadata_limit": 0}, "metadata_limit"),
    ],
)
def test_constructor_validation(kwargs, message):
    args = {"index": MemoryStore("v"), "bucket": "bkt", **kwargs}
    with pytest.raises((ConfigurationError, InvalidDocumentError), match=message):
        S3Store(**args).connect()


def test_key_mismatch_warns_and_index_key_wins():
    with pytest.warns(UserWarning, match="index key 'task_id'; the index key is used"):
        store = S3Store(MemoryStore("k", key="task_id"), "bkt", key="fs_id")
    assert store.key == "task_id"


def test_use_before_connect_and_close_before_connect(make_store):
    store = S3Store(MemoryStore("nc"), "bkt")
    store.close()
    with pytest.raises(NotConnectedError, match="connect"):
        store.update([material(1)])
    with pytest.raises(NotConnectedError):
        list(store.query())


def test_repr_shows_where_not_secrets(s3_server, bucket):
    store = S3Store(MemoryStore("r"), bucket, endpoint_url="http://user:pw-in-url@127.0.0.1:9",
                    s3_profile={**CREDENTIALS, "aws_secret_access_key": "very-secret"})
    text = repr(store)
    assert bucket in text and "very-secret" not in text and "pw-in-url" not in text
    assert store.s3_profile is None


@pytest.mark.slow
def test_more_workers_than_configured_grow_the_connection_pool(make_store):
    store = make_store(s3_workers=2)
    assert store.client.meta.config.max_pool_connections >= 2
    store.update([material(i) for i in range(5)], workers=40)
    assert store.client.meta.config.max_pool_connections >= 40
    assert len(list(store.query(workers=40))) == 5


def test_a_key_repeated_after_it_settled_is_stored_again_consistently(make_store):
    store = make_store(s3_workers=1, searchable_fields=["v"])
    docs = [{"task_id": "a", "v": 1}] + [{"task_id": f"b{i}", "v": 0} for i in range(6)]
    docs.append({"task_id": "a", "v": 2})
    result = store.update(docs, chunk_size=1)
    assert result.ok and result.written == 8
    assert store.get("a")["v"] == 2 and store.index.query_one({"task_id": "a"})["v"] == 2
    assert store.verify().ok  # the entry's obj_hash is the object that stayed
