"""FacetPanel: the selection logic (pure) and the panel on real stores, without a browser."""

from __future__ import annotations

import pytest

from s3explore import DuckDBStore, MemoryStore, QueryError
from s3explore.widgets._facets import Choice, FacetPanel, facet_criteria, selection_criteria

FORMULAS = ["Fe2O3", "Fe2O3", "NaCl", "Si"]


def material(i: int) -> dict:
    return {"task_id": f"mp-{i:03d}", "formula": FORMULAS[i % 4], "nsites": i,
            "crystal": "cubic" if i % 2 else "hexagonal"}


@pytest.fixture(params=["memory", "duckdb"])
def store(request):
    store = MemoryStore("facets") if request.param == "memory" else DuckDBStore("facets")
    store.connect()
    store.update([material(i) for i in range(40)])
    return store


# ---------------------------------------------------------------- pure selection logic

def test_one_value_is_equality_several_are_in():
    assert selection_criteria("f", []) == {}
    assert selection_criteria("f", [Choice("Si")]) == {"f": "Si"}
    assert selection_criteria("f", [Choice("Si"), Choice("NaCl")]) == {
        "f": {"$in": ["Si", "NaCl"]}}


def test_bins_are_ranges_and_the_last_holds_its_upper_edge():
    first, last = Choice(lower=0.0, upper=5.0), Choice(lower=5.0, upper=10.0, last=True)
    assert selection_criteria("x", [first]) == {"x": {"$gte": 0.0, "$lt": 5.0}}
    assert selection_criteria("x", [first, last]) == {"$or": [
        {"x": {"$gte": 0.0, "$lt": 5.0}}, {"x": {"$gte": 5.0, "$lte": 10.0}}]}
    assert last.label(3) == "[5, 10]  3" and first.label(1200) == "[0, 5)  1,200"


def test_bin_labels_are_short_but_tell_the_edges_apart():
    assert Choice(lower=0.0, upper=0.891272).label(5) == "[0, 0.891)  5"
    assert Choice(lower=1000.1234, upper=1000.1299, last=True).label(2) == \
        "[1000.12, 1000.13]  2"
    assert Choice(lower=1.0, upper=1.0 + 1e-15, last=True).label(1) == \
        "[1, 1.000000000000001]  1"


def test_a_fields_own_choices_are_left_out_of_its_counts():
    selected = {"formula": [Choice("Si")], "crystal": [Choice("cubic")]}
    assert facet_criteria({"nsites": {"$gt": 1}}, selected) == {"$and": [
        {"$and": [{"nsites": {"$gt": 1}}, {"formula": "Si"}]}, {"crystal": "cubic"}]}
    assert facet_criteria({}, selected, leave_out="formula") == {"crystal": "cubic"}


# ---------------------------------------------------------------- the panel on a store

def labels(panel: FacetPanel, field: str) -> list[str]:
    row = panel._boxes[field].children[1]
    return [b.description for b in row.children]


def test_counts_then_a_click_narrows_the_filter(store):
    panel = FacetPanel(store, ["formula", "crystal"], max_time=None)
    assert panel.state == "ready" and panel.criteria == {}
    assert labels(panel, "formula") == ["Fe2O3  20", "NaCl  10", "Si  10"]
    seen = []
    panel.on_change(seen.append)
    panel._boxes["formula"].children[1].children[2].value = True  # click "Si"
    assert panel.criteria == {"formula": "Si"} and seen == [{"formula": "Si"}]
    assert labels(panel, "crystal") == ["cubic  10"]  # Si: odd numbers only
    assert labels(panel, "formula") == ["Fe2O3  20", "NaCl  10", "Si  10"]  # its own: all
    assert store.count(panel.criteria) == 10
    panel._boxes["formula"].children[1].children[2].value = False  # click again: undone
    assert panel.criteria == {} and seen[-1] == {}


