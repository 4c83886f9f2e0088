"""Densities of states and band structures as SVG plots in the document tree.

The objects are real pymatgen ones built from small arrays; their ``as_dict()`` goes through
an S3Store and back before it is drawn. Dicts that only look like them (bytes from a bucket
are untrusted) fall back to the plain tree.
"""

from __future__ import annotations

import re
from html import unescape

import numpy as np
import pytest

from s3explore.widgets import DocumentViewer, _plots
from s3explore.widgets._objects import RENDERERS, register_renderer
from s3explore.widgets._tree import render_document

pytest.importorskip("pymatgen.core")
from pymatgen.electronic_structure.bandstructure import BandStructureSymmLine
from pymatgen.electronic_structure.core import Orbital, Spin
from pymatgen.electronic_structure.dos import CompleteDos, Dos

from tests.materials._docs import nacl  # built once (0.3 s each), a fresh copy per call

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

EFERMI = 0.3
LABELS = {"\\Gamma": [0, 0, 0], "X": [0.5, 0, 0.5], "W": [0.5, 0.25, 0.75],
          "L": [0.5, 0.5, 0.5]}
BRANCHES = [("\\Gamma", "X"), ("X", "W"), ("L", "\\Gamma")]  # W|L: a jump
KPOINTS_PER_BRANCH = 30


def complete_dos(points: int = 801) -> CompleteDos:
    """Spin-polarised NaCl-like DOS: peaks below and above a gap from -0.9 to 1.6 eV (from
    E_F), s-projections on every site."""
    energies = np.linspace(-8, 8, points) + EFERMI

    def peak(centre: float, width: float = 0.6) -> np.ndarray:
        return np.exp(-(((energies - EFERMI) - centre) / width) ** 2)

    up = 2 * peak(-3) + peak(-1.5) + 1.5 * peak(2.5) + peak(4)
    up[(energies - EFERMI > -0.9) & (energies - EFERMI < 1.6)] = 0
    down = 0.8 * up
    structure = nacl()
    total = Dos(EFERMI, energies, {Spin.up: up, Spin.down: down})
    pdos = {site: {Orbital.s: {Spin.up: up / 4, Spin.down: down / 4}} for site in structure}
    return CompleteDos(structure, total, pdos)


def band_structure(spin_polarized: bool = True, shift: float = 0.0,
                   bands: int = 8) -> BandStructureSymmLine:
    """``bands`` bands (half below, half above E_F + ``shift``) along Γ-X-W|L-Γ."""
    kpoints = np.array([(1 - t) * np.array(LABELS[a]) + t * np.array(LABELS[b])
                        for a, b in BRANCHES for t in np.linspace(0, 1, KPOINTS_PER_BRANCH)])
    x = np.linspace(0, 1, len(kpoints))
    half = bands // 2
    valence = [-6 + j * 0.7 + 0.8 * np.cos(2 * np.pi * x * (1 + j % 3)) for j in range(half)]
    conduction = [2 + j * 0.8 + 0.6 * np.sin(2 * np.pi * x * (1 + j % 2)) for j in range(half)]
    eigenvalues = np.array(valence + conduction) + shift
    spins = {Spin.up: eigenvalues}
    if spin_polarized:
        spins[Spin.down] = eigenvalues + 0.3
    structure = nacl()
    return BandStructureSymmLine(kpoints, spins, structure.lattice.reciprocal_lattice, 0.5,
                                 LABELS, structure=structure)


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def summary(html: str) -> str:
    found = re.findall(r'class="s3x-leaf s3x-plot-summary">(.*?)</div>', html)
    assert len(found) == 1, html[:500]
    return unescape(found[0])


def curves(html: str) -> list[list[list[tuple[float, float]]]]:
    """Each drawn curve as its pieces of (x, y) points."""
    out = []
    for d in re.findall(r'<path d="([^"]*)"', html):
        pieces = [[tuple(map(float, p.split(","))) for p in piece.split()]
                  for piece in d.split("M") if piece.strip()]
        out.append(pieces)
    return out


# -- densities of states ------------------------------------------------------------------------

def test_complete_dos_is_a_plot_with_its_summary():
    cdos = complete_dos()
    html = render_document({"dos": cdos.as_dict()})
    line = summary(html)
    assert "801 energies" in line and "2 spins" in line and "E_F 0.3 eV" in line
    assert f"projected on {len(cdos.structure)} sites" in line and "structure NaCl" in line
    gap = float(re.search(r"gap (\S+) eV", line).group(1))
    step = 16 / 800
    assert gap == pytest.approx(cdos.get_gap(), abs=step)  # pymatgen interpolates
    assert html.count("<svg") == 1 and "E \u2212 E_F (eV)" in html
    assert len(curves(html)) == 2  # spin up and down
    assert "spin \u2191" in html and "spin \u2193" in html and ">E_F<" in html
    assert "pdos" not in text_of(html)  # the plot, not the tree


