"""The frames layer's errors: unknown fields, bad criteria and arguments."""

from __future__ import annotations

import re

import pytest

from s3explore import ConfigurationError, MongoStore, QueryError
from s3explore._checks import ArgumentError

# ---------------------------------------------------------------- bad input


def test_unknown_field_is_named_with_close_matches(index):
    with pytest.raises(QueryError, match=r"unknown field 'nsite'.*did you mean \['nsites'"):
        index.query_df(fields=["nsite"])


def test_unknown_field_on_an_empty_result_is_still_unknown(memory):
    with pytest.raises(QueryError, match="unknown field 'bnad_gap'"):
        memory.query_df({"nsites": {"$gt": 1000}}, fields=["bnad_gap"])


def test_unknown_field_in_exports(memory, tmp_path):
    with pytest.raises(QueryError, match="unknown field 'xyz'"):
        memory.to_arrow(fields=["xyz"])
    with pytest.raises(QueryError, match="unknown field 'xyz'"):
        memory.to_parquet(tmp_path / "x.parquet", fields=["xyz"])
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("criteria", "match"),
    [
        ("nsites > 2", "criteria must be a dict"),
        ({"$and": {"nsites": 2}}, r"\$and takes a non-empty list"),
        ({"$or": []}, r"\$or takes a non-empty list"),
        ({"nsites": {"$gt": 1, "foo": 2}}, "mix operators and field names"),
        ({"formula": {"$in": "Si"}}, r"\$in on 'formula' takes a list"),
        ({"$or": [{"x": {"$nin": 3}}]}, r"\$nin on 'x' takes a list"),
        ({"nsites": {"$gtx": 1}}, r"does not support the operator\(s\) \['\$gtx'\]"),
        ({"$where": "this.nsites > 1"}, r"\['\$where'\]"),
    ],
)
def test_malformed_or_unsupported_criteria(index, criteria, match):
    if isinstance(index, MongoStore) and ("$where" in criteria or "$gtx" in str(criteria)):
        # a server decides which operators it knows, and says so its own way: MongoDB and
        # FerretDB answer "unknown operator: $gtx"; FerretDB has no $where at all ("unknown
        # top level operator"), where MongoDB runs its JavaScript
        if "$where" in criteria and not index._ferretdb:
            assert len(index.query_df(criteria)) == 5
            return
        match = r"rejected the query: unknown (top level )?operator: \$(gtx|where)"
    with pytest.raises(QueryError, match=match):
        index.query_df(criteria)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"fields": ["formula", 3]}, QueryError, "holds 3, which is not a field name"),
        ({"fields": ["a..b"]}, QueryError, "'a..b'"),
        ({"fields": 5}, QueryError, "fields must be a list"),
        ({"fields": ["$x"]}, QueryError, "not a field name"),
        ({"sort": {"nsites": 2}}, QueryError, "sort direction"),
        ({"skip": -1}, QueryError, "skip"),
        ({"limit": 1.5}, QueryError, "limit"),
        ({"batch_size": 0}, ConfigurationError, "batch_size"),
    ],
)
def test_bad_arguments(memory, kwargs, error, match):
    with pytest.raises(error, match=match):
        memory.query_df(**kwargs)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "100"])
def test_whole_number_settings_raise_the_shared_argument_error(memory, tmp_path, bad):
    """batch_size, sample and part_size: one ArgumentError (a ConfigurationError as for any
    option, and a QueryError as for skip and limit), naming the setting and the value."""
    calls = [("batch_size", lambda: memory.query_df(batch_size=bad)),
             ("batch_size", lambda: memory.to_arrow(batch_size=bad)),
             ("sample", lambda: memory.fields(sample=bad)),
             ("part_size", lambda: memory.to_parquet(tmp_path / "x.parquet", fetch=["a"],
                                                     part_size=bad))]
    for name, call in calls:
        with pytest.raises(ArgumentError, match=rf"{name} must be a whole number >= 1, "
                                                rf"got {re.escape(repr(bad))}") as caught:
            call()
        assert isinstance(caught.value, ConfigurationError)
        assert isinstance(caught.value, QueryError)


def test_unsupported_operator_on_s3store_index(store):
    with pytest.raises(QueryError, match=r"\$text"):
        store.query_df({"$text": {"$search": "Si"}})


