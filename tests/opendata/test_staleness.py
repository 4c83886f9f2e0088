"""Public buckets are written by strangers: a reopened prefix is checked against the bucket
(changed, deleted and added objects; a republished manifest), a body that no longer matches
its entry is never served, and offline=True uses the cache only when asked to."""

from __future__ import annotations

import contextlib
import gzip
import pickle
import warnings

import pytest
from bson import json_util

import s3explore
from s3explore._errors import ConfigurationError, CorruptObjectError, StoreConnectionError
from s3explore._stores._opendata import StaleObjectError
from s3explore.local_s3 import LocalS3
from tests import servers
from tests.conftest import CREDENTIALS
from tests.opendata import layouts

pytestmark = pytest.mark.real_s3


def _doc(i: int, efermi: float = 1.0) -> dict:
    return {"task_id": f"mp-{i}", "efermi": efermi, "n": i}


def _put(client, bucket: str, name: str, doc: dict) -> None:
    client.put_object(Bucket=bucket, Key=name, Body=gzip.compress(json_util.dumps(doc).encode()))


@pytest.fixture
def json_prefix(s3_server, bucket, tmp_path):
    """Twelve ``p/mp-N.json.gz`` objects, opened once so the cache holds a built manifest."""
    client = s3_server.client()
    layouts.make_public(client, bucket)
    for i in range(12):
        _put(client, bucket, f"p/mp-{i}.json.gz", _doc(i))
    kw = dict(anonymous=True, endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path / "c")
    url = f"s3://{bucket}/p"
    with s3explore.open(url, **kw) as store:
        assert store.count() == 12 and "built from the objects" in store.found
    return client, bucket, url, kw


def test_an_unchanged_prefix_reopens_from_the_cache(json_prefix):
    _, _, url, kw = json_prefix
    with s3explore.open(url, **kw) as store:
        assert "checked against the bucket: 12 objects unchanged" in store.found
        assert store.get("mp-3") == _doc(3)
        with pickle.loads(pickle.dumps(store)) as copy:  # as a Dask worker gets it
            assert copy.get("mp-4") == _doc(4)


@pytest.mark.slow
def test_changed_deleted_and_added_objects_are_seen_on_reopen(json_prefix):
    client, bucket, url, kw = json_prefix
    _put(client, bucket, "p/mp-1.json.gz", _doc(1, efermi=9.5))  # changed
    client.delete_object(Bucket=bucket, Key="p/mp-2.json.gz")  # deleted
    _put(client, bucket, "p/mp-40.json.gz", _doc(40))  # added
    with s3explore.open(url, **kw) as store:
        found = store.found
        assert "updated because the bucket changed" in found
        assert "1 changed (mp-1.json.gz)" in found and "1 deleted (mp-2.json.gz)" in found
        assert "1 new or not yet read (mp-40.json.gz)" in found
        assert "(10 from an earlier run)" in found  # only the two new bodies were read
        assert store.count() == 12 and store.count({"task_id": "mp-2"}) == 0
        assert store.get("mp-1") == _doc(1, efermi=9.5)
        assert store.count({"efermi": 9.5}) == 1  # the index holds the new body's fields
        assert store.get("mp-40") == _doc(40)
    with s3explore.open(url, **kw) as again:  # the update is the cache now
        assert "12 objects unchanged" in again.found


def test_a_grouped_object_rewritten_is_read_again(s3_server, bucket, tmp_path):
    client = s3_server.client()
    layouts.make_public(client, bucket)
    docs = [layouts.material(i) for i in range(40)]
    bodies = layouts.grouped_bodies("g", docs, manifest=False)
    layouts.upload(client, bucket, bodies)
    url = f"s3://{bucket}/g"
    kw = dict(anonymous=True, endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path)
    with s3explore.open(url, **kw) as store:
        assert store.count() == 40
    group = "g/nelements=1/symmetry_number=1.jsonl.gz"
    moved = [d for d in docs if (d["nelements"], d["symmetry_number"]) == (1, 1)]
    kept = [*moved[1:], {**moved[0], "material_id": "mp-new", "band_gap": 42.0}]
    client.put_object(Bucket=bucket, Key=group, Body=gzip.compress(
        "".join(json_util.dumps(d) + "\n" for d in kept).encode()))
    with s3explore.open(url, **kw) as store:
        assert "1 changed (nelements=1/symmetry_number=1.jsonl.gz)" in store.found
        assert store.count() == 40
        assert store.count({"material_id": moved[0]["material_id"]}) == 0
        assert store.get("mp-new")["band_gap"] == 42.0


