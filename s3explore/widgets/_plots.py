"""Densities of states and band structures as small inline SVG plots, drawn from the stored dict.

Only numpy is needed: pymatgen's ``Dos``/``CompleteDos`` (``energies``, ``efermi`` and
``densities`` keyed by spin, "1" up and "-1" down) and ``BandStructure``/
``BandStructureSymmLine`` (``bands`` per spin as bands x k-points, ``kpoints`` as fractional
coordinates, ``lattice_rec``, ``efermi``, ``labels_dict``) are read as stored. The dicts come
from a bucket, so they are untrusted: anything that does not have the expected shape makes
the renderer return None (the plain tree then shows the object), labels are escaped, and the
SVG is bounded (curves decimated, at most ``MAX_BANDS`` bands per spin drawn).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from html import escape
from itertools import islice
from typing import Any

import numpy as np

MAX_POINTS = 400  # points per DOS curve (min/max per bucket, so peaks survive)
MAX_KPOINTS = 300  # k-points per band line (labelled points always kept)
MAX_BANDS = 40  # bands per spin drawn: those nearest the Fermi level
WINDOW = 6.0  # eV either side of the Fermi level shown, when the data reaches that far
GAP_TOL = 1e-3  # a total density at or below this counts as no states (pymatgen's default)
MAX_LABEL = 12  # characters of a k-point label
MAX_LABELS = 100  # labelled k-points read from labels_dict

WIDTH, HEIGHT = 440, 260
LEFT, RIGHT, TOP, BOTTOM = 52, 14, 12, 38
SPIN_COLOURS = {"1": "#1f77b4", "-1": "#d62728"}
SPIN_NAMES = {"1": "spin \u2191", "-1": "spin \u2193"}
FERMI_COLOUR = "#2ca02c"


class _Malformed(ValueError):
    """The dict does not have the shape of the object it names."""


def dos_html(d: Mapping) -> str | None:
    """A DOS as a plot and a one-line summary; None if the dict is not a DOS."""
    try:
        return _dos_html(d)
    except (_Malformed, TypeError, ValueError, OverflowError):
        return None


def bandstructure_html(d: Mapping) -> str | None:
    """A band structure as a plot and a one-line summary; None if the dict is not one."""
    try:
        return _bands_html(d)
    except (_Malformed, TypeError, ValueError, OverflowError):
        return None


# -- reading the dict ---------------------------------------------------------------------------

def _vector(value: Any, what: str) -> np.ndarray:
    if not isinstance(value, (list, tuple, np.ndarray)):
        raise _Malformed(f"{what} is not a list")
    arr = np.asarray(value, dtype=float)
    if arr.ndim != 1 or arr.size < 2 or not np.isfinite(arr).all():
        raise _Malformed(f"{what} is not a list of finite numbers")
    return arr


def _efermi(d: Mapping) -> float | None:
    value = d.get("efermi")
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
        return None
    return float(value) if math.isfinite(float(value)) else None


def _spins(value: Any, what: str) -> dict[str, Any]:
    """The per-spin entries, up first; other keys are refused (not pymatgen's layout)."""
    if not isinstance(value, Mapping) or not value:
        raise _Malformed(f"{what} is not a mapping of spins")
    spins = {str(k).strip(): v for k, v in value.items()}
    if not set(spins) <= set(SPIN_COLOURS):
        raise _Malformed(f"{what} has keys other than the spins 1 and -1")
    return {s: spins[s] for s in SPIN_COLOURS if s in spins}


# -- numbers ------------------------------------------------------------------------------------

def _fmt(x: float, digits: int = 4) -> str:
    return escape(f"{x:.{digits}g}")


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    span = hi - lo
    if not span > 0:
        return [lo]
    raw = span / count
    base = 10 ** math.floor(math.log10(raw))
    step = next(m * base for m in (1, 2, 2.5, 5, 10) if m * base >= raw)
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step + 1e-9) + 1)]


