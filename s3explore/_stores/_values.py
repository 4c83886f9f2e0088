"""Values as maggma compares them: last_updated conversions and MongoDB's mixed-type order."""

from __future__ import annotations

import datetime as _dt
from typing import Any

__all__ = ["sortable", "to_datetime"]


def _identity(value: Any) -> Any:
    return value


def _from_isoformat(value: Any) -> Any:
    return _dt.datetime.fromisoformat(value) if isinstance(value, str) else value


def _to_isoformat(value: Any) -> Any:
    # maggma's LU_KEY_ISOFORMAT writes milliseconds, rounded up
    if isinstance(value, _dt.datetime):
        value = value + _dt.timedelta(microseconds=(1000 - value.microsecond % 1000) % 1000)
        return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    return value


def to_datetime(value: Any) -> _dt.datetime | None:
    """A last_updated value as maggma compares them: naive UTC (aware ones converted)."""
    if isinstance(value, str):
        try:
            value = _dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, _dt.datetime):
        return value if value.tzinfo is None else value.astimezone(_dt.UTC).replace(tzinfo=None)
    return None


def sortable(value: Any) -> tuple:
    """Order mixed types the way MongoDB does: null, numbers, strings, the rest."""
    if value is None:
        return (0, 0)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    if isinstance(value, bool):
        return (4, value)
    if isinstance(value, _dt.datetime):
        return (5, value.timestamp() if value.tzinfo else value.replace(
            tzinfo=_dt.UTC).timestamp())
    return (3, repr(value))
