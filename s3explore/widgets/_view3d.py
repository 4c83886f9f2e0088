"""An optional interactive 3D view of the structures in a document (nglview: the ``view3d``
extra).

nglview is an ipywidget whose JavaScript (NGL) ships inside the Python package as a JupyterLab
extension, so the view works in JupyterLab and Voila without reaching the internet. The
structure goes to it as PDB text written here from the stored dict (lattice and fractional
coordinates, numpy only), so nothing but nglview is needed. Without nglview the toggle says
how to install it. The dict comes from a bucket: one that cannot be read says so in place of
the view.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Mapping
from html import escape
from typing import Any

import ipywidgets as widgets
import numpy as np

from s3explore.widgets._objects import object_dict

INSTALL_HINT = "pip install 's3explore[view3d]'"
STRUCTURE_CLASSES = ("Structure", "IStructure")
MAX_VIEWS = 4  # structures in one document offered a 3D view
MAX_ATOMS = 20_000  # beyond this the 3D view is refused (NGL slows to a crawl)


def has_nglview() -> bool:
    try:
        return importlib.util.find_spec("nglview") is not None
    except (ImportError, ValueError):
        return False


def structure_fields(doc: Any) -> list[tuple[str, Mapping]]:
    """The structures of ``doc`` (the document itself, its fields and their fields) as
    (field path, stored dict), at most ``MAX_VIEWS``."""
    found: list[tuple[str, Mapping]] = []

    def visit(name: str, value: Any, depth: int) -> None:
        if len(found) >= MAX_VIEWS:
            return
        if not isinstance(value, Mapping):
            value = object_dict(value) if hasattr(value, "as_dict") else None
        if not isinstance(value, Mapping):
            return
        if value.get("@class") in STRUCTURE_CLASSES:
            found.append((name, value))
        elif depth < 2:
            for key, child in list(value.items())[:1000]:
                if not (isinstance(key, str) and key.startswith("@")):
                    visit(f"{name}.{key}" if name else str(key), child, depth + 1)

    visit("", doc, 0)
    return found


def structure_pdb(d: Mapping) -> str:
    """The structure as PDB text: CRYST1 from the lattice, one HETATM per site (its major
    species), in PDB's frame (a along x, b in the xy plane). ValueError when the dict
    does not hold a lattice and sites with fractional coordinates."""
    lattice, sites = d.get("lattice"), d.get("sites")
    if not isinstance(lattice, Mapping) or not isinstance(sites, list) or not sites:
        raise ValueError("the structure has no lattice or no sites")
    if len(sites) > MAX_ATOMS:
        raise ValueError(f"{len(sites)} sites: more than the {MAX_ATOMS} a 3D view takes")
    m = np.asarray(lattice.get("matrix"), dtype=float)
    if m.shape != (3, 3) or not np.isfinite(m).all() or abs(np.linalg.det(m)) < 1e-9:
        raise ValueError("the lattice matrix is not a 3x3 matrix of a cell")
    a, b, c = (float(np.linalg.norm(v)) for v in m)
    alpha, beta, gamma = (math.acos(float(np.clip(np.dot(u, v) / np.linalg.norm(u)
                                                  / np.linalg.norm(v), -1, 1)))
                          for u, v in ((m[1], m[2]), (m[0], m[2]), (m[0], m[1])))
    cy = c * (math.cos(alpha) - math.cos(beta) * math.cos(gamma)) / math.sin(gamma)
    cx = c * math.cos(beta)
    frame = np.array([[a, 0, 0], [b * math.cos(gamma), b * math.sin(gamma), 0],
                      [cx, cy, math.sqrt(max(c * c - cx * cx - cy * cy, 0.0))]])
    lines = [f"CRYST1{a:9.3f}{b:9.3f}{c:9.3f}{math.degrees(alpha):7.2f}"
             f"{math.degrees(beta):7.2f}{math.degrees(gamma):7.2f} P 1           1"]
    for i, site in enumerate(sites, 1):
        if not isinstance(site, Mapping):
            raise ValueError(f"site {i - 1} is not a mapping")
        frac = np.asarray(site.get("abc"), dtype=float)
        if frac.shape != (3,) or not np.isfinite(frac).all():
            raise ValueError(f"site {i - 1} has no fractional coordinates")
        x, y, z = frac @ frame
        element = _element(site.get("species"))
        lines.append(f"HETATM{i % 100000:5d} {element:<4s} UNK A   1    "
                     f"{x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00          {element:>2s}")
    return "\n".join([*lines, "END", ""])


def _element(species: Any) -> str:
    """The site's major species as an element symbol PDB can hold (letters only)."""
    best, occu = "X", -1.0
    for sp in species if isinstance(species, list) else []:
        share = sp.get("occu", 1) if isinstance(sp, Mapping) else None
        if isinstance(share, (int, float)) and float(share) > occu:
            best, occu = str(sp.get("element", "X")), float(share)
    letters = "".join(ch for ch in best if ch.isalpha())[:2]
    return letters.capitalize() or "X"


