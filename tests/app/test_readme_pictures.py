"""The README's pictures of the DocumentViewer, the UploadWidget, the FacetPanel and the
IndexBrowser's export panel, on the demo store.

``S3X_SCREENSHOTS=docs/img pytest tests/app/test_readme_pictures.py`` refreshes
``viewer.png``, ``upload.png``, ``structure.png``, ``plots.png``, ``facets.png`` and
``export.png``; without it they go to a temporary folder. The viewer shows the tour's
document (the oxide with the largest band gap); the upload sends 500 demo documents into an
empty demo store, as notebook 03 does; the structure picture shows
``structure_document()`` (hematite built with pymatgen), which the notebook imports from
here, so the test compares the page with what pymatgen computes from the same structure.
The plots picture shows a CompleteDos and a band structure built in
tests/widgets/test_widgets_plots.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.browser.test_in_chromium import (  # noqa: F401 - chromium and shots are fixtures
    WAIT_MS,
    chromium,
    expect_visible,
    serve,
    shots,
    wait_text,
)

pytestmark = pytest.mark.browser

NOTEBOOK = str(Path(__file__).with_name("readme_pictures.ipynb"))
STRUCTURE_KEY = "fe2o3-afm"


def hematite() -> Any:
    """alpha-Fe2O3 (corundum, R-3c) in its primitive rhombohedral cell: Fe3+ and O2-, and
    antiferromagnetic moments on Fe (+ - - + along c) as the site property ``magmom``."""
    from pymatgen.core import Lattice, Structure
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    conventional = Structure.from_spacegroup(
        "R-3c", Lattice.hexagonal(5.035, 13.747), ["Fe", "O"],
        [[0, 0, 0.3553], [0.3059, 0, 0.25]])
    structure = SpacegroupAnalyzer(conventional).get_primitive_standard_structure()
    irons = sorted((i for i, site in enumerate(structure) if site.specie.symbol == "Fe"),
                   key=lambda i: structure[i].coords[2])
    magmoms = [0.0] * len(structure)
    for i, moment in zip(irons, [4.1, -4.1, -4.1, 4.1], strict=True):
        magmoms[i] = moment
    structure.add_site_property("magmom", magmoms)
    structure.add_oxidation_state_by_element({"Fe": 3, "O": -2})
    return structure


def structure_document() -> dict:
    """What a user stores: a few fields and the structure as its ``as_dict()``."""
    return {"material_id": STRUCTURE_KEY, "formula": "Fe2O3", "ordering": "AFM",
            "total_magnetization": 0.0, "structure": hematite().as_dict()}


def test_viewer_and_upload_pictures(chromium, tmp_path_factory, shots: Path) -> None:  # noqa: F811
    with serve(NOTEBOOK, tmp_path_factory.mktemp("jupyter-pictures"), {}) as server:
        context = chromium.new_context(viewport={"width": 1180, "height": 900})
        try:
            page = context.new_page()
            page.set_default_timeout(WAIT_MS)
            page.goto(server.url, wait_until="domcontentloaded")
            expect_visible(page, server, ".s3x-doc .s3x-key")
            viewer = page.locator(".s3x-doc").first
            text = wait_text(viewer, "band_gap")
            for field in ("formula", "structure", "dos", "symmetry", "material_id"):
                assert field in text
            assert re.search(r"mp-\d+", viewer.locator(".s3x-key").inner_text())
            viewer.locator("summary", has_text="lattice").first.click()
            viewer.screenshot(path=str(shots / "viewer.png"))

            page.locator(".s3x-upload").click()
            status = wait_text(page.locator(".s3x-status"), r"Done")
            assert "500 of 500 documents written" in status and "0 failed" in status
            page.locator(".s3x-uploader .s3x-card").screenshot(path=str(shots / "upload.png"))

            structure_viewer = page.locator(
                ".s3x-doc", has=page.locator(".s3x-key", has_text=STRUCTURE_KEY))
            expect_visible(page, server, f".s3x-doc .s3x-key >> text={STRUCTURE_KEY}")
            check_structure_summary(structure_viewer, hematite())
            structure_viewer.screenshot(path=str(shots / "structure.png"))
        finally:
            context.close()


def test_facets_and_export_pictures(chromium, tmp_path_factory,  # noqa: F811
                                    tmp_path: Path, shots: Path) -> None:  # noqa: F811
    """``facets.png``: a FacetPanel linked to an IndexBrowser, one crystal system chosen;
    ``export.png``: that browser's export panel with its cost line and a finished Parquet
    export, whose rows are checked against the demo documents."""
    import pyarrow.parquet as pq

    from s3explore.demo import demo_documents

    cubic = {d["material_id"]: d for d in demo_documents(2000, seed=0)
             if d["symmetry"]["crystal_system"] == "Cubic"}
    with serve(NOTEBOOK, tmp_path_factory.mktemp("jupyter-facets"),
               {"S3X_EXPORT_DIR": str(tmp_path)}) as server:
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        try:
            page = context.new_page()
            page.set_default_timeout(WAIT_MS)
            page.goto(server.url, wait_until="domcontentloaded")
            expect_visible(page, server, ".s3x-facets .s3x-facet-value")
            page.locator(".s3x-facets .s3x-facet-value",
                         has_text=re.compile(r"^Cubic\s")).first.click()
            n = len(cubic)
            wait_text(page.locator(".s3x-facet-count"), rf"^{n:,} entries match")
            browser = page.locator(".s3x-browser", has=page.locator(".s3x-export-toggle"))
            # the panel sets the browser's criteria: a count, not "match the filter"
            wait_text(browser.locator(".s3x-count"), rf"^{n} documents")
            pair = page.locator(".widget-hbox", has=page.locator(".s3x-facets")).first
            pair.screenshot(path=str(shots / "facets.png"))

            browser.locator(".s3x-export-toggle").click()
            fetch = browser.locator(".s3x-export-fetch input")
            fetch.fill("dos.efermi")
            fetch.press("Enter")
            wait_text(browser.locator(".s3x-cost"),
                      rf"^Cost: {n:,} entries, {n:,} objects to GET, about")
            target = tmp_path / "cubic.parquet"
            browser.locator(".s3x-export-path input").fill(target.name)  # in the kernel's cwd
            browser.locator(".s3x-export-file").click()
            wait_text(browser.locator(".s3x-export-status"),
                      rf"^Done: {n:,} rows written to cubic\.parquet\.")
            rows = pq.read_table(target).to_pylist()
            assert sorted(r["material_id"] for r in rows) == sorted(cubic)
            for row in rows:
                efermi = cubic[row["material_id"]]["dos"]["efermi"]
                assert row["dos.efermi"] == pytest.approx(efermi)
            browser.screenshot(path=str(shots / "export.png"))
        finally:
            context.close()


def check_structure_summary(viewer, structure) -> None:
    """The summary and the site table in the page against pymatgen's own answers."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    shown = viewer.locator(".s3x-object")
    wait_text(shown, "space group")
    facts = {}
    for fact in shown.locator(".s3x-fact").all():
        name = fact.locator(".s3x-name").inner_text()
        facts[name] = fact.inner_text().removeprefix(name).strip()
    sga = SpacegroupAnalyzer(structure)
    assert facts["formula"] == structure.composition.reduced_formula
    assert facts["space group"] == (f"{sga.get_space_group_symbol()} "
                                    f"({sga.get_space_group_number()})")
    assert facts["sites"] == str(len(structure))

    rows = shown.locator("table.s3x-sites tr:has(td)")
    assert rows.count() == len(structure)
    for i, site in enumerate(structure):
        species, *coords, props = rows.nth(i).locator("td").all_inner_texts()
        assert species == ",".join(str(sp) for sp in site.species), i
        np.testing.assert_allclose([float(x) for x in coords], site.frac_coords,
                                   rtol=1e-3, atol=1e-4, err_msg=f"site {i}")
        magmom = re.fullmatch(r"magmom=(\S+)", props.strip())
        assert magmom is not None, props
        assert float(magmom.group(1)) == pytest.approx(site.properties["magmom"], abs=0.01)


