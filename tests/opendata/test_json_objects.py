"""One gzip JSON document per id and no index anywhere (like materialsproject-parsed/dos):
a manifest is built by reading every object, kept locally, reused and resumed."""

from __future__ import annotations

import datetime as dt
import gzip
import threading

import pytest

import s3explore
from s3explore import ProgressCounter
from s3explore._stores._opendata import CancelledBuildError, ManifestStore
from s3explore._stores._opendata._build import summary
from tests.conftest import CREDENTIALS
from tests.opendata import layouts
from tests.opendata.conftest import N_JSON

pytestmark = pytest.mark.real_s3


@pytest.fixture(scope="module")
def built(public_bucket, s3_server, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    progress = ProgressCounter()
    store = s3explore.open(f"s3://{public_bucket['bucket']}/dos", anonymous=True,
                           endpoint_url=s3_server.endpoint_url, cache_dir=cache,
                           progress=progress, workers=8)
    yield store, cache, progress
    store.close()


@pytest.fixture(scope="module")
def docs(public_bucket):
    return {d["task_id"]: layouts.plain(d) for d in public_bucket["dos"]}


@pytest.mark.slow
def test_build_reads_every_object_with_progress(built):
    store, cache, progress = built
    snap = progress.snapshot()
    assert snap.total == N_JSON and snap.done == N_JSON and snap.failed == 0 and snap.finished
    assert snap.nbytes > 0
    assert store.layout.kind == "json-objects" and store.key == "task_id"
    assert "built from the objects" in store.found and "not published" not in store.found
    assert store.manifest_path is not None and store.manifest_path.startswith(str(cache))
    assert store.count() == N_JSON


def test_index_holds_the_scalar_fields(built, docs, public_bucket, s3_server):
    store, _, _ = built
    entry = next(store.index.query({"task_id": "mp-5"}))
    head = s3_server.client().head_object(Bucket=public_bucket["bucket"], Key="dos/mp-5.json.gz")
    # the ETag of the body the entry came from: a read of another body is refused; the
    # upload time under its own name, beside the document's own last_updated
    uploaded = head["LastModified"].astimezone(dt.UTC).replace(tzinfo=None)
    assert entry == {**summary(docs["mp-5"], None), "task_id": "mp-5",
                     "compression": "gzip", "obj_etag": head["ETag"].strip('"'),
                     "s3_last_modified": uploaded}
    assert entry["last_updated"] == docs["mp-5"]["last_updated"]
    assert store.index.last_updated_field == "last_updated"  # the documents all have one
    assert "energies" in entry and "densities" not in entry  # short lists kept, not lists
    assert entry["calc"] == {"encut": 720, "functional": "PBE"}
    assert store.count({"calc.encut": 720, "spin_polarized": True}) == sum(
        1 for d in docs.values() if d["calc"]["encut"] == 720 and d["spin_polarized"])


def test_documents_and_frames(built, docs):
    store, _, _ = built
    got = list(store.query({"nelements": 2}, sort={"efermi": -1, "task_id": 1}, limit=30))
    want = sorted((d for d in docs.values() if d["nelements"] == 2),
                  key=lambda d: (-d["efermi"], d["task_id"]))[:30]
    assert got == want
    frame = store.query_df({"nelements": 3}, fields=["efermi"], fetch=["densities.1"],
                           sort={"task_id": 1}, limit=10)
    want = sorted((d for d in docs.values() if d["nelements"] == 3),
                  key=lambda d: d["task_id"])[:10]
    assert [list(v) for v in frame["densities.1"]] == [d["densities"]["1"] for d in want]
    assert "compression" not in frame.columns  # bookkeeping stays out of frames


@pytest.mark.slow
def test_second_session_reuses_the_manifest(public_bucket, s3_server, built):
    _, cache, _ = built
    s3_server.reset_counters()
    again = s3explore.open(f"s3://{public_bucket['bucket']}/dos", anonymous=True,
                           endpoint_url=s3_server.endpoint_url, cache_dir=cache)
    with again:
        assert "built earlier" in again.found and again.count() == N_JSON
        assert f"checked against the bucket: {N_JSON} objects unchanged" in again.found
    # the check lists the prefix (1,000 keys a page); no object is read again
    assert s3_server.requests["GET"] <= -(-N_JSON // 1000) + 1


@pytest.mark.slow
def test_cancelled_build_resumes(public_bucket, s3_server, tmp_path):
    url = f"s3://{public_bucket['bucket']}/dos"
    cancel = threading.Event()

    class StopSoon(s3explore.Callback):
        done = 0

        def advance(self, docs=0, nbytes=0, failed=0):
            self.done += docs
            if self.done >= 300:
                cancel.set()

    with pytest.raises(CancelledBuildError, match="resume") as caught:
        s3explore.open(url, anonymous=True, endpoint_url=s3_server.endpoint_url,
                       cache_dir=tmp_path, progress=StopSoon(), cancel=cancel, workers=4)
    landed = caught.value.result.entries
    assert 300 <= landed < N_JSON
    progress = ProgressCounter()
    store = s3explore.open(url, anonymous=True, endpoint_url=s3_server.endpoint_url,
                           cache_dir=tmp_path, progress=progress)
    with store:
        assert store.count() == N_JSON
        assert f"({landed} from an earlier run)" in store.found
        assert len(store.distinct("task_id")) == N_JSON


@pytest.mark.slow
def test_built_manifest_is_published_when_signed_in(s3_server, tmp_path):
    bucket = s3_server.create_bucket("opendata-publish-json")
    client = s3_server.client()
    layouts.make_public(client, bucket)
    layouts.upload(client, bucket, layouts.json_bodies("dos", [layouts.dos(i)
                                                               for i in range(40)]))
    client.put_object(Bucket=bucket, Key="dos/mp-plain.json",
                      Body=b'{"task_id": "mp-plain", "efermi": 1.0}')
    url = f"s3://{bucket}/dos"
    store = s3explore.open(url, s3_profile=dict(CREDENTIALS), anonymous=False,
                           endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path / "a")
    with store:
        assert "published to" in store.found and store.count() == 41
        assert store.get("mp-plain") == {"task_id": "mp-plain", "efermi": 1.0}
    listed = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert {"dos/manifest.parquet", "dos/manifest.jsonl"} <= listed
    # someone else, without the local manifest: opens from the published one, reads nothing
    s3_server.reset_counters()
    other = s3explore.open(url, anonymous=True, endpoint_url=s3_server.endpoint_url,
                           cache_dir=tmp_path / "b")
    with other:
        assert "manifest manifest.parquet" in other.found and other.count() == 41
        assert other.layout == store.layout
        assert other.get("mp-3") == layouts.plain(layouts.dos(3))
        report = other.verify()
        assert report.ok and report.objects == 41


@pytest.mark.slow
def test_verify_names_missing_and_unlisted_objects(s3_server, tmp_path):
    bucket = s3_server.create_bucket("opendata-verify-json")
    client = s3_server.client()
    layouts.upload(client, bucket, layouts.json_bodies("dos", [layouts.dos(i)
                                                               for i in range(12)]))
    store = s3explore.open(f"s3://{bucket}/dos", endpoint_url=s3_server.endpoint_url,
                           s3_profile=dict(CREDENTIALS), cache_dir=tmp_path, publish=False)
    with store:
        client.delete_object(Bucket=bucket, Key="dos/mp-4.json.gz")
        client.put_object(Bucket=bucket, Key="dos/mp-99.json.gz",
                          Body=gzip.compress(b'{"task_id": "mp-99"}'))
        report = store.verify()
        assert not report.ok and report.dangling == ["mp-4"]
        assert report.orphans == ["mp-99.json.gz"]
        assert list(store.get_many(["mp-3", "mp-4"], on_missing="none"))[1] is None


def test_unreadable_objects_are_reported_not_dropped(s3_server, tmp_path):
    bucket = s3_server.create_bucket("opendata-corrupt-json")
    client = s3_server.client()
    layouts.upload(client, bucket, layouts.json_bodies("dos", [layouts.dos(i)
                                                               for i in range(5)]))
    client.put_object(Bucket=bucket, Key="dos/mp-bad.json.gz", Body=b"not gzip at all")
    with pytest.warns(UserWarning, match=r"1 object\(s\).*mp-bad.json.gz"):
        store = s3explore.open(f"s3://{bucket}/dos", endpoint_url=s3_server.endpoint_url,
                               s3_profile=dict(CREDENTIALS), cache_dir=tmp_path,
                               publish=False)
    with store:
        assert store.count() == 5 and "1 failed" in store.found


@pytest.mark.slow
def test_fields_choose_the_index(public_bucket, s3_server, tmp_path):
    store = s3explore.open(f"s3://{public_bucket['bucket']}/dos", anonymous=True,
                           endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path,
                           fields=["efermi", "calc.encut"])
    with store:
        entry = next(store.index.query({"task_id": "mp-2"}))
        assert set(entry) == {"task_id", "efermi", "calc", "compression", "last_updated",
                              "s3_last_modified", "obj_etag"}
        assert isinstance(store, ManifestStore)
