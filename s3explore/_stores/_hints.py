"""Typo hints: a query on a field that no entry has warns, suggesting the closest field.

A field no entry has is legal in MongoDB criteria (it matches nothing, or everything under
``$exists: False``), so this is a warning (``UnknownFieldWarning``), never an error. Free
when a query finds something: only an empty result (``query`` run to its end, ``count``,
``query_df``, ``facets``) is checked, and only for calls from user code, not the package's
own queries. The check compares the names in the criteria with the store's known fields,
collected once per store (DuckDB: its catalog of paths; other engines: the first ``SAMPLE``
entries) and cached on the store; a name not among them costs one query, "does any entry have
it?", counting at most one entry within ``PROBE_SECONDS`` (a name found is remembered; a probe
that runs out of time warns of nothing).
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Iterator
from typing import Any

from s3explore._errors import UnknownFieldWarning, warn
from s3explore._query import Query

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
# The widgets ask what the user typed in a filter box: their queries are the user's.
_WIDGETS_DIR = _PACKAGE_DIR + "widgets" + os.sep
SAMPLE = 200  # entries read once per store for its known fields
PROBE_SECONDS = 0.5
_CACHE = "_s3x_known_fields"


def criteria_names(criteria: Any) -> Iterator[str]:
    """The field names of criteria (inside ``$and``/``$or``/``$nor``; not the relative
    ones inside ``$elemMatch``)."""
    for name, value in criteria.items():
        if name in ("$and", "$or", "$nor") and isinstance(value, list):
            for clause in value:
                if isinstance(clause, dict):
                    yield from criteria_names(clause)
        elif not name.startswith("$"):
            yield name


def _paths(value: Any, prefix: str, out: set[str]) -> None:
    if isinstance(value, dict):
        for name, inner in value.items():
            path = f"{prefix}{name}"
            out.add(path)
            _paths(inner, path + ".", out)
    elif isinstance(value, list):
        for item in value:
            _paths(item, prefix, out)


def known_fields(engine: Any) -> set[str]:
    """The dotted paths the store is known to have (cached on it)."""
    known = engine.__dict__.get(_CACHE)
    if known is None:
        from s3explore._stores._base import Store
        from s3explore._stores._duckdb import DuckDBStore

        known = set()
        if isinstance(engine, DuckDBStore):
            catalog = engine._catalog
            known.update(catalog.paths if catalog is not None else ())
        elif isinstance(engine, Store):
            for doc in engine._find(Query({}, limit=SAMPLE)):
                _paths(doc, "", known)
        if known:  # an empty store: asked again once it has entries
            engine.__dict__[_CACHE] = known
    return known


def _is_known(name: str, known: set[str]) -> bool:
    if name in known or name == "_id":
        return True
    parts = name.split(".")
    # below a known path through an array position ("elements.0", "sites.0.species")
    return any(parts[i].isdigit() and ".".join(parts[:i]) in known
               for i in range(1, len(parts)))


def from_user(depth: int = 2) -> bool:
    """Whether the public method calling this (``depth - 1`` frames up) was called from
    outside s3explore or from its widgets (a filter typed in a box): the package's own
    queries (e.g. for ``last_updated``) may name absent fields on purpose."""
    caller = sys._getframe(depth)
    if caller is None:
        return False
    name = caller.f_code.co_filename
    return not name.startswith(_PACKAGE_DIR) or name.startswith(_WIDGETS_DIR)


def hinted(store: Any, criteria: dict, entries: Iterator[Any]) -> Iterator[Any]:
    """``entries`` (an S3Store's index entries), checked when empty if the method calling
    this was called from user code."""
    return hint_if_empty(store, criteria, entries) if from_user(3) else entries


def hint_if_empty(store: Any, criteria: dict, docs: Iterator[Any]) -> Iterator[Any]:
    """``docs``; when they run out without one, ``check`` the criteria."""
    empty = True
    for doc in docs:
        empty = False
        yield doc
    if empty:
        check(store, criteria)


def check(store: Any, criteria: dict, fields: Any = None) -> None:
    """Warn of every name in ``criteria`` and ``fields`` that no entry of ``store`` has."""
    from s3explore._stores._base import Store
    from s3explore._stores._counting import count_within, engine_of

    engine = engine_of(store)
    if not isinstance(engine, Store):
        return  # a foreign index: not ours to probe
    fields = [f for f in fields or () if isinstance(f, str)] if isinstance(
        fields, (list, tuple)) else []
    names = list(dict.fromkeys([*criteria_names(criteria), *fields]))
    if not names:
        return
    try:
        known = known_fields(engine)
    except Exception:  # a hint never breaks the query it follows
        return
    if not known:
        return  # an empty store: every field is absent, none is a typo
    for name in names:
        if _is_known(name, known):
            continue
        try:
            found, finished = count_within(engine, {name: {"$exists": True}}, 1,
                                           PROBE_SECONDS)
        except Exception:  # the engine refused the probe: no hint rather than an error
            continue
        if found:
            known.add(name)
        elif finished:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            advice = (f"did you mean {close[0]!r}?" if close else
                      "no entry has it (store.fields() lists the fields)")
            warn(f"no field {name!r} in {engine.name}; {advice}", UnknownFieldWarning)
