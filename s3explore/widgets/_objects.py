"""Renderers for monty objects in the document tree, chosen by their ``@class``.

A renderer takes the object's dict (as stored: ``@module``, ``@class`` and its fields) and
returns an HTML body, or None to fall back to the plain tree. Structures and molecules show
a summary and a site table: computed with pymatgen when it is installed (space group from
spglib through SpacegroupAnalyzer, density), from the dict alone when it is not. Every value
taken from the document is HTML-escaped. Densities of states and band structures are small
SVG plots (``_plots``). ``register_renderer`` adds one for another class.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
from collections import Counter
from collections.abc import Callable, Mapping
from functools import reduce
from html import escape
from typing import Any

import numpy as np

from s3explore.widgets._plots import bandstructure_html, dos_html

Renderer = Callable[[Mapping], "str | None"]
RENDERERS: dict[str, Renderer] = {}
MAX_SITES = 200  # rows of a site table; the rest is counted


def register_renderer(cls: str, renderer: Renderer | None) -> None:
    """Show objects whose ``@class`` is ``cls`` with ``renderer`` (None removes it).

    A renderer that raises on a document counts as returning None: the dict comes from a
    bucket and may be anything, and the plain tree still shows all of it."""
    if not isinstance(cls, str) or not cls:
        raise TypeError(f"register_renderer: cls must be a class name (a non-empty str), "
                        f"not {cls!r}")
    if renderer is None:
        RENDERERS.pop(cls, None)
    elif not callable(renderer):
        raise TypeError(f"register_renderer: the renderer for {cls!r} must be callable "
                        "(dict -> HTML str or None), or None to remove it")
    else:
        RENDERERS[cls] = _guarded(renderer)


def _guarded(renderer: Renderer) -> Renderer:
    def render(d: Mapping) -> str | None:
        try:
            body = renderer(d)
        except Exception:  # untrusted data a renderer did not expect: the plain tree
            return None
        return body if isinstance(body, str) else None

    render.__wrapped__ = renderer  # type: ignore[attr-defined]
    return render


def is_enum(d: Mapping) -> bool:
    """An enum as monty stores it: ``@module``, ``@class``, ``value`` (``@version``)."""
    return (isinstance(d.get("@class"), str) and "value" in d
            and all(k == "value" or str(k).startswith("@") for k in d))


def _has_pymatgen() -> bool:
    try:
        return importlib.util.find_spec("pymatgen.core") is not None
    except (ImportError, ValueError):
        return False


def _num(value: Any, digits: int = 4) -> str:
    try:
        return escape(f"{float(value):.{digits}g}")
    except (TypeError, ValueError):
        return "\u2014"


def _facts(rows: list[tuple[str, str]]) -> str:
    cells = "".join(f'<span class="s3x-fact"><span class="s3x-name">{escape(k)}</span> {v}'
                    "</span>" for k, v in rows)
    return f'<div class="s3x-facts-grid">{cells}</div>'


def _table(header: list[str], rows: list[list[str]], total: int) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    more = (f'<div class="s3x-leaf s3x-meta">\u2026 {total - len(rows)} more sites not '
            "shown</div>" if total > len(rows) else "")
    return f'<table class="s3x-sites"><tr>{head}</tr>{body}</table>{more}'


def _species_text(species: Any) -> str:
    if not isinstance(species, list):
        return "?"
    parts = []
    for sp in species:
        if not isinstance(sp, Mapping):
            continue
        name = str(sp.get("element", "?"))
        ox = sp.get("oxidation_state")
        if isinstance(ox, (int, float)) and ox:
            name += f"{abs(ox):g}{'+' if ox > 0 else '-'}"
        occu = sp.get("occu", 1)
        parts.append(name if occu == 1 else f"{name}:{_num(occu, 3)}")
    return ",".join(parts) or "?"


def _plain_formula(sites: list) -> str:
    counts: Counter = Counter()
    for site in sites:
        for sp in site.get("species", []) if isinstance(site, Mapping) else []:
            if isinstance(sp, Mapping):
                counts[str(sp.get("element", "?"))] += float(sp.get("occu", 1))
    if not counts:
        return "?"
    amounts = list(counts.values())
    whole = all(float(a).is_integer() for a in amounts)
    divisor = reduce(math.gcd, (int(a) for a in amounts)) if whole else 1
    return "".join(f"{el}{'' if a / divisor == 1 else f'{a / divisor:g}'}"
                   for el, a in counts.items())


def _lattice_facts(matrix: Any) -> list[tuple[str, str]]:
    m = np.asarray(matrix, dtype=float).reshape(3, 3)
    a, b, c = (float(np.linalg.norm(v)) for v in m)

    def angle(u: np.ndarray, v: np.ndarray) -> float:
        return math.degrees(math.acos(float(np.dot(u, v)) / np.linalg.norm(u) / np.linalg.norm(v)))

    return [("a b c", " ".join(_num(x) for x in (a, b, c)) + " \u00c5"),
            ("\u03b1 \u03b2 \u03b3", " ".join(_num(x) for x in (
                angle(m[1], m[2]), angle(m[0], m[2]), angle(m[0], m[1]))) + "\u00b0"),
            ("volume", f"{_num(abs(float(np.linalg.det(m))))} \u00c5\u00b3")]


def _prop(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _num(value, 3)
    if isinstance(value, (list, tuple, np.ndarray)) and len(value) <= 3:
        return "[" + " ".join(_num(v, 3) for v in value) + "]"
    return escape(str(value)[:40])


def _site_rows(sites: list, coords: str) -> list[list[str]]:
    rows = []
    for site in sites[:MAX_SITES]:
        if not isinstance(site, Mapping):
            continue
        xyz = site.get(coords) or []
        props = site.get("properties") or {}
        shown = ", ".join(f"{escape(str(k))}={_prop(v)}" for k, v in props.items()
                          ) if isinstance(props, Mapping) else ""
        # one column per axis, fixed decimals: coordinates line up down the table
        axes = [f"{float(x):.4f}" if isinstance(x, (int, float)) else escape(str(x))
                for x in list(xyz)[:3]]
        rows.append([escape(_species_text(site.get("species"))),
                     *(axes + [""] * (3 - len(axes))), shown])
    return rows


def structure_html(d: Mapping) -> str | None:
    """A Structure's summary and site table (from its dict; pymatgen when installed)."""
    sites, lattice = d.get("sites"), d.get("lattice")
    if not isinstance(sites, list) or not isinstance(lattice, Mapping):
        return None
    facts: list[tuple[str, str]] = []
    if _has_pymatgen():
        try:
            from pymatgen.core import Structure

            s = Structure.from_dict(d)
            facts.append(("formula", escape(s.composition.reduced_formula)))
            facts.append(("space group", escape(_spacegroup(s))))
            facts += _lattice_facts(s.lattice.matrix)
            facts.append(("density", f"{_num(float(s.density))} g/cm\u00b3"))
        except Exception:  # a dict pymatgen refuses: the plain summary below
            facts = []
    if not facts:
        facts.append(("formula", escape(_plain_formula(sites))))
        with contextlib.suppress(TypeError, ValueError):
            facts += _lattice_facts(lattice.get("matrix"))
    facts.append(("sites", str(len(sites))))
    table = _table(["species", "a", "b", "c", "properties"], _site_rows(sites, "abc"),
                   len(sites))
    return _facts(facts) + table