@pytest.mark.slow
def test_an_object_changed_under_an_open_store_is_not_served(json_prefix):
    client, bucket, url, kw = json_prefix
    with s3explore.open(url, **kw) as store:
        _put(client, bucket, "p/mp-5.json.gz", _doc(5, efermi=7.0))
        with pytest.raises(StaleObjectError, match="reopen") as info:
            store.get("mp-5")
        message = str(info.value)
        assert "mp-5.json.gz" in message and "changed since the manifest indexed" in message
        assert info.value.key == "mp-5" and isinstance(info.value, CorruptObjectError)
        with pytest.raises(StaleObjectError):
            list(store.query({"n": {"$gte": 4, "$lte": 6}}))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            rows = list(store.query({"n": {"$gte": 4, "$lte": 6}}, on_error="skip"))
        assert [r["n"] for r in rows] == [4, 6]
        assert any("'mp-5'" in str(w.message) for w in caught)
    with s3explore.open(url, **kw) as store:  # reopening indexes the new body
        assert store.get("mp-5") == _doc(5, efermi=7.0)


def test_a_stale_cache_without_build_manifest_is_an_error(json_prefix):
    client, bucket, url, kw = json_prefix
    client.delete_object(Bucket=bucket, Key="p/mp-0.json.gz")
    with pytest.raises(ConfigurationError, match="out of date") as info:
        s3explore.open(url, build_manifest=False, **kw)
    assert "1 deleted (mp-0.json.gz)" in str(info.value) and "offline=True" in str(info.value)


@pytest.mark.slow
def test_a_republished_manifest_is_loaded_again(s3_server, bucket, tmp_path):
    client = s3_server.client()
    layouts.make_public(client, bucket)
    docs = [layouts.material(i) for i in range(30)]
    layouts.upload(client, bucket, layouts.grouped_bodies("m", docs))
    url = f"s3://{bucket}/m"
    kw = dict(anonymous=True, endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path)
    with s3explore.open(url, **kw) as store:
        assert store.count() == 30
    with s3explore.open(url, **kw) as store:
        assert "local index cached" in store.found
    more = docs + [layouts.material(i) for i in range(30, 45)]
    layouts.upload(client, bucket, layouts.grouped_bodies("m", more))
    with s3explore.open(url, **kw) as store:
        assert "local index cached" not in store.found
        assert store.count() == 45 and store.get("mp-44")["material_id"] == "mp-44"


def test_objects_rewritten_under_a_published_s3store_manifest(make_store, s3_server,
                                                              tmp_path):
    """An S3Store's entries name their objects' ETags (obj_etag), so its published
    manifest lets readers refuse an object rewritten since."""
    source = make_store(compress=True)
    source.update([{"task_id": f"t-{i}", "x": i} for i in range(5)])
    source.write_manifest()
    assert all(e.get("obj_etag") for e in source.index.query())
    store = s3explore.open(f"s3://{source.bucket}", s3_profile=dict(CREDENTIALS),
                           endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path)
    with store:
        assert store.get("t-1") == source.get("t-1")
        body = source.client.get_object(Bucket=source.bucket, Key="t-2")["Body"].read()
        source.client.put_object(Bucket=source.bucket, Key="t-2", Body=body + b"\0")
        with pytest.raises(StaleObjectError, match="'t-2'"):
            store.get("t-2")


# ---------------------------------------------------------------- unreachable and offline


@pytest.fixture(params=["moto", "versitygw"])
def private_server(request):
    """A server of this test's own, so it can be stopped: the endpoint then refuses
    connections while the cache (named after the endpoint) stays."""
    server = LocalS3() if request.param == "moto" else servers.VersityS3()
    server.start()
    stop = server.stop if request.param == "moto" else server.kill
    yield server, stop
    with contextlib.suppress(Exception):  # moto's server was stopped already
        server.stop()


@pytest.mark.slow
def test_unreachable_bucket_offline_and_no_cache(private_server, tmp_path):
    server, stop = private_server
    bucket = server.create_bucket("offline-test")
    client = server.client()
    layouts.make_public(client, bucket)
    for i in range(6):
        _put(client, bucket, f"p/mp-{i}.json.gz", _doc(i))
    url = f"s3://{bucket}/p"
    kw = dict(anonymous=True, endpoint_url=server.endpoint_url, cache_dir=tmp_path)
    with s3explore.open(url, **kw) as store:
        assert store.count() == 6
    with pytest.raises(ConfigurationError, match="no cached index") as info:
        s3explore.open(f"s3://{bucket}/other", offline=True, **kw)
    assert "without offline=True" in str(info.value)
    stop()
    with pytest.raises(StoreConnectionError, match="offline=True") as info:
        s3explore.open(url, **kw)
    assert "cannot reach the bucket" in str(info.value) and str(tmp_path) in str(info.value)
    with pytest.warns(UserWarning, match="offline") as caught:
        store = s3explore.open(url, offline=True, **kw)
    text = " ".join(str(w.message) for w in caught)
    assert "may be out of date" in text and str(tmp_path) in text
    with store:
        assert "offline (not checked against the bucket)" in store.found
        assert store.count() == 6 and store.distinct("n") == list(range(6))
        assert [d["efermi"] for d in store.query({"n": 2}, properties=["efermi"])] == [1.0]
        with pytest.raises(StoreConnectionError, match="opened offline"):
            store.get("mp-1")
    with pytest.raises(StoreConnectionError):  # no cache for this prefix: no offline hint
        s3explore.open(f"s3://{bucket}/other", **kw)


