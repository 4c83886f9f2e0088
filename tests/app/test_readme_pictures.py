"""The README's pictures of the DocumentViewer and the UploadWidget, on the demo store.

``S3X_SCREENSHOTS=docs/img pytest tests/app/test_readme_pictures.py`` refreshes
``viewer.png`` and ``upload.png``; without it they go to a temporary folder. The viewer shows
the tour's document (the oxide with the largest band gap); the upload sends 500 demo
documents into an empty demo store, as notebook 03 does.
"""

from __future__ import annotations

import re
from pathlib import Path

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
        finally:
            context.close()
