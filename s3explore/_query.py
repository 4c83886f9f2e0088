"""Queries, validated once: criteria, projections, sorts and paging, and dotted-path helpers.

Pure: every store's public methods run their arguments through these checks before a backend
sees them, so a malformed query fails the same way everywhere, naming what is wrong.

Regexes (``$regex``, and compiled patterns used as values, in ``$in``/``$all`` or under
``$not``) must compile, be at most ``MAX_REGEX_CHARS`` long and have no nested quantifier:
mongomock and montydb (and DuckDB's fallback for what RE2 cannot run) evaluate them with
Python's backtracking ``re``, which cannot be interrupted, not even by Ctrl-C. The one
structural rule refuses a quantifier that can repeat (``*``, ``+``, ``{n,m}`` with m > 1)
applied to something that itself holds such a quantifier, as in ``(a+)+``, ``(a*b?)*`` or
``(\\w+\\s?)*$``: the classic exponential patterns. It cannot prove a pattern fast: it lets
through overlapping alternatives under one repeat (``(a|aa)*$``, exponential) and chains of
unbounded repeats (``.*a.*a.*a.*b``, polynomial in the value's length). The rule is applied
to every store alike, so a query behaves the same everywhere; MongoDB (PCRE, also
backtracking) gets a server-side time limit on top (``MongoStore(max_time_ms=...)``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from s3explore import _checks
from s3explore._errors import QueryError

try:  # the parser ``re`` itself uses; parsing only, after ``re.compile`` accepted the pattern
    from re import _constants as _sre_constants  # type: ignore[attr-defined]
    from re import _parser as _sre_parser  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_constants as _sre_constants  # type: ignore[no-redef]
    import sre_parse as _sre_parser  # type: ignore[no-redef]

Properties = list[str] | Mapping[str, Any] | str | None
SortSpec = Mapping[str, Any] | None

MAX_DEPTH = 64  # nesting of criteria; Python recursion and every engine's parser stay safe
INT64 = (-(2**63), 2**63 - 1)
MAX_REGEX_CHARS = 1000  # bounds the work one pattern can describe; use $in for value lists
REGEX_OPTIONS = frozenset("imxs")
_LOGICAL = frozenset({"$and", "$or", "$nor"})
_TAKES_LIST = frozenset({"$in", "$nin", "$all"})
_MISSING = object()


@dataclass(frozen=True)
class Query:
    """A validated query, as backends receive it."""

    criteria: dict
    properties: list[str] | None = None
    sort: list[tuple[str, int]] | None = None
    skip: int = 0
    limit: int = 0  # 0: no limit

    @classmethod
    def build(cls, criteria: Any = None, properties: Properties = None, sort: SortSpec = None,
              skip: Any = 0, limit: Any = 0) -> Query:
        return cls(check_criteria(criteria), check_fields(properties, "properties"),
                   check_sort(sort), whole_number(skip, "skip"), whole_number(limit, "limit"))


# ---------------------------------------------------------------- dotted paths


def get_path(doc: Any, path: str, default: Any = None) -> Any:
    """``doc["a"]["b"]`` for ``"a.b"``; ``default`` when any step is missing."""
    value: Any = doc
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return default
    return value


def has_path(doc: Any, path: str) -> bool:
    return get_path(doc, path, _MISSING) is not _MISSING


def nested(flat: Mapping[str, Any]) -> dict:
    """``{"calc.encut": 520}`` -> ``{"calc": {"encut": 520}}``."""
    out: dict = {}
    for path, value in flat.items():
        *parents, leaf = path.split(".")
        target = out
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return out


def project(doc: Mapping, names: list[str]) -> dict:
    """A Mongo-style projection of ``doc`` onto dotted ``names`` (absent paths left out)."""
    found = {name: get_path(doc, name, _MISSING) for name in names}
    return nested({name: value for name, value in found.items() if value is not _MISSING})


# ---------------------------------------------------------------- argument checks


def whole_number(value: Any, name: str, minimum: int = 0) -> int:
    """``value`` when it is an int >= ``minimum`` (bools refused); else an ArgumentError,
    which is a QueryError (see ``s3explore._checks``)."""
    return _checks.whole_number(value, name, minimum)


def check_fields(fields: Any, what: str = "fields") -> list[str] | None:
    """``None`` or a de-duplicated list of dotted paths; QueryError for anything else.

    Accepts a name, a list or tuple of names, or a projection dict such as ``{"nsites": 1}``.
    """
    if fields is None:
        return None
    if isinstance(fields, str):
        fields = [fields]
    elif isinstance(fields, Mapping):
        fields = [name for name, wanted in fields.items() if wanted]
    if not isinstance(fields, (list, tuple)):
        raise QueryError(f"{what} must be a list of field names such as ['formula', "
                         f"'calc.encut'], not {type(fields).__name__}")
    for name in fields:
        if (not isinstance(name, str) or not name or name.startswith(("$", "."))
                or name.endswith(".") or ".." in name):
            raise QueryError(f"{what} holds {name!r:.60}, which is not a field name; use dotted "
                             "paths such as 'calc.encut'")
    return list(dict.fromkeys(fields))


def check_sort(sort: Any) -> list[tuple[str, int]] | None:
    """``{field: 1 | -1}`` (or a list of pairs, or maggma's Sort enum values) as pairs."""
    if not sort:
        return None
    if isinstance(sort, Mapping):
        items = list(sort.items())
    elif isinstance(sort, (list, tuple)) and all(
            isinstance(p, (list, tuple)) and len(p) == 2 for p in sort):
        items = [tuple(p) for p in sort]
    else:
        raise QueryError(f"sort must be a dict like {{'nsites': -1}}, not {type(sort).__name__}")
    pairs = []
    for field, direction in items:
        value = getattr(direction, "value", direction)  # maggma's Sort enum
        if isinstance(value, bool) or value not in (1, -1):
            raise QueryError(f"sort direction for {field!r} must be 1 or -1, got {direction!r}")
        check_fields([field], "sort")
        pairs.append((str(field), int(value)))
    return pairs


def check_criteria(criteria: Any) -> dict:
    """Catch malformed criteria before any index store sees them, naming the culprit."""
    if criteria is None:
        return {}
    if not isinstance(criteria, Mapping):
        raise QueryError(f"criteria must be a dict such as {{'nsites': {{'$gt': 10}}}}, "
                         f"not {type(criteria).__name__}: {criteria!r:.60}")
    _check_document(criteria, 1)
    return dict(criteria)


def _check_document(criteria: Mapping, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise QueryError(f"criteria are nested more than {MAX_DEPTH} levels deep; "
                         "flatten them (e.g. one $and list instead of nested ones)")
    for name, value in criteria.items():
        if not isinstance(name, str) or not name:
            raise QueryError(f"criteria field names must be non-empty strings, got {name!r:.60}")
        if name in _LOGICAL:
            if not (isinstance(value, (list, tuple)) and value
                    and all(isinstance(c, Mapping) for c in value)):
                raise QueryError(f"{name} takes a non-empty list of criteria dicts, e.g. "
                                 f"{{'{name}': [{{'nsites': 2}}, {{'formula': 'Si'}}]}}; "
                                 f"got {value!r:.60}")
            for clause in value:
                _check_document(clause, depth + 1)
        elif name.startswith("$"):
            _check_value(name, value, depth + 1)  # $where, $expr, $text...: the engine decides
        elif isinstance(value, Mapping) and any(str(k).startswith("$") for k in value):
            plain = [k for k in value if not str(k).startswith("$")]
            if plain:
                raise QueryError(f"criteria for {name!r} mix operators and field names "
                                 f"({list(value)}); write {{'{name}.{plain[0]}': ...}} to "
                                 "match inside a sub-document")
            _check_operators(name, value, depth + 1)
        else:
            _check_value(name, value, depth + 1)


def _check_operators(name: str, ops: Mapping, depth: int) -> None:
    if depth > MAX_DEPTH:
        _check_document({}, depth)
    for op, arg in ops.items():
        if op in _TAKES_LIST and not isinstance(arg, (list, tuple)):
            raise QueryError(f"{op} on {name!r} takes a list of values, got {arg!r:.60}")
        if op == "$regex":
            check_regex(arg, name, ops.get("$options", ""))
        elif op == "$elemMatch" and isinstance(arg, Mapping):
            if any(str(k).startswith("$") for k in arg):
                _check_operators(name, arg, depth + 1)
            else:
                _check_document(arg, depth + 1)
        elif op == "$not" and isinstance(arg, Mapping):
            _check_operators(name, arg, depth + 1)
        else:
            _check_value(name, arg, depth + 1)


def _check_value(name: str, value: Any, depth: int) -> None:
    """Values are data; only what no engine can hold is refused (huge ints, deep nesting)."""
    if depth > MAX_DEPTH:
        _check_document({}, depth)
    if isinstance(value, int) and not isinstance(value, bool):
        if not INT64[0] <= value <= INT64[1]:
            # str() of an int past 4,300 digits raises; bit_length gives the size without it
            digits = f"about {int(value.bit_length() * 0.30103) + 1:,}"
            raise QueryError(f"the value for {name!r} is an integer of {digits} digits; index "
                             "stores hold integers up to 2**63 - 1 (use a float or a string)")
    elif _is_pattern(value):  # a compiled regex used as a value: mongomock runs it with re
        check_regex(value, name)
    elif isinstance(value, Mapping):
        for item in value.values():
            _check_value(name, item, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_value(name, item, depth + 1)


def check_regex(pattern: Any, name: str, options: Any = "", *, where: str | None = None,
                refused_by: str = "s3explore") -> None:
    """A regex must compile, be at most ``MAX_REGEX_CHARS`` long and have no nested
    quantifier (see the module doc); QueryError naming the field and what is wrong.

    ``pattern`` is a string (with ``options``), a compiled ``re.Pattern`` or a ``bson``
    ``Regex``. ``where`` replaces "on 'field'" in messages; ``refused_by`` names who refuses.
    """
    at = where if where is not None else f" on {name!r}"
    if not isinstance(options, str) or not set(options) <= REGEX_OPTIONS:
        raise QueryError(f"$options{at} must be letters from "
                         f"{''.join(sorted(REGEX_OPTIONS))}, got {options!r:.20}")
    flags = re.VERBOSE if "x" in options else 0  # the only option that changes parsing
    if _is_pattern(pattern):
        pattern, flags = _pattern_parts(pattern)
    if not isinstance(pattern, str):
        raise QueryError(f"$regex{at} must be a string pattern, got "
                         f"{type(pattern).__name__} {pattern!r:.40}")
    if len(pattern) > MAX_REGEX_CHARS:
        raise QueryError(f"$regex{at} is {len(pattern):,} characters long; at most "
                         f"{MAX_REGEX_CHARS:,} are allowed (to match one of many values, use "
                         "{'$in': [...]})")
    try:
        re.compile(pattern, flags)
        parsed = _sre_parser.parse(pattern, flags)
    except (re.error, OverflowError, RecursionError, ValueError) as exc:
        raise QueryError(f"$regex{at} {pattern!r:.60} is not a valid regular expression: "
                         f"{exc}") from None
    try:
        nested = nested_quantifier(parsed)
    except RecursionError:
        raise QueryError(f"$regex{at} nests its groups too deeply to be checked; flatten "
                         "it") from None
    if nested:
        raise QueryError(
            f"$regex{at} {pattern!r:.60} repeats a part that itself repeats (nested "
            "quantifiers such as (a+)+ can take exponential time and cannot be interrupted), "
            f"so {refused_by} refuses it; rewrite it without the nesting, e.g. '^a+$' "
            "instead of '^(a+)+$'")


def _is_pattern(value: Any) -> bool:
    """A compiled ``re`` pattern or a ``bson.regex.Regex`` (anything with a str ``pattern``
    and ``flags``), which engines evaluate as a regex."""
    return isinstance(value, re.Pattern) or (
        not isinstance(value, (str, bytes, Mapping)) and isinstance(
            getattr(value, "pattern", None), str) and hasattr(value, "flags"))


def _pattern_parts(value: Any) -> tuple[str, int]:
    flags = getattr(value, "flags", 0)
    if isinstance(flags, str):  # bson Regex may carry its flags as letters
        flags = re.VERBOSE if "x" in flags else 0
    return value.pattern, int(flags) & re.VERBOSE


# ---------------------------------------------------------------- nested quantifiers

_REPEATS = {_sre_constants.MAX_REPEAT, _sre_constants.MIN_REPEAT}
_REPEATS |= {getattr(_sre_constants, "POSSESSIVE_REPEAT", _sre_constants.MAX_REPEAT)}


def nested_quantifier(parsed: Any) -> bool:
    """True when a repeat that can match more than once holds another such repeat.

    ``parsed``: a pattern string or what ``re``'s parser made of one.
    """
    if isinstance(parsed, str):
        parsed = _sre_parser.parse(parsed)
    for op, av in parsed:
        if op in _REPEATS:
            _, high, body = av
            if _unbounded(high) and _has_repeat(body):
                return True
            if nested_quantifier(body):
                return True
        elif any(nested_quantifier(sub) for sub in _subpatterns(op, av)):
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


def operators(criteria: Any) -> Iterator[str]:
    """Every ``$operator`` used anywhere in ``criteria``."""
    stack = [criteria]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            for k, v in item.items():
                if isinstance(k, str) and k.startswith("$"):
                    yield k
                stack.append(v)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
