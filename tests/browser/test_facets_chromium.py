"""The facet panel in a real browser: Voila serves facets_demo.ipynb (a FacetPanel linked to
an IndexBrowser over a DuckDB index), chromium clicks its values."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.browser.seeddata import make_docs
from tests.browser.test_in_chromium import (  # noqa: F401 -- chromium: a fixture
    WAIT_MS,
    Voila,
    chromium,
    expect,
    expect_visible,
    opened,
    serve,
    wait_text,
)

pytestmark = pytest.mark.browser

DOCS = 240
FORMULAS = Counter(d["formula"] for d in make_docs(DOCS))


@pytest.fixture(scope="module")
def voila(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Voila]:
    with serve("facets_demo.ipynb", tmp_path_factory.mktemp("jupyter"), {}) as server:
        yield server


@pytest.fixture(scope="module")
def page(chromium, voila: Voila) -> Iterator:  # noqa: F811 -- the imported fixture
    with opened(chromium, voila, ".s3x-facets .s3x-facet-value", ".s3x-browser .s3x-row",
                width=1400) as page:
        yield page


def value_button(page, label: str):
    return page.locator(".s3x-facets .s3x-facet-value", has_text=re.compile(rf"^{label}\s"))


def test_values_show_with_their_counts(page) -> None:
    wait_text(page.locator(".s3x-facet-count"), rf"^{DOCS} entries match")
    top, count = FORMULAS.most_common(1)[0]
    assert value_button(page, top).first.inner_text().split() == [top, str(count)]
    wait_text(page.locator(".s3x-count"), rf"\b{DOCS}\b")


def test_a_click_filters_the_browser_and_a_second_click_undoes_it(page) -> None:
    nacl = FORMULAS["NaCl"]
    value_button(page, "NaCl").first.click()
    wait_text(page.locator(".s3x-facet-count"), rf"^{nacl} entries match")
    wait_text(page.locator(".s3x-count"), rf"\b{nacl}\b")
    rows = page.locator(".s3x-row:visible")
    # the count and the table are drawn one after the other: wait for the table too
    expect(rows.filter(has_not_text="NaCl")).to_have_count(0, timeout=WAIT_MS)
    assert rows.count() > 0
    value_button(page, "NaCl").first.click()
    wait_text(page.locator(".s3x-facet-count"), rf"^{DOCS} entries match")
    wait_text(page.locator(".s3x-count"), rf"\b{DOCS}\b")


def test_the_browser_filter_narrows_the_counts(page) -> None:
    box = page.locator(".s3x-filter input")
    box.fill('formula == "SiO2"')
    box.press("Enter")
    sio2 = FORMULAS["SiO2"]
    wait_text(page.locator(".s3x-count"), rf"\b{sio2}\b")
    wait_text(page.locator(".s3x-facet-count"), rf"^{sio2} entries match")
    assert page.locator(".s3x-facets .s3x-facet-value", has_text="NaCl").count() == 0
    box.fill("")
    box.press("Enter")
    wait_text(page.locator(".s3x-facet-count"), rf"^{DOCS} entries match")
