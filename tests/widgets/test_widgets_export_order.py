"""Exports follow the table: rows in the order the browser shows them page after page (its
sort, or the keys in natural order), for the DataFrame and for Parquet/CSV files. A cancelled
export in a sort resumes in that sort, fetching only what is missing (GETs counted on the S3
server), and its parts are never mixed with those of another sort."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from s3explore import ConfigurationError, MemoryStore, ProgressCounter, QueryError
from s3explore.widgets import IndexBrowser, _exportrun

N = 40


def docs(n: int = N) -> list[dict]:
    # keys without zero padding: the table shows mp-2 before mp-10 (natural order);
    # nsites repeats, so a sort on it leaves ties for the key to break
    return [{"task_id": f"mp-{i}", "nsites": i % 9, "formula": ["NaCl", "SiO2", "MgO"][i % 3],
             "structure": {"volume": 10.0 + i}} for i in range(n)]


@pytest.fixture
def memory():
    store = MemoryStore("export-order")
    store.connect()
    store.update(docs())
    return store


@pytest.fixture
def seeded(store):
    store.searchable_fields = ["nsites", "formula"]
    store.update(docs(), workers=4)
    return store


def table_keys(browser: IndexBrowser) -> list[str]:
    """The keys as the table shows them, page after page."""
    browser.go_to(1)
    keys = list(browser.rows["task_id"])
    while browser.next_page():
        keys += list(browser.rows["task_id"])
    return keys


def exported_keys(browser: IndexBrowser, how: str, tmp_path, fetch=None) -> list[str]:
    if how == "df":
        return list(browser.export_df("picked", fetch=fetch)["task_id"])
    target = tmp_path / f"picked.{how}"
    browser.export(target, fetch=fetch)
    frame = pd.read_parquet(target) if how == "parquet" else pd.read_csv(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # nothing staged left
    return list(frame["task_id"])


@pytest.mark.parametrize("how", ["df", "parquet", "csv"])
@pytest.mark.parametrize("sort", [None, {"task_id": -1}, {"nsites": -1}, {"formula": 1}])
def test_index_fields_come_out_in_the_table_order(memory, tmp_path, how, sort):
    browser = IndexBrowser(memory, fields=["formula", "nsites"], page_size=7, sort=sort)
    browser.apply_filter("nsites > 2")
    shown = table_keys(browser)
    assert len(shown) == sum(d["nsites"] > 2 for d in docs())
    assert shown != sorted(shown)  # not the key's text order: the test can tell
    assert exported_keys(browser, how, tmp_path) == shown


@pytest.mark.parametrize("how", ["df", "parquet", "csv"])
@pytest.mark.parametrize("sort", [None, {"nsites": -1}])
def test_fetched_exports_in_parts_come_out_in_the_table_order(seeded, tmp_path, monkeypatch,
                                                              how, sort):
    monkeypatch.setattr(_exportrun, "PART_SIZE", 6)  # several parts, cut across ties
    browser = IndexBrowser(seeded, fields=["nsites"], page_size=10)
    if sort:
        browser.sort_by(*next(iter(sort.items())))
    browser.apply_filter("nsites > 1")
    shown = table_keys(browser)
    assert exported_keys(browser, how, tmp_path, fetch=["structure.volume"]) == shown
    if how == "df":
        frame = browser.export_panel.dataframe
        assert frame["structure.volume"].tolist() == [
            10.0 + int(k.split("-")[1]) for k in shown]


def test_a_header_click_changes_the_export_order(memory, tmp_path):
    browser = IndexBrowser(memory, page_size=10)
    natural = exported_keys(browser, "df", tmp_path)
    assert natural[:3] == ["mp-0", "mp-1", "mp-2"] and natural == table_keys(browser)
    browser.sort_by("nsites")  # as a click on the header
    browser.sort_by("nsites")  # twice: descending
    assert browser.sort == {"nsites": -1}
    by_nsites = exported_keys(browser, "df", tmp_path)
    assert by_nsites == table_keys(browser)
    assert [int(k.split("-")[1]) % 9 for k in by_nsites] == sorted(
        (i % 9 for i in range(N)), reverse=True)


def cancel_after_parts(monkeypatch, panel, parts: int) -> None:
    """Click Cancel (in effect) once ``parts`` parts are done, as a user would mid-export."""
    original = _exportrun._CancellableCounter.advance
    seen = []

    def advance(self, docs=0, nbytes=0, failed=0):
        if docs:
            seen.append(docs)
            if len(seen) == parts:
                panel.cancel()
        original(self, docs, nbytes, failed)

    monkeypatch.setattr(_exportrun._CancellableCounter, "advance", advance)


def test_a_cancelled_sorted_export_resumes_in_its_sort(seeded, s3_server, tmp_path,
                                                       monkeypatch):
    monkeypatch.setattr(_exportrun, "PART_SIZE", 10)
    browser = IndexBrowser(seeded, sort={"nsites": -1})
    panel = browser.export_panel
    target = tmp_path / "sorted.csv"
    cancel_after_parts(monkeypatch, panel, 2)
    assert browser.export(target, fetch="structure.volume") is None
    assert panel.state == "cancelled" and not target.exists()
    assert f"Cancelled after 20 of {N} entries" in panel._status.value
    assert panel._bar.bar_style == "warning" and not panel._to_file.disabled
    record = json.loads((panel.run.parts / "progress.json").read_text())
    assert record["signature"]["sort"] == [["nsites", -1], ["task_id", 1]]
    assert [p["entries"] for p in record["parts"]] == [10, 10]

    monkeypatch.undo()
    monkeypatch.setattr(_exportrun, "PART_SIZE", 10)
    s3_server.reset_counters()
    assert browser.export(target, fetch="structure.volume") == N
    assert s3_server.requests["GET"] == N - 20  # the parts kept are not fetched again
    assert ("resumed: 20 entries were written before, 20 fetched now"
            in panel._status.value)
    written = pd.read_csv(target)
    assert list(written["task_id"]) == table_keys(browser)
    assert written["structure.volume"].tolist() == [
        10.0 + int(k.split("-")[1]) for k in written["task_id"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sorted.csv"]


def test_parts_of_another_sort_are_not_mixed_in(seeded, s3_server, tmp_path, monkeypatch):
    monkeypatch.setattr(_exportrun, "PART_SIZE", 10)
    browser = IndexBrowser(seeded, sort={"nsites": -1})
    panel = browser.export_panel
    target = tmp_path / "sorted.parquet"
    cancel_after_parts(monkeypatch, panel, 1)
    browser.export(target, fetch="structure.volume")
    assert panel.state == "cancelled"
    record = (panel.run.parts / "progress.json").read_text()
    monkeypatch.undo()
    monkeypatch.setattr(_exportrun, "PART_SIZE", 10)

    browser.sort_by("formula", 1)  # another order: the parts kept do not fit it
    with pytest.raises(ConfigurationError, match="holds the parts of another export"):
        browser.export(target, fetch="structure.volume")
    assert panel.state == "failed" and "another export" in panel._status.value
    assert (panel.run.parts / "progress.json").read_text() == record  # left as it was

    browser.sort_by("nsites", -1)  # the sort of the parts: they are used
    s3_server.reset_counters()
    assert browser.export(target, fetch="structure.volume") == N
    assert s3_server.requests["GET"] == N - 10
    assert list(pd.read_parquet(target)["task_id"]) == table_keys(browser)


def test_only_an_export_in_parts_can_be_cancelled(memory, tmp_path):
    import asyncio

    browser = IndexBrowser(memory)
    panel = browser.export_panel

    async def run() -> None:
        browser.export_df("picked")
        assert panel.state == "running" and panel._cancel.disabled
        panel.cancel()  # nothing to stop at before the end: the DataFrame is still made
        await panel.task

    asyncio.run(run())
    assert panel.state == "done" and len(panel.dataframe) == N
    assert panel.run.parts is None and not panel.run.cancelled


# ---------------------------------------------------------------- the store's sorted export


FETCH = ["structure.volume"]


class StopAfter(ProgressCounter):
    """Ctrl-C between two parts, once ``entries`` are done."""

    def __init__(self, entries: int) -> None:
        super().__init__()
        self.entries = entries

    def advance(self, docs=0, nbytes=0, failed=0):
        super().advance(docs, nbytes, failed)
        if self.snapshot().done >= self.entries:
            raise KeyboardInterrupt


def test_to_parquet_in_a_sort_equals_query_df_and_resumes(seeded, s3_server, tmp_path):
    sort = {"formula": -1, "nsites": 1}
    path = tmp_path / "out.parquet"
    with pytest.raises(KeyboardInterrupt):
        seeded.to_parquet(path, {"nsites": {"$gt": 0}}, ["formula", "nsites"], fetch=FETCH,
                          sort=sort, part_size=8, progress=StopAfter(16))
    s3_server.reset_counters()
    rows = seeded.to_parquet(path, {"nsites": {"$gt": 0}}, ["formula", "nsites"],
                             fetch=FETCH, sort=sort, part_size=8)
    fetched = s3_server.requests["GET"]
    expected = seeded.query_df({"nsites": {"$gt": 0}}, ["formula", "nsites"],
                               sort={**sort, "task_id": 1}, fetch=FETCH)
    assert rows == len(expected) and fetched == len(expected) - 16
    written = pd.read_parquet(path)
    assert written["task_id"].tolist() == expected["task_id"].tolist()
    assert written["structure.volume"].tolist() == expected["structure.volume"].tolist()


def test_a_sorted_export_refuses_to_resume_when_the_index_changed(seeded, tmp_path):
    path = tmp_path / "out.parquet"
    with pytest.raises(KeyboardInterrupt):
        seeded.to_parquet(path, fetch=FETCH, sort={"nsites": -1}, part_size=8,
                          progress=StopAfter(8))
    # an entry that sorts first: resuming at entry 8 would repeat one row
    seeded.update([{"task_id": "mp-new", "nsites": 99, "formula": "NaCl",
                    "structure": {"volume": 1.0}}])
    with pytest.raises(ConfigurationError, match="index changed.*resume=False"):
        seeded.to_parquet(path, fetch=FETCH, sort={"nsites": -1}, part_size=8)
    assert seeded.to_parquet(path, fetch=FETCH, sort={"nsites": -1}, part_size=8,
                             resume=False) == N + 1
    assert pd.read_parquet(path)["task_id"].iloc[0] == "mp-new"


def test_a_rerun_with_another_sort_is_refused(seeded, tmp_path):
    path = tmp_path / "out.parquet"
    with pytest.raises(KeyboardInterrupt):
        seeded.to_parquet(path, fetch=FETCH, part_size=8, progress=StopAfter(8))  # key order
    for sort in ({"nsites": 1}, {"task_id": -1}):
        with pytest.raises(ConfigurationError, match="another export.*sort"):
            seeded.to_parquet(path, fetch=FETCH, sort=sort, part_size=8)
    # the key's own order, spelled out, is the export the parts belong to
    assert seeded.to_parquet(path, fetch=FETCH, sort={"task_id": 1}, part_size=8) == N


def test_a_bad_sort_is_refused_before_anything_is_written(seeded, tmp_path):
    with pytest.raises(QueryError, match="sort direction for 'nsites' must be 1 or -1"):
        seeded.to_parquet(tmp_path / "out.parquet", fetch=FETCH, sort={"nsites": 2})
    assert list(tmp_path.iterdir()) == []


def test_a_click_on_cancel_in_a_running_loop(seeded, s3_server, tmp_path, monkeypatch):
    """As in a kernel: the export runs in the background while the loop stays free; the
    server holds the GETs after the first part until the Cancel button was clicked, so the
    click lands mid-export on any machine."""
    import asyncio
    import threading

    monkeypatch.setattr(_exportrun, "PART_SIZE", 10)
    browser = IndexBrowser(seeded, sort={"nsites": -1})
    panel = browser.export_panel
    released = threading.Event()
    start = s3_server.requests["GET"]

    def hold(environ):
        if environ["REQUEST_METHOD"] == "GET" and s3_server.requests["GET"] > start + 10:
            released.wait(60)
        return False  # no fault: answered later

    monkeypatch.setattr(s3_server, "fail_when", hold)

    async def run() -> list[str]:
        assert browser.export(tmp_path / "held.parquet", fetch="structure.volume") is None
        assert not panel._cancel.disabled
        # the loop runs while the thread fetches (a failed export ends the wait too)
        while panel.run.snapshot().done < 10 and not panel.run.done():
            await asyncio.sleep(0.01)
        panel._cancel.click()
        said = [panel._status.value]
        released.set()
        await panel.task
        return said

    try:
        said = asyncio.run(run())
    finally:
        released.set()
    assert said == ["Cancelling at the next part\u2026"]
    assert panel.state == "cancelled" and panel._cancel.disabled
    assert f"Cancelled after 20 of {N} entries" in panel._status.value
    monkeypatch.undo()
    monkeypatch.setattr(_exportrun, "PART_SIZE", 10)
    s3_server.reset_counters()
    assert browser.export(tmp_path / "held.parquet", fetch="structure.volume") == N
    assert s3_server.requests["GET"] == N - 20
