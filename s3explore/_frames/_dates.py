"""ISO 8601 text as datetimes in ``query_df``: documents kept as JSON have no date type, so
their dates arrive as text (``"2024-01-01T10:00:00Z"``) and would sort and filter as text.

A text column becomes ``datetime64`` only when every non-null value is an ISO 8601 date
(``2024-01-01``) or date and time (``T`` or a space between, seconds and fractions
optional), and either every one carries an offset (``Z``, ``+02:00``, ``+0200``, ``+02``:
the column is UTC-aware, several zones being one instant line, as for aware datetimes) or
none does (naive, as written). Anything else stays text, whole: a column mixing dates and
other text, or values with and without offsets (whose order would be a guess, as for naive
and aware datetimes side by side), ``"2024"``, ``"2024-01"``, ``"12-01"``, or a value
pandas cannot place (month 13, hour 24, out of datetime64's range). The key column is never
converted: its values name objects and must stay as they were.
"""

from __future__ import annotations

import re

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_DATE = r"\d{4}-\d{2}-\d{2}"
_TIME = r"[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?"
_ZONE = r"(?:Z|[+-]\d{2}(?::?\d{2})?)"
NAIVE = f"^{_DATE}(?:{_TIME})?$"
AWARE = f"^{_DATE}{_TIME}{_ZONE}$"
_FIRST = re.compile(f"{_DATE}(?:{_TIME}{_ZONE}?)?")


def _text_values(series: pd.Series) -> pa.Array | None:
    """The column as an Arrow string array when it holds only text (and nulls)."""
    if isinstance(series.dtype, pd.StringDtype):
        return pa.array(series, type=pa.large_string(), from_pandas=True)
    if series.dtype != object:
        return None
    values = series.dropna()
    if values.empty or not all(type(v) is str for v in values):
        return None
    return pa.array(series, type=pa.large_string(), from_pandas=True)


def iso_datetime(series: pd.Series) -> pd.Series | None:
    """``series`` as datetimes when all its text is ISO 8601 (see the module), else None."""
    if not (isinstance(series.dtype, pd.StringDtype) or series.dtype == object):
        return None
    first = series.first_valid_index()
    if first is None:
        return None
    sample = series[first]
    if type(sample) is not str or not _FIRST.fullmatch(sample):
        return None  # the common case, a column of other text, costs one match
    values = _text_values(series)
    if values is None:
        return None
    present = len(values) - values.null_count
    aware = pc.sum(pc.match_substring_regex(values, AWARE)).as_py() or 0
    if aware != present and (aware or (pc.sum(pc.match_substring_regex(values, NAIVE))
                                       .as_py() or 0) != present):
        return None
    try:
        return pd.to_datetime(series, format="ISO8601", utc=aware == present)
    except (ValueError, TypeError, OverflowError):  # month 13, hour 24, out of range
        return None


def iso_datetimes(frame: pd.DataFrame, key: str | None) -> pd.DataFrame:
    """``frame`` with each ISO 8601 text column (but ``key``) as datetimes."""
    converted = {}
    for name in frame.columns:
        if name == key:
            continue
        parsed = iso_datetime(frame[name])
        if parsed is not None:
            converted[name] = parsed
    if not converted:
        return frame
    frame = frame.copy(deep=False)
    for name, parsed in converted.items():
        frame[name] = parsed
    return frame
