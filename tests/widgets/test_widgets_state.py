"""Pure widget state: filter parsing, page arithmetic, sort order (no widgets, no I/O)."""

from __future__ import annotations

import pytest

from s3explore import ConfigurationError, QueryError
from s3explore.widgets._filters import combine, parse_filter
from s3explore.widgets._state import Pager, SortState

# ---------------------------------------------------------------- filters


@pytest.mark.parametrize("text", [None, "", "   "])
def test_empty_filter_is_no_criteria(text):
    assert parse_filter(text) == {}


@pytest.mark.parametrize(("op", "mongo"), [("==", None), ("=", None), ("!=", "$ne"),
                                           (">", "$gt"), (">=", "$gte"), ("<", "$lt"),
                                           ("<=", "$lte")])
def test_simple_form_operators(op, mongo):
    expected = 10 if mongo is None else {mongo: 10}
    assert parse_filter(f"nsites {op} 10") == {"nsites": expected}
    assert parse_filter(f"nsites{op}10") == {"nsites": expected}


@pytest.mark.parametrize(("value", "parsed"), [
    ("10", 10), ("-3", -3), ("2.5", 2.5), ("-1e-3", -0.001), (".5", 0.5),
    ('"Fe2O3"', "Fe2O3"), ("'Fe2O3'", "Fe2O3"), ("Fe2O3", "Fe2O3"), ('"a \\"b\\" c"', 'a "b" c'),
    ('"two words"', "two words"), ("true", True), ("False", False), ("null", None),
    ('"10"', "10"),
])
def test_simple_form_values(value, parsed):
    criteria = parse_filter(f"x == {value}")
    assert criteria == {"x": parsed}
    assert type(criteria["x"]) is type(parsed)


def test_clauses_join_with_and_and_merge_per_field():
    assert parse_filter('nsites > 2 AND nsites <= 8 and formula == "NaCl"') == {
        "nsites": {"$gt": 2, "$lte": 8}, "formula": "NaCl"}
    assert parse_filter("calc.encut >= 520 && is_stable == true") == {
        "calc.encut": {"$gte": 520}, "is_stable": True}


def test_repeated_operator_on_one_field_becomes_and():
    assert parse_filter("x != 1 and x != 2") == {"$and": [{"x": {"$ne": 1}}, {"x": {"$ne": 2}}]}


def test_equality_merged_with_another_operator_keeps_eq():
    assert parse_filter("x == 3 and x != 4") == {"x": {"$eq": 3, "$ne": 4}}


def test_json_and_python_literal_filters():
    assert parse_filter('{"nsites": {"$gt": 10}}') == {"nsites": {"$gt": 10}}
    assert parse_filter("{'formula': {'$in': ['NaCl', 'MgO']}, 'ok': True}") == {
        "formula": {"$in": ["NaCl", "MgO"]}, "ok": True}


@pytest.mark.parametrize(("text", "says"), [
    ("nsites >", "expected a value for 'nsites', found nothing"),
    ("nsites > 10 and", "ends with 'and'"),
    ("nsites > 10 nsites < 3", "expected 'and' between clauses, found 'nsites' at character 13"),
    ("nsites > 10 or nsites < 3", "$or"),
    ("> 10", "expected a field name, found '>' at character 1"),
    ('{"nsites": ', "not valid JSON: 1 bracket(s) opened but not closed; add '}' at the end"),
    # the token the user typed, not what a regular expression happened to match
    ("band_gap => 2", "'=>' at character 10 is not an operator; did you mean '>='?"),
    ("band_gap =< 2", "did you mean '<='?"),
    ("nsites <> 2", "did you mean '!='?"),
    ("nsites 3", "expected an operator after 'nsites', found '3' at character 8"),
    ('{"nsites": {"$gt": 10}', "add '}' at the end"),
    ('{"a": [1, 2}', "'}' at character 12 closes a '['; add ']' before it"),
    ('{"a": [1, {"b": 2}]', "add '}' at the end"),
    ('{"a": 1,, "b": 2}', "at character 9, before ', \"b\": 2}'"),
    ('formula == "NaCl', "the string starting at character 12 is not closed"),
    ("formula in NaCl", "'formula in' takes a list such as [2, 4]"),
    ("formula in [NaCl, MgO", "expected ',' or ']' in the list of 'formula'"),
    ("formula in [NaCl MgO]", "expected ',' or ']' in the list of 'formula', found 'MgO'"),
    ("formula in [NaCl,]", "expected a value in the list of 'formula', found ']'"),
    ("{1, 2}", "must be an object"),
    ('{"a": 1} extra', "not valid JSON"),
])
def test_bad_filters_say_what_is_wrong(text, says):
    with pytest.raises(QueryError) as info:
        parse_filter(text)
    assert says in str(info.value)