def test_spin_down_is_drawn_below_the_axis_and_up_above():
    html = render_document({"dos": complete_dos().as_dict()})
    up, down = curves(html)
    axis = f'<line x1="{_plots.LEFT}" x2="{_plots.WIDTH - _plots.RIGHT}" y1="([\\d.]+)"'
    zero = float(re.search(axis, html).group(1))
    assert min(y for y in (p[1] for p in up[0])) < zero  # SVG y grows downwards
    assert max(y for y in (p[1] for p in down[0])) > zero


def test_a_plain_dos_with_one_spin_has_no_legend():
    energies = np.linspace(-3, 3, 61)
    dos = Dos(-0.5, energies, {Spin.up: np.abs(energies)})
    html = render_document({"dos": dos.as_dict()})
    line = summary(html)
    assert "61 energies" in line and re.search(r"\b1 spin\b", line) and "gap 0 eV" in line
    assert len(curves(html)) == 1 and "spin \u2191" not in html


def test_a_gap_that_runs_off_the_grid_is_not_a_number():
    energies = np.linspace(-3, 3, 61)
    dos = Dos(0.0, energies, {Spin.up: np.where(energies < -1, 1.0, 0.0)})
    assert "gap beyond the energy grid" in summary(render_document({"d": dos.as_dict()}))


def test_a_long_dos_is_decimated_and_keeps_its_peaks():
    energies = np.linspace(-5, 5, 200_001)
    density = np.full(energies.size, 0.1)
    density[123_457] = 50.0  # one narrow spike in 200k points
    html = render_document({"dos": Dos(0.0, energies, {Spin.up: density}).as_dict()})
    (pieces,) = curves(html)
    assert len(pieces[0]) <= _plots.MAX_POINTS
    top = min(y for _, y in pieces[0])  # the highest point drawn
    assert top == pytest.approx(_plots.TOP + (_plots.HEIGHT - _plots.TOP - _plots.BOTTOM)
                                * (1 - 1 / 1.05), abs=0.2)
    assert len(html) < 40_000


# -- band structures ----------------------------------------------------------------------------

def test_band_structure_is_a_plot_with_gap_and_labels():
    bs = band_structure()
    html = render_document({"bs": bs.as_dict()})
    line = summary(html)
    expected = bs.get_band_gap()
    assert "8 bands" in line and f"{3 * KPOINTS_PER_BRANCH} k-points" in line
    assert "2 spins" in line and "E_F 0.5 eV" in line
    gap = re.search(r"gap (\S+) eV \((\w+)\)", line)
    assert float(gap.group(1)) == pytest.approx(expected["energy"], abs=1e-3)
    assert (gap.group(2) == "direct") == expected["direct"]
    below = _plots.HEIGHT - _plots.BOTTOM + 14
    ticks = re.findall(rf'y="{below}" text-anchor="middle">([^<]*)</text>', html)
    assert ticks == ["\u0393", "X", "W|L", "\u0393"]
    drawn = curves(html)
    assert len(drawn) == 16  # 8 bands x 2 spins
    assert all(len(pieces) == 2 for pieces in drawn)  # no line across the W|L jump
    assert html.count('stroke-dasharray="4 2"') == 8 + 1  # spin down, and its legend line


def test_a_metal_is_called_a_metal():
    bs = band_structure(spin_polarized=False, shift=5.0)  # E_F inside the conduction bands
    line = summary(render_document({"bs": bs.as_dict()}))
    assert bs.is_metal() and "metal" in line and re.search(r"\b1 spin\b", line)


def test_many_bands_and_kpoints_are_bounded():
    nk, nb = 3000, 400
    d = band_structure().as_dict()
    d["kpoints"] = np.linspace([0, 0, 0], [0.5, 0.5, 0.5], nk).tolist()
    d["labels_dict"] = {"\\Gamma": [0, 0, 0], "L": [0.5, 0.5, 0.5]}
    d["bands"] = {"1": (np.linspace(-40, 40, nb)[:, None] + np.zeros(nk)).tolist()}
    html = render_document({"bs": d})
    line = summary(html)
    assert f"{nb} bands" in line and f"{nk} k-points" in line
    assert f"{_plots.MAX_BANDS} bands near E_F drawn" in line
    drawn = curves(html)
    assert len(drawn) == _plots.MAX_BANDS
    assert all(len(p) <= 2 * _plots.MAX_KPOINTS for c in drawn for p in c)
    assert len(html) < 400_000


def test_labels_from_the_data_are_escaped():
    d = band_structure().as_dict()
    d["labels_dict"]["<script>alert(1)</script>"] = d["labels_dict"].pop("X")
    html = render_document({"bs": d})
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "<svg" in html  # still a plot


@pytest.mark.parametrize("name,expected", [
    ("\\Gamma", "\u0393"), ("$\\Gamma$", "\u0393"), ("GAMMA", "\u0393"), ("S_0", "S\u2080"),
    ("\\Sigma_1", "\u03a3\u2081"), ("a&b", "a&amp;b"), ("x" * 40, "x" * _plots.MAX_LABEL)])
