"""Text for people: sizes, durations, table cells, upload progress and summaries."""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from s3explore._stores import Failure, UpdateResult
from s3explore._transfer import ProgressSnapshot

MAX_CELL = 60
MAX_FAILURES_SHOWN = 20


def human_bytes(n: float) -> str:
    if n < 1000:
        return f"{int(n)} B"
    for unit in ("kB", "MB", "GB", "TB"):
        n /= 1000
        if n < 1000 or unit == "TB":
            return f"{n:.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def human_seconds(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def is_missing(value: Any) -> bool:
    """True for None, NaN, NaT and pd.NA; False for arrays and containers."""
    if value is None:
        return True
    if isinstance(value, (list, tuple, dict, np.ndarray)):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def cell_text(value: Any, limit: int = MAX_CELL) -> str:
    """One table cell: short, readable, never the repr of a numpy scalar."""
    if isinstance(value, np.generic):
        value = value.item()
    if is_missing(value):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = f"{value:.6g}"
        if text.lstrip("-").isdigit():
            text += ".0"  # a float column reads as floats
    elif isinstance(value, _dt.datetime):  # pandas Timestamps too
        text = value.isoformat(sep=" ", timespec="seconds")
    elif isinstance(value, np.ndarray):
        text = np.array2string(value, threshold=6, edgeitems=2, separator=", ")
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(cell_text(v, limit) for v in value[:10])
        text += ", \u2026]" if len(value) > 10 else "]"
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))


# ---------------------------------------------------------------- upload


def progress_text(snapshot: ProgressSnapshot) -> str:
    """``120 / 500 documents · 1.2 MB · 340 docs/s · ETA 1.2 s · 2 failed``."""
    handled = snapshot.done + snapshot.failed
    count = f"{handled} / {snapshot.total}" if snapshot.total is not None else f"{handled}"
    parts = [f"{count} documents", human_bytes(snapshot.nbytes)]
    if snapshot.elapsed > 0 and handled:
        parts.append(f"{snapshot.rate:.0f} docs/s")
    eta = snapshot.eta
    if eta is not None and not snapshot.finished and handled:
        parts.append(f"ETA {human_seconds(eta)}")
    parts.append(f"{snapshot.failed} failed")
    return " \u00b7 ".join(parts)


def summary_text(result: UpdateResult, total: int | None, failures: Sequence[Failure],
                 skipped: int = 0) -> str:
    """One line: what landed, how fast, how many failed (``failures`` includes unread files)
    and how many were skipped because the store held them unchanged."""
    head = "Cancelled" if result.cancelled else "Done"
    of = f" of {total}" if total is not None else ""
    rate = f" \u00b7 {result.written / result.seconds:.0f} docs/s" if result.seconds else ""
    text = (f"{head}: {result.written}{of} documents written ({human_bytes(result.bytes)}) "
            f"in {human_seconds(result.seconds)}{rate}")
    if skipped:
        text += f" \u00b7 {skipped} already stored (skipped)"
    text += f" \u00b7 {len(failures)} failed"
    if total is not None and failures:
        text += f" ({len(failures) / total:.1%})" if total else ""
    if result.cancelled and total is not None:
        left = total - result.written - len(failures) - skipped
        if left > 0:
            text += f" \u00b7 {left} not uploaded (rerun to continue)"
    return text


def failed_text(error: BaseException, result: UpdateResult | None,
                failures: Sequence[Failure]) -> str:
    """A run that stopped on an error: the error, then the same counts as ``summary_text``."""
    counts = f" \u00b7 {result.written} written" if result is not None else ""
    return f"Failed: {error}{counts} \u00b7 {len(failures)} failed"


def failure_line(failure: Failure) -> str:
    """``key: reason``, or the reason alone when it already names the key (a file's reason
    says "truncated.json is not valid JSON")."""
    if failure.key is None:
        return f"(no key): {failure.reason}"
    key = str(failure.key)
    if re.search(rf"(?<![\w.\-]){re.escape(key)}(?![\w\-]|\.\w)", failure.reason):
        return failure.reason
    return f"{key}: {failure.reason}"


def failure_lines(failures: Sequence[Failure], limit: int = MAX_FAILURES_SHOWN) -> list[str]:
    """``key: reason`` per failure (the reason alone when it names the key already), at most
    ``limit``, then how many more."""
    lines = [failure_line(f) for f in failures[:limit]]
    if len(failures) > limit:
        lines.append(f"\u2026 and {len(failures) - limit} more (see .failures)")
    return lines
