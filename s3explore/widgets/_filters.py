"""Filter text -> Mongo-style criteria: JSON (``{"nsites": {"$gt": 10}}``) or ``field > value``.

The simple form is one or more ``field OP value`` clauses joined by ``and``, with OP one of
``== != > >= < <=`` (``=`` is taken as ``==``). Values are numbers, ``true``/``false``/
``null``, quoted strings, or bare words (taken as strings). Clauses on the same field merge
(``nsites > 2 and nsites <= 8`` -> ``{"nsites": {"$gt": 2, "$lte": 8}}``).

Filter text comes from a widget, so ``parse_filter`` also applies the limits of ``_guard``:
allowed operators only, bounded size and depth, ``$regex`` values that compile and do not
nest quantifiers. Every problem is a QueryError, never a RecursionError or a hang.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from s3explore._errors import QueryError
from s3explore.widgets._guard import check_filter_criteria, check_filter_text

OPERATORS = {"==": "$eq", "=": "$eq", "!=": "$ne", ">": "$gt", ">=": "$gte", "<": "$lt",
             "<=": "$lte"}
EXAMPLES = 'nsites > 10 and formula == "Fe2O3"   or   {"nsites": {"$gt": 10}}'

_FIELD = r"[A-Za-z_][\w\-]*(?:\.[\w\-]+)*"
_VALUE = r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|[^\s\"']+"
_CLAUSE = re.compile(rf"\s*(?P<field>{_FIELD})\s*(?P<op>==|!=|>=|<=|=|>|<)\s*"
                     rf"(?P<value>{_VALUE})\s*")
_AND = re.compile(r"(?i)and\b|&&")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_WORDS = {"true": True, "false": False, "null": None, "none": None}


def parse_filter(text: str | None) -> dict:
    """The criteria for ``text``; ``{}`` for an empty box; QueryError saying what is wrong."""
    if text is None:
        return {}
    if not isinstance(text, str):
        raise QueryError(f"a filter must be text, not {type(text).__name__}")
    check_filter_text(text)
    text = text.strip()
    if not text:
        return {}
    criteria = _parse_mapping(text) if text.startswith("{") else _parse_clauses(text)
    return check_filter_criteria(criteria)


def _parse_mapping(text: str) -> dict:
    try:
        criteria = json.loads(text)
    except json.JSONDecodeError as json_error:
        try:  # Python users type {'nsites': {'$gt': 10}} with single quotes
            criteria = ast.literal_eval(text)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise QueryError(
                f"the filter is not valid JSON: {json_error.msg} at character "
                f"{json_error.pos + 1}; write it like {{\"nsites\": {{\"$gt\": 10}}}}"
            ) from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer past Python's digit limit
        raise QueryError(f"cannot read the filter: {exc}") from None
    if not isinstance(criteria, dict):
        raise QueryError(f"a JSON filter must be an object, not a {type(criteria).__name__}")
    return criteria


def _parse_clauses(text: str) -> dict:
    clauses: list[tuple[str, str, Any]] = []
    position = 0
    while True:
        match = _CLAUSE.match(text, position)
        if match is None:
            raise QueryError(_clause_error(text, position))
        clauses.append((match["field"], OPERATORS[match["op"]], _value(match["value"])))
        position = match.end()
        if position == len(text):
            break
        joiner = _AND.match(text, position)
        if joiner is None:
            rest = text[position:].strip()
            if rest.lower().startswith("or"):
                raise QueryError("'or' is not supported in the simple form; write a JSON "
                                 'filter such as {"$or": [{"nsites": 2}, {"nsites": 4}]}')
            raise QueryError(f"expected 'and' before {rest[:30]!r}; clauses are joined "
                             f"with 'and', e.g. {EXAMPLES}")
        position = joiner.end()
    return _merge(clauses)


def _clause_error(text: str, position: int) -> str:
    rest = text[position:].strip()
    if not rest:
        return "the filter ends with 'and'; add a clause after it or remove the 'and'"
    return (f"cannot read {rest[:40]!r} as a clause; write field OP value with OP one of "
            f"== != > >= < <=, e.g. {EXAMPLES}")


def _value(token: str) -> Any:
    try:
        if token[0] in "\"'":
            if token[0] == '"':
                return json.loads(token)
            return ast.literal_eval(token)
        if _NUMBER.match(token):
            number = float(token)
            is_int = re.fullmatch(r"[+-]?\d+", token) is not None
            return int(token) if is_int else number
    except (ValueError, SyntaxError) as exc:  # a bad escape, a number past the digit limit
        raise QueryError(f"cannot read the value {token[:40]!r}: {exc}") from None
    return _WORDS.get(token.lower(), token)


def _merge(clauses: list[tuple[str, str, Any]]) -> dict:
    """One dict per field when operators do not repeat, an ``$and`` of clauses otherwise."""
    by_field: dict[str, dict[str, Any]] = {}
    for field, op, value in clauses:
        ops = by_field.setdefault(field, {})
        if op in ops:
            return {"$and": [{f: _simplify({o: v})} for f, o, v in clauses]}
        ops[op] = value
    return {field: _simplify(ops) for field, ops in by_field.items()}


def _simplify(ops: dict[str, Any]) -> Any:
    """``{"$eq": v}`` alone is written as ``v`` (unless ``v`` is itself a dict)."""
    if list(ops) == ["$eq"] and not isinstance(ops["$eq"], dict):
        return ops["$eq"]
    return ops


def combine(base: dict | None, extra: dict | None) -> dict:
    """Both criteria at once: one of them when the other is empty, else ``$and``."""
    base, extra = base or {}, extra or {}
    if not base or not extra:
        return dict(base or extra)
    return {"$and": [base, extra]}
