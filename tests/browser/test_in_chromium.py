"""The widgets in a real browser: Voila serves widgets_demo.ipynb, chromium drives it.

The page is loaded once (its kernel seeds a store); each test starts from page 1 without a
filter, and the upload goes to a store of its own, so tests do not depend on each other's
order. Screenshots go to $S3X_SCREENSHOTS when set (``S3X_SCREENSHOTS=docs/img``
refreshes the README's pictures), else to a temporary folder. The README's browser picture
shows the demo store users meet in the tour (``demo_browser.ipynb``), not the test data.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.browser.seeddata import FIELDS, make_docs
from tests.processes import stop

pytestmark = pytest.mark.browser

HERE = Path(__file__).parent
NOTEBOOK = "widgets_demo.ipynb"
DEMO_NOTEBOOK = "demo_browser.ipynb"
DEMO_DOCS = 2000
SEED_DOCS = 240
UPLOAD_DOCS = 150
PAGE_SIZE = 25
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
WAIT_MS = 60_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Voila:
    def __init__(self, process: subprocess.Popen, url: str, log: Path) -> None:
        self.process, self.url, self.log = process, url, log

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


@pytest.fixture(scope="module")
def voila(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Voila]:
    with serve(NOTEBOOK, tmp_path_factory.mktemp("jupyter"),
               {"S3X_SEED_DOCS": str(SEED_DOCS), "S3X_UPLOAD_DOCS": str(UPLOAD_DOCS)}) as server:
        yield server


@contextmanager
def serve(notebook: str, runtime: Path, extra_env: dict[str, str]) -> Iterator[Voila]:
    """Voila serving ``notebook`` (from this folder) on 127.0.0.1 until the block ends."""
    log = runtime / "voila.log"
    port = _free_port()
    env = {**os.environ, **extra_env,
           "JUPYTER_RUNTIME_DIR": str(runtime), "JUPYTER_DATA_DIR": str(runtime / "data"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE.parents[1]),
                                                       os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "voila", notebook, "--no-browser", f"--port={port}",
               "--Voila.ip=127.0.0.1", "--VoilaConfiguration.show_tracebacks=True"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=HERE, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    server = Voila(process, f"http://127.0.0.1:{port}/", log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"voila exited with {process.returncode}:\n{server.log_tail()}")
            try:  # a static path answers without starting a kernel
                urllib.request.urlopen(f"{server.url}voila/static/none", timeout=2)
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"voila did not answer on port {port}:\n{server.log_tail()}")
                time.sleep(0.2)
        yield server
    finally:
        stop(process, timeout=20)


@pytest.fixture(scope="module")
def chromium() -> Iterator:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the browser tests need Playwright for Python: pip install playwright "
                    "(no browser download: they drive Debian's chromium)")
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("the browser tests need Debian's chromium on PATH: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                             args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get("S3X_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def opened(chromium, voila: Voila, *selectors: str, width: int = 1180) -> Iterator:
    """A page of ``voila`` in a browser context of its own, loaded until each of
    ``selectors`` shows; the context is closed afterwards."""
    context = chromium.new_context(viewport={"width": width, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(voila.url, wait_until="domcontentloaded")
        for selector in selectors:
            expect_visible(page, voila, selector)
        yield page
    finally:
        context.close()


@pytest.fixture(scope="module")
def loaded_page(chromium, voila: Voila) -> Iterator:
    """One page load for the module: each load starts a kernel that seeds a store, which
    takes seconds; tests reset what they change instead (see ``page``)."""
    with opened(chromium, voila, ".s3x-browser .s3x-row") as page:
        yield page


@pytest.fixture
def page(loaded_page):
    """The loaded page, back on page 1 without a filter."""
    box = loaded_page.locator(".s3x-filter input")
    if box.input_value():
        box.fill("")
        box.press("Enter")
        wait_text(loaded_page.locator(".s3x-count"), rf"\b{SEED_DOCS}\b")
    info = loaded_page.locator(".s3x-pageinfo")
    shown = int(re.search(r"page (\d+) of", info.inner_text()).group(1))
    for number in range(shown - 1, 0, -1):
        loaded_page.locator(".s3x-prev").click()
        wait_text(info, rf"page {number} of")
    return loaded_page


def expect_visible(page, voila: Voila, selector: str) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.locator(selector).first.wait_for(state="visible")
    except PlaywrightTimeout:
        body = page.locator("body").inner_text()[-2000:]
        pytest.fail(f"{selector!r} never appeared.\npage text:\n{body}\n"
                    f"voila log:\n{voila.log_tail()}")


def expect(locator):
    from playwright.sync_api import expect

    return expect(locator)


def wait_text(locator, pattern: str) -> str:
    """Wait until ``locator``'s text matches ``pattern``; return the text."""
    expect(locator).to_contain_text(re.compile(pattern), timeout=WAIT_MS)
    return locator.inner_text()


