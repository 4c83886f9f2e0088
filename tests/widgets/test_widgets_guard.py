"""Filter text from a widget: allowed operators only, bounded size, safe regexes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3explore import QueryError
from s3explore.widgets._filters import parse_filter
from s3explore.widgets._guard import (
    ALLOWED_OPERATORS,
    MAX_CLAUSES,
    MAX_DEPTH,
    MAX_FILTER_CHARS,
    check_filter_criteria,
)


@pytest.mark.parametrize("operator", ["$where", "$function", "$accumulator", "$expr",
                                      "$jsonSchema", "$text", "$lookup", "$madeup"])
def test_operators_outside_the_allow_list_are_refused(operator):
    text = json.dumps({"nsites": {operator: "sleep(1000)"}})
    with pytest.raises(QueryError, match=rf"does not support the operator \{operator}\b"):
        parse_filter(text)
    top = json.dumps({operator: "this.nsites > 1"})
    with pytest.raises(QueryError, match=r"; use one of \$all, \$and, "):
        parse_filter(top)


def test_refused_operator_deep_inside_and_or_is_found():
    text = '{"$or": [{"a": 1}, {"$and": [{"b": {"$not": {"$where": "1"}}}]}]}'
    with pytest.raises(QueryError, match=r"operator \$where \(under \$or\.\$and\.b\.\$not\)"):
        parse_filter(text)


def test_every_allowed_operator_passes():
    criteria = {
        "$and": [{"a": {"$eq": 1, "$ne": 2, "$gt": 0, "$gte": 0, "$lt": 9, "$lte": 9}},
                 {"b": {"$in": [1], "$nin": [2], "$exists": True}}],
        "$or": [{"c": {"$regex": "^Fe", "$options": "i"}}, {"d": {"$not": {"$size": 2}}}],
        "$nor": [{"e": {"$all": [1]}}, {"f": {"$elemMatch": {"g": {"$type": "int"}}}}],
        "h": {"$mod": [2, 0]},
    }
    seen = set(json.dumps(criteria).replace('"', " ").split()) & ALLOWED_OPERATORS
    assert seen == ALLOWED_OPERATORS  # the example really uses each of them
    assert parse_filter(json.dumps(criteria)) == criteria


def test_python_single_quoted_filters_are_checked_the_same_way():
    assert parse_filter("{'nsites': {'$gt': 10}}") == {"nsites": {"$gt": 10}}
    with pytest.raises(QueryError, match="does not support"):
        parse_filter("{'$where': 'True'}")


def test_too_long_text_is_refused_before_parsing():
    text = '{"a": "' + "x" * MAX_FILTER_CHARS + '"}'
    with pytest.raises(QueryError, match=f"at most {MAX_FILTER_CHARS:,}"):
        parse_filter(text)


@pytest.mark.parametrize("text", [
    "[" * 5000 + "]" * 5000,
    '{"a": ' * 1200 + "1" + "}" * 1200,
    "{'a': " + "(" * 4000 + "1" + ")" * 4000 + "}",
    '{"a": ' + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "}",
])
def test_deep_nesting_is_an_error_not_a_recursion_error(text):
    with pytest.raises(QueryError, match="nests .* deep"):
        parse_filter(text)


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = json.dumps({"formula": "[" * 100 + "{(" * 50})
    assert parse_filter(text) == {"formula": "[" * 100 + "{(" * 50}


def test_depth_is_also_checked_on_the_parsed_criteria():
    deep: dict = {"a": 1}
    for _ in range(MAX_DEPTH + 2):
        deep = {"$and": [deep]}
    with pytest.raises(QueryError, match=f"more than {MAX_DEPTH} levels"):
        check_filter_criteria(deep)


def test_too_many_clauses():
    many = {f"f{i}": i for i in range(MAX_CLAUSES + 1)}
    with pytest.raises(QueryError, match=f"more than {MAX_CLAUSES} conditions"):
        parse_filter(json.dumps(many))
    simple = " and ".join(f"f{i} > {i}" for i in range(MAX_CLAUSES + 1))
    with pytest.raises(QueryError, match=f"more than {MAX_CLAUSES} conditions"):
        parse_filter(simple)
    assert len(parse_filter(json.dumps(dict(list(many.items())[:MAX_CLAUSES])))) == MAX_CLAUSES


@pytest.mark.parametrize("pattern", ["((", "*", "a{2,1}", "[z-a]", "(?P<x>a)(?P<x>b)"])
def test_bad_regex_is_an_inline_error(pattern):
    with pytest.raises(QueryError, match="is not a valid regular expression"):
        parse_filter(json.dumps({"formula": {"$regex": pattern}}))


@pytest.mark.parametrize("pattern", [
    "^(a+)+$", "(a*)*", "(a*b?)*c", r"^(\w+\s?)*$", "(x{2,}y?)+", "((ab)*c)*", "(?:a+){2,5}",
    "(?=(a+)+)b", "x(a|b+)*",
])
def test_nested_quantifiers_are_refused(pattern):
    with pytest.raises(QueryError, match="repeats a part that itself repeats"):
        parse_filter(json.dumps({"formula": {"$regex": pattern}}))


@pytest.mark.parametrize("pattern", ["^Fe", "O3$", "(ab)+", "(a+)?", "a{2}(bc)*", "[+*]+",
                                     r"(\d+)x", "(a|b)*", "(a+){1}"])
def test_ordinary_regexes_pass(pattern):
    criteria = {"formula": {"$regex": pattern}}
    assert parse_filter(json.dumps(criteria)) == criteria


def test_regex_options_and_types():
    with pytest.raises(QueryError, match=r"\$options .* must be letters from imsx"):
        parse_filter('{"formula": {"$regex": "fe", "$options": "iq"}}')
    with pytest.raises(QueryError, match="must be a string pattern"):
        parse_filter('{"formula": {"$regex": 3}}')
    # with x (verbose), whitespace is ignored, so this is a+ twice nested
    with pytest.raises(QueryError, match="repeats a part"):
        parse_filter('{"f": {"$regex": "( a + ) +", "$options": "x"}}')
    assert parse_filter('{"f": {"$regex": "( a + ) +"}}')  # literal spaces: no nesting


def test_values_a_filter_cannot_hold():
    with pytest.raises(QueryError, match="got set"):
        parse_filter("{'a': {1, 2}}")
    with pytest.raises(QueryError, match="field names in a filter must be text"):
        parse_filter("{1: 2}")


def test_numbers_past_the_digit_limit_are_query_errors():
    with pytest.raises(QueryError, match="cannot read"):
        parse_filter('{"a": ' + "9" * 5000 + "}")
    with pytest.raises(QueryError, match="cannot read the value"):
        parse_filter("a > " + "9" * 5000)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('{}[]()"\'$:,. <>=!aw1\\-e')), max_size=80))
def test_any_text_gives_criteria_or_a_query_error(text):
    try:
        criteria = parse_filter(text)
    except QueryError:
        return
    assert isinstance(criteria, dict)
    check_filter_criteria(criteria)  # whatever parses is within the limits
