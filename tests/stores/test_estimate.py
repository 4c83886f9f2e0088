"""store.estimate(): the cost of a query before it runs, measured on a few real GETs."""

from __future__ import annotations

import pytest

from s3explore import CostEstimate, MemoryStore, QueryError
from s3explore._stores import _cost
from tests.stores.test_s3store import material


@pytest.fixture
def filled(store):
    store.update([material(i) for i in range(12)])
    return store


def test_objects_bytes_and_seconds_come_from_measured_gets(filled):
    found = filled.estimate({"formula": "Si"}, fetch=["dos.total"], max_time=None)
    assert isinstance(found, CostEstimate)
    assert found.entries.exact and found.entries.count == 3 == found.objects
    sizes = [filled.get_object(d["task_id"]).stored_size
             for d in filled.index.query({"formula": "Si"}, ["task_id"])]
    assert found.sampled == 3 and found.bytes == sum(sizes)  # every object measured
    assert found.seconds > 0 and found.timed == 3
    assert found.workers == filled.s3_workers
    line = str(found)
    assert line.startswith("3 entries, 3 objects to GET, about ") and "measured on 3 GETs" in line
    assert repr(found) == f"CostEstimate({line})"


def test_a_sample_stands_for_the_rest_and_the_session_keeps_the_timings(filled, monkeypatch):
    monkeypatch.setattr(_cost, "SAMPLE_GETS", 2)
    first = filled.estimate({}, fetch=["dos"], max_time=None)
    assert (first.objects, first.sampled, first.timed) == (12, 2, 2)
    assert first.bytes > 0
    second = filled.estimate({"nsites": {"$gt": 1}}, fetch=["dos"], max_time=None)
    assert (second.sampled, second.timed) == (2, 4)  # this session's GETs add up


def test_without_fetch_nothing_is_read_from_s3(filled):
    found = filled.estimate({"formula": "Si"}, max_time=None)
    assert (found.objects, found.bytes, found.sampled) == (0, 0, 0)
    assert str(found) == "3 entries, no objects to GET (answered from the index)"


def test_no_match_costs_nothing(filled):
    found = filled.estimate({"formula": "Xx"}, fetch=["dos"], max_time=None)
    assert (found.entries.count, found.objects, found.bytes) == (0, 0, 0)


def test_index_stores_have_no_objects_to_fetch():
    index = MemoryStore("e")
    index.connect()
    index.update([{"task_id": "a", "x": 1}])
    assert index.estimate().objects == 0
    with pytest.raises(QueryError, match="index store without objects"):
        index.estimate(fetch=["x"])


@pytest.mark.parametrize("fetch", ["dos", [1], [""]])
def test_fetch_is_checked(filled, fetch):
    with pytest.raises(QueryError):
        filled.estimate(fetch=fetch)


def test_durations_read_as_plain_english_after_in():
    assert [_cost._duration(s) for s in (0.2, 8.4, 500, 3 * 3600)] == [
        "under a second", "about 8 s", "about 8 min", "about 3.0 h"]