def first_key(page) -> str:
    return page.locator(".s3x-row .s3x-keycell").first.inner_text()


# ---------------------------------------------------------------- tests


def test_browser_shows_count_and_first_page(page, tmp_path: Path) -> None:
    wait_text(page.locator(".s3x-count"), rf"\b{SEED_DOCS}\b")
    rows = page.locator(".s3x-row:visible")
    assert rows.count() == PAGE_SIZE
    assert first_key(page) == make_docs(1)[0]["task_id"]
    # test data: not the README's picture (test_demo_store_browser takes that one)
    page.locator(".s3x-browser .s3x-card").first.screenshot(path=str(tmp_path / "seeded.png"))


CUT_TEXTS = """() => [
    ...document.querySelectorAll('.s3x-browser .s3x-cell, .s3x-browser .s3x-sort')]
    .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
    .map(e => e.textContent)"""


def test_columns_fit_their_content(page, shots: Path) -> None:
    """Each column is as wide as its header and the values on the page: no datetime or
    header cut short, numbers in narrow columns; the full value is on hover (title)."""
    docs = make_docs(PAGE_SIZE)
    page.locator(".s3x-browser .s3x-card").first.screenshot(path=str(shots / "columns.png"))
    assert page.evaluate(CUT_TEXTS) == []
    headers = page.locator(".s3x-browser .s3x-header .s3x-sort")
    width = {headers.nth(i).inner_text().strip(): headers.nth(i).bounding_box()["width"]
             for i in range(headers.count())}
    assert set(width) == {"task_id", *FIELDS}
    # spare room is shared in proportion to the content: short columns stay short
    assert width["nsites"] < 0.7 * width["created"]
    assert width["band_gap"] < 0.6 * width["energy_above_hull"]
    created = page.locator(".s3x-row:visible").first.locator(".s3x-cell").nth(
        1 + FIELDS.index("created"))
    assert created.inner_text() == docs[0]["created"].isoformat(sep=" ")
    assert created.get_attribute("title") == created.inner_text()
    assert headers.nth(1 + FIELDS.index("energy_above_hull")).get_attribute("title") == \
        "sort by energy_above_hull"


def test_next_and_prev_page(page) -> None:
    docs = make_docs(SEED_DOCS)
    page.locator(".s3x-next").click()
    wait_text(page.locator(".s3x-row .s3x-keycell").first, docs[PAGE_SIZE]["task_id"])
    assert page.locator(".s3x-row:visible").count() == PAGE_SIZE
    wait_text(page.locator(".s3x-pageinfo"), r"page 2 of")
    page.locator(".s3x-prev").click()
    wait_text(page.locator(".s3x-row .s3x-keycell").first, docs[0]["task_id"])


def test_filter_simple_form_then_invalid_filter_keeps_page(page) -> None:
    matching = [d for d in make_docs(SEED_DOCS) if d["nsites"] > 20]
    box = page.locator(".s3x-filter input")
    box.fill("nsites > 20")
    box.press("Enter")
    wait_text(page.locator(".s3x-count"), rf"\b{len(matching)}\b")
    keys = [d["task_id"] for d in matching[:PAGE_SIZE]]
    expect(page.locator(".s3x-row:visible .s3x-keycell")).to_have_text(keys, timeout=WAIT_MS)

    box.fill("nsites >")
    box.press("Enter")
    wait_text(page.locator(".s3x-browser .s3x-error"), "expected a value for 'nsites'")
    assert page.locator(".s3x-row:visible .s3x-keycell").all_inner_texts() == keys
    assert re.search(rf"\b{len(matching)}\b", page.locator(".s3x-count").inner_text())
    # the count says the rows are the last good result, not an answer to the bad filter
    expect(page.locator(".s3x-count")).to_have_class(re.compile(r"\bs3x-stale\b"))
    assert "match the filter" not in page.locator(".s3x-count").inner_text()

    box.fill('{"$where": "sleep(1000) || true"}')
    box.press("Enter")
    wait_text(page.locator(".s3x-browser .s3x-error"), r"does not support the operator")
    assert page.locator(".s3x-row:visible .s3x-keycell").all_inner_texts() == keys


