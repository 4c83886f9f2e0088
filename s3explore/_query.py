"""Queries, validated once: criteria, projections, sorts and paging, and dotted-path helpers.

Pure: every store's public methods run their arguments through these checks before a backend
sees them, so a malformed query fails the same way everywhere, naming what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from s3explore._errors import QueryError

Properties = list[str] | Mapping[str, Any] | str | None
SortSpec = Mapping[str, Any] | None

MAX_DEPTH = 64  # nesting of criteria; Python recursion and every engine's parser stay safe
INT64 = (-(2**63), 2**63 - 1)
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
    """``value`` when it is an int >= ``minimum`` (bools refused); QueryError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise QueryError(f"{name} must be a whole number >= {minimum}, got {value!r:.60}")
    return value


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
        elif op == "$not" and isinstance(arg, re.Pattern):
            pass
        else:
            _check_value(name, arg, depth + 1)


def _check_value(name: str, value: Any, depth: int) -> None:
    """Values are data; only what no engine can hold is refused (huge ints, deep nesting)."""
    if depth > MAX_DEPTH:
        _check_document({}, depth)
    if isinstance(value, int) and not isinstance(value, bool):
        if not INT64[0] <= value <= INT64[1]:
            digits = len(str(abs(value))) if value.bit_length() < 20_000 else "thousands of"
            raise QueryError(f"the value for {name!r} is an integer of {digits} digits; index "
                             "stores hold integers up to 2**63 - 1 (use a float or a string)")
    elif isinstance(value, Mapping):
        for item in value.values():
            _check_value(name, item, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_value(name, item, depth + 1)


def check_regex(pattern: Any, name: str, options: Any = "") -> None:
    """A ``$regex`` must compile; the error names the field and Python's reason."""
    if isinstance(pattern, re.Pattern):
        return
    if not isinstance(pattern, str):
        raise QueryError(f"$regex on {name!r} must be a string pattern, got {pattern!r:.60}")
    if not isinstance(options, str) or set(options) - set("imxs"):
        raise QueryError(f"$options on {name!r} takes letters from 'imxs', got {options!r:.20}")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise QueryError(f"$regex on {name!r} is not a valid pattern ({exc}): "
                         f"{pattern!r:.60}") from None


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
