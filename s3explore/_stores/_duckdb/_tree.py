"""Stage 1 of the translator: MongoDB criteria as a small typed tree, built once.

Parsing checks every operator's arguments (QueryError naming the field) and normalizes
operands (``_values.operand``); it knows nothing of the catalog or of SQL. Each node keeps
what a fallback to the stored document needs (``source``), so the planner (``_plan``) can
hand any node to ``s3x_match`` as it was written.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from s3explore._errors import QueryError
from s3explore._query import check_regex
from s3explore._stores._duckdb._values import operand

RANGE_OPS = ("$gt", "$gte", "$lt", "$lte")
_ELEMENT_OPS = frozenset({"$eq", "$gt", "$gte", "$lt", "$lte", "$in"})
_SCALAR_TYPES = (int, float, str, bool, _dt.datetime)
_FLAG_BITS = {"i": re.I, "m": re.M, "s": re.S, "x": re.X}
TYPE_ALIASES = {"double": 1, "string": 2, "object": 3, "array": 4, "binData": 5, "bool": 8,
                "date": 9, "null": 10, "int": 16, "long": 18, "number": "number"}
TYPE_CODES = (1, 2, 3, 4, 5, 8, 9, 10, 16, 18, "number")


@dataclass(frozen=True)
class And:
    parts: tuple


@dataclass(frozen=True)
class Or:
    parts: tuple


@dataclass(frozen=True)
class Nor:
    parts: tuple


@dataclass(frozen=True)
class Not:
    part: Any


@dataclass(frozen=True)
class Const:
    value: bool


@dataclass(frozen=True)
class Field:
    """All operators given for one path (``{path: {op: arg, ...}}``)."""
    path: str
    source: dict  # the operators as written: the fallback clause is {path: source}
    test: And


@dataclass(frozen=True)
class Eq:
    path: str
    value: Any  # never a pattern (see Regex)


@dataclass(frozen=True)
class In:
    path: str
    values: tuple


@dataclass(frozen=True)
class Range:
    path: str
    op: str  # one of RANGE_OPS
    value: Any


@dataclass(frozen=True)
class Exists:
    path: str
    present: bool


@dataclass(frozen=True)
class Regex:
    path: str
    pattern: Any  # a string or a compiled pattern, as written
    options: str
    bare: bool = False  # written as a compiled pattern value, not as {"$regex": ...}

    @property
    def flags(self) -> set[str]:
        flags = set(self.options)
        if isinstance(self.pattern, re.Pattern):
            flags |= {f for f, bit in _FLAG_BITS.items() if self.pattern.flags & bit}
        return flags

    @property
    def text(self) -> str:
        return self.pattern.pattern if isinstance(self.pattern, re.Pattern) else self.pattern

    @property
    def re2(self) -> str | None:
        """The pattern as DuckDB's RE2 would run it; None for verbose patterns (RE2 has no
        such mode: Python's ``re`` runs them)."""
        if "x" in self.flags:
            return None
        prefix = "".join(sorted(self.flags))
        return f"(?{prefix}){self.text}" if prefix else self.text

    def compiled(self) -> re.Pattern:
        bits = 0
        for letter in self.flags:
            bits |= _FLAG_BITS[letter]
        return re.compile(self.text, bits)


@dataclass(frozen=True)
class Size:
    path: str
    size: int
    source: Any


@dataclass(frozen=True)
class Type:
    path: str
    spec: Any  # as written, for the fallback
    code: Any  # one of TYPE_CODES


@dataclass(frozen=True)
class Mod:
    path: str
    divisor: int
    remainder: int


@dataclass(frozen=True)
class ElemMatch:
    path: str
    spec: dict
    field: str | None = None  # with `inner`: the one condition SQL may run, or None
    inner: Any = None


# ---------------------------------------------------------------- parsing


def parse(criteria: Mapping) -> And:
    parts: list[Any] = []
    for name, value in criteria.items():
        if name in ("$and", "$or", "$nor"):
            inner = tuple(parse(c) for c in value)
            parts.append(And(inner) if name == "$and" else Or(inner) if name == "$or"
                         else Nor(inner))
        elif name.startswith("$"):
            raise QueryError(f"DuckDBStore cannot run the top-level operator {name!r}")
        elif _is_ops(value):
            parts.append(Field(name, dict(value), tests(name, value)))
        else:
            parts.append(equals(name, operand(value)))
    return And(tuple(parts))


def _is_ops(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value) and all(
        str(k).startswith("$") for k in value)


def equals(path: str, value: Any) -> Eq | Regex:
    if isinstance(value, re.Pattern):
        check_regex(value, path, "")
        return Regex(path, value, "", bare=True)
    return Eq(path, value)