@pytest.mark.parametrize(("text", "expected"), [
    ("formula in [Fe2O3, NaCl]", {"formula": {"$in": ["Fe2O3", "NaCl"]}}),
    ('formula in ["Na Cl", \'Mg O\', 3, true]', {"formula": {"$in": ["Na Cl", "Mg O", 3, True]}}),
    ("nsites IN [1,2] and formula not in [NaCl]",
     {"nsites": {"$in": [1, 2]}, "formula": {"$nin": ["NaCl"]}}),
    ("nsites in [] ", {"nsites": {"$in": []}}),
    ("nsites > 2 and nsites in [3, 4]", {"nsites": {"$gt": 2, "$in": [3, 4]}}),
])
def test_in_and_not_in_lists(text, expected):
    assert parse_filter(text) == expected


def test_refused_operators_are_named_plainly():
    """No Python list repr: the operator, why, and what to use instead."""
    with pytest.raises(QueryError) as info:
        parse_filter('{"$where": "sleep(100) || true"}')
    message = str(info.value)
    assert message.startswith("the filter box does not support the operator $where (it runs "
                              "code on the database server); use one of $all, $and,")
    assert "[" not in message


def test_filter_must_be_text():
    with pytest.raises(QueryError, match="must be text"):
        parse_filter(42)


def test_combine_criteria():
    assert combine(None, {"a": 1}) == {"a": 1}
    assert combine({"a": 1}, {}) == {"a": 1}
    assert combine({"a": 1}, {"b": 2}) == {"$and": [{"a": 1}, {"b": 2}]}


# ---------------------------------------------------------------- pages


@pytest.mark.parametrize(("total", "size", "pages"), [(0, 25, 1), (1, 25, 1), (25, 25, 1),
                                                      (26, 25, 2), (100, 10, 10), (101, 10, 11)])
def test_page_count(total, size, pages):
    assert Pager(total, size).page_count == pages


def test_rows_of_a_page():
    pager = Pager(60, 25, 3)
    assert (pager.skip, pager.limit) == (50, 25)
    assert (pager.first_row, pager.last_row) == (51, 60)
    assert pager.has_prev and not pager.has_next
    assert pager.describe() == "rows 51\u201360 of 60 \u00b7 page 3 of 3"


def test_empty_result_has_one_empty_page():
    pager = Pager(0, 25)
    assert (pager.first_row, pager.last_row, pager.page_count) == (0, 0, 1)
    assert not pager.has_next and not pager.has_prev
    assert pager.describe() == "no rows"


def test_moving_stays_in_range():
    pager = Pager(60, 25)
    assert pager.prev().page == 1
    assert pager.next().next().next().page == 3
    assert pager.go(99).page == 3
    assert pager.go(-4).page == 1


def test_smaller_total_clamps_the_page():
    assert Pager(300, 25, 12).with_total(40).page == 2
    assert Pager(300, 25, 12).with_total(0).page == 1


def test_new_page_size_keeps_the_first_row_in_view():
    pager = Pager(300, 25, 5)  # rows 101-125
    bigger = pager.with_page_size(100)
    assert bigger.page == 2 and bigger.first_row <= 101 <= bigger.last_row
    smaller = pager.with_page_size(10)
    assert smaller.first_row == 101


@pytest.mark.parametrize("size", [0, -1, True, 2.5, "25", None])
def test_bad_page_size(size):
    with pytest.raises(ConfigurationError, match="page_size"):
        Pager(10, size)
    with pytest.raises(ConfigurationError, match="page_size"):
        Pager(10).with_page_size(size)


def test_bad_total_or_page():
    with pytest.raises(ConfigurationError, match="total"):
        Pager(-1)
    with pytest.raises(ConfigurationError, match="page"):
        Pager(10, 5, 1.5)


# ---------------------------------------------------------------- sort


def test_header_clicks_cycle_ascending_descending_none():
    sort = SortState()
    assert sort.as_sort() is None
    sort = sort.toggle("nsites")
    assert sort.as_sort() == {"nsites": 1} and sort.direction("nsites") == 1
    sort = sort.toggle("nsites")
    assert sort.as_sort() == {"nsites": -1}
    assert sort.toggle("nsites").as_sort() is None
    assert sort.toggle("formula").as_sort() == {"formula": 1}
    assert sort.direction("other") is None


def test_key_breaks_ties_so_pages_do_not_overlap():
    assert SortState.from_sort({"nsites": -1}).as_sort("task_id") == {"nsites": -1, "task_id": 1}
    assert SortState.from_sort({"task_id": -1}).as_sort("task_id") == {"task_id": -1}


@pytest.mark.parametrize("sort", [{"a": 2}, {"a": True}, ["a"], "a"])
def test_bad_sort(sort):
    with pytest.raises(ConfigurationError, match="sort"):
        SortState.from_sort(sort)


def test_widgets_refuse_what_is_not_a_store_they_can_use():
    from s3explore import ConfigurationError, MemoryStore
    from s3explore.widgets import DocumentViewer, IndexBrowser, UploadWidget

    with pytest.raises(ConfigurationError, match="IndexBrowser needs a store"):
        IndexBrowser("mongodb://somewhere")
    with pytest.raises(ConfigurationError, match="DocumentViewer needs a store.*got int"):
        DocumentViewer(42)
    with pytest.raises(ConfigurationError, match="UploadWidget needs an S3Store, got MemoryStore"):
        UploadWidget(MemoryStore("index-only"), [{"task_id": "a"}])
