"""SQL fragments that carry their own parameters, and booleans built with simplification.

A ``Frag`` is a piece of SQL text with the named parameters it uses: when simplification drops
a fragment (a FALSE in an AND), its parameters go with it, so the parameters of a query are
exactly those of the fragments it keeps. TRUE and FALSE fold away, and a NULL (a missing
column value) only ever means "no match", as every negation is of ``coalesce(part, FALSE)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Frag:
    text: str
    params: dict[str, Any] = field(default_factory=dict)


TRUE, FALSE = Frag("TRUE"), Frag("FALSE")


def _joined(parts: list[Frag], word: str) -> Frag:
    params: dict[str, Any] = {}
    for part in parts:
        params.update(part.params)
    return Frag(f"({f' {word} '.join(p.text for p in parts)})", params)


def AND(parts: list[Frag]) -> Frag:
    parts = [p for p in parts if p.text != TRUE.text]
    if any(p.text == FALSE.text for p in parts):
        return FALSE
    return TRUE if not parts else parts[0] if len(parts) == 1 else _joined(parts, "AND")


def OR(parts: list[Frag]) -> Frag:
    parts = [p for p in parts if p.text != FALSE.text]
    if any(p.text == TRUE.text for p in parts):
        return TRUE
    return FALSE if not parts else parts[0] if len(parts) == 1 else _joined(parts, "OR")


def NOT(part: Frag) -> Frag:
    if part.text in (TRUE.text, FALSE.text):
        return FALSE if part.text == TRUE.text else TRUE
    return Frag(f"(NOT coalesce({part.text}, FALSE))", part.params)
