"""The request engines side by side: obstore (the default) and boto3 store the same objects,
read them back alike, and fail with the same exceptions, on moto's server and the gateway."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from s3explore import (
    BucketNotFoundError,
    ConfigurationError,
    CredentialsError,
    MemoryStore,
    ObjectNotFoundError,
    S3Store,
    StoreConnectionError,
)
from tests.servers import free_port

pytestmark = pytest.mark.real_s3
ENGINES = ["obstore", "boto3"]
_names = itertools.count()


def material(i: int) -> dict:
    return {"task_id": f"mp-{i}", "formula": "NaCl", "nsites": i,
            "dos": {"energies": np.linspace(0, 1, 50 + i)}}


def store_on(s3_server, bucket: str, engine: str, **kwargs) -> S3Store:
    kwargs.setdefault("index", MemoryStore(f"engine-{next(_names)}"))
    store = S3Store(bucket=bucket, s3_profile=s3_server.credentials,
                    endpoint_url=s3_server.endpoint_url, engine=engine, compress=True,
                    searchable_fields=["formula", "nsites"], **kwargs)
    store.connect()
    return store


@pytest.mark.slow
def test_both_engines_store_the_same_objects(s3_server, bucket):
    stored = {}
    for engine in ENGINES:
        store = store_on(s3_server, bucket, engine, sub_dir=engine)
        assert store.engine == engine
        assert store.update([material(i) for i in range(20)]).written == 20
        raw = s3_server.client()
        stored[engine] = {
            i: (raw.get_object(Bucket=bucket, Key=f"{engine}/mp-{i}")["Body"].read(),
                raw.head_object(Bucket=bucket, Key=f"{engine}/mp-{i}")["Metadata"])
            for i in range(20)}
        entries = {e["task_id"]: e for e in store.index.query()}
        assert {e["obj_etag"] for e in entries.values()} == {
            raw.head_object(Bucket=bucket, Key=f"{engine}/{k}")["ETag"].strip('"')
            for k in entries}
        store.close()
    for i in range(20):
        body, metadata = stored["obstore"][i]
        other_body, other_metadata = stored["boto3"][i]
        assert body == other_body
        assert {k: v for k, v in metadata.items() if k != "sub-dir"} == {
            k: v for k, v in other_metadata.items() if k != "sub-dir"}


@pytest.mark.parametrize("engine", ENGINES)
def test_each_engine_reads_what_the_other_wrote(s3_server, bucket, engine):
    writer = store_on(s3_server, bucket, "boto3" if engine == "obstore" else "obstore")
    writer.update([material(i) for i in range(12)])
    reader = store_on(s3_server, bucket, engine, index=writer.index)
    got = {d["task_id"]: d for d in reader.query(sort={"nsites": 1})}
    assert list(got) == [f"mp-{i}" for i in range(12)]
    assert np.array_equal(got["mp-7"]["dos"]["energies"], np.linspace(0, 1, 57))
    assert reader.verify().ok


@pytest.mark.parametrize("engine", ENGINES)
def test_keys_obstore_cannot_hold_as_they_are_still_round_trip(s3_server, bucket, engine):
    # object_store's paths refuse empty segments and would drop a trailing "/": such keys
    # go through boto3. The rest (spaces, %, +, non-ASCII) go through obstore as they are.
    keys = ["with space", "pct%41", "plus+sign", "ünïcødé", "a//b", "tail/", "semi;colon"]
    store = store_on(s3_server, bucket, engine)
    result = store.update([{"task_id": k, "formula": "Si", "nsites": 1} for k in keys],
                          errors="collect")
    refused = {f.key for f in result.failures}
    written = [k for k in keys if k not in refused]
    assert {"with space", "pct%41", "plus+sign", "ünïcødé", "semi;colon"} <= set(written)
    listed = {o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]}
    if "a//b" in written and "a//b" not in listed:
        # Versity S3 Gateway keeps objects as files: its POSIX folder turns "a//b" into
        # "a/b" (AWS and moto keep the key as written). Reads by the key still work.
        assert type(s3_server).__name__ == "VersityS3" and "a/b" in listed
        listed = listed - {"a/b"} | {"a//b"}
    assert set(written) <= listed
    assert {d["task_id"] for d in store.query()} == set(written)
    assert store.get_many(written) and all(store.get(k)["formula"] == "Si" for k in written)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.slow
def test_errors_are_ours_with_the_original_as_cause(s3_server, bucket, engine):
    store = store_on(s3_server, bucket, engine)
    with pytest.raises(ObjectNotFoundError) as missing:
        store.get_object("never-written")
    assert missing.value.__cause__ is not None and "never-written" in str(missing.value)

    absent = S3Store(MemoryStore("absent"), f"absent-{next(_names)}-x",
                     s3_profile=s3_server.credentials, endpoint_url=s3_server.endpoint_url,
                     engine=engine)
    with pytest.raises(BucketNotFoundError, match="Bucket not present"):
        absent.connect()

    dead = S3Store(MemoryStore("dead"), bucket, s3_profile=s3_server.credentials,
                   endpoint_url=f"http://127.0.0.1:{free_port()}", engine=engine, timeout=2)
    with pytest.raises(StoreConnectionError, match="cannot reach"):
        dead.connect()


def test_refused_credentials_are_named_and_not_quoted_back(production_s3):
    # The gateway quotes the refused access key id in its error body, as AWS does; it stays
    # out of our message and out of the cause we keep.
    bucket = production_s3.create_bucket(f"refused-{next(_names)}-keys")
    for engine in ENGINES:
        store = S3Store(MemoryStore("refused"), bucket, engine=engine,
                        endpoint_url=production_s3.endpoint_url,
                        s3_profile={"aws_access_key_id": "AKIAREFUSEDKEYID",
                                    "aws_secret_access_key": "not-the-secret",
                                    "region_name": "us-east-1"})
        with pytest.raises(CredentialsError) as refused:
            store.connect()
        chain, error = [], refused.value
        while error is not None:
            chain.append(f"{error!s} {error!r}")
            error = error.__cause__ or error.__context__
        assert "InvalidAccessKeyId" in chain[0]
        assert not any("AKIAREFUSEDKEYID" in text or "not-the-secret" in text
                       for text in chain), chain


def test_engine_is_checked_and_kept_in_the_configuration():
    with pytest.raises(ConfigurationError, match="engine must be one of"):
        S3Store(MemoryStore("x"), "bucket", engine="curl")
    store = S3Store(MemoryStore("x"), "bucket", engine="boto3")
    assert store.as_dict()["engine"] == "boto3"
    assert S3Store.from_dict(store.as_dict()).engine == "boto3"


@pytest.mark.slow
def test_under_motos_in_process_mock_requests_go_through_boto3(monkeypatch):
    # maggma's tests, and many of its users', run S3Store under moto's mock_aws, which patches
    # botocore inside the process: obstore's requests would miss it, so boto3 sends them.
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        import boto3

        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="mocked-bucket")
        store = S3Store(MemoryStore("mocked"), "mocked-bucket", compress=True)
        with store:
            assert store.engine == "obstore"  # as configured; the mock decides the sender
            assert type(store.objects.engine).__name__ == "BotoEngine"
            store.update([material(i) for i in range(3)])
            assert sorted(d["task_id"] for d in store.query()) == ["mp-0", "mp-1", "mp-2"]
            assert [o.key for o in store.s3_bucket.objects.all()] == ["mp-0", "mp-1", "mp-2"]


@pytest.mark.parametrize(("kind", "code"), [
    ("PermissionDeniedError", "AccessDenied"), ("UnauthenticatedError", "AccessDenied"),
    ("NotFoundError", "NoSuchKey"), ("PreconditionError", "PreconditionFailed")])
def test_a_bodiless_obstore_error_keeps_what_s3_answered(kind, code):
    """A HEAD's refusal has no XML body to quote a code from: object_store's class of the
    error stands for it, so the error table still gives our class (AccessDeniedError, ...)."""
    import obstore.exceptions

    from s3explore._s3engine._obstore import from_obstore

    raised = getattr(obstore.exceptions, kind)("the request was refused")
    assert from_obstore(raised).code == code
