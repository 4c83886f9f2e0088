"""The optional 3D view of structures (nglview, the ``view3d`` extra).

Plain tests check the PDB text written from a stored dict against pymatgen, the toggles the
viewer offers and the message without nglview. The browser tests click the toggle in Voila
and in JupyterLab, with every request outside 127.0.0.1 refused, and look at the pixels of
NGL's canvas.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from html import unescape
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
import numpy as np
import pytest

from s3explore import MemoryStore
from s3explore.widgets import DocumentViewer, _view3d
from s3explore.widgets._view3d import (
    INSTALL_HINT,
    MAX_VIEWS,
    StructureToggle,
    structure_fields,
    structure_pdb,
)

pytest.importorskip("pymatgen.core")
from pymatgen.core import Lattice, Structure

from tests.browser.test_in_chromium import (  # noqa: F401 - chromium and shots are fixtures
    WAIT_MS,
    _free_port,
    chromium,
    serve,
    shots,
)
from tests.processes import stop
from tests.widgets.test_widgets_plots import band_structure, complete_dos, nacl

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
ROOT = Path(__file__).parents[2]


def triclinic() -> Structure:
    lattice = Lattice.from_parameters(4.1, 5.3, 6.7, 78.0, 95.0, 101.0)
    return Structure(lattice, ["Fe", "O", "O"], [[0, 0, 0], [0.3, 0.2, 0.7], [0.8, 0.6, 0.1]])


def pdb_atoms(pdb: str) -> tuple[list[float], list[str], np.ndarray]:
    cryst = next(line for line in pdb.splitlines() if line.startswith("CRYST1"))
    cell = [float(cryst[6 + 9 * i:15 + 9 * i]) for i in range(3)] + [
        float(cryst[33 + 7 * i:40 + 7 * i]) for i in range(3)]
    atoms = [line for line in pdb.splitlines() if line.startswith("HETATM")]
    xyz = np.array([[float(line[30:38]), float(line[38:46]), float(line[46:54])]
                    for line in atoms])
    return cell, [line[76:78].strip() for line in atoms], xyz


def test_pdb_has_the_cell_and_the_distances_of_the_structure():
    s = triclinic()
    cell, elements, xyz = pdb_atoms(structure_pdb(s.as_dict()))
    np.testing.assert_allclose(cell, s.lattice.parameters, atol=2e-3)
    assert elements == ["Fe", "O", "O"]
    # PDB's frame is a rotation of pymatgen's: the distances between atoms are the same
    expected = np.linalg.norm(s.cart_coords[:, None] - s.cart_coords[None], axis=-1)
    found = np.linalg.norm(xyz[:, None] - xyz[None], axis=-1)
    np.testing.assert_allclose(found, expected, atol=2e-3)
    assert xyz[1] == pytest.approx(s.frac_coords[1] @ _frame(cell), abs=2e-3)


def _frame(cell: list[float]) -> np.ndarray:
    """PDB's orthogonalisation: a along x, b in the xy plane."""
    a, b, c, al, be, ga = cell[:3] + list(np.radians(cell[3:]))
    cx, cy = c * np.cos(be), c * (np.cos(al) - np.cos(be) * np.cos(ga)) / np.sin(ga)
    return np.array([[a, 0, 0], [b * np.cos(ga), b * np.sin(ga), 0],
                     [cx, cy, np.sqrt(c * c - cx * cx - cy * cy)]])


def test_a_disordered_site_shows_its_major_species():
    s = Structure(Lattice.cubic(3), [{"Fe": 0.3, "Co": 0.7}], [[0, 0, 0]])
    assert pdb_atoms(structure_pdb(s.as_dict()))[1] == ["Co"]


@pytest.mark.parametrize("change,message", [
    ({"lattice": None}, "no lattice"),
    ({"sites": []}, "no sites"),
    ({"lattice": {"matrix": [[1, 0, 0], [0, 1, 0]]}}, "lattice matrix"),
    ({"lattice": {"matrix": [[1, 0, 0], [2, 0, 0], [0, 0, 1]]}}, "lattice matrix"),
    ({"sites": [{"abc": [0, 0]}]}, "site 0 has no fractional"),
    ({"sites": ["Fe"]}, "site 0 is not a mapping"),
])
def test_a_dict_that_is_not_a_structure_is_refused_by_name(change, message):
    d = {**nacl().as_dict(), **change}
    with pytest.raises(ValueError, match=message):
        structure_pdb(d)


