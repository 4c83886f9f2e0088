"""UploadWidget: every failure counted the same way, and the on_done hook."""

from __future__ import annotations

import asyncio
import json
import re
from html import unescape

import pytest

from s3explore import ConfigurationError, MongoStore
from s3explore.widgets import UploadWidget
from tests._faulty_index import FlakyMongoClient


def folder_with_failures(path, good: int = 3):
    """``good`` documents, one unreadable file, two documents the store refuses (no key)."""
    for i in range(good):
        (path / f"doc{i}.json").write_text(json.dumps({"task_id": f"f{i}", "n": i}))
    (path / "broken.json").write_text("{oops")
    (path / "nokey1.json").write_text(json.dumps({"n": 1}))
    (path / "nokey2.json").write_text(json.dumps({"n": 2}))
    return path


def counts_shown(widget: UploadWidget) -> tuple[int, int]:
    """The failure count in the status line and in the list's heading."""
    status = re.search(r"(\d+) failed", unescape(widget._status.value))
    listed = re.search(r"(\d+) document\(s\) not stored", widget._failures.value)
    return int(status.group(1)), int(listed.group(1))


def test_unreadable_files_count_like_refused_documents(store, tmp_path):
    widget = UploadWidget(store, folder_with_failures(tmp_path))
    result = widget.start()
    assert widget.state == "done" and result.written == 3
    assert [f.key for f in result.failures] == ["broken.json", None, None]
    assert widget.failures == result.failures
    assert counts_shown(widget) == (3, 3)
    assert widget._failures.value.count("<li>") == 3
    assert str(result).endswith("3 failed")
    assert widget._bar.value == widget._bar.max == 6


def test_a_failed_run_counts_unreadable_files_too(make_store, tmp_path):
    client = FlakyMongoClient(fail_after=0)  # the index refuses every write
    store = make_store(index=MongoStore("db", "widgets-upload-counts", client=client))
    widget = UploadWidget(store, folder_with_failures(tmp_path))
    widget.start()
    assert widget.state == "failed"
    assert widget._status.value.startswith("Failed:")
    assert counts_shown(widget) == (3, 3) and len(widget.failures) == 3
    assert "0 written" in widget._status.value


def test_on_done_gets_the_result_once_per_run(store):
    widget = UploadWidget(store, [{"task_id": "a"}, {"task_id": "b"}], skip_stored=False)
    results = []
    widget.on_done(results.append)
    first = widget.start()
    second = widget.start()
    assert results == [first, second] and first.written == second.written == 2


def test_on_done_in_an_event_loop_and_removal(store):
    widget = UploadWidget(store, [{"task_id": f"x{i}"} for i in range(20)], poll_seconds=0.01)
    states = []
    widget.on_done(lambda result: states.append((widget.state, result.written)))

    async def main():
        widget.start()
        return await widget.task

    asyncio.run(main())
    assert states == [("done", 20)]
    widget.on_done(states.append, remove=True)  # not registered: nothing happens
    with pytest.raises(ConfigurationError, match="on_done needs a function"):
        widget.on_done(None)


def test_a_failing_on_done_callback_is_reported_in_the_status(store):
    widget = UploadWidget(store, [{"task_id": "a"}])

    def refresh_browser(result):
        raise KeyError("browser")

    widget.on_done(refresh_browser)
    widget.start()
    assert widget.state == "done"
    status = unescape(widget._status.value)
    assert status.startswith("Done: 1 of 1 documents written")
    assert "on_done callback" in status and "refresh_browser raised KeyError" in status


def test_state_is_checked(store):
    widget = UploadWidget(store, [{"task_id": "a"}])
    with pytest.raises(Exception, match="UploadWidget.state must be one of"):
        widget.state = "exploded"
