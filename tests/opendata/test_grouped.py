"""A maggma OpenDataStore-style collection (manifest.jsonl + grouped .jsonl.gz, 10k documents)
in a public-read bucket, read with unsigned requests."""

from __future__ import annotations

import datetime as dt
import os
import re

import pandas as pd
import pytest

import s3explore
from s3explore._stores._opendata import ManifestStore, ReadOnlyStoreError
from tests.opendata import layouts
from tests.opendata.conftest import N_GROUPED

pytestmark = pytest.mark.real_s3

PREFIX = "collections/materials"


@pytest.fixture(scope="module")
def opened(public_bucket, s3_server, tmp_path_factory):
    store = s3explore.open(f"s3://{public_bucket['bucket']}/{PREFIX}", anonymous=True,
                           endpoint_url=s3_server.endpoint_url,
                           cache_dir=tmp_path_factory.mktemp("cache"))
    yield store
    store.close()


@pytest.fixture(scope="module")
def docs(public_bucket):
    return {d["material_id"]: layouts.plain(d) for d in public_bucket["materials"]}


@pytest.mark.slow
def test_open_says_what_it_found(opened):
    assert isinstance(opened, ManifestStore) and opened.anonymous
    assert opened.layout.kind == "grouped-jsonl"
    assert opened.layout.grouping == ("nelements", "symmetry_number")
    assert opened.key == "material_id"
    assert "maggma OpenDataStore" in opened.found and f"{N_GROUPED} entries" in opened.found
    assert "manifest.jsonl" in repr(opened)


def test_count_filter_sort_page(opened, docs):
    assert opened.count() == N_GROUPED
    expected = [d for d in docs.values() if d["nelements"] == 2 and d["band_gap"] > 4]
    assert opened.count({"nelements": 2, "band_gap": {"$gt": 4}}) == len(expected) > 0
    order = sorted(docs.values(), key=lambda d: (-d["band_gap"], d["material_id"]))
    page = list(opened.query(properties=["material_id", "band_gap"],
                             sort={"band_gap": -1, "material_id": 1}, skip=50, limit=25))
    assert [d["material_id"] for d in page] == [d["material_id"] for d in order[50:75]]
    assert opened.distinct("symmetry_number") and set(opened.distinct("nelements")) == {
        1, 2, 3, 4}


def test_manifest_values_are_typed(opened):
    entry = next(opened.index.query({"material_id": "mp-7"}))
    assert entry["last_updated"] == layouts.material(7)["last_updated"]
    assert isinstance(entry["last_updated"], dt.datetime)
    assert opened.last_updated == max(layouts.material(i)["last_updated"]
                                      for i in range(N_GROUPED))


def test_documents_fetched_whole_and_decoded(opened, docs):
    got = list(opened.query({"nsites": 3}, sort={"material_id": 1}))
    want = sorted((d for d in docs.values() if d["nsites"] == 3),
                  key=lambda d: d["material_id"])
    assert got == want  # $oid as hex text, $date as datetime, $numberLong as int
    assert isinstance(got[0]["energy_total"], int) and got[0]["energy_total"] < -10**12
    assert opened.get("mp-42") == docs["mp-42"]
    stored = opened.get_object("mp-42")
    assert stored.compression == "gzip" and stored.decoded_size > stored.stored_size
    assert stored.metadata["object"] == "nelements=3/symmetry_number=12.jsonl.gz"


def test_one_get_per_group_per_batch(opened, s3_server):
    opened._reader.clear()
    before = opened.read_stats.gets
    s3_server.reset_counters()
    got = list(opened.query({"nelements": 1}, limit=400))
    groups = {(d["nelements"], d["symmetry_number"]) for d in got}
    assert len(got) == 400 and len(groups) < 20
    assert opened.read_stats.gets - before == len(groups)
    assert s3_server.requests["GET"] == len(groups)
    # the same documents again: every group is in the cache
    list(opened.query({"nelements": 1}, limit=400))
    assert opened.read_stats.gets - before == len(groups)


