"""write_manifest publishes an S3Store's index; s3explore.open and maggma 0.77.1's own
S3IndexStore / OpenDataStore read what is published, and we read what maggma writes."""

from __future__ import annotations

import datetime as dt

import pytest

import s3explore
from tests.conftest import CREDENTIALS
from tests.opendata import layouts

pytestmark = pytest.mark.real_s3

open_data = pytest.importorskip("maggma.stores.open_data")


def material(i: int) -> dict:
    return {"task_id": f"mp-{i}", "formula": ["Si", "NaCl", "GaAs"][i % 3], "nsites": i % 9,
            "band_gap": round(i * 0.1, 2), "calc": {"encut": 520, "kpts": [4, 4, 4]},
            "dos": list(range(i % 5)),
            "last_updated": dt.datetime(2024, 5, 1, 8, 0, 0, 123456) + dt.timedelta(hours=i)}


@pytest.fixture(params=[None, "sub/dir"], ids=["root", "sub_dir"])
def published(make_store, request):
    store = make_store(compress=True, sub_dir=request.param,
                       searchable_fields=["formula", "nsites", "band_gap"])
    store.update([material(i) for i in range(120)])
    result = store.write_manifest()
    return store, result


def test_write_manifest_publishes_both_forms(published):
    store, result = published
    sub = store.sub_dir
    assert set(result.objects) == {f"{sub}manifest.parquet", f"{sub}manifest.jsonl"}
    assert result.entries == 120 and "120 entries published" in str(result)
    raw = store.client.get_object(Bucket=store.bucket, Key=f"{sub}manifest.jsonl")
    lines = raw["Body"].read().decode().splitlines()
    assert len(lines) == 120 and '"last_updated": {"$date": "' in lines[0]


@pytest.mark.slow
def test_open_reads_a_published_s3explore_bucket(published, s3_server, tmp_path):
    store, _ = published
    url = f"s3://{store.bucket}/{store.sub_dir}"
    opened = s3explore.open(url, s3_profile=dict(CREDENTIALS),
                            endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path)
    with opened:
        assert opened.layout.kind == "s3store" and opened.key == "task_id"
        assert "manifest.parquet" in opened.found
        assert opened.count() == 120 == opened.count({"nsites": {"$gte": 0}})
        assert opened.count({"formula": "Si"}) == store.count({"formula": "Si"})
        got = list(opened.query({"nsites": 4}, sort={"task_id": 1}))
        assert got == list(store.query({"nsites": 4}, sort={"task_id": 1}))
        assert opened.get("mp-7") == store.get("mp-7")
        frame = opened.query_df({"nsites": 2}, fetch=["calc.kpts"], sort={"task_id": 1})
        assert list(frame["task_id"]) == [d["task_id"] for d in store.query(
            {"nsites": 2}, properties=["task_id"], sort={"task_id": 1})]
        report = opened.verify()
        assert report.ok and report.hashes_checked and report.objects == 120


def test_maggma_s3indexstore_reads_the_published_manifest(published, s3_server):
    store, _ = published
    index = open_data.S3IndexStore(collection_name="published", bucket=store.bucket,
                                   prefix=store.sub_dir, endpoint_url=s3_server.endpoint_url)
    index.connect()
    frame = index.index_data
    assert len(frame) == 120 and set(frame["task_id"]) == {f"mp-{i}" for i in range(120)}
    assert isinstance(frame["last_updated"].iloc[0], dt.datetime)
    assert index.last_updated == store.last_updated  # milliseconds, as MongoDB keeps them
    found = index.query(criteria={"query": "nsites > 6"}, properties=["task_id", "nsites"])
    assert sorted(found["task_id"]) == sorted(
        d["task_id"] for d in store.query({"nsites": {"$gt": 6}}, properties=["task_id"]))
    ods = open_data.OpenDataStore(index=index, collection_name="published",
                                  bucket=store.bucket, prefix=store.sub_dir,
                                  endpoint_url=s3_server.endpoint_url, key="task_id")
    answered = ods.query(criteria={"query": "formula == 'Si'"},
                         properties=["task_id", "formula"], criteria_fields=["formula"])
    assert len(answered) == store.count({"formula": "Si"})


def test_maggma_reads_the_public_grouped_layout_we_test_with(s3_server):
    """The fixture layout is maggma's: its OpenDataStore reads documents from it."""
    bucket = s3_server.create_bucket("opendata-maggma-reads")
    docs = [layouts.material(i) for i in range(60)]
    layouts.upload(s3_server.client(), bucket, layouts.grouped_bodies("materials", docs))
    ods = open_data.OpenDataStore(collection_name="materials", bucket=bucket,
                                  prefix="materials", endpoint_url=s3_server.endpoint_url,
                                  key="material_id")
    ods.connect()
    assert len(ods.index.index_data) == 60
    frame = ods.query(criteria={"query": "nsites == 8"})
    want = sorted(d["material_id"] for d in docs if d["nsites"] == 8)
    assert sorted(frame["material_id"]) == want
    row = frame[frame["material_id"] == want[0]].iloc[0]
    assert row["last_updated"] == layouts.material(int(want[0][3:]))["last_updated"]


@pytest.mark.slow
def test_we_read_what_maggma_writes(s3_server, tmp_path):
    import pandas as pd

    bucket = s3_server.create_bucket("opendata-maggma-writes")
    layouts.make_public(s3_server.client(), bucket)
    docs = [{k: v for k, v in layouts.material(i).items() if k not in ("_id", "energy_total")}
            for i in range(80)]
    ods = open_data.OpenDataStore(collection_name="materials", bucket=bucket,
                                  prefix="collections/materials",
                                  endpoint_url=s3_server.endpoint_url, key="material_id",
                                  searchable_fields=["formula_pretty", "band_gap"])
    ods.connect()
    ods.update(pd.DataFrame(docs))
    ods.store_manifest()
    store = s3explore.open(f"s3://{bucket}/collections/materials", anonymous=True,
                           endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path)
    with store:
        assert store.layout.kind == "grouped-jsonl" and store.key == "material_id"
        assert store.count() == 80 and store.count({"band_gap": {"$gt": 2}}) == sum(
            1 for d in docs if d["band_gap"] > 2)
        got = store.get("mp-13")
        assert got["structure"] == docs[13]["structure"]
        assert got["last_updated"] == docs[13]["last_updated"]


def test_unindexed_grouped_objects_get_a_manifest_maggma_reads(s3_server, tmp_path):
    bucket = s3_server.create_bucket("opendata-grouped-build")
    docs = [layouts.material(i) for i in range(300)]
    layouts.upload(s3_server.client(), bucket,
                   layouts.grouped_bodies("materials", docs, manifest=False))
    store = s3explore.open(f"s3://{bucket}/materials", s3_profile=dict(CREDENTIALS),
                           endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path)
    with store:
        assert store.layout.grouping == ("nelements", "symmetry_number")
        assert store.count() == 300 and "published" in store.found
        assert store.get("mp-77") == layouts.plain(docs[77])
        assert store.read_stats.gets == 1
    index = open_data.S3IndexStore(collection_name="m", bucket=bucket, prefix="materials",
                                   endpoint_url=s3_server.endpoint_url, key="material_id")
    index.connect()
    assert len(index.index_data) == 300
    ods = open_data.OpenDataStore(index=index, collection_name="m", bucket=bucket,
                                  prefix="materials", endpoint_url=s3_server.endpoint_url,
                                  key="material_id")
    frame = ods.query(criteria={"query": "material_id == 'mp-77'"})
    assert list(frame["material_id"]) == ["mp-77"]
