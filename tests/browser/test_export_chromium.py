"""The browser's export panel in a real browser: Voila serves export_demo.ipynb (an IndexBrowser
over an S3Store on a local S3 endpoint), chromium reads the cost line and exports the
filtered rows to a notebook variable and to a Parquet file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.browser.seeddata import make_docs
from tests.browser.test_in_chromium import (  # noqa: F401 -- chromium, shots: fixtures
    WAIT_MS,
    Voila,
    chromium,
    expect_visible,
    serve,
    shots,
    wait_text,
)

pytestmark = pytest.mark.browser

DOCS = 120
NACL = {d["task_id"]: d for d in make_docs(DOCS) if d["formula"] == "NaCl"}


@pytest.fixture(scope="module")
def voila(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Voila]:
    with serve("export_demo.ipynb", tmp_path_factory.mktemp("jupyter"),
               {"S3X_SEED_DOCS": str(DOCS)}) as server:
        yield server


@pytest.fixture(scope="module")
def page(chromium, voila: Voila) -> Iterator:  # noqa: F811 -- the imported fixture
    context = chromium.new_context(viewport={"width": 1180, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        page.goto(voila.url, wait_until="domcontentloaded")
        expect_visible(page, voila, ".s3x-browser .s3x-row")
        page.locator(".s3x-export-toggle").click()
        expect_visible(page, voila, ".s3x-export .s3x-cost")
        yield page
    finally:
        context.close()


def filter_nacl(page) -> None:
    box = page.locator(".s3x-filter input")
    if box.input_value() != 'formula == "NaCl"':
        box.fill('formula == "NaCl"')
        box.press("Enter")
    wait_text(page.locator(".s3x-count"), rf"\b{len(NACL)}\b documents match")


def test_cost_line_follows_filter_and_fetch(page, shots: Path) -> None:  # noqa: F811
    cost = page.locator(".s3x-cost")
    fetch = page.locator(".s3x-export-fetch input")
    if fetch.input_value():  # the other tests may have left paths in the box
        fetch.fill("")
        fetch.press("Enter")
    wait_text(cost, rf"^Cost: ({DOCS}|{len(NACL)}) entries, no objects to GET")
    filter_nacl(page)
    wait_text(cost, rf"^Cost: {len(NACL)} entries, no objects to GET \(answered from the index\)")
    fetch.fill("energy_per_atom")
    fetch.press("Enter")
    n = len(NACL)
    wait_text(cost, rf"^Cost: {n} entries, {n} objects to GET, about [\d.,]+ [kM]?B "
                    r"in (about|under)")
    page.locator(".s3x-browser").first.screenshot(path=str(shots / "export-cost.png"))


def test_export_to_a_notebook_variable(page) -> None:
    filter_nacl(page)
    page.locator(".s3x-export-fetch input").fill("")
    page.locator(".s3x-export-fetch input").press("Enter")
    name = page.locator(".s3x-export-name input")
    name.fill("picked")
    page.locator(".s3x-export-df").click()
    wait_text(page.locator(".s3x-export-status"),
              rf"^Done: {len(NACL)} rows \u00d7 \d+ columns in the variable picked")
    page.locator(".s3x-test-inspect").click()
    seen = page.locator(".s3x-test-seen")
    wait_text(seen, r"keys")
    held = json.loads(seen.inner_text())
    assert held["keys"] == sorted(NACL)
    assert held["columns"][:2] == ["task_id", "formula"]


def test_export_to_parquet_with_progress(page, tmp_path: Path, shots: Path) -> None:  # noqa: F811
    filter_nacl(page)
    fetch = page.locator(".s3x-export-fetch input")
    fetch.fill("energy_per_atom")
    fetch.press("Enter")
    target = tmp_path / "nacl.parquet"
    page.locator(".s3x-export-path input").fill(str(target))
    page.locator(".s3x-export-file").click()
    status = page.locator(".s3x-export-status")
    wait_text(status, rf"^Done: {len(NACL)} rows written to {target}")
    n = len(NACL)
    wait_text(page.locator(".s3x-export-progress"), rf"{n} / {n}")
    table = pq.read_table(target).to_pylist()
    assert sorted(row["task_id"] for row in table) == sorted(NACL)
    for row in table:
        assert row["formula"] == "NaCl"
        assert row["energy_per_atom"] == NACL[row["task_id"]]["energy_per_atom"]  # fetched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nacl.parquet"]
    page.locator(".s3x-browser").first.screenshot(path=str(shots / "export-done.png"))


def test_a_bad_path_is_refused_in_the_panel(page, tmp_path: Path) -> None:
    page.locator(".s3x-export-path input").fill(str(tmp_path / "nacl.txt"))
    page.locator(".s3x-export-file").click()
    wait_text(page.locator(".s3x-export-status"), r"end the file name in \.parquet or \.csv")
    assert list(tmp_path.iterdir()) == []