def test_k_labels(name, expected):
    assert _plots.k_label(name) == expected


# -- through a bucket ---------------------------------------------------------------------------

@pytest.mark.parametrize("decode", [False, True])
@pytest.mark.slow
def test_objects_stored_in_s3_are_drawn_in_the_viewer(make_store, decode):
    store = make_store(compress=True, decode_objects=["pymatgen"] if decode else None)
    cdos, bs = complete_dos(), band_structure()
    store.update([{"task_id": "mp-1", "dos": cdos.as_dict(), "bs": bs.as_dict()}])
    viewer = DocumentViewer(store, "mp-1")
    if decode:
        assert isinstance(viewer.doc["dos"], CompleteDos)
        assert isinstance(viewer.doc["bs"], BandStructureSymmLine)
    html = viewer._body.value
    assert html.count("<svg") == 2
    shown = float(re.search(r"gap (\S+) eV \u00b7 projected", unescape(html)).group(1))
    assert shown == pytest.approx(cdos.get_gap(), abs=16 / 800)  # one step of the grid
    assert f"gap {bs.get_band_gap()['energy']:.3g} eV (indirect)" in html


# -- untrusted dicts ----------------------------------------------------------------------------

def _dos(**change) -> dict:
    d = {"@module": "pymatgen.electronic_structure.dos", "@class": "Dos", "efermi": 0.0,
         "energies": [-1.0, 0.0, 1.0], "densities": {"1": [1.0, 0.0, 1.0]}}
    d.update(change)
    return d


def _bs(**change) -> dict:
    d = band_structure(spin_polarized=False).as_dict()
    d.update(change)
    return d


MALFORMED = {
    "no energies": _dos(energies=None),
    "energies as text": _dos(energies="-1 0 1"),
    "energies of strings": _dos(energies=["a", "b", "c"]),
    "nested energies": _dos(energies=[[1, 2], [3, 4], [5, 6]]),
    "one energy": _dos(energies=[0.0], densities={"1": [1.0]}),
    "nan energy": _dos(energies=[-1.0, float("nan"), 1.0]),
    "infinite density": _dos(densities={"1": [1.0, float("inf"), 1.0]}),
    "length mismatch": _dos(densities={"1": [1.0, 2.0]}),
    "densities a list": _dos(densities=[[1.0, 0.0, 1.0]]),
    "empty densities": _dos(densities={}),
    "unknown spin": _dos(densities={"up": [1.0, 0.0, 1.0]}),
    "huge number": _dos(energies=[-1.0, 10**400, 1.0]),
    "dict densities": _dos(densities={"1": {"a": 1}}),
    "bands missing": _bs(bands=None),
    "ragged bands": _bs(bands={"1": [[1.0, 2.0], [1.0]]}),
    "bands a vector": _bs(bands={"1": [1.0, 2.0, 3.0]}),
    "bands of text": _bs(bands={"1": [["x"] * 90]}),
    "kpoints too few": _bs(kpoints=[[0, 0, 0]]),
    "kpoints 2d": _bs(kpoints=[[0, 0]] * 90),
    "kpoints missing": _bs(kpoints=None),
    "spins disagree": _bs(bands={"1": [[0.0] * 90], "-1": [[0.0] * 90] * 2}),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_dicts_fall_back_to_the_tree(name):
    d = MALFORMED[name]
    assert RENDERERS[d["@class"]](d) is None
    html = render_document({"thing": d})
    assert "<svg" not in html and d["@class"] in html  # the plain tree, which names it


@pytest.mark.parametrize("change", [
    {"efermi": "0.3"}, {"efermi": None}, {"efermi": float("nan")}, {"efermi": True}])
def test_a_missing_or_odd_fermi_level_still_draws_without_it(change):
    html = render_document({"d": _dos(**change)})
    assert "<svg" in html and ">E_F<" not in html and "E (eV)" in html
    assert "E_F" not in summary(html)


def test_odd_labels_and_lattice_still_draw():
    d = _bs(labels_dict={"X": "nope", "Y": [1, 2], 5: [0, 0, 0], "<b>": [[1, 2, 3]]},
            lattice_rec={"matrix": "not a matrix"})
    html = render_document({"bs": d})
    assert "<svg" in html and "<b>" not in html


def test_a_renderer_that_raises_falls_back_and_a_bad_one_is_refused():
    def broken(d):
        raise KeyError("boom")

    register_renderer("Thing", broken)
    try:
        html = render_document({"t": {"@module": "m", "@class": "Thing", "size": 3}})
        assert "size" in text_of(html) and "boom" not in html
    finally:
        register_renderer("Thing", None)
    with pytest.raises(TypeError, match="'Thing' must be callable"):
        register_renderer("Thing", "not a function")
    with pytest.raises(TypeError, match="cls must be a class name"):
        register_renderer(None, broken)
    assert "Thing" not in RENDERERS
