"""DocumentViewer against a real S3 endpoint: lazy fetch, tree, sizes, inline errors."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape

import numpy as np
import pytest

from s3explore import CorruptObjectError, ObjectNotFoundError
from s3explore.widgets import DocumentViewer


def text_of(viewer: DocumentViewer) -> str:
    html = viewer._head.value + viewer._body.value
    return unescape(re.sub(r"<[^>]+>", "", html))


def test_nothing_is_fetched_until_asked(store, s3_server):
    store.update([{"task_id": "a", "nsites": 1}])
    s3_server.reset_counters()
    viewer = DocumentViewer(store)
    assert s3_server.requests["GET"] == 0
    assert viewer.doc is None and viewer.key is None
    assert "No document open" in text_of(viewer)
    viewer.show("a")
    assert s3_server.requests["GET"] == 1


@pytest.mark.slow
def test_shows_fields_values_sizes_and_time(store):
    doc = {"task_id": "mp-7", "formula": "Fe2O3", "nsites": 10,
           "created": dt.datetime(2024, 3, 4, 5, 6, 7), "dos": np.linspace(0, 1, 400)}
    store.update([doc])
    viewer = DocumentViewer(store, "mp-7")
    stored = viewer.stored
    assert viewer.key == "mp-7" and viewer.error is None
    assert stored.stored_size > 0 and stored.decoded_size > stored.stored_size  # zlib
    np.testing.assert_array_equal(viewer.doc["dos"], doc["dos"])
    text = text_of(viewer)
    assert 'formula: "Fe2O3"' in text and "nsites: 10" in text
    assert "created: 2024-03-04 05:06:07" in text
    assert "dos ndarray float64 \u00b7 shape (400,)" in text
    assert "stored" in text and "(zlib)" in text and "fetched in" in text
    assert "s3x-doc" in viewer._dom_classes


def test_missing_object_shows_error_naming_the_key(store):
    viewer = DocumentViewer(store)
    assert viewer.show("no-such-key") is None
    assert isinstance(viewer.error, ObjectNotFoundError)
    assert viewer.doc is None
    text = text_of(viewer)
    assert "Cannot show 'no-such-key'" in text and "NoSuchKey" in text


def test_corrupt_object_shows_error_naming_the_key(store):
    store.client.put_object(Bucket=store.bucket, Key="broken", Body=b"\xc1 not msgpack")
    viewer = DocumentViewer(store)
    viewer.show("broken")
    assert isinstance(viewer.error, CorruptObjectError)
    assert "Cannot show 'broken'" in text_of(viewer)
    assert "not a valid msgpack document" in text_of(viewer)


def test_good_document_after_an_error_clears_it(store):
    store.update([{"task_id": "ok", "x": 1}])
    viewer = DocumentViewer(store)
    viewer.show("missing")
    viewer.show("ok")
    assert viewer.error is None and "x: 1" in text_of(viewer)
    assert "Cannot show" not in text_of(viewer)


def test_setting_the_key_trait_loads_and_clear_forgets(store):
    store.update([{"task_id": "k1", "v": "one"}, {"task_id": "k2", "v": "two"}])
    viewer = DocumentViewer(store)
    viewer.key = "k2"
    assert viewer.doc["v"] == "two"
    viewer.clear()
    assert viewer.doc is None and viewer.key is None and "No document open" in text_of(viewer)


def test_integer_keys(make_store):
    store = make_store()
    store.update([{"task_id": 42, "v": 1}])
    viewer = DocumentViewer(store)
    viewer.show(42)
    assert viewer.doc["v"] == 1 and viewer.key == "42"
