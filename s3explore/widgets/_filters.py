"""Filter text -> Mongo-style criteria: JSON (``{"nsites": {"$gt": 10}}``) or ``field > value``.

The simple form is one or more clauses joined by ``and``: ``field OP value`` with OP one of
``== != > >= < <=`` (``=`` is taken as ``==``), or ``field in [a, b]`` / ``field not in
[a, b]``. Values are numbers, ``true``/``false``/``null``, quoted strings, or bare words
(taken as strings). Clauses on the same field merge (``nsites > 2 and nsites <= 8`` ->
``{"nsites": {"$gt": 2, "$lte": 8}}``).

Every error names the character and the text at fault (``'=>' at character 10 is not an
operator; did you mean '>='?``), so the user sees what to change where.

Filter text comes from a widget, so ``parse_filter`` also applies the limits of ``_guard``:
allowed operators only, bounded size and depth, ``$regex`` values that compile and do not
nest quantifiers. Every problem is a QueryError, never a RecursionError or a hang.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any

from s3explore._errors import QueryError
from s3explore.widgets._guard import (
    check_filter_criteria,
    check_filter_text,
    outside_strings,
)

OPERATORS = {"==": "$eq", "=": "$eq", "!=": "$ne", ">": "$gt", ">=": "$gte", "<": "$lt",
             "<=": "$lte"}
LIST_OPERATORS = {"in": "$in", "not in": "$nin"}
# Operators people type from other languages, and what they meant.
MEANT = {"=>": ">=", "=<": "<=", "<>": "!=", "===": "==", "!==": "!=", "!": "!=", "=!": "!="}
EXAMPLES = 'nsites > 10 and formula in [Fe2O3, NaCl]   or   {"nsites": {"$gt": 10}}'
OPERATOR_LIST = "== != > >= < <= in, not in"

_FIELD = re.compile(r"[A-Za-z_][\w\-]*(?:\.[\w\-]+)*$")
_TOKEN = re.compile(r"""\s*(?:
      (?P<string>"(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?)
    | (?P<op>[=!<>]+)
    | (?P<punct>[\[\],])
    | (?P<word>&&|[^\s"'\[\],=!<>]+)
)""", re.X)
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_WORDS = {"true": True, "false": False, "null": None, "none": None}


@dataclass(frozen=True)
class Token:
    kind: str  # string, op, punct, word, end
    text: str
    at: int  # 0-based offset in the filter text

    def where(self) -> str:
        """``'=>' at character 10`` or ``the end of the filter``."""
        if self.kind == "end":
            return "the end of the filter"
        return f"{_quote(self.text)} at character {self.at + 1}"


def parse_filter(text: str | None) -> dict:
    """The criteria for ``text``; ``{}`` for an empty box; QueryError saying what is wrong."""
    if text is None:
        return {}
    if not isinstance(text, str):
        raise QueryError(f"a filter must be text, not {type(text).__name__}")
    check_filter_text(text)
    stripped = text.strip()
    if not stripped:
        return {}
    criteria = _parse_mapping(stripped) if stripped.startswith("{") else _parse_clauses(text)
    return check_filter_criteria(criteria)


# ---------------------------------------------------------------- JSON


def _parse_mapping(text: str) -> dict:
    try:
        criteria = json.loads(text)
    except json.JSONDecodeError as json_error:
        try:  # Python users type {'nsites': {'$gt': 10}} with single quotes
            criteria = ast.literal_eval(text)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise QueryError(_json_error(text, json_error)) from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer past Python's digit limit
        raise QueryError(f"cannot read the filter: {exc}") from None
    if not isinstance(criteria, dict):
        raise QueryError(f"a JSON filter must be an object, not a {type(criteria).__name__}")
    return criteria


def _json_error(text: str, error: json.JSONDecodeError) -> str:
    """What is wrong with JSON filter text, said at the user's token: unclosed brackets by
    name, anything else with the text where reading stopped."""
    unclosed, mismatch = _unclosed(text)
    example = 'write it like {"nsites": {"$gt": 10}}'
    if mismatch is not None:
        closer = {"{": "}", "[": "]"}[unclosed[-1]]
        return (f"the filter is not valid JSON: {_quote(text[mismatch])} at character "
                f"{mismatch + 1} closes a {_quote(unclosed[-1])}; add {_quote(closer)} "
                "before it")
    if unclosed:
        closers = "".join({"{": "}", "[": "]"}[c] for c in reversed(unclosed))
        return (f"the filter is not valid JSON: {len(unclosed)} bracket(s) opened but not "
                f"closed; add {_quote(closers)} at the end")
    if error.pos >= len(text.rstrip()):
        return f"the filter is not valid JSON: it ends too early ({error.msg}); {example}"
    found = text[error.pos:error.pos + 20]
    return (f"the filter is not valid JSON: {error.msg.lower()} at character {error.pos + 1}, "
            f"before {_quote(found)}; {example}")


def _unclosed(text: str) -> tuple[list[str], int | None]:
    """The brackets opened outside strings and not closed, outermost first, and the offset of
    the first closing bracket that does not match the last one opened (or None)."""
    stack: list[str] = []
    for offset, char in outside_strings(text):
        if char in "{[":
            stack.append(char)
        elif char in "}]" and stack:
            if {"}": "{", "]": "["}[char] != stack[-1]:
                return stack, offset
            stack.pop()
    return stack, None


# ---------------------------------------------------------------- the simple form


def _tokens(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while True:
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            if text[position:].strip():  # not reachable with the pattern above; be safe
                rest = text[position:].lstrip()
                raise QueryError(f"cannot read {_quote(rest[:30])} at character "
                                 f"{len(text) - len(rest) + 1}")
            tokens.append(Token("end", "", len(text)))
            return tokens
        kind = match.lastgroup or "word"
        tokens.append(Token(kind, match[kind], match.start(kind)))
        position = match.end()


class _Clauses:
    """A recursive-descent reader of ``clause (and clause)*`` over the tokens."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.index = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.token
        self.index += 1
        return token

    def read(self) -> list[tuple[str, str, Any]]:
        clauses = [self.clause()]
        while self.token.kind != "end":
            joiner = self.token
            if joiner.kind == "word" and joiner.text.lower() in ("and", "&&"):
                self.take()
                if self.token.kind == "end":
                    raise QueryError("the filter ends with 'and'; add a clause after it or "
                                     "remove the 'and'")
                clauses.append(self.clause())
                continue
            if joiner.kind == "word" and joiner.text.lower() in ("or", "||"):
                raise QueryError(f"{joiner.where()}: 'or' is not supported in the simple form; "
                                 "use 'in' for one field (nsites in [2, 4]) or a JSON filter "
                                 'such as {"$or": [{"nsites": 2}, {"formula": "NaCl"}]}')
            raise QueryError(f"expected 'and' between clauses, found {joiner.where()}; "
                             f"clauses are joined with 'and', e.g. {EXAMPLES}")
        return clauses

    def clause(self) -> tuple[str, str, Any]:
        field = self.take()
        if field.kind != "word" or not _FIELD.match(field.text):
            what = "nothing" if field.kind == "end" else field.where()
            raise QueryError(f"expected a field name, found {what}; write field OP value "
                             f"with OP one of {OPERATOR_LIST}, e.g. {EXAMPLES}")
        op = self.operator(field)
        if op in ("$in", "$nin"):
            return field.text, op, self.values(field, op)
        return field.text, op, self.value(field)

    def operator(self, field: Token) -> str:
        token = self.take()
        if token.kind == "op":
            if token.text in OPERATORS:
                return OPERATORS[token.text]
            meant = MEANT.get(token.text)
            hint = f"; did you mean {_quote(meant)}?" if meant else ""
            raise QueryError(f"{token.where()} is not an operator{hint} "
                             f"(operators: {OPERATOR_LIST})")
        word = token.text.lower() if token.kind == "word" else ""
        if word == "in":
            return "$in"
        if word == "not" and self.token.kind == "word" and self.token.text.lower() == "in":
            self.take()
            return "$nin"
        found = "nothing" if token.kind == "end" else token.where()
        raise QueryError(f"expected an operator after {_quote(field.text)}, found {found}; "
                         f"use one of {OPERATOR_LIST}")

    def value(self, field: Token) -> Any:
        token = self.take()
        if token.kind in ("string", "word") and token.text.lower() not in ("and", "&&"):
            return _value(token)
        found = "nothing" if token.kind == "end" else token.where()
        raise QueryError(f"expected a value for {_quote(field.text)}, found {found}; a value "
                         'is a number, true/false/null, a word or a "quoted string"')

    def values(self, field: Token, op: str) -> list[Any]:
        name = "in" if op == "$in" else "not in"
        opening = self.take()
        if opening.text != "[":
            found = "nothing" if opening.kind == "end" else opening.where()
            raise QueryError(f"{_quote(field.text + ' ' + name)} takes a list such as "
                             f"[2, 4] or [Fe2O3, \"Na Cl\"], found {found}")
        values: list[Any] = []
        while True:
            token = self.take()
            if token.text == "]" and not values:
                return values
            if token.kind not in ("string", "word"):
                found = "nothing" if token.kind == "end" else token.where()
                raise QueryError(f"expected a value in the list of {_quote(field.text)}, "
                                 f"found {found}")
            values.append(_value(token))
            separator = self.take()
            if separator.text == "]":
                return values
            if separator.text != ",":
                found = "the end of the filter" if separator.kind == "end" else \
                    separator.where()
                raise QueryError(f"expected ',' or ']' in the list of {_quote(field.text)}, "
                                 f"found {found}" + ("; close the list with ']'"
                                                     if separator.kind == "end" else ""))


def _parse_clauses(text: str) -> dict:
    return _merge(_Clauses(text).read())


def _value(token: Token) -> Any:
    text = token.text
    if token.kind == "string" and (len(text) < 2 or text[-1] != text[0]):
        raise QueryError(f"the string starting at character {token.at + 1} is not closed; "
                         f"add {text[0]} at its end")
    try:
        if token.kind == "string":
            if text[0] == '"':
                return json.loads(text)
            return ast.literal_eval(text)
        if _NUMBER.match(text):
            number = float(text)
            is_int = re.fullmatch(r"[+-]?\d+", text) is not None
            return int(text) if is_int else number
    except (ValueError, SyntaxError) as exc:  # a bad escape, a number past the digit limit
        raise QueryError(f"cannot read the value {token.where()}: {exc}") from None
    return _WORDS.get(text.lower(), text)


def _quote(text: str) -> str:
    """Text shown to the user in quotes, shortened."""
    text = text if len(text) <= 30 else text[:29] + "\u2026"
    return f"'{text}'"


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
