"""to_arrow and to_parquet: types unified across batches, streamed writes, mixed types."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from s3explore import ConfigurationError
from tests.frames.conftest import _batchy_docs, _docs

# ---------------------------------------------------------------- Arrow and Parquet


def test_to_arrow_unifies_types_across_batches(memory):
    memory.remove_docs({})
    memory.update(_batchy_docs())
    table = memory.to_arrow(batch_size=3)
    assert table.column_names == ["task_id", "late", "n", "nested.deep", "x"]
    assert table.schema.field("x").type == pa.float64()
    assert table.schema.field("late").type == pa.int64()
    assert table.num_rows == 10
    rows = {r["task_id"]: r for r in table.to_pylist()}
    for doc in _batchy_docs():
        row = rows[doc["task_id"]]
        assert row["x"] == doc["x"]
        assert row["late"] == doc.get("late")
        assert row["nested.deep"] == doc.get("nested", {}).get("deep")


def test_to_parquet_streams_in_batches(memory, tmp_path):
    memory.remove_docs({})
    memory.update(_batchy_docs())
    path = tmp_path / "index.parquet"
    assert memory.to_parquet(path, batch_size=3) == 10
    assert pq.ParquetFile(path).metadata.num_row_groups == 4  # one per batch of 3
    assert pq.read_table(path).equals(memory.to_arrow())
    assert [p.name for p in tmp_path.iterdir()] == ["index.parquet"]  # spill files gone


def test_to_parquet_with_criteria_and_fields(memory, tmp_path):
    path = tmp_path / "some.parquet"
    memory.to_parquet(path, {"formula": "Si"}, ["nsites", "calc.encut"], batch_size=1)
    table = pq.read_table(path)
    si = [d for d in _docs() if d["formula"] == "Si"]
    assert table.column_names == ["task_id", "nsites", "calc.encut"]
    assert sorted(table.column("nsites").to_pylist()) == [d["nsites"] for d in si]


def test_export_writes_mixed_types_as_strings_with_a_warning(memory, tmp_path):
    memory.update([{"task_id": "m1", "nsites": 1, "tag": 7},
                   {"task_id": "m2", "nsites": 1, "tag": "seven"}])
    with pytest.warns(UserWarning, match="'tag' mixes types") as record:
        table = memory.to_arrow({"nsites": 1}, ["tag"])
    assert [w.filename for w in record] == [__file__]  # the caller's line
    assert table.schema.field("tag").type == pa.string()
    assert sorted(v for v in table.column("tag").to_pylist() if v) == ["7", "seven"]
    # the conflict between batches (int in one, str in the next) is caught too
    with pytest.warns(UserWarning, match="'tag' mixes types") as record:
        memory.to_parquet(tmp_path / "t.parquet", {"task_id": {"$in": ["m1", "m2"]}}, ["tag"],
                          batch_size=1)
    assert [w.filename for w in record] == [__file__]
    assert pq.read_table(tmp_path / "t.parquet").schema.field("tag").type == pa.string()


def test_to_parquet_into_a_missing_folder_is_refused(memory, tmp_path):
    with pytest.raises(ConfigurationError, match="does not exist"):
        memory.to_parquet(tmp_path / "nope" / "x.parquet")