def _minmax_decimate(x: np.ndarray, y: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``cap`` points, keeping each bucket's lowest and highest value in order."""
    if x.size <= cap:
        return x, y
    keep = []
    for chunk in np.array_split(np.arange(x.size), cap // 2):
        lo, hi = chunk[np.argmin(y[chunk])], chunk[np.argmax(y[chunk])]
        keep.extend(sorted({int(lo), int(hi)}))
    idx = np.asarray(keep)
    return x[idx], y[idx]


class _Frame:
    """Maps data coordinates to the plot area."""

    def __init__(self, x: tuple[float, float], y: tuple[float, float]) -> None:
        self.x0, self.x1 = x if x[1] > x[0] else (x[0] - 1, x[0] + 1)
        self.y0, self.y1 = y if y[1] > y[0] else (y[0] - 1, y[0] + 1)

    def px(self, x: np.ndarray | float) -> np.ndarray | float:
        return LEFT + (np.asarray(x) - self.x0) / (self.x1 - self.x0) * (WIDTH - LEFT - RIGHT)

    def py(self, y: np.ndarray | float) -> np.ndarray | float:
        return HEIGHT - BOTTOM - (np.asarray(y) - self.y0) / (self.y1 - self.y0) * (
            HEIGHT - TOP - BOTTOM)

    def path(self, pieces: list[tuple[np.ndarray, np.ndarray]], colour: str,
             dashed: bool = False) -> str:
        """One SVG path of separate pieces (x and y arrays each)."""
        moves = []
        for x, y in pieces:
            pts = " ".join(f"{a:.1f},{b:.1f}"
                           for a, b in zip(self.px(x), self.py(y), strict=True))
            moves.append(f"M{pts}")
        dash = ' stroke-dasharray="4 2"' if dashed else ""
        return (f'<path d="{" ".join(moves)}" fill="none" stroke="{colour}" '
                f'stroke-width="1.2"{dash} clip-path="url(#{{clip}})"/>')


def _axes(frame: _Frame, xlabel: str, ylabel: str, xticks: bool = True) -> str:
    left, right = LEFT, WIDTH - RIGHT
    top, bottom = TOP, HEIGHT - BOTTOM
    parts = [f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" '
             'fill="none" stroke="currentColor" stroke-opacity="0.6"/>']
    if xticks:
        for t in _ticks(frame.x0, frame.x1):
            x = frame.px(t)
            parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{bottom}" y2="{bottom + 4}" '
                         'stroke="currentColor"/>'
                         f'<text x="{x:.1f}" y="{bottom + 15}" text-anchor="middle">'
                         f"{_fmt(t, 3)}</text>")
    for t in _ticks(frame.y0, frame.y1):
        y = frame.py(t)
        parts.append(f'<line x1="{left - 4}" x2="{left}" y1="{y:.1f}" y2="{y:.1f}" '
                     'stroke="currentColor"/>'
                     f'<text x="{left - 6}" y="{y + 3.5:.1f}" text-anchor="end">'
                     f"{_fmt(t, 3)}</text>")
    parts.append(f'<text x="{(left + right) / 2:.1f}" y="{HEIGHT - 4}" text-anchor="middle">'
                 f"{escape(xlabel)}</text>"
                 f'<text transform="translate(12 {(top + bottom) / 2:.1f}) rotate(-90)" '
                 f'text-anchor="middle">{escape(ylabel)}</text>')
    return "".join(parts)


def _legend(spins: list[str], dashed_down: bool) -> str:
    if len(spins) < 2:
        return ""
    x = WIDTH - RIGHT - 74
    # on the theme's background, so that the lines under it do not cross the text
    parts = [f'<rect x="{x - 4}" y="{TOP + 2}" width="74" height="30" rx="3" '
             'style="fill:var(--jp-layout-color0,#fff)" fill-opacity="0.92"/>']
    for i, s in enumerate(spins):
        y = TOP + 14 + 13 * i
        dash = ' stroke-dasharray="4 2"' if dashed_down and s == "-1" else ""
        parts.append(f'<line x1="{x}" x2="{x + 16}" y1="{y - 4}" y2="{y - 4}" '
                     f'stroke="{SPIN_COLOURS[s]}" stroke-width="1.5"{dash}/>'
                     f'<text x="{x + 20}" y="{y}">{SPIN_NAMES[s]}</text>')
    return "".join(parts)


_CLIP_COUNTER = iter(range(1, 1 << 62))


def _svg(body: str, title: str) -> str:
    # The clip path's id is unique per plot: several plots can share one page.
    clip = f"s3x-clip-{next(_CLIP_COUNTER)}"
    return (f'<svg class="s3x-plot" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
            f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
            'font-family="sans-serif" font-size="10" fill="currentColor" '
            f'style="max-width:100%;height:auto"><title>{escape(title)}</title>'
            f'<defs><clipPath id="{clip}"><rect x="{LEFT}" y="{TOP}" '
            f'width="{WIDTH - LEFT - RIGHT}" height="{HEIGHT - TOP - BOTTOM}"/></clipPath></defs>'
            f"{body.replace('{clip}', clip)}</svg>")


def _summary(parts: list[str]) -> str:
    line = " \u00b7 ".join(parts)
    return f'<div class="s3x-leaf s3x-plot-summary">{line}</div>'


# -- densities of states ------------------------------------------------------------------------

def dos_gap(energies: np.ndarray, total: np.ndarray, efermi: float,
            tol: float = GAP_TOL) -> float | None:
    """The gap around the Fermi level: the span of no states (``total <= tol``) that holds
    it, 0 when there are states at the Fermi level, None when the gap runs off the grid."""
    at = int(np.argmin(np.abs(energies - efermi)))
    if total[at] > tol:
        return 0.0
    empty = total <= tol
    lo = at
    while lo > 0 and empty[lo - 1]:
        lo -= 1
    hi = at
    while hi < energies.size - 1 and empty[hi + 1]:
        hi += 1
    if lo == 0 or hi == energies.size - 1:
        return None
    # the edges lie between the last empty and the first filled grid points
    return float((energies[hi] + energies[hi + 1]) / 2 - (energies[lo - 1] + energies[lo]) / 2)


def _dos_html(d: Mapping) -> str:
    energies = _vector(d.get("energies"), "energies")
    spins = {s: _vector(v, f"densities[{s}]") for s, v in _spins(d.get("densities"),
                                                                     "densities").items()}
    if any(v.size != energies.size for v in spins.values()):
        raise _Malformed("densities and energies differ in length")
    efermi = _efermi(d)
    shift = efermi if efermi is not None else 0.0
    e = energies - shift
    lo, hi = float(e.min()), float(e.max())
    if efermi is not None:
        lo, hi = max(lo, -WINDOW), min(hi, WINDOW)
    inside = (e >= lo) & (e <= hi)
    if inside.sum() < 2:  # the Fermi level off the grid: the whole range
        lo, hi, inside = float(e.min()), float(e.max()), np.ones(e.size, bool)
    top = max(float(np.abs(v[inside]).max()) for v in spins.values()) or 1.0
    signs = {"1": 1.0, "-1": -1.0 if len(spins) == 2 else 1.0}
    frame = _Frame((lo, hi), (-top * 1.05 if len(spins) == 2 else 0.0, top * 1.05))
    body = [_axes(frame, "E \u2212 E_F (eV)" if efermi is not None else "E (eV)",
                  "density of states")]
    if len(spins) == 2:
        body.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{frame.py(0):.1f}" '
                    f'y2="{frame.py(0):.1f}" stroke="currentColor" stroke-opacity="0.3"/>')
    for s, dens in spins.items():
        x, y = _minmax_decimate(e[inside], signs[s] * dens[inside], MAX_POINTS)
        body.append(frame.path([(x, y)], SPIN_COLOURS[s]))
    if efermi is not None:
        body.append(_fermi_vertical(frame))
    body.append(_legend(list(spins), dashed_down=False))
    cls = str(d.get("@class", "Dos"))
    facts = [f"{energies.size} energies", f"{len(spins)} spin{'s' if len(spins) > 1 else ''}"]
    if efermi is not None:
        facts.append(f"E_F {_fmt(efermi)} eV")
        gap = dos_gap(energies, sum(np.abs(v) for v in spins.values()), efermi)
        facts.append("gap beyond the energy grid" if gap is None else f"gap {_fmt(gap, 3)} eV")
    facts += _complete_dos_facts(d)
    return _summary(facts) + _svg("".join(body), f"{cls}: density of states")