def test_hostile_species_become_letters():
    d = nacl().as_dict()
    d["sites"][0]["species"] = [{"element": "<b>1", "occu": 1}]
    d["sites"][1]["species"] = "Na"
    _, elements, _ = pdb_atoms(structure_pdb(d))
    assert elements[:2] == ["B", "X"]


def test_structures_are_found_in_fields_objects_and_nested_fields():
    s = nacl()
    doc = {"structure": s, "output": {"structure": s.as_dict()}, "formula": "NaCl",
           "dos": complete_dos().as_dict()}
    names = [name for name, _ in structure_fields(doc)]
    assert names == ["structure", "output.structure", "dos.structure"]
    assert structure_fields(s.as_dict())[0][0] == ""
    many = {f"s{i}": s.as_dict() for i in range(MAX_VIEWS + 3)}
    assert len(structure_fields(many)) == MAX_VIEWS
    assert structure_fields({"x": 1, "y": [s.as_dict()]}) == []


def test_the_viewer_offers_one_toggle_per_structure_and_drops_them_after(store):
    store.update([{"task_id": "a", "structure": nacl().as_dict()},
                  {"task_id": "b", "formula": "NaCl"}])
    viewer = DocumentViewer(store, "a")
    (toggle,) = viewer._views.children
    assert isinstance(toggle, StructureToggle)
    assert toggle.button.description == "3D view of structure" and not toggle.area.children
    viewer.show("b")
    assert viewer._views.children == ()
    viewer.show("a")
    viewer.show("missing")
    assert viewer.state == "error" and viewer._views.children == ()
    viewer.show("a")
    viewer.clear()
    assert viewer._views.children == ()


def test_without_nglview_the_toggle_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(_view3d, "has_nglview", lambda: False)
    toggle = StructureToggle("structure", nacl().as_dict())
    toggle.button.value = True
    (note,) = toggle.area.children
    assert INSTALL_HINT in unescape(note.value) and toggle.area.layout.display == "flex"
    toggle.button.value = False
    assert toggle.area.layout.display == "none"


def test_a_broken_structure_says_so_in_place_of_the_view():
    pytest.importorskip("nglview")
    toggle = StructureToggle("structure", {**nacl().as_dict(), "sites": ["x"]})
    toggle.button.value = True
    (note,) = toggle.area.children
    assert "No 3D view of structure: site 0 is not a mapping" in note.value


def test_with_nglview_the_toggle_makes_the_view_once():
    nglview = pytest.importorskip("nglview")
    toggle = StructureToggle("structure", nacl().as_dict())
    toggle.button.value = True
    (view,) = toggle.area.children
    assert isinstance(view, nglview.NGLWidget)
    toggle.button.value = False
    toggle.button.value = True
    assert toggle.area.children == (view,)


# -- in chromium --------------------------------------------------------------------------------

NOTEBOOK_CODE = """\
from s3explore import MemoryStore
from s3explore.widgets import DocumentViewer
from tests.widgets.test_widgets_plots import band_structure, complete_dos, nacl
store = MemoryStore("materials", key="task_id")
store.connect()
store.update([{"task_id": "nacl-1", "formula": "NaCl", "structure": nacl().as_dict(),
               "dos": complete_dos().as_dict(), "bands": band_structure().as_dict()}])
DocumentViewer(store, "nacl-1", open_depth=1)"""


def materials_notebook(folder: Path) -> Path:
    """A notebook showing a NaCl document (structure, DOS, band structure) in a viewer."""
    folder.mkdir(parents=True, exist_ok=True)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(NOTEBOOK_CODE)])
    notebook.metadata.kernelspec = {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}
    path = folder / "materials.ipynb"
    nbformat.write(notebook, path)
    return path


def offline(page) -> list[str]:
    """Refuse every request outside 127.0.0.1; the refused ones are listed."""
    refused: list[str] = []

    def route(r) -> None:
        url = r.request.url
        if url.startswith("data:") or urlsplit(url).hostname in {"127.0.0.1", "localhost"}:
            r.continue_()
        else:
            refused.append(url)
            r.abort()

    page.route("**/*", route)
    return refused


