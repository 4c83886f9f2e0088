"""IndexBrowser shows keys in natural order, ISO-8601 text as datetimes, and leaves the
index's bookkeeping (last_updated) out of its default columns."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

import s3explore
from s3explore.widgets import IndexBrowser
from s3explore.widgets._display import natural_key, natural_order
from tests.conftest import CREDENTIALS

N = 23


@pytest.fixture(scope="module")
def unpadded(s3_server, tmp_path_factory):
    """``s3explore open`` on a prefix of one JSON document per object, as a newcomer meets it:
    keys mp-0 ... mp-22 (text order: mp-0, mp-1, mp-10, ...), a date kept as ISO text, every
    index field shown, and last_updated taken from the upload time."""
    bucket = s3_server.create_bucket(f"widgets-display-{os.getpid()}")
    client = s3_server.client()
    for i in range(N):
        doc = {"task_id": f"mp-{i}", "nsites": i, "created_at": f"2024-01-{i + 1:02d}T10:00:00Z"}
        client.put_object(Bucket=bucket, Key=f"docs/mp-{i}.json", Body=json.dumps(doc).encode())
    store = s3explore.open(f"s3://{bucket}/docs", endpoint_url=s3_server.endpoint_url,
                           s3_profile=dict(CREDENTIALS), key="task_id",
                           cache_dir=str(tmp_path_factory.mktemp("open-cache")))
    yield store
    store.close()


def keys(browser: IndexBrowser) -> list[str]:
    return list(browser.rows["task_id"])


def test_natural_key_and_order():
    assert natural_key("mp-10") == ("mp-", 10, "")
    assert natural_order(["mp-10", "mp-2", "mp-1"]) == ["mp-1", "mp-2", "mp-10"]
    assert natural_order(["a", "b"]) is None  # no numbers: the index's order
    assert natural_order(["mp-001", "mp-010"]) is None  # zero-padded: text order is natural
    assert natural_order([1, 2]) is None
    assert natural_order(["x10", "10x", "x9"]) == ["10x", "x9", "x10"]  # mixed shapes compare


def test_keys_page_in_natural_order(unpadded):
    browser = IndexBrowser(unpadded, page_size=10)
    assert keys(browser) == [f"mp-{i}" for i in range(10)]
    browser.next_page()
    assert keys(browser) == [f"mp-{i}" for i in range(10, 20)]
    browser.sort_by("task_id", -1)
    assert keys(browser) == [f"mp-{i}" for i in range(22, 12, -1)]
    browser.sort_by("nsites", -1)  # another field: the index sorts
    assert keys(browser)[:2] == ["mp-22", "mp-21"]
    browser.sort_by("task_id", 1)
    browser.apply_filter("nsites >= 8")
    assert keys(browser) == [f"mp-{i}" for i in range(8, 18)]
    assert browser.total == N - 8


def test_iso_text_shows_as_datetimes_and_last_updated_is_left_out(unpadded):
    browser = IndexBrowser(unpadded, page_size=10)
    assert "last_updated" not in browser.rows.columns  # when the entry was written: not data
    created = browser.rows["created_at"]
    assert pd.api.types.is_datetime64_any_dtype(created)
    assert created.iloc[0] == pd.Timestamp("2024-01-01T10:00:00Z")
    cells = browser._table.rows[0].cells.value
    assert "2024-01-01 10:00:00+00:00" in cells
    # the upload time is indexed under its own name, s3_last_modified (no document here
    # has a last_updated of its own)
    asked = IndexBrowser(unpadded, fields=["nsites", "s3_last_modified"], page_size=10)
    assert "s3_last_modified" in asked.rows.columns
