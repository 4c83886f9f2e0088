"""UploadWidget without a browser: runs, progress counts, failures, cancel, the async path."""

from __future__ import annotations

import asyncio
import json
import threading

import numpy as np
import pandas as pd
import pytest

from s3explore import ConfigurationError, MongoStore
from s3explore.widgets import UploadWidget
from tests._faulty_index import FlakyMongoClient


def docs(n: int, prefix: str = "d") -> list[dict]:
    return [{"task_id": f"{prefix}-{i:04d}", "nsites": i % 9, "formula": "NaCl"} for i in range(n)]


def test_upload_list_blocking(store):
    widget = UploadWidget(store, docs(40), workers=3)
    assert widget.state == "ready" and "40 documents" in widget._status.value
    result = widget.start()
    assert widget.state == "done" and result is widget.result
    assert result.written == 40 and result.ok
    assert store.count() == 40 and store.verify().ok
    assert (widget._bar.value, widget._bar.max) == (40, 40)
    assert widget._bar.description == "40 / 40" and widget._bar.bar_style == "success"
    assert widget._status.value.startswith("Done: 40 of 40 documents written")
    assert "s3x-upload" in widget._start._dom_classes
    assert "s3x-progress" in widget._bar._dom_classes
    assert "s3x-status" in widget._status._dom_classes
    assert not widget._start.disabled and widget._cancel.disabled  # a list can go again


def test_failures_are_listed_with_keys_and_reasons(store):
    bad = [*docs(5), {"nsites": 3}, {"task_id": "../escape"}, {"task_id": "big", "x": object()}]
    widget = UploadWidget(store, bad)
    result = widget.start()
    assert result.written == 5 and widget.state == "done"
    # some stored, some failed: orange, not the red of a run where nothing could be stored
    assert widget._bar.value == 8 and widget._bar.bar_style == "warning"
    assert "3 failed (37.5%)" in widget._status.value
    reasons = widget._failures.value
    assert "3 document(s) not stored" in reasons
    assert "(no key): document has no key field" in reasons
    # each reason names its key once: no "big: document 'big' ..."
    assert "../escape" in reasons and "<li>document &#x27;big&#x27; holds" in reasons
    assert "cannot encode" in reasons and "big:" not in reasons
    assert store.count() == 5


@pytest.mark.slow
def test_dataframe_source(store):
    frame = pd.DataFrame({"task_id": ["a", "b", "c"], "nsites": np.array([1, 2, 3]),
                          "gap": [0.5, np.nan, 1.5]})
    result = UploadWidget(store, frame).start()
    assert result.written == 3
    a, b = store.get("a"), store.get("b")
    assert a["nsites"] == 1 and type(a["nsites"]) is int and b["gap"] is None


def test_folder_source_reports_unreadable_files(store, tmp_path):
    for i in range(4):
        (tmp_path / f"doc{i}.json").write_text(json.dumps({"task_id": f"f{i}", "n": i}))
    (tmp_path / "zz-broken.json").write_text("{oops")
    widget = UploadWidget(store, tmp_path)
    result = widget.start()
    assert result.written == 4 and store.count() == 4
    assert widget._bar.value == 5 and widget._bar.description == "5 / 5"
    assert [f.key for f in widget.failures] == ["zz-broken.json"]
    assert "1 failed" in widget._status.value and "zz-broken.json" in widget._failures.value


def test_cancel_indexes_what_landed_and_nothing_else(store):
    def source():
        for i, doc in enumerate(docs(400)):
            if i == 30:
                widget.run.cancel()  # what the Cancel button does, while the update runs
            yield doc

    widget = UploadWidget(store, source(), workers=2)
    result = widget.start()
    assert widget.state == "cancelled" and result.cancelled
    assert 0 < result.written < 400
    assert store.count() == result.written
    report = store.verify()
    assert report.ok and report.objects == result.written  # no object without its entry
    assert widget._bar.bar_style == "warning"
    assert widget._status.value.startswith(f"Cancelled: {result.written} documents written")
    assert widget._start.disabled  # a one-shot source cannot be read again


def test_cancel_button_while_running_in_an_event_loop(store):
    gate = threading.Event()
    release = threading.Event()

    def source():
        for i, doc in enumerate(docs(200)):
            if i == 100:  # past the writer's read-ahead (64 keys noted before their puts)
                gate.set()
                release.wait(10)
            yield doc

    # skip_stored reads the source a batch ahead; this test counts what was read before Cancel
    widget = UploadWidget(store, source(), poll_seconds=0.01, skip_stored=False)

    async def main():
        widget.start()
        assert widget.state == "running" and widget.task is not None
        await asyncio.get_running_loop().run_in_executor(None, gate.wait, 10)
        widget._cancel.click()
        assert widget.state == "cancelling" and widget._cancel.disabled
        release.set()
        return await widget.task

    result = asyncio.run(main())
    assert widget.state == "cancelled" and result.cancelled
    assert store.count() == result.written and result.written >= 20
    assert store.verify().ok


def test_async_path_reaches_the_total(store):
    widget = UploadWidget(store, docs(60), poll_seconds=0.01)
    seen: list[str] = []
    widget.observe(lambda change: seen.append(change["new"]), "state")

    async def main():
        assert widget.start() is None  # returns at once in a running loop
        return await widget.task

    result = asyncio.run(main())
    assert result.written == 60 and seen == ["running", "done"]
    assert widget._bar.value == 60 and "Done: 60 of 60" in widget._status.value


def test_iterator_source_runs_once(store):
    widget = UploadWidget(store, iter(docs(5)))
    assert widget.source.total is None
    assert widget.start().written == 5
    assert widget._bar.description == "5" and widget._bar.value == widget._bar.max == 5
    assert widget.start() is None
    assert "has been read" in widget._status.value


def test_index_failure_ends_in_failed_state(make_store):
    client = FlakyMongoClient(fail_after=0)
    store = make_store(index=MongoStore("db", "widgets-upload-flaky", client=client))
    widget = UploadWidget(store, docs(10))
    widget.start()
    assert widget.state == "failed" and widget._bar.bar_style == "danger"
    assert widget._status.value.startswith("Failed:")
    assert "verify(repair=True)" in widget._status.value


@pytest.mark.slow
def test_workers_control(store):
    widget = UploadWidget(store, docs(1), workers=6)
    assert widget.workers == 6
    widget.workers = 2
    assert widget._workers.value == 2
    with pytest.raises(ConfigurationError, match="workers"):
        widget.workers = 0
    with pytest.raises(ConfigurationError, match="workers must be 1 to 64 in the upload widget, "
                                                 "got 65"):
        widget.workers = 65
    assert widget.workers == 2


def test_bad_sources_raise(store):
    with pytest.raises(ConfigurationError, match="source must be"):
        UploadWidget(store, 3.5)
    with pytest.raises(ConfigurationError, match="no column 'task_id'"):
        UploadWidget(store, pd.DataFrame({"x": [1]}))
    with pytest.raises(ConfigurationError, match="poll_seconds"):
        UploadWidget(store, docs(1), poll_seconds=0)