def test_base_criteria_and_clear(store):
    panel = FacetPanel(store, ["formula"], {"nsites": {"$lt": 4}}, max_time=None)
    assert labels(panel, "formula") == ["Fe2O3  2", "NaCl  1", "Si  1"]
    panel.toggle("formula", Choice("NaCl"))
    panel.set_base({"nsites": {"$lt": 8}})
    assert panel.criteria == {"$and": [{"nsites": {"$lt": 8}}, {"formula": "NaCl"}]}
    panel.clear()
    assert panel.criteria == {"nsites": {"$lt": 8}}


def test_numbers_show_as_bins_that_filter_by_range(store):
    panel = FacetPanel(store, ["nsites"], limit=4, max_time=None)
    assert panel.frames["nsites"].attrs["kind"] == "histogram"
    assert labels(panel, "nsites")[0] == "[0, 3.9)  4"
    panel._boxes["nsites"].children[1].children[0].value = True
    assert panel.criteria == {"nsites": {"$gte": 0.0, "$lt": 3.9}}


def test_out_of_time_shows_partial_not_a_frozen_kernel():
    store = DuckDBStore("slow")
    store.connect()
    store.update([material(i) for i in range(40)])
    panel = FacetPanel(store, ["formula"], max_time=1e-9)
    assert panel.state == "partial"
    assert "partial" in panel._boxes["formula"].children[0].value


def test_errors_are_shown_inline_and_bad_arguments_refused(store):
    with pytest.raises(QueryError):
        FacetPanel(store, "formula")
    panel = FacetPanel(store, ["formula"], max_time=None)
    panel.on_change(lambda criteria: 1 / 0)
    panel.toggle("formula", Choice("Si"))
    assert panel.state == "error" and "ZeroDivisionError" in panel.error
    with pytest.raises(QueryError):
        panel.toggle("nsites", Choice(1))


def test_matching_count_follows_the_choices(store):
    panel = FacetPanel(store, ["formula"], max_time=None)
    assert panel.matching == "40"
    panel.toggle("formula", Choice("Si"))
    assert panel.matching == "10" and "10 entries match" in panel._matching.value


def test_linked_to_a_browser_clicks_filter_its_rows_and_its_filter_narrows_the_counts():
    from s3explore.widgets import IndexBrowser

    store = MemoryStore("linked")
    store.connect()
    store.update([material(i) for i in range(40)])
    browser = IndexBrowser(store, {"nsites": {"$lt": 20}}, sort={"task_id": 1},
                           show_viewer=False)
    panel = FacetPanel(store, ["formula", "crystal"], max_time=None)
    panel.link(browser)
    # counted under the browser's base criteria
    assert labels(panel, "formula") == ["Fe2O3  10", "NaCl  5", "Si  5"]
    panel.toggle("formula", Choice("Si"))
    assert browser.total == 5
    assert set(browser.rows["task_id"]) == {f"mp-{i:03d}" for i in (3, 7, 11, 15, 19)}
    assert browser.apply_filter("nsites >= 10")
    assert browser.total == 3  # 11, 15, 19: the panel's choice stays
    assert labels(panel, "formula") == ["Fe2O3  4", "NaCl  3", "Si  3"]  # under the filter
    panel.toggle("formula", Choice("Si"))
    assert browser.total == 10


def test_with_fetch_a_cost_line_says_what_reading_the_objects_costs(make_store):
    store = make_store(searchable_fields=["formula", "nsites"])
    store.update([{**material(i), "dos": list(range(50))} for i in range(8)])
    panel = FacetPanel(store, ["formula"], fetch=["dos"], max_time=None)
    assert panel.cost.startswith("8 entries, 8 objects to GET, about ")
    panel.toggle("formula", Choice("Si"))
    assert panel.cost.startswith("2 entries, 2 objects to GET, about ")
    assert "fetch dos: 2 entries" in panel._cost.value
    index_only = FacetPanel(store, ["formula"], max_time=None)
    assert index_only.cost == "" and index_only._cost.value == ""
