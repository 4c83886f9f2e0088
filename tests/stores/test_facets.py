"""store.facets(), estimate_count(), count(max_time=) and typo hints, on every index engine
(FerretDB included, through "mongo-ferretdb") and on S3Store, which answers from its index."""

from __future__ import annotations

import uuid
import warnings

import pytest

from s3explore import CountEstimate, DuckDBStore, QueryError, UnknownFieldWarning
from s3explore._stores import _counting
from s3explore._stores._duckdb import _facets as duck_facets
from tests.backends import INDEX_BACKENDS, drop_index, make_index

FORMULAS = ["Fe2O3"] * 5 + ["NaCl"] * 3 + ["Si"] * 2 + ["LiF"]


def entries(n: int = 300) -> list[dict]:
    return [{"task_id": f"t{i:04d}", "formula": FORMULAS[i % len(FORMULAS)], "nsites": i,
             "band_gap": (i % 100) / 10, "elements": ["Fe", "O"] if i % 3 else ["Na"],
             "calc": {"encut": 520 if i % 4 else 400}, "flag": [1, "one", True][i % 3],
             "tags": [] if i % 5 == 0 else ["x"]}
            for i in range(n)]


@pytest.fixture(scope="module", params=list(INDEX_BACKENDS))
def index(request, tmp_path_factory):
    """One filled store per engine for the tests that only read it (filling FerretDB's takes
    seconds); a test that adds entries takes ``fresh_index``."""
    store = make_index(request.param, f"f{uuid.uuid4().hex[:8]}",
                       tmp_path_factory.mktemp("facets"))
    store.connect()
    store.update(entries())
    yield store
    drop_index(request.param, store)


@pytest.fixture(params=list(INDEX_BACKENDS))
def fresh_index(request, tmp_path):
    store = make_index(request.param, f"f{uuid.uuid4().hex[:8]}", tmp_path)
    store.connect()
    store.update(entries())
    yield store
    drop_index(request.param, store)


def facets(store, *args, **kwargs):
    """``store.facets`` without a time limit unless a test sets one: a loaded machine must
    not make the results incomplete."""
    kwargs.setdefault("max_time", None)
    return store.facets(*args, **kwargs)


def rows(frame) -> list[tuple]:
    return list(zip(frame["value"], frame["count"], strict=True))


def test_value_counts_largest_first_with_the_rest_counted(index):
    frame = facets(index, "formula", limit=2)
    assert rows(frame) == [("Fe2O3", 138), ("NaCl", 81)]
    assert frame.attrs["complete"] is True
    assert frame.attrs["kind"] == "values"
    assert frame.attrs["values"] == 4
    assert (frame.attrs["other_values"], frame.attrs["other_count"]) == (2, 300 - 138 - 81)
    assert "top 2 of 4 distinct" in repr(frame)


def test_value_counts_under_criteria(index):
    frame = facets(index, "formula", {"nsites": {"$lt": 11}})
    assert rows(frame) == [("Fe2O3", 5), ("NaCl", 3), ("Si", 2), ("LiF", 1)]
    assert frame.attrs["other_count"] == 0


def test_array_items_count_one_by_one(index):
    assert rows(facets(index, "elements")) == [("Fe", 200), ("O", 200), ("Na", 100)]
    assert rows(facets(index, "tags")) == [("x", 240)]  # empty arrays hold no value


def test_nested_fields_and_mixed_types(index):
    assert rows(facets(index, "calc.encut")) == [(520, 225), (400, 75)]
    frame = facets(index, "flag")
    assert sorted(map(repr, frame["value"])) == ["'one'", "1", "True"]  # True is not 1
    assert list(frame["count"]) == [100, 100, 100]


def test_numbers_with_many_values_become_a_histogram(index):
    frame = facets(index, "nsites")
    assert frame.attrs["kind"] == "histogram"
    assert list(frame["count"]) == [30] * 10
    assert (frame["lower"].iloc[0], frame["upper"].iloc[-1]) == (0, 299)
    assert frame.attrs["counted"] == 300 and frame.attrs["other_count"] == 0
    assert facets(index, "nsites", bins=0).attrs["kind"] == "values"
    few = facets(index, "calc.encut")  # two values: counted, not binned
    assert few.attrs["kind"] == "values"


def test_histogram_bins_and_values_that_are_not_numbers(index):
    frame = facets(index, "band_gap", bins=2)
    assert list(frame["count"]) == [150, 150]
    assert list(frame["lower"]) == [0.0, 4.95] and list(frame["upper"]) == [4.95, 9.9]
    mixed = facets(index, "flag", bins=3)
    # the only number is 1 (True is no number): one bin, as all numbers are equal
    assert (list(mixed["lower"]), list(mixed["count"])) == ([1.0], [100])
    assert mixed.attrs["other_count"] == 200


def test_a_field_nobody_has_gives_an_empty_table(index):
    with pytest.warns(UnknownFieldWarning, match="did you mean 'formula'"):
        frame = facets(index, "fromula")
    assert len(frame) == 0 and frame.attrs["complete"] is True


@pytest.mark.parametrize("bad", [{"limit": 0}, {"bins": -1}, {"bins": True},
                                 {"max_time": 0}, {"max_time": "1"}, {"field": ""},
                                 {"field": ["a"]}, {"criteria": {"$where": "x"}}])
