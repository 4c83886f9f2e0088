"""The browser's export panel in a real browser: Voila serves export_demo.ipynb (an IndexBrowser
over an S3Store on a local S3 endpoint), chromium reads the cost line and exports the
filtered, sorted rows to a notebook variable and to a Parquet file, in the table's order;
an export cancelled midway is resumed by writing the same file again.

The notebook's test row reads the kernel's state on a click ("inspect": the variable's keys
and the GETs the S3 server answered) and can make the server hold GETs after the next part
until released, so Cancel lands mid-export however fast the machine is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.browser.seeddata import make_docs
from tests.browser.test_in_chromium import (  # noqa: F401 -- chromium, shots: fixtures
    WAIT_MS,
    Voila,
    chromium,
    expect,
    expect_visible,
    opened,
    serve,
    shots,
    wait_text,
)

pytestmark = pytest.mark.browser

DOCS = 120
PART = 20  # entries a part of the panel's file exports: 6 parts for the whole store
NACL = {d["task_id"]: d for d in make_docs(DOCS) if d["formula"] == "NaCl"}
SORT_MARKS = {1: " \u25b2", -1: " \u25bc", None: ""}


@pytest.fixture(scope="module")
def voila(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Voila]:
    with serve("export_demo.ipynb", tmp_path_factory.mktemp("jupyter"),
               {"S3X_SEED_DOCS": str(DOCS), "S3X_PART_SIZE": str(PART)}) as server:
        yield server


@pytest.fixture(scope="module")
def page(chromium, voila: Voila) -> Iterator:  # noqa: F811 -- the imported fixture
    with opened(chromium, voila, ".s3x-browser .s3x-row") as page:
        page.locator(".s3x-export-toggle").click()
        expect_visible(page, voila, ".s3x-export .s3x-cost")
        yield page


def filter_nacl(page) -> None:
    box = page.locator(".s3x-filter input")
    if box.input_value() != 'formula == "NaCl"':
        box.fill('formula == "NaCl"')
        box.press("Enter")
    wait_text(page.locator(".s3x-count"), rf"\b{len(NACL)}\b documents match")


def clear_filter(page) -> None:
    box = page.locator(".s3x-filter input")
    if box.input_value():
        box.fill("")
        box.press("Enter")
    wait_text(page.locator(".s3x-count"), rf"\b{DOCS}\b documents")


def sort_by(page, field: str, direction: int | None) -> None:
    """Click the column's header until it shows the direction (asc, desc, none in turn)."""
    header = page.locator(f'.s3x-browser .s3x-header .s3x-sort[title="sort by {field}"]')
    for _ in range(3):
        if header.inner_text().strip() == (field + SORT_MARKS[direction]).strip():
            return
        before = header.inner_text()
        header.click()
        expect(header).not_to_have_text(before, timeout=WAIT_MS)
    pytest.fail(f"the {field} header never showed direction {direction}")


def shown_keys(page) -> list[str]:
    return page.locator(".s3x-row:visible .s3x-keycell").all_inner_texts()


def inspect(page, button: str = "inspect") -> dict:
    """What the kernel holds after a click on the test row's ``button``; each click gives a
    fresh answer (its number goes up), so an answer at all says the kernel is responsive."""
    seen = page.locator(".s3x-test-seen")
    before = json.loads(seen.inner_text() or '{"click": 0}')["click"]
    page.locator(f".s3x-test-{button}").click()
    wait_text(seen, rf'"click": {before + 1}\b')
    return json.loads(seen.inner_text())


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
    sort_by(page, "nsites", None)
    filter_nacl(page)
    page.locator(".s3x-export-fetch input").fill("")
    page.locator(".s3x-export-fetch input").press("Enter")
    name = page.locator(".s3x-export-name input")
    name.fill("picked")
    page.locator(".s3x-export-df").click()
    wait_text(page.locator(".s3x-export-status"),
              rf"^Done: {len(NACL)} rows \u00d7 \d+ columns in the variable picked")
    held = inspect(page)
    assert held["keys"]["picked"] == sorted(NACL)
    assert held["columns"]["picked"][:2] == ["task_id", "formula"]