def test_click_row_opens_document(page, shots: Path) -> None:
    doc = make_docs(4)[3]
    page.locator(".s3x-row").nth(3).click()
    viewer = page.locator(".s3x-doc")
    wait_text(viewer.locator(".s3x-key"), doc["task_id"])
    text = wait_text(viewer, "nsites")
    for field in ("formula", "nsites", "band_gap", "structure", "dos", "created"):
        assert field in text
    assert f'"{doc["formula"]}"' in text
    assert repr(doc["band_gap"]) in text
    assert doc["created"].isoformat(sep=" ") in text
    assert "shape (1500,)" in text  # the long array is summarised with its shape
    viewer.locator("summary", has_text="lattice").click()
    page.locator(".s3x-row").nth(3).scroll_into_view_if_needed()
    viewer.screenshot(path=str(shots / "viewer.png"))


def set_skip_stored(page, on: bool) -> None:
    """The uploader's "skip documents already stored" checkbox, set as a user would."""
    box = page.locator(".s3x-uploader .s3x-skip input[type=checkbox]")
    if box.is_checked() != on:
        box.click()
    expect(box).to_be_checked(checked=on)


def test_upload_reaches_total(page, shots: Path) -> None:
    set_skip_stored(page, False)
    page.locator(".s3x-upload").click()
    status = wait_text(page.locator(".s3x-status"), r"Done")
    assert f"{UPLOAD_DOCS} of {UPLOAD_DOCS} documents written" in status
    assert "0 failed" in status
    progress = page.locator(".s3x-progress").inner_text()
    assert f"{UPLOAD_DOCS} / {UPLOAD_DOCS}" in progress
    page.locator(".s3x-uploader .s3x-card").screenshot(path=str(shots / "upload.png"))


def test_rerun_skips_what_is_stored(page) -> None:
    """With the box checked, a rerun sends nothing the store already holds unchanged."""
    set_skip_stored(page, False)
    page.locator(".s3x-upload").click()
    wait_text(page.locator(".s3x-status"), r"^Done")
    set_skip_stored(page, True)
    page.locator(".s3x-upload").click()
    status = wait_text(page.locator(".s3x-status"), rf"{UPLOAD_DOCS} already stored")
    assert status.startswith(f"Done: 0 of {UPLOAD_DOCS} documents written") and "0 failed" in status
    expect(page.locator(".s3x-progress .progress-bar")).to_have_class(
        re.compile(r"progress-bar-success"))


def test_cancel_during_upload(page) -> None:
    """Cancel lands while the upload runs: the kernel is free because the widget polls from
    an asyncio task instead of blocking it."""
    set_skip_stored(page, False)  # so there is something to cancel whatever ran before
    page.locator(".s3x-upload").click()
    status = page.locator(".s3x-status")
    wait_text(status, rf"\d+ / {UPLOAD_DOCS} documents")
    page.locator(".s3x-cancel").click()
    text = wait_text(status, r"Cancelled|Done")
    assert text.startswith("Cancelled"), f"the upload ended before Cancel reached it: {text}"
    written = int(re.search(r"Cancelled: (\d+) of", text).group(1))
    assert written < UPLOAD_DOCS and "not uploaded" in text


def test_demo_store_browser(chromium, tmp_path_factory: pytest.TempPathFactory,
                            shots: Path) -> None:
    """The README's picture of the IndexBrowser: the tour's browser over the demo store."""
    with (serve(DEMO_NOTEBOOK, tmp_path_factory.mktemp("jupyter-demo"), {}) as server,
          opened(chromium, server, ".s3x-browser .s3x-row") as page):
        wait_text(page.locator(".s3x-count"), rf"\b{DEMO_DOCS}\b documents")
        assert page.locator(".s3x-row:visible").count() == 10
        assert page.locator(".s3x-row .s3x-keycell").first.inner_text().startswith("mp-")
        page.locator(".s3x-browser .s3x-card").first.screenshot(path=str(shots / "browser.png"))