def test_arguments_are_checked(bad):
    store = make_index("memory", "bad", None)
    store.connect()
    store.update(entries(3))
    args = {"field": "formula", **bad}
    with pytest.raises(QueryError):
        store.facets(args.pop("field"), **args)


def test_out_of_time_says_it_gave_up(index):
    frame = facets(index, "formula", max_time=1e-9)
    assert frame.attrs["complete"] is False
    assert "INCOMPLETE" in repr(frame)
    # whatever was counted before giving up is a part of the whole
    assert frame["count"].sum() <= 300


def test_duckdb_interrupts_a_query_that_runs_out_of_time():
    store = DuckDBStore("slow")
    store.connect()
    slow = "SELECT count(*) FROM range(100000000000) a"  # minutes of work
    assert duck_facets._run(store, slow, {}, 0.2) is duck_facets._OUT_OF_TIME
    assert duck_facets._run(store, "SELECT 42", {}, 5) == [(42,)]  # the connection still works


# ------------------------------------------------------------ counts that never block

def test_estimate_count_is_exact_when_in_time(index):
    found = index.estimate_count({"formula": "Si"}, max_time=None)
    assert isinstance(found, CountEstimate)
    assert (found.count, found.exact, str(found), int(found)) == (54, True, "54", 54)
    assert index.estimate_count(max_time=None).count == 300
    assert index.count({"formula": "Si"}, max_time=30) == 54


def test_estimate_count_gives_a_lower_bound_when_out_of_time(index, monkeypatch):
    monkeypatch.setattr(_counting, "FIRST_CAP", 50)
    found = index.estimate_count({"nsites": {"$gte": 0}}, max_time=1e-9)
    assert not found.exact and found.bound == "at least"
    assert 0 <= found.count <= 300
    assert str(found).startswith("at least ")


def test_count_with_max_time_raises_when_out_of_time(index):
    with pytest.raises(QueryError, match="max_time"):
        index.count({"nsites": {"$gte": 0}}, max_time=1e-9)


def test_count_estimate_reads_well():
    assert str(CountEstimate(1000, False, "at least")) == "at least 1,000"
    assert str(CountEstimate(98000, False, "about")) == "about 98,000"


# ------------------------------------------------------------ typo hints

def test_typo_in_criteria_warns_with_the_closest_field(index):
    with pytest.warns(UnknownFieldWarning, match=r"no field 'band_gpa' in .*did you mean "
                                                 r"'band_gap'\?"):
        assert index.count({"band_gpa": {"$gt": 2}}) == 0
    with pytest.warns(UnknownFieldWarning, match="'calc.encut'"):
        assert list(index.query({"$or": [{"calc.encutt": 1}, {"nsites": -1}]})) == []
    with pytest.warns(UnknownFieldWarning, match="'formula'"):
        assert len(index.query_df({"formla": "Si"}, fields=["formula"])) == 0


def test_known_fields_and_positions_do_not_warn(index):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownFieldWarning)
        index.count({"elements.0": "Fe", "calc.encut": 520, "_id": {"$exists": True}})
        list(index.query({"nsites": {"$lt": 2}}, ["formula", "calc"]))
        index.count({"elements": {"$elemMatch": {"$eq": "Fe"}}})
        assert index.last_updated is not None  # the package's own queries: never


def test_a_field_only_some_entries_have_is_found_by_the_probe(fresh_index):
    index = fresh_index
    index.update([{"task_id": "z", "rare_field": 1}])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownFieldWarning)
        assert index.count({"rare_field": 2}) == 0  # empty, but the field exists


def test_results_that_are_not_empty_are_not_checked(index):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownFieldWarning)
        assert index.count({"band_gpa": {"$exists": False}}) == 300  # legal, and found some
        assert len(list(index.query({"band_gpa": None}, limit=3))) == 3


def test_a_field_no_entry_has_warns_even_without_a_close_name(index):
    with pytest.warns(UnknownFieldWarning, match="no entry has it"):
        index.count({"zzzzqqq": 1})


# ------------------------------------------------------------ S3Store: from its index

def test_s3store_answers_from_its_index(store):
    from tests.stores.test_s3store import material

    store.update([material(i) for i in range(12)])
    frame = facets(store, "formula")
    assert frame.attrs["complete"] and frame["count"].sum() == 12
    assert frame.attrs["index"] == store.index.name
    si = store.count({"formula": "Si"})
    assert store.estimate_count({"formula": "Si"}, max_time=None).count == si
    assert store.count({"formula": "Si"}, max_time=30) == store.count({"formula": "Si"})
    with pytest.warns(UnknownFieldWarning, match="did you mean 'band_gap'"):
        list(store.query({"band_gpa": 1}))
    with pytest.warns(UnknownFieldWarning, match="did you mean 'band_gap'"):
        store.count({"band_gpa": 1})


def test_values_below_arrays_of_documents_count_one_by_one(fresh_index):
    index = fresh_index
    index.update([{"task_id": "s1", "sites": [{"el": "A"}, {"el": "B"}]},
                  {"task_id": "s2", "sites": [{"el": "A"}]}])
    assert rows(facets(index, "sites.el")) == [("A", 2), ("B", 1)]


def test_an_empty_store_gives_no_hints_until_it_has_entries():
    store = make_index("duckdb", "empty", None)
    store.connect()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownFieldWarning)
        assert store.count({"anything": 1}) == 0
    store.update(entries(3))
    with pytest.warns(UnknownFieldWarning, match="did you mean 'nsites'"):
        store.count({"nsite": 1})
