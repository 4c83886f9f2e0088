"""IndexBrowser without a browser: paging, filters, sorting and errors against a real store."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from html import unescape

import pytest

from s3explore import ConfigurationError, MemoryStore, MongoStore, QueryError, S3Store
from s3explore.widgets import DocumentViewer, IndexBrowser
from tests._faulty_index import FlakyMongoClient
from tests.conftest import CREDENTIALS

N_DOCS = 60


def material(i: int) -> dict:
    return {"task_id": f"mp-{i:03d}", "formula": ["Fe2O3", "NaCl", "Si", "GaAs"][i % 4],
            "nsites": (i * 7) % 13 + 1, "band_gap": round(0.1 * i, 3)}


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    return [material(i) for i in range(N_DOCS)]


@pytest.fixture(scope="module")
def seeded(s3_server, docs) -> Iterator[S3Store]:
    """One seeded store for the module: the browser only reads it."""
    bucket = s3_server.create_bucket(f"widgets-browser-{os.getpid()}")
    store = S3Store(MemoryStore(bucket), bucket, s3_profile=dict(CREDENTIALS),
                    endpoint_url=s3_server.endpoint_url, compress=True,
                    searchable_fields=["formula", "nsites", "band_gap"])
    store.connect()
    store.update(docs, workers=8)
    yield store
    store.close()


def keys(browser: IndexBrowser) -> list[str]:
    return list(browser.rows["task_id"])


def test_importing_s3explore_does_not_import_ipywidgets():
    code = "import sys, s3explore; print('ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_first_page_and_count(seeded, docs):
    browser = IndexBrowser(seeded, sort={"task_id": 1})
    assert browser.total == N_DOCS == seeded.count()
    assert browser.page == 1 and browser.page_count == 3
    assert keys(browser) == [d["task_id"] for d in docs[:25]]
    assert list(browser.rows.columns) == ["task_id", "formula", "nsites", "band_gap"]
    assert f"<b>{N_DOCS}</b> documents" in browser._count.value
    assert browser._prev.disabled and not browser._next.disabled


def test_paging_forward_back_and_past_the_end(seeded, docs):
    browser = IndexBrowser(seeded, sort={"task_id": 1})
    assert browser.next_page() and browser.page == 2
    assert keys(browser) == [d["task_id"] for d in docs[25:50]]
    assert browser.next_page() and keys(browser) == [d["task_id"] for d in docs[50:]]
    assert browser._next.disabled
    assert browser.next_page() is False and browser.page == 3
    assert browser.prev_page() and browser.page == 2
    browser.page = 1  # the trait moves too
    assert keys(browser) == [d["task_id"] for d in docs[:25]]
    assert browser.go_to(99) and browser.page == 3


def test_paging_is_server_side(seeded, monkeypatch):
    calls = []
    query_df = seeded.query_df

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return query_df(*args, **kwargs)

    monkeypatch.setattr(seeded, "query_df", spy)
    browser = IndexBrowser(seeded, page_size=10)
    browser.next_page()
    browser.next_page()
    assert [(c["skip"], c["limit"]) for c in calls] == [(0, 10), (10, 10), (20, 10)]
    assert len(browser.rows) == 10


def test_page_size_change_keeps_the_first_row(seeded, docs):
    browser = IndexBrowser(seeded, sort={"task_id": 1}, page_size=10)
    browser.go_to(4)  # rows 31-40
    browser.page_size = 25
    assert browser.page == 2 and keys(browser) == [d["task_id"] for d in docs[25:50]]
    browser._size_box.value = 50  # the dropdown
    assert browser.page_size == 50 and len(browser.rows) == 50


def test_invalid_page_size_keeps_the_page(seeded):
    browser = IndexBrowser(seeded)
    before = keys(browser)
    browser.page_size = 0
    assert "page_size must be a whole number >= 1" in browser.error
    assert browser.page_size == 25 and keys(browser) == before


def test_simple_filter(seeded, docs):
    browser = IndexBrowser(seeded, sort={"task_id": 1})
    browser.next_page()
    assert browser.apply_filter('nsites > 6 and formula != "Si"')
    expected = [d["task_id"] for d in docs if d["nsites"] > 6 and d["formula"] != "Si"]
    assert browser.total == len(expected) and browser.page == 1
    assert keys(browser) == expected[:25]
    assert browser.filter == 'nsites > 6 and formula != "Si"'
    assert "match the filter" in browser._count.value
    assert browser.criteria == {"nsites": {"$gt": 6}, "formula": {"$ne": "Si"}}


def test_json_filter_through_the_text_box(seeded, docs):
    browser = IndexBrowser(seeded)
    browser._filter_box.value = '{"formula": {"$in": ["NaCl", "Si"]}}'
    assert browser.total == sum(d["formula"] in ("NaCl", "Si") for d in docs)
    browser._filter_box.value = ""
    assert browser.total == N_DOCS and browser.criteria == {}


def test_filter_combines_with_the_browsers_criteria(seeded, docs):
    browser = IndexBrowser(seeded, criteria={"formula": "NaCl"})
    assert browser.total == sum(d["formula"] == "NaCl" for d in docs)
    browser.filter = "nsites >= 5"
    assert browser.total == sum(d["formula"] == "NaCl" and d["nsites"] >= 5 for d in docs)


@pytest.mark.parametrize(("bad", "says"), [
    ("nsites >", "expected a value for 'nsites', found nothing"),
    ('{"nsites": {"$where": "1"}}', "does not support the operator $where (under nsites)"),
    ('{"nsites": ', "not valid JSON"),
])
def test_invalid_filter_shows_error_and_keeps_last_good_page(seeded, bad, says):
    browser = IndexBrowser(seeded, sort={"task_id": 1})
    browser.apply_filter("nsites > 3")
    browser.next_page()
    state = (keys(browser), browser.page, browser.total, browser.criteria, browser.filter)
    browser._filter_box.value = bad
    assert says in browser.error
    assert "s3x-error" in browser._error.value and browser._error.layout.display is None
    assert (keys(browser), browser.page, browser.total, browser.criteria,
            browser.filter) == state
    assert browser._filter_box.value == bad  # left for the user to fix
    browser._filter_box.value = "nsites > 4"
    assert browser.error == "" and browser._error.layout.display == "none"


def test_sorting_by_header_click(seeded, docs):
    browser = IndexBrowser(seeded)
    header = {b.tooltip.removeprefix("sort by "): b for b in browser._table.header.children}
    header["nsites"].click()
    by_nsites = sorted(docs, key=lambda d: (d["nsites"], d["task_id"]))
    assert keys(browser) == [d["task_id"] for d in by_nsites[:25]]
    assert browser.sort == {"nsites": 1}
    assert header["nsites"].description == "nsites \u25b2"
    header["nsites"].click()
    descending = sorted(docs, key=lambda d: (-d["nsites"], d["task_id"]))
    assert keys(browser) == [d["task_id"] for d in descending[:25]]
    assert browser._table.header.children[2].description == "nsites \u25bc"
    header["nsites"].click()
    assert browser.sort is None


def test_clicking_a_row_opens_it_in_the_viewer(seeded, docs):
    browser = IndexBrowser(seeded, sort={"task_id": 1})
    row = browser._table.rows[3]
    row.hit.click()
    assert browser.viewer.key == docs[3]["task_id"]
    assert browser.viewer.doc["band_gap"] == docs[3]["band_gap"]
    assert "s3x-selected" in row.box._dom_classes
    assert "s3x-selected" not in browser._table.rows[0].box._dom_classes
    assert "s3x-row" in row.box._dom_classes and "s3x-browser" in browser._dom_classes


def test_a_new_filter_clears_a_document_it_does_not_match(seeded, docs):
    browser = IndexBrowser(seeded, sort={"task_id": 1})
    opened = docs[3]
    browser.open_document(opened["task_id"])
    # a filter the document still matches keeps it shown
    browser.apply_filter(f"nsites == {opened['nsites']}")
    assert browser.viewer.key == opened["task_id"] and browser.viewer.state == "shown"
    # one it does not match clears the viewer and the row mark
    browser.apply_filter(f"nsites != {opened['nsites']}")
    assert browser.viewer.key is None and browser.viewer.state == "empty"
    assert not any("s3x-selected" in row.box._dom_classes for row in browser._table.rows)
    # a filter that fails changes nothing
    browser.open_document(browser.rows.iloc[0]["task_id"])
    browser.apply_filter("nsites >")
    assert browser.viewer.key == browser.rows.iloc[0]["task_id"]


def test_open_missing_key_shows_error_in_viewer(seeded):
    browser = IndexBrowser(seeded)
    assert browser.open_document("mp-nope") is None
    assert "mp-nope" in browser.viewer._body.value and "s3x-error" in browser.viewer._body.value
    browser.open()  # ipywidgets' own open(): the comm is already open, nothing happens


def test_refresh_sees_new_documents(store, docs):
    store.update(docs[:10])
    browser = IndexBrowser(store)
    store.update([material(i) for i in range(N_DOCS, N_DOCS + 5)])
    assert browser.total == 10
    assert browser.refresh() and browser.total == 15


def test_empty_result(seeded):
    browser = IndexBrowser(seeded, criteria={"formula": "Unobtainium"})
    assert browser.total == 0 and browser.rows.empty and browser.page == 1
    assert all(r.box.layout.display == "none" for r in browser._table.rows)
    assert "No documents match" in browser._table.nothing.value
    assert browser._table.nothing in browser._table.widget.children


def test_shared_viewer_and_hidden_viewer(seeded):
    viewer = DocumentViewer(seeded)
    browser = IndexBrowser(seeded, viewer=viewer, show_viewer=False)
    assert browser.viewer is viewer and viewer not in browser.children
    browser.open_document("mp-001")
    assert viewer.key == "mp-001"


def test_index_store_alone_can_be_browsed(docs):
    index = MemoryStore("widgets-index-only")
    index.connect()
    index.update(docs)
    browser = IndexBrowser(index, fields=["formula"], sort={"task_id": 1})
    assert list(browser.rows.columns) == ["task_id", "formula"]
    browser.open_document(docs[0]["task_id"])
    assert browser.viewer.doc["nsites"] == docs[0]["nsites"]
    assert "index entry" in browser.viewer._head.value
    browser.open_document("mp-none")
    assert "no document with task_id='mp-none'" in unescape(browser.viewer._body.value)


def test_bad_arguments_raise(seeded):
    with pytest.raises(QueryError, match="criteria must be a dict"):
        IndexBrowser(seeded, criteria="nsites > 3")
    with pytest.raises(QueryError, match="unknown field 'nsitez'"):
        IndexBrowser(seeded, fields=["nsitez"])
    with pytest.raises(ConfigurationError, match="page_size"):
        IndexBrowser(seeded, page_size=0)
    with pytest.raises(ConfigurationError, match="sort direction"):
        IndexBrowser(seeded, sort={"nsites": 0})
    with pytest.raises(ConfigurationError, match="fields must be a list"):
        IndexBrowser(seeded, fields=["", 3])
    browser = IndexBrowser(seeded)
    with pytest.raises(ConfigurationError, match="page must be a whole number"):
        browser.go_to("2")


def test_index_failure_keeps_the_last_good_page(make_store, docs):
    client = FlakyMongoClient(fail_after=None, failing=("find", "count_documents"))
    index = MongoStore("db", "widgets-flaky", client=client)
    store = make_store(index=index, searchable_fields=["formula", "nsites"])
    store.update(docs)
    browser = IndexBrowser(store, sort={"task_id": 1})
    before = keys(browser)
    client.fail_after = 0  # the index goes away
    assert browser.next_page() is False
    assert "lost the connection to the index" in browser.error
    assert browser.page == 1 and keys(browser) == before
    client.fail_after = None
    assert browser.next_page() and browser.page == 2 and browser.error == ""


def test_no_secret_in_the_widget(make_store, docs):
    store = make_store(s3_profile={**CREDENTIALS, "aws_secret_access_key": "s3cr3t-value"},
                       searchable_fields=["formula"])
    store.update(docs[:3])
    browser = IndexBrowser(store)
    browser.open_document("missing-key")
    state = repr([w.get_state() for w in _all_widgets(browser)])
    assert "s3cr3t-value" not in state


def _all_widgets(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _all_widgets(child)


def test_a_filter_on_a_misspelled_field_names_it_and_the_close_one(seeded):
    """`band_gpa > 2` would say "0 documents" and nothing else; the store knows its fields,
    so the error line says which name no entry has and which one is close."""
    browser = IndexBrowser(seeded)
    assert browser.apply_filter("band_gpa > 2")
    assert browser.total == 0
    assert "no field 'band_gpa'" in browser.error and "'band_gap'" in browser.error
    assert browser.apply_filter("band_gap > 2")  # a known field: no hint, the line clears
    assert browser.total > 0 and browser.error == ""
    assert browser.apply_filter("nsites > 100")  # empty, but every name is known: no hint
    assert browser.total == 0 and browser.error == ""
