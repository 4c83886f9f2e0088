"""UploadWidget: reruns send only what is missing, the bar's colour says how the run went,
failure lines name each file once, and the worker count is refused out of range."""

from __future__ import annotations

import json

import pytest

from s3explore import ConfigurationError
from s3explore.widgets import UploadWidget


def docs(n: int, prefix: str = "d") -> list[dict]:
    return [{"task_id": f"{prefix}-{i:04d}", "nsites": i % 9, "formula": "NaCl",
             "values": list(range(i % 5))} for i in range(n)]


@pytest.mark.slow
def test_rerun_after_cancel_uploads_only_what_is_missing(store):
    documents = docs(120)

    def source():
        for i, doc in enumerate(documents):
            if i == 40:
                first.run.cancel()  # what the Cancel button does, while the update runs
            yield doc

    first = UploadWidget(store, source(), workers=2)
    cancelled = first.start()
    assert cancelled.cancelled and 0 < cancelled.written < 120
    landed = cancelled.written

    again = UploadWidget(store, documents, workers=2)
    result = again.start()
    assert again.state == "done" and result.ok
    assert result.written == 120 - landed  # the landed ones were not sent again
    assert again.run.skipped == landed
    assert f"{landed} already stored (skipped)" in again._status.value
    assert (again._bar.value, again._bar.max) == (120, 120)
    assert again._bar.bar_style == "success"
    assert store.count() == 120 and store.verify().ok


def test_a_changed_document_is_uploaded_again(store):
    documents = docs(10)
    assert store.update(documents).written == 10
    changed = [dict(d) for d in documents]
    changed[3]["formula"] = "MgO"
    result = UploadWidget(store, changed).start()
    assert result.written == 1 and store.get(changed[3]["task_id"])["formula"] == "MgO"


def test_skip_can_be_turned_off(store):
    documents = docs(12)
    store.update(documents)
    widget = UploadWidget(store, documents, skip_stored=False)
    assert widget._skip.value is False
    assert widget.start().written == 12 and widget.run.skipped == 0
    widget.skip_stored = True
    assert widget.start().written == 0 and widget.run.skipped == 12
    assert "0 failed" in widget._status.value and widget._bar.bar_style == "success"


def test_entries_without_a_hash_prove_nothing(make_store):
    store = make_store(store_hash=False)
    documents = docs(8)
    store.update(documents)
    result = UploadWidget(store, documents).start()
    assert result.written == 8  # no obj_hash in the index: written again


def test_bar_is_orange_for_a_partial_failure_and_red_when_nothing_was_stored(store, tmp_path):
    good = docs(6)
    partial = UploadWidget(store, [*good, {"nsites": 1}], skip_stored=False)
    partial.start()
    assert partial._bar.bar_style == "warning"
    assert "1 failed (14.3%)" in partial._status.value
    nothing = UploadWidget(store, [{"nsites": 1}, {"task_id": "../x"}])
    nothing.start()
    assert nothing._bar.bar_style == "danger"


def test_failure_lines_name_each_file_once(store, tmp_path):
    (tmp_path / "good.json").write_text(json.dumps({"task_id": "g", "n": 1}))
    (tmp_path / "truncated.json").write_text('{"task_id": "t", "formula": ')
    widget = UploadWidget(store, tmp_path)
    widget.start()
    listed = widget._failures.value
    assert "<li>truncated.json is not valid JSON" in listed
    assert listed.count("truncated.json") == 1


@pytest.mark.parametrize("workers", [0, 65, 1000])
@pytest.mark.slow
def test_workers_outside_1_to_64_are_refused(store, workers):
    with pytest.raises(ConfigurationError, match="workers"):
        UploadWidget(store, docs(1), workers=workers)


def test_a_worker_count_typed_out_of_range_is_refused_in_the_status(store):
    widget = UploadWidget(store, docs(1), workers=8)
    widget._workers.value = 100  # what typing 100 in the box does
    assert widget.workers == 8 and widget._workers.value == 8
    assert "workers must be 1 to 64" in widget._status.value and "kept 8" in widget._status.value


def test_a_store_with_more_workers_says_the_widget_runs_64(make_store):
    store = make_store(s3_workers=100)
    widget = UploadWidget(store, docs(1))
    assert widget.workers == 64
    assert "Workers: 64, the most this widget runs (the store&#x27;s s3_workers is 100)" in \
        widget._status.value