def _fermi_vertical(frame: _Frame) -> str:
    x = frame.px(0.0)
    return (f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" '
            f'stroke="{FERMI_COLOUR}" stroke-dasharray="5 3"/>'
            f'<text x="{x + 3:.1f}" y="{TOP + 10}" fill="{FERMI_COLOUR}">E_F</text>')


def _complete_dos_facts(d: Mapping) -> list[str]:
    facts = []
    pdos = d.get("pdos")
    if isinstance(pdos, list) and pdos:
        facts.append(f"projected on {len(pdos)} sites")
    structure = d.get("structure")
    if isinstance(structure, Mapping) and isinstance(structure.get("sites"), list):
        from s3explore.widgets._objects import _plain_formula

        facts.append(f"structure {escape(_plain_formula(structure['sites']))}")
    return facts


# -- band structures ----------------------------------------------------------------------------

_GREEK = {"gamma": "\u0393", "sigma": "\u03a3", "delta": "\u0394", "lambda": "\u039b"}
_SUBSCRIPTS = str.maketrans("0123456789", "\u2080\u2081\u2082\u2083\u2084\u2085\u2086\u2087"
                                          "\u2088\u2089")


def k_label(name: str) -> str:
    """pymatgen's ``\\Gamma``, ``$\\Gamma$``, ``GAMMA``, ``S_0`` as Γ, Γ, Γ, S₀ (escaped)."""
    text = str(name).strip().replace("$", "").replace("\\mid", "|")
    text = re.sub(r"\\?(gamma|sigma|delta|lambda)", lambda m: _GREEK[m.group(1).lower()],
                  text, flags=re.IGNORECASE)
    text = re.sub(r"_\{?(\d+)\}?", lambda m: m.group(1).translate(_SUBSCRIPTS), text)
    return escape(text[:MAX_LABEL])


