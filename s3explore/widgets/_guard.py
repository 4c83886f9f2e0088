"""Limits on criteria typed into a widget, checked before anything reaches the index.

Text from a filter box is untrusted: ``$where``/``$function``/``$accumulator`` run code on
MongoDB (and ``$where`` is evaluated by Python in mongomock), ``$expr`` opens the aggregation
language, a deep or huge filter can exhaust the parser, and a regex with nested quantifiers
can backtrack for hours in the embedded index (it evaluates ``$regex`` with Python's ``re``).
So a filter from a widget may only use the operators in ``ALLOWED_OPERATORS`` and must stay
within the bounds below. Python callers passing criteria to a store are not limited here.

A ``$regex`` goes through the same check as every store's API (``s3explore._query.
check_regex``: it compiles, is bounded in length and has no nested quantifier such as
``(a+)+``); see ``s3explore._query`` for what that rule refuses and what it cannot prove.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from s3explore import _query
from s3explore._errors import QueryError
from s3explore._query import MAX_REGEX_CHARS, REGEX_OPTIONS  # noqa: F401 -- the box's limits

ALLOWED_OPERATORS = frozenset(
    "$eq $ne $gt $gte $lt $lte $in $nin $exists $regex $options $and $or $nor $not $size "
    "$all $elemMatch $type $mod".split()
)
# Why the operators a user is most likely to try are refused.
_REFUSED_WHY = {op: " (it runs code on the database server)"
                for op in ("$where", "$function", "$accumulator")}
_REFUSED_WHY["$expr"] = " (it opens the aggregation language)"
MAX_FILTER_CHARS = 10_000
MAX_DEPTH = 20
MAX_CLAUSES = 100
_SCALARS = (str, int, float, bool, type(None))


def outside_strings(text: str) -> Iterator[tuple[int, str]]:
    """``(offset, character)`` of each character of ``text`` outside quoted strings (and
    not a quote itself): where brackets count."""
    quote, escaped = "", False
    for offset, char in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        else:
            yield offset, char


def check_filter_text(text: str) -> None:
    """Refuse text too long to be a filter, or nested deeper than ``MAX_DEPTH`` brackets,
    before any parser sees it (deep nesting makes ``json``/``ast`` raise RecursionError)."""
    if len(text) > MAX_FILTER_CHARS:
        raise QueryError(f"the filter is {len(text):,} characters long; a filter typed in the "
                         f"box may have at most {MAX_FILTER_CHARS:,} (pass bigger criteria "
                         "from Python: IndexBrowser(store, criteria={...}))")
    depth = deepest = 0
    for _, char in outside_strings(text):  # brackets inside strings do not nest
        if char in "{[(":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "}])":
            depth -= 1
    if deepest > MAX_DEPTH:
        raise QueryError(f"the filter nests {deepest} levels deep; at most {MAX_DEPTH} are "
                         "allowed in the filter box")


def check_filter_criteria(criteria: Mapping) -> dict:
    """``criteria`` if every operator is allowed and it stays within the limits; else a
    QueryError naming the first thing at fault."""
    clauses = 0
    for path, parent, key, value in _entries(criteria, (), 1):
        clauses += 1
        if clauses > MAX_CLAUSES:
            raise QueryError(f"the filter has more than {MAX_CLAUSES} conditions; narrow it, or "
                             "pass bigger criteria from Python")
        if not key.startswith("$"):
            continue
        if key not in ALLOWED_OPERATORS:
            why = _REFUSED_WHY.get(key, "")
            raise QueryError(
                f"the filter box does not support the operator {key}{_at(path)}{why}; use "
                f"one of {', '.join(sorted(ALLOWED_OPERATORS))}"
            )
        if key == "$options":
            if not isinstance(value, str) or not set(value) <= REGEX_OPTIONS:
                raise QueryError(f"$options{_at(path)} must be letters from "
                                 f"{''.join(sorted(REGEX_OPTIONS))}, got {value!r:.40}")
        elif key == "$regex":
            options = parent.get("$options", "")
            check_regex(value, options if isinstance(options, str) else "", path)
    return dict(criteria)


def check_regex(pattern: Any, options: str = "", path: tuple[str, ...] = ()) -> None:
    """A ``$regex`` value must pass the API's check (it compiles, is not too long and has no
    nested quantifiers), worded for the filter box."""
    _query.check_regex(pattern, path[-1] if path else "", options, where=_at(path),
                       refused_by="the filter box")


def _entries(value: Any, path: tuple[str, ...], depth: int) -> Iterator[tuple]:
    """Every (path, mapping, key, value) in ``value``, checking depth and types."""
    if depth > MAX_DEPTH:
        raise QueryError(f"the filter nests more than {MAX_DEPTH} levels deep{_at(path)}")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise QueryError(f"field names in a filter must be text, got {key!r:.40}"
                                 f"{_at(path)}")
            yield path, value, key, item
            yield from _entries(item, (*path, key), depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _entries(item, path, depth + 1)
    elif not isinstance(value, _SCALARS):
        raise QueryError(f"a filter holds text, numbers, true/false/null, lists and objects; "
                         f"got {type(value).__name__}{_at(path)}")


def _at(path: tuple[str, ...]) -> str:
    return f" (under {'.'.join(path)})" if path else ""
