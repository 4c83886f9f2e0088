"""The browser's export panel without a browser: the cost line, the selection as a DataFrame
(and into IPython's namespace), files through the resumable to_parquet, the async path."""

from __future__ import annotations

import asyncio
from html import escape

import pandas as pd
import pyarrow.parquet as pq
import pytest

from s3explore import ConfigurationError, MemoryStore, S3ExploreError
from s3explore.widgets import IndexBrowser, _export, _exportrun


def docs(n: int) -> list[dict]:
    return [{"task_id": f"mp-{i}", "nsites": i % 9, "formula": ["NaCl", "SiO2"][i % 2],
             "structure": {"volume": 10.0 + i}} for i in range(n)]


@pytest.fixture
def seeded(store):
    store.searchable_fields = ["nsites", "formula"]
    store.update(docs(40), workers=4)
    return store


@pytest.fixture
def memory():
    store = MemoryStore("export")
    store.connect()
    store.update(docs(30))
    return store


def expected_keys(n: int, nsites_over: int) -> set[str]:
    return {d["task_id"] for d in docs(n) if d["nsites"] > nsites_over}


def test_selection_is_filter_sort_and_visible_fields(memory):
    browser = IndexBrowser(memory, fields=["formula", "nsites"], sort={"nsites": -1})
    browser.apply_filter("nsites > 5")
    sel = browser.selection()
    assert sel.criteria == {"nsites": {"$gt": 5}}
    assert sel.sort == {"nsites": -1, "task_id": 1} and sel.fields == ["formula", "nsites"]
    frame = browser.selection_df()
    assert set(frame["task_id"]) == expected_keys(30, 5)  # every match, not one page
    assert list(frame.columns) == ["task_id", "formula", "nsites"]
    assert list(frame["nsites"]) == sorted(frame["nsites"], reverse=True)


def test_cost_line_follows_the_filter_while_shown(memory):
    browser = IndexBrowser(memory)
    assert browser.export_panel.cost is None  # hidden: nothing estimated
    browser.show_export()
    assert browser._export_toggle.value and browser.export_panel.layout.display is None
    assert browser.export_panel._cost.value.startswith("<b>Cost</b>: 30 entries, no objects")
    browser.apply_filter("nsites > 5")
    n = len(expected_keys(30, 5))
    assert browser.export_panel.cost.entries.count == n
    assert f"{n} entries" in browser.export_panel._cost.value


def test_cost_line_counts_objects_to_get_and_measures_them(seeded):
    browser = IndexBrowser(seeded)
    browser.apply_filter("nsites > 5")
    browser.export_panel._fetch.value = "structure.volume"
    browser.show_export()
    cost = browser.export_panel.cost
    n = len(expected_keys(40, 5))
    assert cost.objects == n and cost.sampled > 0 and cost.bytes > 0
    line = browser.export_panel._cost.value
    assert f"{n} entries, {n} objects to GET, about" in line


def test_cost_line_says_when_counting_gave_up(memory, monkeypatch):
    from s3explore import CostEstimate, CountEstimate

    browser = IndexBrowser(memory)

    def slow(criteria=None, fetch=None, *, max_time=2.0):
        assert max_time == _export.COST_SECONDS  # the widget asks for a short limit
        return CostEstimate(CountEstimate(1000, False, "at least"), 0, 0, 0.0)

    monkeypatch.setattr(memory, "estimate", slow)
    browser.show_export()
    line = browser.export_panel._cost.value
    assert "at least 1,000 entries" in line and "counting stopped after 1 s" in line


def test_cost_line_shows_a_refused_fetch(memory):
    browser = IndexBrowser(memory)
    browser.export_panel._fetch.value = "structure.volume"
    browser.show_export()
    assert browser.export_panel.cost is None
    assert "unknown" in browser.export_panel._cost.value
    assert "index store without objects" in browser.export_panel._cost.value


def test_dataframe_with_fetched_paths(seeded):
    browser = IndexBrowser(seeded, fields=["formula"])
    browser.apply_filter("nsites > 5")
    frame = browser.export_df("picked", fetch=["structure.volume"])
    assert isinstance(frame, pd.DataFrame) and browser.export_panel.dataframe is frame
    assert set(frame["task_id"]) == expected_keys(40, 5)
    by_key = dict(zip(frame["task_id"], frame["structure.volume"], strict=True))
    assert by_key["mp-7"] == 17.0
    status = browser.export_panel._status.value
    assert status.startswith(f"Done: {len(frame)} rows") and "not in IPython" in status