def tests(path: str, ops: Mapping) -> And:
    parts: list[Any] = []
    for op, arg in ops.items():
        if op == "$options":
            if "$regex" not in ops:
                raise QueryError(f"$options on {path!r} needs a $regex beside it")
        elif op == "$regex":
            options = ops.get("$options", "")
            check_regex(arg, path, options)
            parts.append(Regex(path, arg, options))
        elif op in ("$eq", "$ne"):
            found = equals(path, operand(arg))
            parts.append(found if op == "$eq" else Not(found))
        elif op in ("$in", "$nin"):
            found = In(path, tuple(operand(v) for v in arg))
            for value in found.values:
                if isinstance(value, re.Pattern):
                    check_regex(value, path, "")
            parts.append(found if op == "$in" else Not(found))
        elif op in RANGE_OPS:
            parts.append(Range(path, op, operand(arg)))
        elif op == "$exists":
            parts.append(Exists(path, bool(arg)))
        elif op == "$not":
            parts.append(Not(_negated(path, arg)))
        elif op == "$size":
            parts.append(_size(path, arg))
        elif op == "$all":
            parts.append(_all(path, arg))
        elif op == "$elemMatch":
            parts.append(elem_match(path, arg))
        elif op == "$type":
            parts.append(_type(path, arg))
        elif op == "$mod":
            parts.append(_mod(path, arg))
        else:
            raise QueryError(f"DuckDBStore does not support the operator {op!r} "
                             f"(on {path!r})")
    return And(tuple(parts))


def _negated(path: str, arg: Any) -> Any:
    if isinstance(arg, re.Pattern):
        return equals(path, arg)
    if _is_ops(arg):
        return Field(path, dict(arg), tests(path, arg))
    raise QueryError(f"$not on {path!r} takes a regular expression or a dict of "
                     f"operators, got {arg!r:.60}")


def _size(path: str, arg: Any) -> Size:
    if isinstance(arg, bool) or not isinstance(arg, (int, float)) or arg != int(arg):
        raise QueryError(f"$size on {path!r} takes a whole number, got {arg!r:.60}")
    return Size(path, int(arg), arg)


def _all(path: str, values: list) -> Any:
    if not values:
        return Const(False)  # MongoDB: $all [] matches nothing
    parts = []
    for value in values:
        if isinstance(value, Mapping) and "$elemMatch" in value:
            parts.append(elem_match(path, value["$elemMatch"]))
        else:
            parts.append(equals(path, operand(value)))
    return And(tuple(parts))


def _type(path: str, spec: Any) -> Any:
    if isinstance(spec, (list, tuple)):
        return Or(tuple(_type(path, s) for s in spec))
    code = TYPE_ALIASES.get(spec, spec) if isinstance(spec, str) else spec
    if code not in TYPE_CODES:
        raise QueryError(f"$type on {path!r}: unknown or unsupported type {spec!r}; use "
                         f"one of {sorted(TYPE_ALIASES)}")
    return Type(path, spec, code)


def _mod(path: str, arg: Any) -> Mod:
    if (not isinstance(arg, (list, tuple)) or len(arg) != 2
            or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in arg)
            or int(arg[0]) == 0):
        raise QueryError(f"$mod on {path!r} takes [divisor, remainder] with a divisor "
                         f"other than 0, got {arg!r:.60}")
    return Mod(path, int(arg[0]), int(arg[1]))


def elem_match(path: str, spec: Any) -> ElemMatch:
    """``$elemMatch``; with ``inner`` when one condition decides it: on an array's items
    (``{"$gt": 5}``) or on one field of its documents (``{"x": 5}``, ``{"x": {"$lt": 5}}``),
    with one non-null scalar operand, no negation (see ``_plan``)."""
    if not isinstance(spec, Mapping):
        raise QueryError(f"$elemMatch on {path!r} takes a dict of criteria")
    simple = _one_condition(spec)
    if simple is None:
        return ElemMatch(path, dict(spec))
    field, op, value = simple
    target = path if field is None else f"{path}.{field}"
    return ElemMatch(path, dict(spec), field, tests(target, {op: value}))


def _one_condition(spec: Mapping) -> tuple[str | None, str, Any] | None:
    """(field or None, operator, operand) when ``spec`` is one plain condition."""
    if len(spec) != 1:
        return None
    (name, cond), = spec.items()
    field = None
    if not name.startswith("$"):
        if "." in name or name.isdigit() or not name:
            return None
        field = name
        if not (isinstance(cond, Mapping) and len(cond) == 1
                and next(iter(cond)).startswith("$")):
            cond = {"$eq": cond}
        (name, cond), = cond.items()
    if name not in _ELEMENT_OPS:
        return None
    operands = cond if name == "$in" and isinstance(cond, list) else [cond]
    if name == "$in" and not isinstance(cond, list):
        return None
    if not operands or not all(_scalar(operand(v)) for v in operands):
        return None
    return field, name, cond


def _scalar(value: Any) -> bool:
    return value is not None and type(value) in _SCALAR_TYPES


def regexes(node: Any) -> Iterator[Regex]:
    """Every regex in the tree, to be checked against RE2 before planning."""
    if isinstance(node, Regex):
        yield node
    elif isinstance(node, (And, Or, Nor)):
        for part in node.parts:
            yield from regexes(part)
    elif isinstance(node, Not):
        yield from regexes(node.part)
    elif isinstance(node, Field):
        yield from regexes(node.test)
    elif isinstance(node, ElemMatch) and node.inner is not None:
        yield from regexes(node.inner)
    elif isinstance(node, In):
        for value in node.values:
            if isinstance(value, re.Pattern):
                yield Regex(node.path, value, "", bare=True)