def _spacegroup(structure: Any) -> str:
    try:
        from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

        sga = SpacegroupAnalyzer(structure)
        return f"{sga.get_space_group_symbol()} ({sga.get_space_group_number()})"
    except Exception:  # spglib missing or undecided
        return "\u2014"


def molecule_html(d: Mapping) -> str | None:
    sites = d.get("sites")
    if not isinstance(sites, list):
        return None
    facts = [("formula", escape(_plain_formula(sites))), ("sites", str(len(sites)))]
    for name in ("charge", "spin_multiplicity"):
        if isinstance(d.get(name), (int, float)):
            facts.append((name.replace("_", " "), _num(d[name])))
    table = _table(["species", "x (\u00c5)", "y (\u00c5)", "z (\u00c5)", "properties"],
                   _site_rows(sites, "xyz"),
                   len(sites))
    return _facts(facts) + table


register_renderer("Structure", structure_html)
register_renderer("IStructure", structure_html)
register_renderer("Molecule", molecule_html)
register_renderer("IMolecule", molecule_html)
for _cls in ("Dos", "CompleteDos", "LobsterCompleteDos"):
    register_renderer(_cls, dos_html)
for _cls in ("BandStructure", "BandStructureSymmLine", "LobsterBandStructureSymmLine"):
    register_renderer(_cls, bandstructure_html)


def object_dict(value: Any) -> Mapping | None:
    """A rebuilt object (``decode_objects``) as the dict it was stored as, if it has one."""
    as_dict = getattr(value, "as_dict", None)
    if callable(as_dict) and not isinstance(value, type):
        try:
            d = as_dict()
        except Exception:
            return None
        return d if isinstance(d, Mapping) else None
    return None
