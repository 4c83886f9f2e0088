"""Markdown code blocks in `s3explore demo --voila`'s template keep JupyterLab's box, in Chromium:
Voila's lab template alone leaves them bare, so blocks and the text after them run together."""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

from s3explore._cli import voila_command
from tests.browser.test_in_chromium import WAIT_MS, _free_port, chromium  # noqa: F401
from tests.processes import stop

pytestmark = pytest.mark.browser

MARKDOWN = ("Text.\n\n```bash\ns3explore verify --bucket b \\\n    --index i\n```\n\nBetween.\n\n"
            "```python\nfrom x import y\n```\n")

BOXES = """() => [...document.querySelectorAll('.jp-RenderedMarkdown pre')].map(e => {
    const s = getComputedStyle(e);
    const between = [...document.querySelectorAll('.jp-RenderedMarkdown p')]
        .find(p => p.textContent.trim() === 'Between.');
    return {background: s.backgroundColor, border: s.borderTopWidth, padding: s.paddingTop,
            gap: between.getBoundingClientRect().top - e.getBoundingClientRect().bottom,
            page: getComputedStyle(document.body).backgroundColor};
})"""


def test_markdown_code_blocks_have_a_box_and_room(chromium, tmp_path: Path) -> None:  # noqa: F811
    notebook = tmp_path / "md.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(MARKDOWN)]),
                   notebook)
    port = _free_port()
    command, env = voila_command(notebook, port, tmp_path / "data")
    env = {**env, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    with (tmp_path / "voila.log").open("wb") as log:
        process = subprocess.Popen([*command, "--no-browser", "--Voila.ip=127.0.0.1"], env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/voila/static/none", timeout=2)
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                assert process.poll() is None, (tmp_path / "voila.log").read_text()
                assert time.monotonic() < deadline, "voila did not answer"
                time.sleep(0.2)
        page = chromium.new_page(viewport={"width": 1000, "height": 700})
        try:
            page.set_default_timeout(WAIT_MS)
            page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
            page.locator(".jp-RenderedMarkdown pre").nth(1).wait_for(state="visible")
            boxes = page.evaluate(BOXES)
            page.screenshot(path=str(tmp_path / "markdown.png"))
        finally:
            page.close()
    finally:
        stop(process, timeout=20)
    assert len(boxes) == 2
    for box in boxes:
        assert box["background"] != box["page"]  # a shaded box, not the page's white
        assert box["border"] == "1px" and box["padding"] == "8px"
    assert boxes[0]["gap"] >= 8  # room before "Between."
