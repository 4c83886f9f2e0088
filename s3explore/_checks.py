"""Shared argument checks: one wording per kind of check, one exception class.

Every checker raises ``ArgumentError``, which is both a ``ConfigurationError`` (what
constructors and most methods raised) and a ``QueryError`` (what query arguments such as
``limit`` and ``max_time`` raised), so code catching either keeps working. Messages name the
argument, say what is allowed and show the value given (cut short).

Also the vocabulary shared by reads, writes and fetches: ``on_error`` choices, the default
worker count, and ``renamed``/``deprecated_choice`` for old spellings kept for one release.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

from s3explore._errors import ConfigurationError, QueryError, warn

# Threads fetching or writing objects in parallel, when no count is given: one number for
# S3Store (its maggma-compatible ``s3_workers``), ManifestStore and ``s3explore.open``.
DEFAULT_WORKERS = 8

# What happens to a bad item (an object that cannot be read or stored):
# "raise" stops with its error, "skip" leaves it out (with a warning naming it), "null"
# yields None in its place, "collect" finishes the rest and hands the failures back.
ON_ERROR_READ = ("raise", "skip", "null")
ON_ERROR_WRITE = ("raise", "collect")


class ArgumentError(ConfigurationError, QueryError):
    """An argument is invalid (a ConfigurationError, and a QueryError for query arguments)."""


def _shown(value: Any) -> str:
    return f"{value!r:.60}"


def whole_number(value: Any, name: str, minimum: int = 0, *, none_ok: bool = False,
                 unit: str = "", hint: str = "") -> Any:
    """``value`` when it is an int >= ``minimum`` (bools refused), or None when ``none_ok``."""
    if value is None and none_ok:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        of = f" of {unit}" if unit else ""
        raise ArgumentError(f"{name} must be a whole number{of} >= {minimum}"
                            f"{' or None' if none_ok else ''}, got {_shown(value)}{hint}")
    return value


def positive_int(value: Any, name: str, *, none_ok: bool = False, hint: str = "") -> Any:
    """``value`` when it is an int >= 1 (the usual count: workers, chunk_size, ...)."""
    return whole_number(value, name, 1, none_ok=none_ok, hint=hint)


def positive_number(value: Any, name: str, *, unit: str = "seconds", integer: bool = False,
                    none_ok: bool = False, none_means: str = "", hint: str = "") -> Any:
    """``value`` when it is a finite number > 0 (an int when ``integer``), or None when
    ``none_ok``. Floats come back as given; use ``float()`` at the call site if needed."""
    if value is None and none_ok:
        return None
    kinds = (int,) if integer else (int, float)
    if (isinstance(value, bool) or not isinstance(value, kinds) or not value > 0
            or (isinstance(value, float) and not math.isfinite(value))):
        none = f" or None{f' ({none_means})' if none_means else ''}" if none_ok else ""
        raise ArgumentError(f"{name} must be a positive number of {unit}{none}, "
                            f"got {_shown(value)}{hint}")
    return value


def one_of(value: Any, name: str, choices: Collection[Any], *, hint: str = "") -> Any:
    """``value`` when it is one of ``choices``."""
    try:
        known = value in choices
    except TypeError:  # unhashable values against a set
        known = False
    if not known:
        raise ArgumentError(f"{name} must be one of {tuple(choices)}, got {_shown(value)}{hint}")
    return value


def renamed(old: str, new: str, old_value: Any, new_value: Any, default: Any) -> Any:
    """The value of an argument renamed from ``old`` to ``new``: ``old_value`` (with a
    DeprecationWarning) when only the old name was given. ``default`` is the new name's
    default, so passing both is caught."""
    if old_value is None:
        return new_value
    if new_value != default and new_value != old_value:
        raise ArgumentError(f"{old}= is the old name of {new}=; pass only {new}={new_value!r}")
    warn(f"{old}= is deprecated and will be removed in the next release; pass "
         f"{new}={old_value!r} instead", DeprecationWarning)
    return old_value


def deprecated_choice(value: Any, name: str, old: str, new: str) -> Any:
    """``new`` (with a DeprecationWarning) when ``value`` is the old spelling ``old``."""
    if isinstance(value, str) and value == old:
        warn(f"{name}={old!r} is deprecated and will be removed in the next release; pass "
             f"{name}={new!r} instead", DeprecationWarning)
        return new
    return value