def test_dataframe_goes_into_the_ipython_namespace(memory, monkeypatch):
    namespace = {"store": memory}
    monkeypatch.setattr(_export, "user_namespace", lambda: namespace)
    browser = IndexBrowser(memory)
    browser.apply_filter("nsites > 5")
    browser.export_df("picked")
    assert set(namespace["picked"]["task_id"]) == expected_keys(30, 5)
    assert "in the variable <code>picked</code>" in browser.export_panel._status.value
    with pytest.raises(ConfigurationError, match="'store' already holds a MemoryStore"):
        browser.export_df("store")
    assert namespace["store"] is memory
    # a click shows the refusal instead of raising
    browser.export_panel._name.value = "not a name"
    browser.export_panel._to_df.click()
    assert "must be a Python name" in browser.export_panel._status.value
    assert browser.export_panel.state == "failed"


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_file_export_of_the_filtered_rows(seeded, tmp_path, suffix):
    browser = IndexBrowser(seeded, fields=["formula", "nsites"])
    browser.apply_filter("nsites > 5")
    target = tmp_path / f"picked{suffix}"
    rows = browser.export(target, fetch="structure.volume")
    n = len(expected_keys(40, 5))
    assert rows == n and browser.export_panel.state == "done"
    frame = pd.read_parquet(target) if suffix == ".parquet" else pd.read_csv(target)
    assert set(frame["task_id"]) == expected_keys(40, 5)
    assert set(frame.columns) == {"task_id", "formula", "nsites", "structure.volume"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # no parts left
    bar = browser.export_panel._bar
    assert (bar.value, bar.max, bar.bar_style) == (1, 1, "success")


def test_index_only_file_export(memory, tmp_path):
    browser = IndexBrowser(memory)
    browser.apply_filter("nsites > 5")
    assert browser.export(tmp_path / "index.parquet") == len(expected_keys(30, 5))
    assert set(pq.read_table(tmp_path / "index.parquet")["task_id"].to_pylist()) == \
        expected_keys(30, 5)


def test_empty_selection_to_csv_keeps_the_header(memory, tmp_path):
    browser = IndexBrowser(memory, fields=["formula"])
    browser.apply_filter("nsites > 100")
    assert browser.export(tmp_path / "none.csv") == 0
    assert (tmp_path / "none.csv").read_text().splitlines() == ["task_id,formula"]


@pytest.mark.parametrize(("path", "says"), [
    ("picked.txt", "end the file name in .parquet or .csv"),
    ("", "must be a file name ending in .parquet"),
    ("no/such/folder/x.parquet", "does not exist; create it first"),
])
def test_bad_paths_are_refused_before_anything_runs(memory, tmp_path, monkeypatch, path, says):
    monkeypatch.chdir(tmp_path)
    browser = IndexBrowser(memory)
    with pytest.raises(ConfigurationError, match=says):
        browser.export(path)
    browser.export_panel._path.value = path
    browser.export_panel._to_file.click()
    assert says in browser.export_panel._status.value
    assert list(tmp_path.iterdir()) == []


def test_a_failed_export_raises_in_python_and_is_shown(memory, tmp_path):
    browser = IndexBrowser(memory)  # an index store: nothing to fetch from
    with pytest.raises(S3ExploreError) as raised:
        browser.export(tmp_path / "x.parquet", fetch=["structure.volume"])
    panel = browser.export_panel
    assert panel.state == "failed" and panel._bar.bar_style == "danger"
    assert panel._status.value.startswith('<span class="s3x-bad">Export to ')
    assert escape(str(raised.value)) in panel._status.value
    assert not panel._to_file.disabled  # ready for another try


def test_cancel_stops_at_a_part_and_the_same_export_resumes(seeded, tmp_path, monkeypatch):
    monkeypatch.setattr(_exportrun, "PART_SIZE", 10)
    browser = IndexBrowser(seeded)
    panel = browser.export_panel
    target = tmp_path / "all.parquet"
    original = _exportrun._CancellableCounter.advance

    def cancel_after_first_part(self, docs=0, nbytes=0, failed=0):
        if docs:
            panel.cancel()  # as a click would, between two parts
        original(self, docs, nbytes, failed)

    monkeypatch.setattr(_exportrun._CancellableCounter, "advance", cancel_after_first_part)
    assert browser.export(target, fetch=["structure.volume"]) is None
    assert panel.state == "cancelled" and "write the same file again" in panel._status.value
    assert "Cancelled after 10 of 40 entries" in panel._status.value
    # keys such as mp-10: the table shows them in natural order, staged beside the target
    assert panel.run.parts == tmp_path / "all.parquet.parquet.parts"
    assert not target.exists() and panel.run.parts.is_dir()
    monkeypatch.setattr(_exportrun._CancellableCounter, "advance", original)
    assert browser.export(target, fetch=["structure.volume"]) == 40
    assert pq.read_table(target).num_rows == 40


def test_in_a_running_loop_the_export_runs_in_the_background(memory, tmp_path):
    browser = IndexBrowser(memory)
    panel = browser.export_panel

    async def run() -> None:
        assert browser.export(tmp_path / "bg.parquet") is None  # returns at once
        assert panel.state == "running" and panel.task is not None
        with pytest.raises(ConfigurationError, match="an export is running"):
            browser.export(tmp_path / "second.parquet")
        await panel.task

    asyncio.run(run())
    assert panel.state == "done" and panel.rows == 30
    assert pq.read_table(tmp_path / "bg.parquet").num_rows == 30


def test_showing_the_panel_estimates_once_and_hiding_it_stops_the_estimates(memory,
                                                                         monkeypatch):
    browser = IndexBrowser(memory)
    calls = []
    original = memory.estimate
    monkeypatch.setattr(memory, "estimate", lambda *a, **k: calls.append(a) or original(*a, **k))
    browser._export_toggle.value = True  # a click on "Export"
    assert len(calls) == 1 and browser.export_panel.layout.display is None
    browser.show_export(False)
    assert not browser._export_toggle.value and browser.export_panel.layout.display == "none"
    browser.apply_filter("nsites > 5")
    assert len(calls) == 1  # hidden: filters cost no estimate


def test_python_calls_do_not_read_the_boxes(seeded, tmp_path):
    browser = IndexBrowser(seeded, fields=["formula"])
    browser.export_panel._fetch.value = "structure.volume"
    assert "structure.volume" not in browser.selection_df().columns
    assert browser.export(tmp_path / "plain.parquet") == 40
    assert pq.read_table(tmp_path / "plain.parquet").column_names == ["task_id", "formula"]
