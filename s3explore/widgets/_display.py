"""How the browser shows index rows: keys in natural order, ISO-8601 text as datetimes, and
the default columns without the index's bookkeeping.

Natural order: ``mp-2`` before ``mp-10`` (text order puts ``mp-10`` first). An index sorts
keys as text, so for the key column the browser reads the matching keys once (while there are
at most ``NATURAL_SORT_LIMIT``), orders them here and asks the index for one page of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import pandas as pd

NATURAL_SORT_LIMIT = 100_000
# Written by the store for each entry (maggma's bookkeeping; for one-JSON-per-object
# prefixes, the time an object was uploaded): not data, so not a default column.
BOOKKEEPING_COLUMNS = ("last_updated",)

_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple:
    """``"mp-10"`` -> ``("mp-", 10, "")``: digit runs compare as numbers. Text and numbers
    alternate at the same places for every key, so any two keys compare."""
    parts = _DIGITS.split(text)
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


def natural_order(keys: Iterable[Any]) -> list[Any] | None:
    """``keys`` in natural order, or None when the index's own order serves: keys that are
    not all text, or whose natural order is their text order (no numbers, or zero-padded
    ones), which the index pages itself."""
    keys = list(keys)
    if not keys or not all(isinstance(k, str) for k in keys):
        return None
    if not any(_DIGITS.search(k) for k in keys):
        return None
    ordered = sorted(keys, key=lambda k: (natural_key(k), k))
    return None if ordered == sorted(keys) else ordered


def default_columns(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """``frame`` without the bookkeeping columns (never the key)."""
    drop = [c for c in BOOKKEEPING_COLUMNS if c in frame.columns and c != key]
    return frame.drop(columns=drop) if drop else frame
