"""Derived ``fetch=`` columns: functions of a document, or of one value in it, and named
recipes for structures (computed with pymatgen in the threads that fetch the objects).

``query_df(fetch={"sg": ("structure", "spacegroup"), "n": ("structure", len),
"e": lambda doc: doc["energy"] / doc["nsites"]})``: a tuple ``(path, recipe or function)``
applies to the value at ``path`` (a Structure, or its stored dict: recipes rebuild it with
pymatgen); a function alone receives the whole document. A path a document lacks gives null.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable, Mapping
from typing import Any

from s3explore._errors import ConfigurationError, MissingDependencyError
from s3explore._query import check_fields, get_path

ABSENT = object()


# The last structure each fetch thread rebuilt, and its symmetry analysis: the recipes of one
# document share them instead of rebuilding per column (a strong reference to the source,
# so an identity check cannot match a recycled id).
_last = threading.local()


def _structure(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return value
    if getattr(_last, "source", None) is value:
        return _last.structure
    from pymatgen.core import Structure

    _last.source, _last.structure = value, Structure.from_dict(value)
    return _last.structure


def _analyzer(value: Any) -> Any:
    structure = _structure(value)
    if getattr(_last, "analyzed", None) is structure:
        return _last.analyzer
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    _last.analyzed, _last.analyzer = structure, SpacegroupAnalyzer(structure)
    return _last.analyzer


RECIPES: dict[str, Callable[[Any], Any]] = {
    "formula": lambda v: _structure(v).composition.reduced_formula,
    "spacegroup": lambda v: _analyzer(v).get_space_group_symbol(),
    "spacegroup_number": lambda v: _analyzer(v).get_space_group_number(),
    "crystal_system": lambda v: _analyzer(v).get_crystal_system(),
    "density": lambda v: float(_structure(v).density),
    "volume": lambda v: float(_structure(v).volume),
    "nsites": lambda v: len(_structure(v)),
}


def _on_path(path: str, fn: Callable[[Any], Any]) -> Callable[[dict], Any]:
    def derive(doc: dict) -> Any:
        value = get_path(doc, path, ABSENT)
        return None if value is ABSENT or value is None else fn(value)

    return derive


def _derived(name: str, spec: Any) -> Callable[[dict], Any]:
    if callable(spec):
        return spec
    if (isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str)
            and (callable(spec[1]) or isinstance(spec[1], str))):
        path, fn = spec
        check_fields([path], "fetch")
        if isinstance(fn, str):
            if fn not in RECIPES:
                raise ConfigurationError(
                    f"fetch column {name!r} names recipe {fn!r}; the recipes are "
                    f"{sorted(RECIPES)}, or pass a function")
            try:
                found = importlib.util.find_spec("pymatgen.core") is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                raise MissingDependencyError(
                    f"fetch column {name!r} uses recipe {fn!r}, which needs pymatgen: pip "
                    "install 's3explore[materials]'")
            fn = RECIPES[fn]
        return _on_path(path, fn)
    raise ConfigurationError(
        f"fetch column {name!r}: {spec!r:.80} is neither a function of the document nor a "
        "(path, recipe or function) pair, e.g. ('structure', 'spacegroup')")


def parse_fetch(fetch: Any) -> tuple[list[str], dict[str, Callable[[dict], Any]]]:
    """``(paths, derived columns)`` of a ``fetch=`` argument: a list of paths, or a dict
    whose values are True (the path itself), functions or ``(path, recipe)`` pairs."""
    if not isinstance(fetch, Mapping) or all(
            isinstance(v, (bool, int)) for v in fetch.values()):
        return check_fields(fetch, "fetch") or [], {}
    paths, derived = [], {}
    for name, spec in fetch.items():
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"fetch column names must be strings, got {name!r}")
        if spec is True or (isinstance(spec, int) and not isinstance(spec, bool) and spec):
            paths += check_fields([name], "fetch") or []
        elif spec is not False and spec != 0:
            derived[name] = _derived(name, spec)
    return paths, derived