def test_the_variable_follows_the_table_sort(page) -> None:
    filter_nacl(page)
    sort_by(page, "nsites", -1)  # two clicks on the header: descending
    order = sorted(NACL, key=lambda k: (-NACL[k]["nsites"], k))
    expect(page.locator(".s3x-row:visible .s3x-keycell")).to_have_text(order, timeout=WAIT_MS)
    page.locator(".s3x-export-name input").fill("by_nsites")
    page.locator(".s3x-export-df").click()
    wait_text(page.locator(".s3x-export-status"),
              rf"^Done: {len(NACL)} rows .* in the variable by_nsites")
    assert inspect(page)["keys"]["by_nsites"] == shown_keys(page) == order
    sort_by(page, "nsites", None)


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


def test_cancel_mid_export_then_resume(page, tmp_path: Path, shots: Path) -> None:  # noqa: F811
    """Cancel lands while parts are being fetched: the panel says how many entries were
    written, the kernel answers meanwhile, and writing the same file again fetches only the
    entries missing, in the same (sorted) order as the table."""
    clear_filter(page)
    sort_by(page, "band_gap", -1)
    order = [d["task_id"] for d in sorted(make_docs(DOCS),
                                          key=lambda d: (-d["band_gap"], d["task_id"]))]
    expect(page.locator(".s3x-row:visible .s3x-keycell")).to_have_text(order[:25],
                                                                        timeout=WAIT_MS)
    fetch = page.locator(".s3x-export-fetch input")
    fetch.fill("energy_per_atom")
    fetch.press("Enter")
    wait_text(page.locator(".s3x-cost"), rf"^Cost: {DOCS} entries, {DOCS} objects to GET")
    target = tmp_path / "sorted.parquet"
    page.locator(".s3x-export-path input").fill(str(target))
    inspect(page, "hold")  # the GETs after the first part wait
    page.locator(".s3x-export-file").click()
    bar = page.locator(".s3x-export-progress")
    wait_text(bar, rf"\b{PART} / {DOCS}\b")  # the first part is in; the second is held
    cancel = page.locator(".s3x-export-cancel")
    expect(cancel).to_be_enabled()
    cancel.click()
    status = page.locator(".s3x-export-status")
    wait_text(status, r"^Cancelling at the next part")
    before = inspect(page)  # the kernel answers while the export thread waits
    assert before["gets"] >= PART
    inspect(page, "release")
    text = wait_text(status, r"^Cancelled after")
    written = int(re.search(r"^Cancelled after (\d+) of (\d+) entries", text).group(1))
    assert written == 2 * PART and f"of {DOCS} entries" in text  # the part under way ended
    assert "write the same file again to resume" in text
    assert not target.exists() and (tmp_path / "sorted.parquet.parts").is_dir()
    expect(page.locator(".s3x-export-file")).to_be_enabled()
    expect(cancel).to_be_disabled()
    page.locator(".s3x-export").screenshot(path=str(shots / "export-cancelled.png"))
    gets_before = inspect(page)["gets"]  # responsive after the cancel too

    page.locator(".s3x-export-file").click()
    done = wait_text(status, r"^Done: ")
    assert done.startswith(f"Done: {DOCS} rows written to {target}")
    assert (f"resumed: {written} entries were written before, {DOCS - written} fetched now"
            in done)
    assert inspect(page)["gets"] - gets_before == DOCS - written  # only what was missing
    table = pq.read_table(target).to_pylist()
    assert [row["task_id"] for row in table] == order  # the table's sort, across the parts
    first = {d["task_id"]: d for d in make_docs(DOCS)}
    assert all(row["energy_per_atom"] == first[row["task_id"]]["energy_per_atom"]
               for row in table)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sorted.parquet"]
    page.locator(".s3x-export").screenshot(path=str(shots / "export-resumed.png"))
    sort_by(page, "band_gap", None)