def check_3d_view(page) -> None:
    """Click the first toggle; NGL's canvas must be sized and show more than a blank."""
    from PIL import Image

    page.locator(".s3x-view3d-toggle").first.click()
    canvas = page.locator(".s3x-view3d-canvas canvas").first
    canvas.wait_for(state="visible")
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        box = canvas.bounding_box()
        pixels = np.asarray(Image.open(io.BytesIO(canvas.screenshot())).convert("RGB"))
        drawn = (np.abs(pixels.astype(int) - pixels[0, 0]).sum(axis=2) > 60).mean()
        if box and box["width"] > 200 and box["height"] > 200 and drawn > 0.005:
            break
        if time.monotonic() > deadline:
            pytest.fail(f"NGL drew nothing: canvas {box}, {drawn:.4f} of its pixels set")
        time.sleep(0.5)
    # the atoms: several colours besides the background (Na, Cl, the cell's edges)
    colours = {tuple(p) for p in pixels.reshape(-1, 3)[::7]}
    assert len(colours) > 20


@pytest.mark.browser
def test_3d_view_in_voila_offline(chromium, tmp_path_factory, shots: Path):  # noqa: F811
    pytest.importorskip("nglview")
    notebook = materials_notebook(tmp_path_factory.mktemp("nb3d"))
    with serve(str(notebook), tmp_path_factory.mktemp("voila3d"), {}) as server:
        context = chromium.new_context(viewport={"width": 1180, "height": 1000})
        try:
            page = context.new_page()
            page.set_default_timeout(WAIT_MS)
            refused = offline(page)
            page.goto(server.url, wait_until="domcontentloaded")
            check_3d_view(page)
            page.locator(".s3x-doc").first.screenshot(path=str(shots / "view3d-voila.png"))
            # Voila's stock template links Font Awesome from a CDN (the demo has its own)
            assert all("fontawesome" in url for url in refused), refused
        finally:
            context.close()


@contextmanager
def jupyterlab(root: Path, runtime: Path) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime),
           "JUPYTER_CONFIG_DIR": str(runtime / "config"),
           "JUPYTERLAB_SETTINGS_DIR": str(runtime / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(runtime / "workspaces"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                       os.environ.get("PYTHONPATH")]))}
    log = runtime / "lab.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}",
             "--ServerApp.ip=127.0.0.1", "--allow-root", "--IdentityProvider.token=",
             "--ServerApp.password=", f"--ServerApp.root_dir={root}", "--LabApp.news_url=",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
            env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"jupyter lab exited with {process.returncode}:\n"
                            f"{log.read_text(errors='replace')[-3000:]}")
            try:
                urllib.request.urlopen(f"{url}api", timeout=2)
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer:\n"
                                f"{log.read_text(errors='replace')[-3000:]}")
                time.sleep(0.2)
        yield url
    finally:
        stop(process, timeout=20)


@pytest.mark.browser
def test_3d_view_in_jupyterlab_offline(chromium, tmp_path_factory, shots: Path):  # noqa: F811
    pytest.importorskip("nglview")
    folder = tmp_path_factory.mktemp("lab3d")
    materials_notebook(folder)
    with jupyterlab(folder, tmp_path_factory.mktemp("labruntime")) as url:
        context = chromium.new_context(viewport={"width": 1280, "height": 1000})
        try:
            page = context.new_page()
            page.set_default_timeout(WAIT_MS)
            refused = offline(page)
            page.goto(f"{url}lab/tree/materials.ipynb", wait_until="domcontentloaded")
            page.get_by_text(re.compile(r"Python 3 \(ipykernel\) \| Idle")).wait_for()
            page.locator(".jp-Cell .jp-InputPrompt").first.click()
            page.keyboard.press("Shift+Enter")
            check_3d_view(page)
            page.locator(".s3x-doc").first.screenshot(path=str(shots / "view3d-lab.png"))
            assert refused == []
        finally:
            context.close()


@pytest.mark.slow
def test_the_notebook_runs_without_a_browser():
    """The browser tests' notebook, run here: a failure shows the traceback, not a timeout."""
    namespace: dict = {}
    exec(NOTEBOOK_CODE.rsplit("\n", 1)[0], namespace)
    store: MemoryStore = namespace["store"]
    viewer = DocumentViewer(store, "nacl-1")
    assert len(viewer._views.children) == 2 and viewer._body.value.count("<svg") == 2
    assert band_structure is not None  # imported for the notebook's sake
