"""SQL booleans built with simplification: TRUE and FALSE fold away, and a NULL (a missing
column value) only ever means "no match", as every negation is of ``coalesce(part, FALSE)``."""

from __future__ import annotations

TRUE, FALSE = "TRUE", "FALSE"


def AND(parts: list[str]) -> str:
    parts = [p for p in parts if p != TRUE]
    if FALSE in parts:
        return FALSE
    return TRUE if not parts else parts[0] if len(parts) == 1 else f"({' AND '.join(parts)})"


def OR(parts: list[str]) -> str:
    parts = [p for p in parts if p != FALSE]
    if TRUE in parts:
        return TRUE
    return FALSE if not parts else parts[0] if len(parts) == 1 else f"({' OR '.join(parts)})"


def NOT(part: str) -> str:
    return FALSE if part == TRUE else TRUE if part == FALSE else f"(NOT coalesce({part}, FALSE))"