def _finite(value: Any, shape: tuple[int, ...]) -> np.ndarray | None:
    """``value`` as a finite float array of ``shape``, or None."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError, OverflowError):
        return None
    return arr if arr.shape == shape and np.isfinite(arr).all() else None


def _path(d: Mapping, nk: int) -> tuple[np.ndarray, list[int], list[tuple[float, str]]]:
    """Distance along the k-path, the k-points where a branch starts (a jump between two
    different labelled points: no distance, no line) and the labelled ticks; without a
    reciprocal lattice, fractional distances."""
    kpts = np.asarray(d.get("kpoints"), dtype=float)
    if kpts.shape != (nk, 3) or not np.isfinite(kpts).all():
        raise _Malformed("kpoints are not one 3-vector per band value")
    rec = d.get("lattice_rec")
    matrix = _finite(rec.get("matrix") if isinstance(rec, Mapping) else None, (3, 3))
    cart = kpts @ (np.eye(3) if matrix is None else matrix)
    labels: list[str | None] = [None] * nk
    raw = d.get("labels_dict")
    for name, coords in islice(raw.items() if isinstance(raw, Mapping) else (), MAX_LABELS):
        c = _finite(coords, (3,))
        if c is None:  # a label we cannot place: left out, the plot stays
            continue
        for i in np.flatnonzero(np.abs(kpts - c).max(axis=1) < 1e-4)[:nk]:
            labels[int(i)] = k_label(str(name))
    steps = np.linalg.norm(np.diff(cart, axis=0), axis=1)
    starts = [0]
    for i in range(1, nk):
        if labels[i] and labels[i - 1] and labels[i] != labels[i - 1]:
            steps[i - 1] = 0.0
            starts.append(i)
    dist = np.concatenate([[0.0], np.cumsum(steps)])
    ticks: list[tuple[float, str]] = []
    for i, name in enumerate(labels):
        if name is None:
            continue
        if ticks and abs(ticks[-1][0] - dist[i]) < 1e-9:
            if name not in ticks[-1][1].split("|"):
                ticks[-1] = (ticks[-1][0], f"{ticks[-1][1]}|{name}")
        else:
            ticks.append((float(dist[i]), name))
    return dist, starts, ticks


def band_gap(bands: dict[str, np.ndarray], efermi: float) -> tuple[float, bool] | None:
    """(gap, direct) from the eigenvalues, (0, False) for a metal (a band crossing the
    Fermi level), None when every band is on one side."""
    below = [np.where(b <= efermi, b, -np.inf) for b in bands.values()]
    above = [np.where(b > efermi, b, np.inf) for b in bands.values()]
    for b in bands.values():
        if ((b.min(axis=1) < efermi - 1e-4) & (b.max(axis=1) > efermi + 1e-4)).any():
            return 0.0, False
    vbm_k = np.max([x.max(axis=0) for x in below], axis=0)  # per k-point
    cbm_k = np.min([x.min(axis=0) for x in above], axis=0)
    vbm, cbm = float(vbm_k.max()), float(cbm_k.min())
    if not (math.isfinite(vbm) and math.isfinite(cbm)):
        return None
    direct = bool(np.isclose(cbm_k - vbm_k, cbm - vbm, atol=1e-6).any())
    return cbm - vbm, direct


def _bands_html(d: Mapping) -> str:
    bands = {}
    for s, v in _spins(d.get("bands"), "bands").items():
        arr = np.asarray(v, dtype=float)
        if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 2 or not np.isfinite(arr).all():
            raise _Malformed(f"bands[{s}] is not bands x k-points of finite numbers")
        bands[s] = arr
    nbands, nk = next(iter(bands.values())).shape
    if any(b.shape != (nbands, nk) for b in bands.values()):
        raise _Malformed("the spins have different numbers of bands or k-points")
    dist, starts, ticks = _path(d, nk)
    efermi = _efermi(d)
    shift = efermi if efermi is not None else 0.0
    lo = float(min(b.min() for b in bands.values())) - shift
    hi = float(max(b.max() for b in bands.values())) - shift
    if efermi is not None:
        lo, hi = max(lo, -WINDOW), min(hi, WINDOW)
        if hi <= lo:  # every band far from the Fermi level: show them all
            lo, hi = float(min(b.min() for b in bands.values())) - shift, float(
                max(b.max() for b in bands.values())) - shift
    frame = _Frame((0.0, float(dist[-1])), (lo, hi))
    body = [_axes(frame, "", "E \u2212 E_F (eV)" if efermi is not None else "E (eV)",
                  xticks=False)]
    for x, name in ticks:
        px = frame.px(x)
        body.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" '
                    'stroke="currentColor" stroke-opacity="0.3"/>'
                    f'<text x="{px:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle">'
                    f"{name}</text>")
    # evenly spaced k-points, plus each branch's ends so that kinks at labels stay sharp
    ends = sorted({*starts, *(i - 1 for i in starts[1:]), nk - 1})
    keep = np.linspace(0, nk - 1, min(nk, MAX_KPOINTS)).round().astype(int)
    if len(ends) <= MAX_KPOINTS:
        keep = np.union1d(keep, ends)
    segments = np.split(keep, np.searchsorted(keep, starts[1:]))
    drawn = 0
    for s, b in bands.items():
        e = b - shift
        visible = np.flatnonzero((e.max(axis=1) >= lo) & (e.min(axis=1) <= hi))
        nearest = visible[np.argsort(np.abs(e[visible]).min(axis=1), kind="stable")]
        chosen = np.sort(nearest[:MAX_BANDS])
        drawn = max(drawn, chosen.size)
        for j in chosen:
            body.append(frame.path([(dist[k], e[j, k]) for k in segments if k.size],
                                   SPIN_COLOURS[s], dashed=s == "-1"))
    if efermi is not None:
        y = frame.py(0.0)
        body.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                    f'stroke="{FERMI_COLOUR}" stroke-dasharray="5 3"/>'
                    f'<text x="{WIDTH - RIGHT - 3}" y="{y - 3:.1f}" text-anchor="end" '
                    f'fill="{FERMI_COLOUR}">E_F</text>')
    body.append(_legend(list(bands), dashed_down=True))
    facts = [f"{nbands} bands", f"{nk} k-points",
             f"{len(bands)} spin{'s' if len(bands) > 1 else ''}"]
    if drawn < nbands:
        facts.append(f"{drawn} bands near E_F drawn")
    if efermi is not None:
        facts.append(f"E_F {_fmt(efermi)} eV")
        gap = band_gap(bands, efermi)
        if gap is not None:
            facts.append("metal" if gap[0] == 0 else
                         f"gap {_fmt(gap[0], 3)} eV ({'direct' if gap[1] else 'indirect'})")
    cls = str(d.get("@class", "BandStructure"))
    return _summary(facts) + _svg("".join(body), f"{cls}: band structure")
