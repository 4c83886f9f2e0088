"""``s3explore demo --voila`` in chromium: every request the page makes stays on 127.0.0.1.

Voila's stock lab template links Font Awesome from a CDN; offline that is two failed requests
and a page that waits for them. The demo serves its own template without those links.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
import pytest

from tests.app.test_cli import free_port
from tests.browser.test_in_chromium import chromium  # noqa: F401 - the browser fixture
from tests.processes import stop

pytestmark = pytest.mark.browser

LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def tour_like_notebook(folder: Path) -> None:
    """A tour in small: markdown with math, the demo store and an IndexBrowser with a viewer."""
    folder.mkdir(parents=True)
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Offline tour\n\nDensity $\\rho = m / V$."),
        nbformat.v4.new_code_cell(
            "from s3explore.demo import demo_store\n"
            "from s3explore.widgets import IndexBrowser, UploadWidget\n"
            "store = demo_store(n=30)\n"
            "browser = IndexBrowser(store, fields=['formula', 'band_gap'], page_size=5)\n"
            "browser.open_document(browser.rows['material_id'].iloc[0])\n"
            "browser"),
        nbformat.v4.new_code_cell("UploadWidget(store, [])"),
    ])
    notebook.metadata.kernelspec = {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}
    nbformat.write(notebook, folder / "01-tour.ipynb")


def test_demo_voila_requests_nothing_outside_localhost(chromium, tmp_path):  # noqa: F811
    tour_like_notebook(tmp_path / "nb")
    port = free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    process = subprocess.Popen(
        [sys.executable, "-m", "s3explore._cli", "demo", "--voila", "--no-browser",
         "--port", str(port), "--notebooks", str(tmp_path / "nb"),
         "--workdir", str(tmp_path / "work")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    requests: list[str] = []
    failed: list[str] = []
    try:
        page = chromium.new_page()
        page.set_default_timeout(120_000)
        page.on("request", lambda request: requests.append(request.url))
        page.on("requestfailed", lambda request: failed.append(
            f"{request.url} ({request.failure})"))
        deadline = time.monotonic() + 120
        while True:  # until Voila listens
            try:
                page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
                break
            except Exception:
                assert process.poll() is None, f"demo --voila exited: {process.returncode}"
                if time.monotonic() > deadline:
                    raise
                failed.clear()
                requests.clear()
                time.sleep(0.5)
        page.locator(".s3x-browser .s3x-row").first.wait_for(state="visible")
        page.locator(".s3x-doc .s3x-key").first.wait_for(state="visible")
        page.locator(".s3x-uploader").first.wait_for(state="visible")
        page.wait_for_load_state("networkidle")
        assert "Offline tour" in page.locator("body").inner_text()
    finally:
        stop(process)
    remote = [url for url in requests
              if urlsplit(url).scheme not in ("data", "blob")
              and urlsplit(url).hostname not in LOCAL_HOSTS]
    assert remote == [], f"the page reached outside 127.0.0.1: {remote}"
    assert failed == [], f"requests failed: {failed}"
    assert any(urlsplit(url).path.endswith(".js") for url in requests)  # it did load assets