def test_plots_picture(chromium, tmp_path_factory, shots: Path) -> None:  # noqa: F811
    """``plots.png``: a CompleteDos and a band structure in the viewer, as Voila draws them;
    the summaries against pymatgen, the curves by their colours in the page's pixels."""
    import io

    from PIL import Image

    from tests.widgets.test_widgets_plots import band_structure, complete_dos
    from tests.widgets.test_widgets_view3d import materials_notebook

    notebook = materials_notebook(tmp_path_factory.mktemp("plots-nb"))
    with serve(str(notebook), tmp_path_factory.mktemp("jupyter-plots"), {}) as server:
        context = chromium.new_context(viewport={"width": 1180, "height": 900})
        try:
            page = context.new_page()
            page.set_default_timeout(WAIT_MS)
            page.goto(server.url, wait_until="domcontentloaded")
            expect_visible(page, server, ".s3x-doc .s3x-key")
            viewer = page.locator(".s3x-doc").first
            for field in ("dos", "bands"):
                viewer.locator("summary", has=page.locator(".s3x-name", has_text=field)
                               ).first.click()
            plots = viewer.locator("svg.s3x-plot")
            expect_visible(page, server, "svg.s3x-plot")
            assert plots.count() == 2
            lines = viewer.locator(".s3x-plot-summary").all_inner_texts()
            cdos, bs = complete_dos(), band_structure()
            shown = re.search(r"gap (\S+) eV", lines[0])
            assert shown is not None, lines[0]
            assert float(shown.group(1)) == pytest.approx(cdos.get_gap(), abs=0.02)  # a step
            assert f"gap {bs.get_band_gap()['energy']:.3g} eV (indirect)" in lines[1]
            for i in range(2):
                pixels = np.asarray(Image.open(io.BytesIO(plots.nth(i).screenshot()))
                                    .convert("RGB")).reshape(-1, 3).astype(int)
                for colour in ((0x1F, 0x77, 0xB4), (0xD6, 0x27, 0x28)):  # spin up, down
                    near = np.abs(pixels - colour).sum(axis=1) < 60
                    assert near.sum() > 50, (i, colour)
            # the picture holds both plots: the body's scroll limit lifted
            page.add_style_tag(
                content=".s3x-body .widget-html-content { max-height: none !important; }")
            viewer.screenshot(path=str(shots / "plots.png"))
        finally:
            context.close()
