"""key_aliases: the other-typed key values that name the same object."""

from __future__ import annotations

import enum

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3explore import _codec as codec
from s3explore._errors import InvalidKeyError


@pytest.mark.parametrize(
    ("value", "aliases"),
    [
        (1, ["1"]),
        ("1", [1]),
        (0, ["0"]),
        ("0", [0]),
        (-7, ["-7"]),
        ("-7", [-7]),
        ("01", []),
        ("-0", []),
        ("+1", []),
        (" 1", []),
        ("1_000", []),
        ("1.0", []),
        ("1e3", []),
        ("\u0661", []),  # an Arabic-Indic digit: int() reads it, but the object key differs
        ("mp-1", []),
        ("a/1", []),
        ("9223372036854775807", [2**63 - 1]),
        ("-9223372036854775808", [-(2**63)]),
        ("9223372036854775808", []),  # beyond int64: no index can hold the integer
        (2**63, [str(2**63)]),
    ],
)
def test_aliases(value, aliases):
    assert codec.key_aliases(value, "task_id") == aliases
    assert all(type(a) is not type(value) for a in aliases)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "'task_id' must be a string or an integer, got bool"),
        (False, "got bool"),
        (1.0, "got float 1.0"),
        (1.5, "got float"),
        (None, "got NoneType"),
        ("", "empty"),
        ("/a", "starts with '/'"),
        pytest.param(10**1024, "over 1024 digits", id="1025-digits"),
        # str() alone would raise a bare ValueError (Python's 4300-digit limit)
        pytest.param(-(10**5000), "over 1024 digits", id="5001-digits"),
    ],
)
def test_what_is_not_a_key_is_refused(value, message):
    with pytest.raises(InvalidKeyError, match=message):
        codec.key_aliases(value, "task_id")


def test_int_subclass_names_its_decimal_form():
    class Level(enum.IntEnum):
        HIGH = 3

    assert codec.key_aliases(Level.HIGH) == ["3"]


def _fits_an_index(value: object) -> bool:
    return codec.INDEX_INT_MIN <= int(value) <= codec.INDEX_INT_MAX


@given(st.one_of(st.integers(), st.integers().map(str), st.text(min_size=1, max_size=30)))
def test_aliases_name_the_same_object_key(value):
    try:
        text = codec.key_string(value, "k")
    except InvalidKeyError:
        return  # not a key: key_aliases refuses it too (tested above)
    aliases = codec.key_aliases(value, "k")
    digits = text.removeprefix("-")
    canonical_decimal = digits.isascii() and digits.isdigit() and str(int(text)) == text
    if isinstance(value, int):
        assert aliases == [text]  # an integer always has its string twin
    elif canonical_decimal and _fits_an_index(text):
        assert aliases == [int(text)]
    else:
        assert aliases == []
    for alias in aliases:
        assert codec.key_string(alias, "k") == text  # one object key
        if _fits_an_index(text):
            assert codec.key_aliases(alias, "k") == [value]  # symmetric within int64
