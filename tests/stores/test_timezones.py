"""Time zones in the index: the same rule on every engine (see the README's "Datetimes").

An aware datetime is indexed as its UTC instant and comes back UTC-aware (``tzinfo=UTC``;
frames ``datetime64[us, UTC]``); a naive one stays naive. Criteria compare instants, naive
values taken as UTC, with the same answer everywhere. The S3 body keeps the offset it had.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pandas as pd
import pyarrow as pa
import pytest

from s3explore import S3Store
from s3explore._stores._timezones import AWARE_FIELD
from tests.backends import INDEX_BACKENDS, drop_index, make_index

UTC = dt.UTC
PLUS2 = dt.timezone(dt.timedelta(hours=2))
MINUS5 = dt.timezone(dt.timedelta(hours=-5))
NOON_PLUS2 = dt.datetime(2024, 1, 1, 12, 0, 0, 123000, tzinfo=PLUS2)  # 10:00:00.123 UTC (BSON: ms)
NOON_NAIVE = dt.datetime(2024, 1, 1, 12, 0)


def docs() -> list[dict]:
    return [
        {"task_id": "p2", "t": NOON_PLUS2, "n": NOON_NAIVE,
         "calc": {"at": dt.datetime(2024, 1, 2, 9, 0, tzinfo=MINUS5)},
         "times": [dt.datetime(2024, 1, 3, 0, 30, tzinfo=PLUS2),
                   dt.datetime(2024, 1, 3, 1, 0, tzinfo=UTC)],
         "runs": [{"at": dt.datetime(2024, 1, 4, 8, 0, tzinfo=MINUS5)}, {"at": None}],
         "last_updated": dt.datetime(2024, 5, 1, 8, 0)},
        {"task_id": "utc", "t": dt.datetime(2024, 1, 1, 11, 0, tzinfo=UTC), "n": NOON_NAIVE,
         "calc": {"at": dt.datetime(2024, 1, 2, 15, 0, tzinfo=UTC)},
         "times": [], "runs": [], "last_updated": dt.datetime(2024, 5, 2, 8, 0)},
        {"task_id": "m5", "t": dt.datetime(2024, 1, 1, 5, 30, tzinfo=MINUS5),  # 10:30 UTC
         "n": dt.datetime(2024, 1, 1, 13, 0), "calc": {"at": None},
         "times": [dt.datetime(2024, 1, 3, tzinfo=MINUS5)], "runs": [{"at": None}],
         "last_updated": dt.datetime(2024, 5, 3, 8, 0)},
    ]


def utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(UTC)


def expected_entry(doc: dict) -> dict:
    """What every index gives back: aware values as UTC-aware, naive ones as they were."""
    def convert(value):
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list):
            return [convert(v) for v in value]
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            return utc(value)
        return value
    return convert(doc)


def same(got, want) -> bool:
    """Equal values, datetimes equal in instant and in kind (naive vs UTC-aware)."""
    if isinstance(want, dict):
        return isinstance(got, dict) and got.keys() == want.keys() and all(
            same(got[k], want[k]) for k in want)
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(
            same(a, b) for a, b in zip(got, want, strict=True))
    if isinstance(want, dt.datetime):
        return (isinstance(got, dt.datetime) and (got.tzinfo is None) == (want.tzinfo is None)
                and (got.tzinfo is None or got.utcoffset() == dt.timedelta()) and got == want)
    return got == want


@pytest.fixture(params=list(INDEX_BACKENDS))
def index(request, tmp_path):
    store = make_index(request.param, f"tz{uuid.uuid4().hex[:8]}", tmp_path)
    store.connect()
    store.update(docs())
    yield store
    drop_index(request.param, store)


def by_key(found) -> dict:
    return {d["task_id"]: d for d in found}


def test_aware_values_come_back_utc_aware_and_naive_ones_naive(index):
    got = by_key(index.query())
    for doc in docs():
        assert same(got[doc["task_id"]], expected_entry(doc)), got[doc["task_id"]]
    assert got["p2"]["t"].tzinfo is UTC and got["p2"]["t"].hour == 10  # the instant, in UTC
    assert got["p2"]["n"] == NOON_NAIVE and got["p2"]["n"].tzinfo is None
    assert got["p2"]["last_updated"].tzinfo is None  # maggma's naive UTC stays naive
    assert all(AWARE_FIELD not in d for d in got.values())


def test_projections_keep_the_rule(index):
    for props in (["t"], ["calc.at"], ["times", "n"], ["runs.at"], ["runs"], ["calc"]):
        got = by_key(index.query(properties=["task_id", *props]))
        for doc in docs():
            entry = expected_entry(doc)
            for prop in props:
                top = prop.split(".")[0]
                want = entry[top]
                if prop == "calc.at":
                    want = {"at": entry["calc"]["at"]}
                if prop == "runs.at":
                    want = [{"at": r["at"]} for r in entry["runs"]]
                assert same(got[doc["task_id"]].get(top), want), (prop, got[doc["task_id"]])
            assert AWARE_FIELD not in got[doc["task_id"]]
    one = index.query_one({"task_id": "p2"}, ["t"])
    assert same(one["t"], utc(NOON_PLUS2))


@pytest.mark.parametrize(("criteria", "keys"), [
    ({"t": {"$gt": dt.datetime(2024, 1, 1, 10, 15, tzinfo=UTC)}}, {"utc", "m5"}),
    ({"t": {"$lt": dt.datetime(2024, 1, 1, 12, 15, tzinfo=PLUS2)}}, {"p2"}),
    ({"t": NOON_PLUS2}, {"p2"}),
    ({"t": utc(NOON_PLUS2)}, {"p2"}),
    ({"t": {"$in": [dt.datetime(2024, 1, 1, 6, 0, tzinfo=MINUS5)]}}, {"utc"}),
    ({"t": {"$gte": dt.datetime(2024, 1, 1, 10, 30)}}, {"utc", "m5"}),  # naive: read as UTC
    # naive stored values compare as UTC instants: 12:00 naive is after 11:00 UTC
    ({"n": {"$gt": dt.datetime(2024, 1, 1, 13, 30, tzinfo=PLUS2)}}, {"p2", "utc", "m5"}),
    ({"n": {"$gt": dt.datetime(2024, 1, 1, 12, 30, tzinfo=UTC)}}, {"m5"}),
    ({"calc.at": {"$gte": dt.datetime(2024, 1, 2, 14, 0, tzinfo=UTC)}}, {"p2", "utc"}),
    ({"times": {"$lt": dt.datetime(2024, 1, 3, tzinfo=UTC)}}, {"p2"}),
    ({"runs.at": {"$gt": dt.datetime(2024, 1, 4, 12, 0, tzinfo=UTC)}}, {"p2"}),
    ({"$or": [{"t": NOON_PLUS2}, {"calc.at": dt.datetime(2024, 1, 2, 15, 0, tzinfo=UTC)}]},
     {"p2", "utc"}),
])
def test_criteria_with_aware_values_give_the_same_answer_on_every_engine(index, criteria, keys):
    assert {d["task_id"] for d in index.query(criteria)} == keys
    assert index.count(criteria) == len(keys)


def test_sort_is_by_instant_and_remove_docs_takes_aware_criteria(index):
    assert [d["task_id"] for d in index.query(sort={"t": 1})] == ["p2", "m5", "utc"]
    assert [d["task_id"] for d in index.query(sort={"t": -1}, limit=1)] == ["utc"]
    index.remove_docs({"t": {"$lt": dt.datetime(2024, 1, 1, 10, 10, tzinfo=UTC)}})
    assert {d["task_id"] for d in index.query()} == {"utc", "m5"}


def test_distinct_and_groupby_give_utc_aware_values(index):
    got = index.distinct("t")
    assert sorted(got) == sorted(utc(d["t"]) for d in docs())
    assert all(v.tzinfo is UTC for v in got)
    assert all(v.tzinfo is None for v in index.distinct("n"))
    assert sorted(index.distinct("n")) == [NOON_NAIVE, dt.datetime(2024, 1, 1, 13, 0)]
    assert sorted(index.distinct("t", {"task_id": "p2"})) == [utc(NOON_PLUS2)]
    assert [v.tzinfo for v in index.distinct("calc.at") if v is not None] == [UTC, UTC]
    groups = list(index.groupby("t", properties=["task_id"]))
    assert [g["t"] for g, _ in groups] == sorted(utc(d["t"]) for d in docs())
    assert all(g["t"].tzinfo is UTC for g, _ in groups)
    for group, members in groups:
        assert all(same(m["t"], group["t"]) and AWARE_FIELD not in m for m in members)


def test_last_updated_stays_naive_and_aware_values_read_as_naive_utc(index):
    assert index.last_updated == dt.datetime(2024, 5, 3, 8, 0)
    assert index.last_updated.tzinfo is None
    index.update({"task_id": "late", "last_updated": dt.datetime(2024, 6, 1, 12, tzinfo=PLUS2)})
    assert index.last_updated == dt.datetime(2024, 6, 1, 10)  # maggma's naive UTC
    assert index.last_updated.tzinfo is None


def test_one_path_holding_both_kinds_in_one_document_reads_naive_ones_as_utc(index):
    index.update({"task_id": "both", "times": [NOON_NAIVE, NOON_PLUS2]})
    got = index.query_one({"task_id": "both"})["times"]
    # the naive 12:00 keeps its wall time, now labelled UTC; the aware value its instant
    assert got == [NOON_NAIVE.replace(tzinfo=UTC), utc(NOON_PLUS2)]
    assert all(v.tzinfo is UTC for v in got)


# Only the pymongo-like engines hand out raw documents (DuckDB has no collection).
RAW_BACKENDS = [name for name in INDEX_BACKENDS if not name.startswith("duckdb")]


@pytest.mark.parametrize("index", RAW_BACKENDS, indirect=True)
def test_a_document_read_raw_and_written_back_keeps_its_marks(index):
    raw = index.collection.find_one({"task_id": "p2"}, {"_id": 0})
    assert raw["t"].tzinfo is None and AWARE_FIELD in raw  # what the engine holds
    index.update({**raw, "task_id": "copy"})
    assert same(index.query_one({"task_id": "copy"})["t"], utc(NOON_PLUS2))


def test_an_aware_key_is_upserted_in_place(index):
    for key in ("when", ["when", "task_id"]):
        for _ in range(2):  # the second write replaces the first, by instant
            index.update({"task_id": "k", "when": NOON_PLUS2, "x": 1}, key=key)
            index.update({"task_id": "k", "when": utc(NOON_PLUS2), "x": 2}, key=key)
        found = list(index.query({"when": {"$exists": True}}))
        assert len(found) == 1 and found[0]["x"] == 2, key
        assert same(found[0]["when"], utc(NOON_PLUS2))


# ---------------------------------------------------------------- frames


def test_frames_type_aware_columns_as_utc(index):
    for fields in (None, ["t", "n", "calc.at", "times"]):
        frame = index.query_df(fields=fields, sort={"task_id": 1})
        assert str(frame["t"].dtype) == "datetime64[us, UTC]", fields
        assert str(frame["calc.at"].dtype) == "datetime64[us, UTC]"
        assert str(frame["n"].dtype) == "datetime64[us]"
        assert AWARE_FIELD not in frame.columns
        rows = {r.task_id: r for r in frame.itertuples()}
        assert rows["p2"].t == pd.Timestamp(NOON_PLUS2)
        assert rows["p2"].t.tz is not None and rows["p2"].t.hour == 10
        assert pd.isna(frame.loc[frame.task_id == "m5", "calc.at"]).all()
        times = frame.loc[frame.task_id == "p2", "times"].iloc[0]
        assert [v.utcoffset() for v in times] == [dt.timedelta(0)] * 2
        assert list(times) == [utc(t) for t in docs()[0]["times"]]
        table = index.to_arrow(fields=fields)
        assert table.schema.field("t").type == pa.timestamp("us", "UTC")
        assert table.schema.field("n").type == pa.timestamp("us")
        assert AWARE_FIELD not in table.column_names
        assert table.column("t").to_pylist()[0].tzinfo is not None


def test_a_column_mixing_naive_and_aware_values_keeps_each_as_stored(index):
    index.update({"task_id": "zz", "t": NOON_NAIVE})
    frame = index.query_df(fields=["t"], sort={"task_id": 1})
    assert frame["t"].dtype == object
    values = dict(zip(frame["task_id"], frame["t"], strict=True))
    assert values["zz"] == NOON_NAIVE and values["zz"].tzinfo is None
    assert same(values["p2"], utc(NOON_PLUS2))
    with pytest.warns(UserWarning, match="'t'"):
        table = index.to_arrow(fields=["t"])
    # as strings, each with its own kind: no wall time moved
    assert set(table.column("t").to_pylist()) >= {"2024-01-01 12:00:00",
                                                  "2024-01-01 10:00:00.123000+00:00"}


def test_fields_lists_no_bookkeeping(index):
    assert AWARE_FIELD not in set(index.fields()["field"])


# ---------------------------------------------------------------- through S3Store


@pytest.fixture(params=list(INDEX_BACKENDS))
def s3store(request, make_store, tmp_path):
    inner = make_index(request.param, f"tz{uuid.uuid4().hex[:8]}", tmp_path)
    store = make_store(index=inner, searchable_fields=["t", "n", "calc", "times"])
    store.update(docs())
    yield store
    drop_index(request.param, inner)


def test_s3store_keeps_the_offset_in_bodies_and_utc_in_entries(s3store: S3Store):
    body = s3store.get("p2")
    assert body["t"] == NOON_PLUS2 and body["t"].utcoffset() == dt.timedelta(hours=2)
    assert body["calc"]["at"].utcoffset() == dt.timedelta(hours=-5)
    entries = by_key(s3store.index.query())
    for doc in docs():
        entry = entries[doc["task_id"]]
        assert same(entry["t"], utc(doc["t"])) and same(entry["n"], doc["n"])
        assert AWARE_FIELD not in entry and AWARE_FIELD not in entry["s3-to-mongo-keys"]
    # answered from the index alone (every property is in the entry): UTC-aware
    one = next(iter(s3store.query({"task_id": "p2"}, properties=["t"])))
    assert same(one["t"], utc(NOON_PLUS2))
    assert [d["task_id"] for d in s3store.query(
        {"t": {"$gte": dt.datetime(2024, 1, 1, 12, 30, tzinfo=PLUS2)}})] != []
    assert {d["task_id"] for d in s3store.query(
        {"t": {"$gte": dt.datetime(2024, 1, 1, 12, 30, tzinfo=PLUS2)}})} == {"utc", "m5"}


@pytest.mark.slow
def test_s3store_frames_index_columns_utc_and_fetched_ones_with_their_offset(s3store):
    frame = s3store.query_df(fields=["t", "n"], fetch=["calc.at"], sort={"task_id": 1})
    assert str(frame["t"].dtype) == "datetime64[us, UTC]"
    assert str(frame["n"].dtype) == "datetime64[us]"
    # fetched from the bodies: one offset (-05:00) in two rows; the third is null
    assert str(frame["calc.at"].dtype) == "datetime64[us, UTC]"  # -05:00 and UTC: instants
    values = dict(zip(frame["task_id"], frame["calc.at"], strict=True))
    assert values["p2"] == pd.Timestamp(dt.datetime(2024, 1, 2, 14, 0, tzinfo=UTC))
    one_zone = s3store.query_df({"task_id": "p2"}, fields=["t"], fetch=["t"])
    assert str(one_zone["t"].dtype) == "datetime64[us, UTC+02:00]"
    assert one_zone["t"][0].hour == 12  # the document's wall time and offset
    assert str(s3store.to_arrow(fields=["t"]).schema.field("t").type) == "timestamp[us, tz=UTC]"


def test_a_duckdb_groupby_looks_for_marks_only_once_some_entry_has_them():
    """DuckDB's catalog says whether any entry marks aware datetimes: without one a groupby
    skips looking through its members; the first aware entry turns the look back on."""
    from s3explore import DuckDBStore

    with DuckDBStore("marks") as store:
        store.update([{"task_id": f"n{i}", "g": i % 2, "t": NOON_NAIVE} for i in range(6)])
        assert store._marks_aware() is False
        assert all(m["t"].tzinfo is None for _, ms in store.groupby("g") for m in ms)
        store.update({"task_id": "aware", "g": 1, "t": NOON_PLUS2})
        assert store._marks_aware() is True
        (_, evens), (_, odds) = store.groupby("g", properties=["t"])
        assert [m["t"].tzinfo for m in odds].count(UTC) == 1
        assert all(AWARE_FIELD not in m for m in evens + odds)