def test_groups_larger_than_the_cache_are_read_once_per_batch(public_bucket, s3_server,
                                                              tmp_path):
    store = s3explore.open(f"s3://{public_bucket['bucket']}/{PREFIX}", anonymous=True,
                           endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path,
                           cache_bytes=1000)
    with store:
        got = list(store.query({"symmetry_number": 225}, limit=300, workers=4))
        assert len(got) == 300 and store._reader._cached == 0  # nothing kept
        groups = {(d["nelements"], d["symmetry_number"]) for d in got}
        # batches grow 8, 16, 32, ... 512: a group is read at most once per batch
        assert store.read_stats.gets <= len(groups) * 7 < len(got)


def test_get_many_keeps_order_and_reports_missing(opened, docs):
    keys = ["mp-9", "mp-3", "mp-nope", "mp-9000"]
    got = list(opened.get_many(keys, on_missing="none"))
    assert got == [docs["mp-9"], docs["mp-3"], None, docs["mp-9000"]]
    with pytest.raises(s3explore.ObjectNotFoundError, match="mp-nope"):
        list(opened.get_many(keys, on_missing="raise"))


def test_query_df_with_fetch(opened, docs):
    frame = opened.query_df({"formula_pretty": "Si"}, fields=["band_gap"],
                            sort={"material_id": 1}, limit=60,
                            fetch=["structure.lattice.a", "energy_total"])
    want = sorted((d for d in docs.values() if d["formula_pretty"] == "Si"),
                  key=lambda d: d["material_id"])[:60]
    assert list(frame.columns) == ["material_id", "band_gap", "structure.lattice.a",
                                   "energy_total"]
    assert list(frame["material_id"]) == [d["material_id"] for d in want]
    assert list(frame["structure.lattice.a"]) == [d["structure"]["lattice"]["a"] for d in want]
    assert frame["energy_total"].tolist() == [d["energy_total"] for d in want]
    whole = opened.query_df()
    assert len(whole) == N_GROUPED and pd.api.types.is_datetime64_any_dtype(
        whole["last_updated"])


def test_index_browser_headless(opened, docs):
    from s3explore.widgets import IndexBrowser

    browser = IndexBrowser(opened, sort={"material_id": 1})
    assert browser.total == N_GROUPED
    # keys as a reader counts them: mp-2 before mp-10 (the browser's natural order)
    first = sorted(docs, key=lambda k: [int(t) if t.isdigit() else t
                                        for t in re.split(r"(\d+)", k)])[:25]
    assert list(browser.rows["material_id"]) == first
    assert browser.apply_filter("nelements == 3 and band_gap > 4.5")
    assert browser.total == sum(1 for d in docs.values()
                                if d["nelements"] == 3 and d["band_gap"] > 4.5)
    assert browser.next_page() and browser.page == 2
    key = browser.rows["material_id"].iloc[0]
    stored = browser.open_document(key)
    assert stored is not None and browser.viewer.doc == docs[key]


def test_verify_against_the_manifest(opened, docs):
    report = opened.verify()
    groups = {(d["nelements"], d["symmetry_number"]) for d in docs.values()}
    assert report.ok and report.entries == N_GROUPED and report.objects == len(groups)
    with pytest.raises(ReadOnlyStoreError, match="read-only"):
        opened.verify(repair=True)


def test_writes_are_refused_naming_what_to_do(opened):
    for call in (lambda: opened.update([{"material_id": "x"}]),
                 lambda: opened.remove_docs({}),
                 lambda: opened.rebuild_index_from_s3_data()):
        with pytest.raises(ReadOnlyStoreError, match="S3Store"):
            call()
    assert opened.count() == N_GROUPED
    assert isinstance(ReadOnlyStoreError("x"), PermissionError)


def test_second_open_uses_the_local_index(public_bucket, s3_server, tmp_path):
    url = f"s3://{public_bucket['bucket']}/{PREFIX}"
    first = s3explore.open(url, anonymous=True, endpoint_url=s3_server.endpoint_url,
                           cache_dir=tmp_path)
    path = first.index.path
    first.close()
    assert path is not None and os.path.exists(path)
    second = s3explore.open(url, anonymous=True, endpoint_url=s3_server.endpoint_url,
                            cache_dir=tmp_path)
    with second:
        assert second.index.path == path and second.index.read_only
        assert second.count() == N_GROUPED


def test_store_round_trips_through_its_config(opened):
    again = ManifestStore.from_dict(opened.as_dict())
    with again:
        assert again.count() == N_GROUPED and again.layout == opened.layout
        assert again.get("mp-11")["material_id"] == "mp-11"
