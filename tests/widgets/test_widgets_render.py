"""Rendering without a browser: the document tree's HTML, table cells, progress text."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from html import unescape

import numpy as np
import pandas as pd
import pytest

from s3explore import Failure, ProgressSnapshot, StoredObject, UpdateResult
from s3explore.widgets._format import (
    cell_text,
    failure_lines,
    human_bytes,
    human_seconds,
    progress_text,
    summary_text,
)
from s3explore.widgets._tree import render_document, render_error, render_header


def text_of(html: str) -> str:
    """Roughly what a browser shows: tags dropped, entities decoded."""
    return unescape(re.sub(r"<[^>]+>", "", html))


def test_tree_holds_field_names_and_values():
    doc = {"task_id": "mp-1", "nsites": 12, "band_gap": 1.25, "ok": True, "note": None,
           "calc": {"encut": 520, "kpoints": [4, 4, 4]}}
    text = text_of(render_document(doc))
    for piece in ('task_id: "mp-1"', "nsites: 12", "band_gap: 1.25", "ok: true", "note: null",
                  "encut: 520", "kpoints: [4, 4, 4]", "{2 fields}"):
        assert piece in text


def test_document_text_is_escaped_never_markup():
    html = render_document({"<b>name</b>": "<script>alert(1)</script>", "x": "a & b"})
    assert "<script>" not in html and "<b>name</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert text_of(html).count("<script>alert(1)</script>") == 1


def test_nested_levels_open_to_open_depth():
    doc = {"a": {"b": {"c": 1}}}
    html = render_document(doc, open_depth=2)
    assert html.count("<details") == 2
    assert html.count("<details class=\"s3x-node\" open>") == 1
    assert render_document(doc, open_depth=3).count(" open>") == 2
    assert render_document(doc, open_depth=1).count(" open>") == 0


def test_long_list_is_shortened_with_its_length_and_expandable():
    values = list(range(57))
    html = render_document({"xs": values})
    assert "list \u00b7 57 items" in html
    assert "show 47 more" in html
    text = text_of(html)
    assert "[56]: 56" in text  # all there, behind the "more" fold
    assert '<details class="s3x-node">' in html  # collapsed at first


def test_huge_list_stops_at_max_items():
    html = render_document({"xs": [str(i) for i in range(5000)]}, max_items=100)
    text = text_of(html)
    assert '[99]: "99"' in text and "[100]:" not in text
    assert "4900 more items not shown" in text


def test_short_scalar_list_prints_inline():
    assert 'elements: ["Fe", "O"]' in text_of(render_document({"elements": ["Fe", "O"]}))


def test_numpy_arrays_read_naturally():
    small = np.array([1.5, 2.0])
    big = np.arange(3000, dtype=np.int32).reshape(3, 1000)
    text = text_of(render_document({"small": small, "big": big}))
    assert "small: [1.5, 2. ] float64 \u00b7 shape (2,)" in text
    assert "ndarray int32 \u00b7 shape (3, 1000)" in text
    assert "[0, 1, 2, \u2026]" in text  # preview
    assert "2999" in text and "..." in text  # numpy's own summary of the middle


def test_datetimes_uuids_paths_bytes_and_numpy_scalars():
    when = dt.datetime(2024, 5, 6, 7, 8, 9)
    ident = uuid.UUID(int=7)
    text = text_of(render_document({"when": when, "id": ident, "raw": b"\x00" * 10,
                                    "n": np.int64(3), "f": np.float32(0.5)}))
    assert "when: 2024-05-06 07:08:09 datetime" in text
    assert f"id: {ident} UUID" in text
    assert "raw: 10 bytes" in text
    assert "n: 3" in text and "f: 0.5" in text


def test_msonable_dict_shows_its_class():
    doc = {"structure": {"@module": "pymatgen.core.structure", "@class": "Structure",
                         "sites": []}}
    assert "Structure \u00b7 pymatgen.core.structure" in text_of(render_document(doc))


def test_long_string_folds():
    text = text_of(render_document({"s": "x" * 1000}))
    assert "1000 characters" in text
    assert "x" * 1000 in text


def test_node_budget_bounds_the_html():
    doc = {f"f{i}": i for i in range(100)}
    text = text_of(render_document(doc, max_nodes=10))
    assert "f9: 9" in text and "f10:" not in text
    assert "the rest is not shown" in text


def test_header_and_error():
    stored = StoredObject("mp-1", {}, stored_size=1500, decoded_size=4200, compression="zlib",
                          seconds=0.012)
    text = text_of(render_header(stored))
    assert "mp-1" in text and "stored 1.5 kB (zlib)" in text and "decoded 4.2 kB" in text
    assert "12 ms" in text
    error = text_of(render_error("mp-<2>", LookupError("gone")))
    assert "Cannot show 'mp-<2>': gone" in error


@pytest.mark.parametrize(("n", "text"), [(0, "0 B"), (999, "999 B"), (1000, "1.0 kB"),
                                         (2_500_000, "2.5 MB"), (3e12, "3.0 TB")])
def test_human_bytes(n, text):
    assert human_bytes(n) == text


@pytest.mark.parametrize(("s", "text"), [(0.0123, "12 ms"), (2.54, "2.5 s"),
                                         (125, "2 min 5 s"), (7300, "2 h 1 min")])
def test_human_seconds(s, text):
    assert human_seconds(s) == text


@pytest.mark.parametrize(("value", "text"), [
    (np.int64(4), "4"), (np.float64(0.5), "0.5"), (5.0, "5.0"), (1 / 3, "0.333333"),
    (float("nan"), ""), (None, ""), (pd.NA, ""), (pd.NaT, ""), (True, "true"),
    (pd.Timestamp("2024-01-02 03:04:05.6"), "2024-01-02 03:04:05"), (["a", "b"], "[a, b]"),
    (list(range(20)), "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, \u2026]"), ("a\nb", "a b"),
])
def test_cell_text(value, text):
    assert cell_text(value) == text


def test_cell_text_is_short():
    assert len(cell_text("y" * 500)) == 60 and cell_text("y" * 500).endswith("\u2026")


def test_progress_text():
    snap = ProgressSnapshot(done=118, total=500, nbytes=1_200_000, failed=2, elapsed=2.0,
                            finished=False)
    assert progress_text(snap) == ("120 / 500 documents \u00b7 1.2 MB \u00b7 59 docs/s "
                                   "\u00b7 ETA 6.4 s \u00b7 2 failed")
    unknown = ProgressSnapshot(done=0, total=None, nbytes=0, failed=0, elapsed=0.0,
                               finished=False)
    assert progress_text(unknown) == "0 documents \u00b7 0 B \u00b7 0 failed"


def test_summary_and_failure_lines():
    failures = [Failure("k1", "too big"), Failure(None, "no key field 'task_id'")]
    done = UpdateResult(written=98, bytes=2000, failures=failures, seconds=0.5)
    assert summary_text(done, 100, failures) == (
        "Done: 98 of 100 documents written (2.0 kB) in 500 ms \u00b7 196 docs/s \u00b7 2 failed "
        "(2.0%)")
    assert summary_text(done, 100, failures, skipped=30).endswith(
        "196 docs/s \u00b7 30 already stored (skipped) \u00b7 2 failed (2.0%)")
    cancelled = UpdateResult(written=40, cancelled=True, seconds=1.0)
    assert "Cancelled: 40 of 100" in summary_text(cancelled, 100, [])
    assert "60 not uploaded" in summary_text(cancelled, 100, [])
    assert "50 not uploaded" in summary_text(cancelled, 100, [], skipped=10)
    assert failure_lines(failures) == ["k1: too big", "(no key): no key field 'task_id'"]
    # a reason that names its key is not prefixed with it again; a longer key is not it
    assert failure_lines([Failure("a.json", "a.json is not valid JSON"),
                          Failure("mp-1", "clashes with mp-10"),
                          Failure("a.json", "a.json.gz exists too")]) == [
        "a.json is not valid JSON", "mp-1: clashes with mp-10", "a.json: a.json.gz exists too"]
    many = [Failure(f"k{i}", "x") for i in range(30)]
    assert failure_lines(many, limit=5)[-1] == "\u2026 and 25 more (see .failures)"


def test_column_widths_follow_the_header_and_the_values_of_the_page():
    from s3explore.widgets._table import MAX_WIDTH, column_widths, grid_template

    frame = pd.DataFrame({
        "task_id": ["mp-1", "mp-22"],
        "created": [dt.datetime(2024, 1, 1, 17, 45, 3), dt.datetime(2024, 2, 1)],
        "energy_above_hull": [0.0, 0.013],
        "n": [1, 2],
        "note": ["x" * 200, "y"],
    })
    widths = dict(zip(frame.columns, column_widths(frame), strict=True))
    assert widths["created"] >= len("2024-01-01 17:45:03")  # a datetime is never cut
    assert widths["energy_above_hull"] > len("energy_above_hull")  # nor a header
    assert widths["n"] <= 5  # a one-digit column stays narrow: its header and a sort mark
    assert widths["note"] == MAX_WIDTH  # a long text is cut (and shown whole on hover)
    assert widths["created"] < widths["energy_above_hull"]
    assert grid_template([5, 20]) == "minmax(5ch, 5fr) minmax(20ch, 20fr)"