def structure_view(d: Mapping) -> widgets.Widget:
    """An nglview widget showing the structure with its unit cell; ImportError without
    nglview, ValueError for a dict that is not a structure."""
    import nglview

    view = nglview.NGLWidget(nglview.TextStructure(structure_pdb(d), ext="pdb"),
                             representations=[
                                 {"type": "ball+stick",
                                  "params": {"colorScheme": "element", "aspectRatio": 3.0}},
                                 {"type": "unitcell", "params": {}}])
    view.camera = "orthographic"  # a crystal reads better without perspective
    # tilted off the c axis, where the atoms of a cubic cell hide behind each other
    view.control.spin([1, 0, 0], 0.45)
    view.control.spin([0, 1, 0], -0.35)
    view.layout = widgets.Layout(width="100%", height="360px")
    view.add_class("s3x-view3d-canvas")
    return view


class StructureToggle(widgets.VBox):
    """A toggle that shows (and hides) the 3D view of one structure, made when first asked."""

    def __init__(self, name: str, d: Mapping) -> None:
        self.name, self.structure = name, d
        label = f"3D view of {name}" if name else "3D view"
        self.button = widgets.ToggleButton(value=False, description=label, icon="cube",
                                           tooltip=f"show {label} (nglview)",
                                           layout=widgets.Layout(width="auto",
                                                                 align_self="flex-start"))
        self.button.add_class("s3x-view3d-toggle")
        self.area = widgets.Box(layout=widgets.Layout(display="none", width="100%"))
        self.view: widgets.Widget | None = None
        self.button.observe(self._toggle, "value")
        super().__init__([self.button, self.area])
        self.add_class("s3x-view3d")

    def _toggle(self, change: dict) -> None:
        # shown before the view is made: NGL sizes its canvas to its container when created
        self.area.layout.display = "flex" if change["new"] else "none"
        if change["new"] and not self.area.children:
            self.area.children = [self._make()]

    def _make(self) -> widgets.Widget:
        if not has_nglview():
            return _note(f"The 3D view needs nglview: {INSTALL_HINT}, then restart the kernel.")
        try:
            self.view = structure_view(self.structure)
        except (ValueError, TypeError) as exc:
            return _note(f"No 3D view of {self.name or 'the structure'}: {exc}")
        return self.view


def _note(text: str) -> widgets.HTML:
    note = widgets.HTML(f'<div class="s3x-empty">{escape(text)}</div>')
    note.add_class("s3x-view3d-note")
    return note


def structure_toggles(doc: Any) -> list[widgets.Widget]:
    """One 3D-view toggle per structure in ``doc`` (none when it holds none)."""
    return [StructureToggle(name, d) for name, d in structure_fields(doc)]
