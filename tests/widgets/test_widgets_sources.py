"""What an upload reads: lists, iterators, DataFrames and folders of files."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import msgpack
import numpy as np
import pandas as pd
import pytest

from s3explore import ConfigurationError
from s3explore.widgets._sources import document_source


def read_all(source):
    unreadable = []
    docs = list(source.documents(unreadable.append))
    return docs, unreadable


def test_list_and_single_dict():
    docs = [{"task_id": "a"}, {"task_id": "b"}]
    source = document_source(docs, "task_id")
    assert (source.total, source.reusable) == (2, True)
    assert read_all(source) == (docs, [])
    assert document_source({"task_id": "a"}, "task_id").total == 1


def test_iterator_has_no_total_and_is_one_shot():
    source = document_source(({"task_id": str(i)} for i in range(3)), "task_id")
    assert (source.total, source.reusable) == (None, False)
    assert len(read_all(source)[0]) == 3


def test_dataframe_rows_become_plain_documents():
    frame = pd.DataFrame({
        "task_id": ["a", "b"],
        "nsites": np.array([3, 4], dtype=np.int64),
        "gap": [0.5, np.nan],
        "name": pd.array(["x", None], dtype="str"),
        "when": pd.to_datetime(["2024-01-02", None]),
        "dos": [np.arange(3.0), np.arange(2.0)],
    })
    source = document_source(frame, "task_id")
    assert source.total == 2
    docs = list(source.documents(lambda f: None))
    assert len(source.documents(lambda f: None)) == 2  # sized, so update knows the total
    first, second = docs
    assert first["nsites"] == 3 and type(first["nsites"]) is int
    assert type(first["gap"]) is float
    assert first["when"] == dt.datetime(2024, 1, 2) and type(first["when"]) is dt.datetime
    assert second["gap"] is None and second["name"] is None and second["when"] is None
    np.testing.assert_array_equal(first["dos"], np.arange(3.0))


def test_dataframe_key_may_be_the_index():
    frame = pd.DataFrame({"nsites": [1, 2]}, index=pd.Index(["a", "b"], name="task_id"))
    docs = list(document_source(frame, "task_id").documents(lambda f: None))
    assert [d["task_id"] for d in docs] == ["a", "b"]


def test_dataframe_without_key_column_is_refused():
    with pytest.raises(ConfigurationError, match="no column 'task_id'.*nsites"):
        document_source(pd.DataFrame({"nsites": [1]}), "task_id")
    with pytest.raises(ConfigurationError, match="column names must be strings"):
        document_source(pd.DataFrame({"task_id": ["a"], 3: [1]}), "task_id")


def test_folder_of_json_gz_and_msgpack(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"task_id": "a", "n": 1}))
    (tmp_path / "b.json.gz").write_bytes(gzip.compress(json.dumps({"task_id": "b"}).encode()))
    (tmp_path / "c.msgpack").write_bytes(msgpack.packb({
        "task_id": "c", "x": {"@module": "numpy", "@class": "array", "dtype": "int64",
                            "data": [1, 2]}}))
    (tmp_path / "notes.txt").write_text("ignored")
    source = document_source(tmp_path, "task_id")
    assert source.total == 3
    docs, unreadable = read_all(source)
    assert [d["task_id"] for d in docs] == ["a", "b", "c"] and unreadable == []
    np.testing.assert_array_equal(docs[2]["x"], [1, 2])  # tagged values decoded


def test_unreadable_files_are_reported_by_name(tmp_path):
    (tmp_path / "good.json").write_text('{"task_id": "good"}')
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "bad.json.gz").write_bytes(b"not gzip")
    (tmp_path / "bad.msgpack").write_bytes(b"\xc1")
    docs, unreadable = read_all(document_source(str(tmp_path), "task_id"))
    assert docs == [{"task_id": "good"}]
    reasons = {f.key: f.reason for f in unreadable}
    assert set(reasons) == {"broken.json", "list.json", "bad.json.gz", "bad.msgpack"}
    assert "not valid JSON" in reasons["broken.json"]
    assert "JSON list, not an object" in reasons["list.json"]
    assert "not a valid gzip file" in reasons["bad.json.gz"]
    assert "bad.msgpack" in reasons["bad.msgpack"]


def test_bad_folders_and_types(tmp_path):
    with pytest.raises(ConfigurationError, match="does not exist"):
        document_source(tmp_path / "nope", "task_id")
    (tmp_path / "file.json").write_text("{}")
    with pytest.raises(ConfigurationError, match="is not a folder"):
        document_source(tmp_path / "file.json", "task_id")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigurationError, match="holds no .json"):
        document_source(empty, "task_id")
    with pytest.raises(ConfigurationError, match="not int"):
        document_source(42, "task_id")
    with pytest.raises(ConfigurationError, match="not bytes"):
        document_source(b"abc", "task_id")
