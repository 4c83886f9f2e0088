"""IndexBrowser's public API between widgets, its error state, and the filter box's limits."""

from __future__ import annotations

import ipywidgets as widgets
import pytest

from s3explore import ConfigurationError, MemoryStore, MongoStore
from s3explore.widgets import IndexBrowser, _browser
from tests._faulty_index import FlakyMongoClient

DOCS = [{"task_id": f"k-{i:02d}", "formula": ["NaCl", "Si"][i % 2], "nsites": i, "band_gap": i / 4}
        for i in range(12)]


@pytest.fixture
def filled(store):
    store.update(DOCS)
    return store


@pytest.fixture
def mongo_index():
    """An index store that passes every operator on to its server (mongomock here), as a
    real MongoDB does: only the widget's own limits stand between the box and the server."""
    index = MongoStore("db", "widgets-guard", client=FlakyMongoClient())
    index.connect()
    index.update(DOCS)
    assert index.supported_operators is None
    return index


def spy_queries(store, monkeypatch) -> list[str]:
    calls: list[str] = []
    for name in ("count", "query_df"):
        method = getattr(store, name)

        def spy(*args, _method=method, _name=name, **kwargs):
            calls.append(_name)
            return _method(*args, **kwargs)

        monkeypatch.setattr(store, name, spy)
    return calls


def test_widget_open_is_ipywidgets_own():
    assert IndexBrowser.open is widgets.Widget.open


def test_on_open_gets_the_key_and_the_stored_object(filled):
    browser = IndexBrowser(filled, sort={"task_id": 1})
    seen = []
    browser.on_open(lambda key, stored: seen.append((key, stored)))
    browser._table.rows[2].hit.click()
    stored = browser.open_document("k-05")
    assert [key for key, _ in seen] == ["k-02", "k-05"]
    assert seen[1][1] is stored and stored.doc["nsites"] == 5 and stored.stored_size > 0
    browser.open_document("k-missing")  # nothing opened: no call
    assert len(seen) == 2 and browser.viewer.state == "error"


def test_on_open_remove_and_bad_callback(filled):
    browser = IndexBrowser(filled)
    seen = []

    def callback(key, stored):
        seen.append(key)

    browser.on_open(callback)
    browser.on_open(callback, remove=True)
    browser.open_document("k-01")
    assert seen == []
    with pytest.raises(ConfigurationError, match="on_open needs a function, got str"):
        browser.on_open("print")


def test_a_failing_on_open_callback_is_shown_inline(filled):
    browser = IndexBrowser(filled)

    def explode(key, stored):
        raise ValueError(f"cannot plot {key}")

    browser.on_open(explode)
    assert browser.open_document("k-03") is not None
    assert "on_open callback" in browser.error and "ValueError: cannot plot k-03" in browser.error
    assert browser.state == "error" and "s3x-stale" not in browser._count._dom_classes
    assert browser.viewer.doc["nsites"] == 3  # the document is still shown


def test_a_row_whose_fetch_breaks_shows_the_error_in_the_viewer(filled, monkeypatch):
    browser = IndexBrowser(filled, sort={"task_id": 1})

    def broken(key):
        raise RuntimeError("decoder bug")

    monkeypatch.setattr(filled, "get_object", broken)
    browser._table.rows[0].hit.click()  # a click has no caller: nothing may escape
    assert browser.viewer.state == "error" and isinstance(browser.viewer.error, RuntimeError)
    body = browser.viewer._body.value
    assert "Cannot show" in body and "decoder bug" in body


def test_after_a_bad_filter_the_count_says_it_is_the_last_good_result(filled):
    browser = IndexBrowser(filled)
    browser.apply_filter('formula == "Si"')
    assert browser.state == "ready"
    assert browser._count.value == "<b>6</b> documents match the filter"
    browser._filter_box.value = "nsites >"
    assert browser.state == "error" and "expected a value for 'nsites'" in browser.error
    assert "match the filter" not in browser._count.value
    assert "last good result: <b>6</b>" in browser._count.value
    assert "s3x-stale" in browser._count._dom_classes and browser.total == 6
    browser._filter_box.value = "nsites > 8"
    assert browser.state == "ready" and browser.error == ""
    assert browser._count.value == "<b>3</b> documents match the filter"
    assert "s3x-stale" not in browser._count._dom_classes


def test_index_failure_marks_the_count_stale_too(make_store):
    client = FlakyMongoClient(failing=("find", "count_documents"))
    store = make_store(index=MongoStore("db", "widgets-stale", client=client))
    store.update(DOCS)
    browser = IndexBrowser(store, page_size=5)
    client.fail_after = 0
    assert browser.next_page() is False
    assert "s3x-stale" in browser._count._dom_classes and browser.state == "error"
    client.fail_after = None
    assert browser.refresh() and "s3x-stale" not in browser._count._dom_classes


@pytest.mark.parametrize(("text", "says"), [
    ('{"$where": "sleep(100) || true"}', "does not support the operator $where (it runs code"),
    ('{"$expr": {"$gt": ["$nsites", 3]}}', "does not support the operator $expr"),
    ('{"nsites": {"$function": {"body": "x", "args": [], "lang": "js"}}}',
     "operator $function (under nsites)"),
    ('{"formula": {"$regex": "(("}}', "is not a valid regular expression"),
    ('{"formula": {"$regex": "*"}}', "is not a valid regular expression"),
    ('{"formula": {"$regex": "^(a+)+$"}}', "repeats a part that itself repeats"),
    ("[" * 3000 + "]" * 3000, "nests 3000 levels deep"),
    ('{"formula": "' + "x" * 20_000 + '"}', "at most 10,000"),
])
def test_the_filter_box_refuses_before_the_index_sees_it(mongo_index, monkeypatch, text, says):
    browser = IndexBrowser(mongo_index, sort={"task_id": 1})
    calls = spy_queries(mongo_index, monkeypatch)
    browser._filter_box.value = text
    assert says in browser.error and browser.state == "error"
    assert calls == []  # nothing reached the index
    assert browser.total == len(DOCS) and "s3x-stale" in browser._count._dom_classes


def test_python_criteria_are_not_limited_by_the_box(mongo_index):
    # A Python caller may pass what the box refuses; the store decides (mongomock runs it).
    browser = IndexBrowser(mongo_index, criteria={"nsites": {"$lt": 4}})
    assert browser.total == 4
    browser.apply_filter('{"formula": {"$regex": "^N"}}')
    assert browser.total == 2 and browser.state == "ready"


def test_pages_run_under_a_short_mongodb_time_limit():
    from s3explore._stores import _mongo_uri

    seen = []

    class Recording(MemoryStore):
        def count(self, criteria=None):
            seen.append(_mongo_uri._TIME_LIMIT.get())
            return super().count(criteria)

    store = Recording("time-limit")
    store.connect()
    store.update([{"task_id": f"mp-{i}", "n": i} for i in range(3)])
    IndexBrowser(store)
    assert seen and set(seen) == {_browser.PAGE_TIME_LIMIT_MS}
    assert _mongo_uri._TIME_LIMIT.get() is None  # only while the page loads