def test_offline_with_a_reachable_bucket_still_refuses_changed_bodies(json_prefix):
    client, bucket, url, kw = json_prefix
    _put(client, bucket, "p/mp-7.json.gz", _doc(7, efermi=3.0))
    with pytest.warns(UserWarning, match="offline"):
        store = s3explore.open(url, offline=True, **kw)
    with store:
        assert store.get("mp-6") == _doc(6)  # the bucket is asked only for documents
        with pytest.raises(StaleObjectError):
            store.get("mp-7")


def test_offline_from_a_published_manifest(s3_server, bucket, tmp_path):
    client = s3_server.client()
    layouts.make_public(client, bucket)
    docs = [layouts.material(i) for i in range(20)]
    layouts.upload(client, bucket, layouts.grouped_bodies("m", docs))
    url = f"s3://{bucket}/m"
    kw = dict(anonymous=True, endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path)
    with s3explore.open(url, **kw) as store:
        assert store.count() == 20
    s3_server.reset_counters()
    with pytest.warns(UserWarning, match="published manifest as loaded on"):
        store = s3explore.open(url, offline=True, **kw)
    with store:
        assert store.count() == 20 and "offline" in store.found
    with store:  # connected again: the cached index is found again, still offline
        assert store.count() == 20
    assert sum(s3_server.requests.values()) == 0  # offline: not one request
    with pytest.raises(ConfigurationError, match="refresh=True"):
        s3explore.open(url, offline=True, refresh=True, **kw)
    with pytest.raises(ConfigurationError, match="offline must be"):
        s3explore.open(url, offline="yes", **kw)


@pytest.mark.slow
def test_cli_open_offline(json_prefix, capsys):
    from s3explore import _cli

    _, _, url, kw = json_prefix
    with pytest.warns(UserWarning, match="offline"):
        code = _cli.main(["open", url, "--anonymous", "--endpoint-url", kw["endpoint_url"],
                          "--cache-dir", str(kw["cache_dir"]), "--offline", "--check"])
    assert code == 0
    assert "12 documents" in capsys.readouterr().out


def test_a_listing_kept_beside_the_manifest_names_each_object(json_prefix):
    _, _, url, kw = json_prefix
    from s3explore._stores._opendata import _fresh, _index

    with s3explore.open(url, **kw) as store:
        folder = store.cache_folder
        fingerprint = _index.local_fingerprint(store.manifest_path)
    recorded = _fresh.read_listing(folder, fingerprint)
    assert sorted(recorded) == sorted(f"mp-{i}.json.gz" for i in range(12))
    assert all(r.entries == 1 and r.etag and r.size > 0 for r in recorded.values())


@pytest.mark.moto_only  # moto's fault gate, in front of a server of this test's own
@pytest.mark.slow
def test_an_object_that_failed_for_a_passing_reason_is_read_again_on_reopen(tmp_path):
    """A read that failed on the network is not recorded as read: the next open reads the
    object again, while an object whose bytes are bad is not read again until it changes."""
    failing = {"on": True}

    def refuses_mp_3(environ):
        return (failing["on"] and environ.get("REQUEST_METHOD") == "GET"
                and environ.get("PATH_INFO", "").endswith("/p/mp-3.json.gz"))

    with LocalS3(fail_when=refuses_mp_3) as server:
        bucket = server.create_bucket("passing-failures")
        client = server.client()
        layouts.make_public(client, bucket)
        for i in range(6):
            _put(client, bucket, f"p/mp-{i}.json.gz", _doc(i))
        client.put_object(Bucket=bucket, Key="p/mp-9.json.gz", Body=b"not gzip")
        kw = dict(anonymous=True, endpoint_url=server.endpoint_url, cache_dir=tmp_path)
        url = f"s3://{bucket}/p"
        with pytest.warns(UserWarning, match=r"2 object\(s\)") as caught:
            store = s3explore.open(url, **kw)
        assert "mp-3.json.gz" in str(caught[0].message)
        with store:
            assert store.count() == 5
        failing["on"] = False
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            store = s3explore.open(url, **kw)
        assert caught == []  # mp-9 is not read again (nor warned of) while unchanged
        with store:
            assert "1 new or not yet read (mp-3.json.gz)" in store.found
            assert store.count() == 6 and store.get("mp-3") == _doc(3)
        with s3explore.open(url, **kw) as again:
            assert "6 objects unchanged" not in again.found  # 7 listed: mp-9 too
            assert "7 objects unchanged" in again.found
            assert "1 object(s) could not be read when it was built" in again.found
