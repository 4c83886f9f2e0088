"""Limits on criteria typed into a widget, checked before anything reaches the index.

Text from a filter box is untrusted: ``$where``/``$function``/``$accumulator`` run code on
MongoDB (and ``$where`` is evaluated by Python in mongomock), ``$expr`` opens the aggregation
language, a deep or huge filter can exhaust the parser, and a regex with nested quantifiers
can backtrack for hours in the embedded index (it evaluates ``$regex`` with Python's ``re``).
So a filter from a widget may only use the operators in ``ALLOWED_OPERATORS`` and must stay
within the bounds below. Python callers passing criteria to a store are not limited here.

Catastrophic regexes are caught by one structural rule: a quantifier that can repeat
(``*``, ``+``, ``{n,m}`` with m > 1) applied to something that itself holds such a quantifier,
as in ``(a+)+``, ``(a*b?)*`` or ``(\\w+\\s?)*$``. It does not detect every slow pattern
(overlapping alternatives such as ``(a|a)*`` pass) but it refuses the classic ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from s3explore._errors import QueryError

try:  # the parser ``re`` itself uses; parsing only, after ``re.compile`` accepted the pattern
    from re import _constants as _sre_constants  # type: ignore[attr-defined]
    from re import _parser as _sre_parser  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_constants as _sre_constants  # type: ignore[no-redef]
    import sre_parse as _sre_parser  # type: ignore[no-redef]

ALLOWED_OPERATORS = frozenset(
    "$eq $ne $gt $gte $lt $lte $in $nin $exists $regex $options $and $or $nor $not $size "
    "$all $elemMatch $type $mod".split()
)
MAX_FILTER_CHARS = 10_000
MAX_DEPTH = 20
MAX_CLAUSES = 100
REGEX_OPTIONS = frozenset("imxs")

_REPEATS = {_sre_constants.MAX_REPEAT, _sre_constants.MIN_REPEAT}
_REPEATS |= {getattr(_sre_constants, "POSSESSIVE_REPEAT", _sre_constants.MAX_REPEAT)}
_SCALARS = (str, int, float, bool, type(None))


def check_filter_text(text: str) -> None:
    """Refuse text too long to be a filter, or nested deeper than ``MAX_DEPTH`` brackets,
    before any parser sees it (deep nesting makes ``json``/``ast`` raise RecursionError)."""
    if len(text) > MAX_FILTER_CHARS:
        raise QueryError(f"the filter is {len(text):,} characters long; a filter typed in the "
                         f"box may have at most {MAX_FILTER_CHARS:,} (pass bigger criteria "
                         "from Python: IndexBrowser(store, criteria={...}))")
    depth = deepest = 0
    quote = ""
    escaped = False
    for char in text:
        if quote:  # brackets inside strings do not nest
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "{[(":
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
            raise QueryError(
                f"the filter box does not support the operator(s) [{key!r}]"
                f"{_at(path)}; allowed: {' '.join(sorted(ALLOWED_OPERATORS))}"
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
    """A ``$regex`` value must compile with Python's ``re`` and have no nested quantifiers."""
    if not isinstance(pattern, str):
        raise QueryError(f"$regex{_at(path)} must be a string pattern, got "
                         f"{type(pattern).__name__}")
    flags = re.VERBOSE if "x" in options else 0  # the only option that changes parsing
    try:
        re.compile(pattern, flags)
        parsed = _sre_parser.parse(pattern, flags)
    except (re.error, OverflowError, RecursionError) as exc:
        raise QueryError(f"$regex{_at(path)} {pattern!r:.60} is not a valid regular "
                         f"expression: {exc}") from None
    if _nested_quantifier(parsed):
        raise QueryError(
            f"$regex{_at(path)} {pattern!r:.60} repeats a part that itself repeats (nested "
            "quantifiers such as (a+)+ can take exponential time), so the filter box refuses "
            "it; rewrite it without the nesting, e.g. '^a+$' instead of '^(a+)+$'"
        )


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


def _nested_quantifier(parsed: Any) -> bool:
    """True when a repeat that can match more than once holds another such repeat."""
    for op, av in parsed:
        if op in _REPEATS:
            _, high, body = av
            if _unbounded(high) and _has_repeat(body):
                return True
            if _nested_quantifier(body):
                return True
        elif any(_nested_quantifier(sub) for sub in _subpatterns(op, av)):
            return True
    return False


def _has_repeat(parsed: Any) -> bool:
    for op, av in parsed:
        if op in _REPEATS:
            _, high, body = av
            if _unbounded(high) or _has_repeat(body):
                return True
        elif any(_has_repeat(sub) for sub in _subpatterns(op, av)):
            return True
    return False


def _unbounded(high: Any) -> bool:
    """Can match more than once: ``*``, ``+``, ``{2,}``, ``{0,5}`` (not ``?`` or ``{1}``)."""
    return high is _sre_constants.MAXREPEAT or high > 1


def _subpatterns(op: Any, av: Any) -> Iterator[Any]:
    """The sub-patterns inside a group, a branch, a lookaround or a conditional."""
    if op is _sre_constants.SUBPATTERN:
        yield av[-1]
    elif op is _sre_constants.BRANCH:
        yield from av[1]
    elif op in (_sre_constants.ASSERT, _sre_constants.ASSERT_NOT):
        yield av[1]
    elif op is _sre_constants.GROUPREF_EXISTS:
        yield from (sub for sub in av[1:] if sub is not None)
    elif op is getattr(_sre_constants, "ATOMIC_GROUP", None):
        yield av
