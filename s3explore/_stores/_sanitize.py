"""Values an index engine can hold, as maggma's ``jsanitize`` makes them before writing."""

from __future__ import annotations

import datetime as _dt
import enum
import uuid
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

_PLAIN = (str, int, float, bool, type(None), _dt.datetime, bytes)


def sanitize(value: Any) -> Any:
    """numpy arrays and scalars to lists and numbers, MSONable objects to their dicts,
    tuples to lists, enums to their values, UUIDs and paths to strings; the rest as is."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, Mapping):
        return {k: v if isinstance(v, _PLAIN) else sanitize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [v if isinstance(v, _PLAIN) else sanitize(v) for v in value]
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # numpy array or scalar
        return sanitize(value.tolist())
    if isinstance(value, enum.Enum):
        return sanitize(value.value)
    if isinstance(value, (uuid.UUID, PurePath)):
        return str(value)
    as_dict = getattr(value, "as_dict", None)
    if callable(as_dict):
        return sanitize(as_dict())
    return value
