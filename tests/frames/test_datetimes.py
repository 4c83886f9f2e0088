"""Datetime columns: aware values typed UTC (or their one zone), naive ones naive, and a
column mixing them kept as Python values, never re-read in the other kind.

The rule on every index engine is in tests/stores/test_timezones.py; these are the frame
builder's own cases (batches, zones, Parquet).
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from s3explore import MemoryStore
from s3explore._frames._arrow import common_type
from s3explore._frames._columns import to_chunk
from tests.frames.conftest import _names

PLUS2 = dt.timezone(dt.timedelta(hours=2))
MINUS5 = dt.timezone(dt.timedelta(hours=-5))
NAIVE = dt.datetime(2024, 1, 1, 12)
AWARE = dt.datetime(2024, 1, 1, 12, tzinfo=PLUS2)


def test_one_zone_is_kept_several_become_utc_and_naive_with_aware_stay_python():
    assert to_chunk([AWARE, None, AWARE]).type == pa.timestamp("us", "+02:00")
    several = to_chunk([AWARE, dt.datetime(2024, 1, 1, 5, tzinfo=MINUS5)])
    assert several.type == pa.timestamp("us", "UTC")
    assert several.to_pylist() == [AWARE, dt.datetime(2024, 1, 1, 10, tzinfo=dt.UTC)]
    for mixed in ([NAIVE, AWARE], [AWARE, NAIVE], [[NAIVE], [AWARE]]):
        assert to_chunk(mixed) == mixed  # Arrow would take all in the first one's kind
    assert to_chunk([[AWARE], [dt.datetime(2024, 1, 1, tzinfo=MINUS5)]]).type == pa.list_(
        pa.timestamp("us", "UTC"))
    assert to_chunk([NAIVE, None]).type == pa.timestamp("us")


def test_batches_in_different_zones_meet_in_utc_and_naive_with_aware_do_not_meet():
    zones = [pa.timestamp("us", "+02:00"), pa.timestamp("us", "UTC"), pa.null()]
    assert common_type(zones) == pa.timestamp("us", "UTC")
    assert common_type([pa.timestamp("us"), pa.timestamp("us", "UTC")]) is None


@pytest.fixture
def store():
    store = MemoryStore(f"dates-{next(_names)}")
    store.connect()
    return store


def test_aware_and_naive_batches_of_one_field_keep_each_value(store):
    store.update([{"task_id": f"a{i}", "t": AWARE} for i in range(3)]
                 + [{"task_id": f"n{i}", "t": NAIVE} for i in range(3)])
    frame = store.query_df(sort={"task_id": 1}, batch_size=3)
    assert frame["t"].dtype == object
    assert [v.tzinfo is None for v in frame["t"]] == [False] * 3 + [True] * 3
    assert list(frame["t"]) == [AWARE] * 3 + [NAIVE] * 3


def test_aware_batches_are_one_utc_column_and_parquet_keeps_it(store, tmp_path):
    store.update([{"task_id": f"a{i}", "t": AWARE + dt.timedelta(hours=i)} for i in range(5)])
    frame = store.query_df(sort={"task_id": 1}, batch_size=2)
    assert str(frame["t"].dtype) == "datetime64[us, UTC]"
    assert frame["t"].iloc[0].hour == 10 and frame["t"].iloc[0] == AWARE
    path = tmp_path / "t.parquet"
    assert store.to_parquet(path, batch_size=2) == 5
    table = pq.read_table(path)
    assert table.schema.field("t").type == pa.timestamp("us", "UTC")
    assert table.column("t").to_pylist()[4] == AWARE + dt.timedelta(hours=4)
