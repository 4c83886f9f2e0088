"""Timezone-aware datetimes in index entries: stored as UTC instants, read back UTC-aware.

Every index engine keeps a datetime without its offset (BSON dates, DuckDB's TIMESTAMP), so
an aware value would come back naive, showing another wall time than the document. So before
a document reaches an engine, each aware datetime becomes its naive UTC instant and the
document lists the dotted paths that held them in ``AWARE_FIELD``; every read turns the
datetimes at those paths back into UTC-aware ones (``tzinfo=datetime.UTC``) and drops the
field. The rule is the same on every engine because it lives above them.

Naive datetimes stay naive (maggma's ``last_updated`` is naive UTC). Engines compare every
datetime as an instant, naive ones taken as UTC, as MongoDB does: criteria with aware values
are turned into naive UTC before any engine sees them.
"""

from __future__ import annotations

import datetime as _dt
import operator
import re
from collections.abc import Iterable, Iterator
from itertools import repeat
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from s3explore._stores._base import Store

# The paths (dicts joined by ".", arrays transparent) whose datetimes were aware.
AWARE_FIELD = "s3x-utc-fields"
_PLAIN = (str, int, float, bool, type(None), bytes)
_PLAIN_SET = frozenset(_PLAIN)


def _aware(value: _dt.datetime) -> bool:
    return value.utcoffset() is not None


def _naive_utc(value: _dt.datetime) -> _dt.datetime:
    return value.astimezone(_dt.UTC).replace(tzinfo=None)


# ---------------------------------------------------------------- writing


def _scan(value: Any, path: str, found: dict[str, bool]) -> None:
    """``found[path]``: True where an aware datetime is, False where only naive ones are."""
    kind = type(value)
    if kind in _PLAIN:
        return
    if kind is dict:
        for k, v in value.items():
            if type(v) not in _PLAIN:
                _scan(v, f"{path}.{k}" if path else str(k), found)
    elif kind is list or kind is tuple:
        if set(map(type, value)) <= _PLAIN_SET:  # long arrays of numbers: one pass in C
            return
        for v in value:
            _scan(v, path, found)
    elif isinstance(value, _dt.datetime):
        found[path] = found.get(path, False) or _aware(value)


def _stored(value: Any) -> Any:
    """``value`` with aware datetimes as naive UTC. Naive ones stay; where one path of a
    document holds both, reads take its naive ones as UTC (their wall time is kept)."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {k: _stored(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_stored(v) for v in value]
    if isinstance(value, _dt.datetime) and _aware(value):
        return _naive_utc(value)
    return value


def to_index(doc: dict) -> dict:
    """``doc`` as the engines store it: aware datetimes as naive UTC, their paths listed
    in ``AWARE_FIELD``; unchanged (the same object) when it holds no aware datetime."""
    if AWARE_FIELD in doc:  # a document read raw from an engine: its marks still hold
        doc = from_index(dict(doc))
    found: dict[str, bool] = {}
    _scan(doc, "", found)
    aware = {path for path, is_aware in found.items() if is_aware}
    if not aware:
        return doc
    out = _stored(doc)
    out[AWARE_FIELD] = sorted(aware)
    return out


# ---------------------------------------------------------------- reading


def _utc(value: Any, parts: list[str]) -> Any:
    if type(value) is list:
        return [_utc(v, parts) for v in value]
    if not parts:
        if isinstance(value, _dt.datetime) and value.tzinfo is None:
            return value.replace(tzinfo=_dt.UTC)
        return value
    if type(value) is dict:
        for k in list(value):
            names = str(k).split(".")  # a key holding dots spans as many parts
            if names == parts[:len(names)]:
                value[k] = _utc(value[k], parts[len(names):])
    return value


def from_index(doc: Any) -> Any:
    """A document from an engine with its marked datetimes UTC-aware and ``AWARE_FIELD``
    gone (changed in place: engines hand out fresh documents)."""
    if type(doc) is not dict or AWARE_FIELD not in doc:
        return doc
    paths = doc.pop(AWARE_FIELD)
    for path in paths if isinstance(paths, list) else ():
        if isinstance(path, str) and path:
            _utc(doc, path.split("."))
    return doc


def from_index_all(docs: Iterable[Any]) -> Iterator[Any]:
    return map(from_index, docs)


def with_aware_field(properties: list[str] | None) -> list[str] | None:
    """A projection that also reads ``AWARE_FIELD`` (None: whole documents, which hold it)."""
    if properties is None or AWARE_FIELD in properties:
        return properties
    return [*properties, AWARE_FIELD]


def aware_groups(groups: Iterator[tuple[dict, list[dict]]], keys: list[str],
                 marked: bool = True) -> Iterator[tuple[dict, list[dict]]]:
    """Groups with their members restored, and the key values taken from the first member
    (so an aware key is UTC-aware, as in the members). ``marked``: False when the engine
    knows no entry marks aware datetimes."""
    from s3explore._query import get_path, nested

    for values, docs in groups:
        if marked and _any_marked(docs):
            docs = [from_index(d) for d in docs]
        if docs:
            values = nested({k: get_path(docs[0], k) for k in keys})
        yield values, docs


def _any_marked(docs: list) -> bool:
    """Whether some of ``docs`` lists aware paths: one pass in C over millions of members."""
    try:
        return any(map(operator.contains, docs, repeat(AWARE_FIELD)))
    except TypeError:  # not all of them mappings: from_index tells
        return True


def _holds_datetime(value: Any) -> bool:
    if isinstance(value, _dt.datetime):
        return True
    if type(value) is dict:
        return any(_holds_datetime(v) for v in value.values())
    if type(value) is list:
        return any(_holds_datetime(v) for v in value)
    return False


def aware_distinct(store: Store, field: str, criteria: dict, values: list) -> list:
    """``values`` (an engine's distinct, naive datetimes) as the documents hold them: when
    some matching document marks datetimes at or below ``field`` as aware, the distinct
    values are taken from the restored documents instead."""
    if not any(_holds_datetime(v) for v in values):
        return values
    marked = {AWARE_FIELD: {"$regex": f"^{re.escape(field)}(\\.|$)"}}
    if not store._count({"$and": [criteria, marked]} if criteria else marked):
        return values
    from s3explore._stores._base import Store as Base

    return Base._distinct(store, field, criteria)


# ---------------------------------------------------------------- criteria


def as_stored(value: Any) -> Any:
    """``value`` (criteria, a key value) with every aware datetime as its naive UTC instant,
    as the engines hold it; the same object when there is none."""
    kind = type(value)
    if kind is dict:
        out = {k: as_stored(v) for k, v in value.items()}
        return value if all(out[k] is value[k] for k in value) else out
    if kind is list or kind is tuple:
        items = [as_stored(v) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if isinstance(value, _dt.datetime) and _aware(value):
        return _naive_utc(value)
    return value


utc_criteria = as_stored
