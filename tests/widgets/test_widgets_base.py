"""The shared widget base and DocumentViewer's public API for other widgets."""

from __future__ import annotations

import pytest
from traitlets import TraitError

from s3explore import ConfigurationError, MemoryStore
from s3explore.widgets import DocumentViewer, IndexBrowser, UploadWidget
from s3explore.widgets._base import ErrorBox, Hooks, StoreWidget


@pytest.fixture
def index():
    store = MemoryStore("widgets-base")
    store.connect()
    store.update([{"task_id": "a", "v": 1}, {"task_id": "b", "v": 2}])
    return store


def test_every_widget_carries_the_stylesheet_once_and_its_classes(index, store):
    for widget, css in ((IndexBrowser(index, show_viewer=False), "s3x-browser"),
                        (DocumentViewer(index), "s3x-doc"),
                        (UploadWidget(store, [{"task_id": "a"}]), "s3x-uploader")):
        styles = [c for c in widget.children if "s3x-style" in c._dom_classes]
        assert len(styles) == 1 and "<style>" in styles[0].value
        assert css in widget._dom_classes and isinstance(widget, StoreWidget)


@pytest.mark.parametrize("given", ["mongodb://host/db", 42, None, object()])
def test_the_store_check_names_what_was_given(given):
    name = type(given).__name__
    with pytest.raises(ConfigurationError, match=f"DocumentViewer needs a store.*got {name}"):
        DocumentViewer(given)


def test_states_are_validated(index):
    viewer = DocumentViewer(index)
    assert viewer.state == "empty"
    with pytest.raises(TraitError, match=r"DocumentViewer.state must be one of \('empty'"):
        viewer.state = "loading"
    browser = IndexBrowser(index, show_viewer=False)
    assert browser.state == "ready"


def test_viewer_public_methods_and_states(index):
    viewer = DocumentViewer(index)
    assert viewer.show("a").doc["v"] == 1 and viewer.state == "shown"
    viewer.show_error("zz", RuntimeError("cannot decode <zz>"))
    assert viewer.state == "error" and viewer.key == "zz" and viewer.doc is None
    assert "cannot decode &lt;zz&gt;" in viewer._body.value  # escaped, not markup
    assert isinstance(viewer.error, RuntimeError)
    viewer.key = "b"
    assert viewer.state == "shown" and viewer.doc["v"] == 2 and viewer.error is None
    viewer.key = None
    assert viewer.state == "empty" and viewer.doc is None


def test_viewer_shows_then_raises_what_is_not_a_store_error(index, monkeypatch):
    viewer = DocumentViewer(index)

    def broken(*args, **kwargs):
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(index, "query_one", broken)
    with pytest.raises(ZeroDivisionError):
        viewer.show("a")
    assert viewer.state == "error" and "bug" in viewer._body.value


def test_setting_the_key_inside_show_does_not_load_twice(index, monkeypatch):
    viewer = DocumentViewer(index)
    calls = []
    query_one = index.query_one

    def counting(*args, **kwargs):
        calls.append(args)
        return query_one(*args, **kwargs)

    monkeypatch.setattr(index, "query_one", counting)
    viewer.show("a")
    viewer.key = "b"
    assert len(calls) == 2  # one fetch each: show() setting ``key`` does not re-enter


def test_error_box_and_hooks():
    box = ErrorBox()
    assert box.layout.display == "none"
    box.show("bad <b>")
    assert box.layout.display is None and "bad &lt;b&gt;" in box.value and box.message == "bad <b>"
    box.clear()
    assert box.value == "" and box.layout.display == "none" and box.message == ""

    hooks = Hooks("on_thing")
    seen = []
    hooks.register(seen.append)
    hooks.register(seen.append)  # once only
    assert hooks(1) == [] and seen == [1]
    hooks.register(lambda x: 1 / 0)
    problems = hooks(2)
    assert seen == [1, 2] and len(problems) == 1 and "ZeroDivisionError" in problems[0]
