"""query_df types ISO 8601 text as datetimes: only whole columns of dates or dates and times,
UTC-aware when every value carries an offset; anything else stays text, and
``parse_dates=False`` keeps it all as text."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from s3explore import ConfigurationError, QueryError, Store
from s3explore._checks import ArgumentError
from s3explore._frames._dates import iso_datetime, iso_datetimes
from tests.backends import FRAME_BACKENDS
from tests.frames.conftest import filled_index

COLUMNS = {
    "zoned": ["2024-01-01T10:00:00Z", "2024-02-01T00:00:00+02:00", "2024-03-01T08:30+0530",
              None],
    "naive": ["2024-01-01 10:00", "2024-01-02T10:00:00.123456", "2024-01-03", None],
    "dates": ["2024-01-01", "2024-01-02", "2023-12-31", "2024-02-29"],
    # each of these stays text
    "mixed_zones": ["2024-01-01T10:00:00Z", "2024-01-01T10:00:00", "2024-01-02", None],
    "one_word": ["2024-01-01", "yesterday", "2024-01-03", None],
    "years": ["2024", "2025", "1999", None],
    "month_days": ["12-01", "11-30", "01-02", None],
    "year_months": ["2024-01", "2024-02", "2024-03", None],
    "month_13": ["2024-13-01", "2024-01-01", "2024-01-02", None],
    "hour_24": ["2024-01-01T24:00:00", "2024-01-01T10:00:00", "2024-01-02", None],
    "date_in_text": ["on 2024-01-01", "2024-01-01 or so", "2024-01-02", None],
}
TEXT = [c for c in COLUMNS if c not in ("zoned", "naive", "dates")]


def _docs() -> list[dict]:
    docs = []
    for i in range(4):
        doc = {"task_id": ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"][i], "n": i}
        doc.update({name: values[i] for name, values in COLUMNS.items() if values[i]})
        docs.append(doc)
    return docs


@pytest.fixture(params=FRAME_BACKENDS)
def dated(request, tmp_path) -> Store:
    with filled_index(request.param, "frames-dates", tmp_path, _docs()) as store:
        yield store


def test_whole_iso_columns_become_datetimes_on_every_backend(dated):
    frame = dated.query_df(sort={"task_id": 1})
    assert str(frame["zoned"].dtype) == "datetime64[us, UTC]"
    assert list(frame["zoned"][:3]) == [pd.Timestamp("2024-01-01T10:00:00Z"),
                                        pd.Timestamp("2024-01-31T22:00:00Z"),
                                        pd.Timestamp("2024-03-01T03:00:00Z")]
    assert pd.isna(frame["zoned"][3])
    assert frame["naive"].dtype.kind == "M" and frame["naive"].dt.tz is None
    assert list(frame["naive"][:3]) == [pd.Timestamp("2024-01-01 10:00"),
                                        pd.Timestamp("2024-01-02 10:00:00.123456"),
                                        pd.Timestamp("2024-01-03")]
    assert frame["dates"].dtype.kind == "M"
    assert frame["dates"][3] == pd.Timestamp("2024-02-29")
    # the dates sort and compare as dates, not as text
    assert frame["dates"].idxmin() == 2
    for name in TEXT:
        assert frame[name].dtype.kind not in "Mm", name
        assert [v if isinstance(v, str) else None for v in frame[name]] == COLUMNS[name], name
    assert list(frame["task_id"]) == [d["task_id"] for d in _docs()]  # keys stay as written
    assert list(frame["n"]) == [0, 1, 2, 3]


def test_parse_dates_false_keeps_the_text(dated):
    frame = dated.query_df(sort={"task_id": 1}, parse_dates=False)
    for name, values in COLUMNS.items():
        assert [v if isinstance(v, str) else None for v in frame[name]] == values, name


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_parse_dates_must_be_a_bool(memory, bad):
    with pytest.raises(ArgumentError, match="parse_dates must be True or False") as caught:
        memory.query_df(parse_dates=bad)
    assert isinstance(caught.value, ConfigurationError) and isinstance(caught.value, QueryError)


def test_fields_and_a_page_decide_on_what_was_read(memory):
    memory.update([{"task_id": "x-1", "seen": "2024-05-01"},
                   {"task_id": "x-2", "seen": "not yet"}])
    both = memory.query_df({"task_id": {"$in": ["x-1", "x-2"]}}, fields=["seen"])
    assert list(both["seen"]) == ["2024-05-01", "not yet"]
    one = memory.query_df({"task_id": "x-1"}, fields=["seen"])
    assert one["seen"][0] == pd.Timestamp("2024-05-01")


def test_columns_of_python_objects_and_aware_datetimes_are_left_alone():
    frame = pd.DataFrame({
        "lists": [["2024-01-01"], None],
        "objects": pd.Series(["2024-01-01", 5], dtype=object),
        "object_text": pd.Series(["2024-01-01", None], dtype=object),
        "aware": [dt.datetime(2024, 1, 1, tzinfo=dt.UTC), None],
        "empty": pd.Series([None, None], dtype=object),
    })
    out = iso_datetimes(frame, "task_id")
    assert list(out["lists"]) == list(frame["lists"])
    assert list(out["objects"]) == ["2024-01-01", 5]
    assert out["object_text"][0] == pd.Timestamp("2024-01-01")  # text kept as objects too
    assert out["aware"].equals(frame["aware"])
    assert iso_datetime(frame["empty"]) is None
    assert list(frame["object_text"]) == ["2024-01-01", None]  # the input is not changed


@pytest.mark.slow
def test_arrow_and_dask_keep_the_text(memory):
    """Batches and partitions are typed alone: a column that is all dates in one could be
    text in the next, so these keep ISO 8601 text as text."""
    memory.update([{"task_id": "x-1", "seen": "2024-05-01"}])
    table = memory.to_arrow({"task_id": "x-1"}, fields=["seen"])
    assert table.column("seen").to_pylist() == ["2024-05-01"]
    frame = memory.to_dask({"task_id": "x-1"}, fields=["seen"]).compute()
    assert list(frame["seen"]) == ["2024-05-01"]
