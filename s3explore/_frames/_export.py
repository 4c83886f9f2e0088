"""A Parquet export that survives interruption: ``to_parquet(..., fetch=...)``.

Fetching thousands of objects takes long enough to be interrupted (a crash, a closed laptop,
Ctrl-C). So the export runs in parts of ``part_size`` entries taken in key order (or in
``sort`` order, the key breaking ties): each part's rows go to an Arrow file in a folder
beside the target, ``<path>.parts/``, and ``progress.json`` there records each finished part
with the last key it covers, both written atomically. Run again with the same arguments, the
export starts after the last finished part, fetching only what is missing; a part cut off
midway is fetched again whole. The record names the export (criteria, fields, sort, fetch),
so parts of another export are never mixed in. In key order a part starts after the last
key; in another order it starts at the count of entries done, so a resumed sorted export
checks first that the index still has the last key done at that place. When the last part is
in, the parts become one Parquet file (types unified across parts, as ``to_parquet`` does
across batches) and the folder is removed.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from s3explore._errors import ConfigurationError, warn
from s3explore._frames._arrow import SchemaTracker, conform, table_from_pieces
from s3explore._frames._columns import setting
from s3explore._frames._read import BATCH_SIZE, Reader, index_of, under
from s3explore._query import check_sort
from s3explore._transfer import Callback, as_callback

PROGRESS = "progress.json"
PART_SIZE = 2_000  # entries a part: a few minutes of fetching at worst, lost on a crash
KEY_WINDOW = 50_000  # sorted keys read at a time: one index sort serves many parts


def parts_folder(path: str | os.PathLike) -> Path:
    target = Path(path)
    return target.with_name(target.name + ".parts")


def export_parquet(store: Any, path: str | os.PathLike, criteria: dict | None,
                   fields: list[str] | None, fetch: Any, *, sort: Any = None,
                   on_error: str = "raise", part_size: int = PART_SIZE,
                   batch_size: int = BATCH_SIZE,
                   resume: bool = True,
                   progress: bool | Callback | Callable | None = None,
                   **parquet_kwargs: Any) -> int:
    """The body of ``to_parquet`` with ``fetch=`` (see there); returns the rows written."""
    target = Path(path)
    if not target.parent.is_dir():
        raise ConfigurationError(f"cannot write {str(target)!r}: the folder "
                                 f"{str(target.parent)!r} does not exist")
    part_size = setting(part_size, "part_size")
    if not isinstance(resume, bool):
        raise ConfigurationError(f"resume must be True or False, got {resume!r}")
    # Checked before anything is fetched or written: a bad criterion, field or fetch spec
    Reader(store, criteria, fields, None, 0, 1, fetch, True, batch_size,
           on_error).check_fields_known()
    key = index_of(store).key
    order = _full_sort(key, sort)
    signature = _signature(store, key, criteria, fields, fetch, on_error, order)
    work = parts_folder(target)
    parts = _resumed(work, signature) if resume else []
    if order is not None and parts:
        _check_same_place(store, key, criteria, order, parts, work)
    if not resume:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(exist_ok=True)
    _save(work, signature, parts)  # the folder says whose it is before any part is in
    callback = as_callback(progress)
    try:
        callback.set_total(store.count(criteria or {}))
        callback.advance(docs=sum(p["entries"] for p in parts))
        if order is None:
            pieces = _parts_in_key_order(store, key, criteria,
                                         parts[-1]["last_key"] if parts else None, part_size)
        else:
            pieces = _parts_in_sort(store, key, criteria, order,
                                    sum(p["entries"] for p in parts), part_size)
        for keys in pieces:
            # the part's rows in the export's order: the index sorts the part as the whole
            reader = Reader(store, {key: {"$in": keys}}, fields, order or {key: 1}, 0, 0, fetch,
                            True, batch_size, on_error)
            reader.warn_unseen_paths = False
            table = table_from_pieces(reader.pieces(), reader)
            name = f"part-{len(parts):06d}.arrow"
            _write_atomically(work / name, lambda f, t=table: _write_arrow(f, t))
            last = keys[-1]
            parts.append({"file": name, "entries": len(keys), "rows": table.num_rows,
                          "last_key": last})
            _save(work, signature, parts)
            callback.advance(docs=len(keys))
        rows, columns = _combine(work, parts, key, fields, target, parquet_kwargs)
        _warn_unseen(store, fetch, columns, rows)
    finally:
        callback.close()
    shutil.rmtree(work, ignore_errors=True)
    return rows


def _full_sort(key: str, sort: Any) -> dict | None:
    """``sort`` with the key last, so the order is total and parts are the same on a rerun;
    None for plain key order (parts then resume after their last key)."""
    pairs = dict(check_sort(sort) or [])
    pairs.setdefault(key, 1)
    return None if pairs == {key: 1} else pairs


def _parts_in_key_order(store: Any, key: str, criteria: dict | None, last: Any,
                        part_size: int) -> Iterator[list]:
    while keys := _next_keys(store, key, criteria, last, part_size):
        yield keys
        last = keys[-1]


def _parts_in_sort(store: Any, key: str, criteria: dict | None, order: dict, done: int,
                   part_size: int) -> Iterator[list]:
    """The keys after the first ``done`` in ``order``, ``part_size`` at a time; each window of
    keys is read whole before its parts are fetched (no index cursor stays open)."""
    window = max(part_size, KEY_WINDOW)
    while True:
        found = list(store.query(criteria or {}, properties=[key], sort=order, skip=done,
                                 limit=window))
        keys = [e[key] for e in found]  # every entry has its key
        for start in range(0, len(keys), part_size):
            yield keys[start:start + part_size]
        if len(found) < window:
            return
        done += len(found)


def _check_same_place(store: Any, key: str, criteria: dict | None, order: dict,
                      parts: list[dict], work: Path) -> None:
    """A sorted export resumes at a count: refuse when the last key done is no longer
    there (entries added, removed or changed since), rather than skip or repeat rows."""
    done = sum(p["entries"] for p in parts)
    found = list(store.query(criteria or {}, properties=[key], sort=order, skip=done - 1,
                             limit=1))
    now = json.loads(json.dumps(found[0].get(key), default=str)) if found else None
    if now != parts[-1]["last_key"]:
        raise ConfigurationError(
            f"the index changed since the parts in {str(work)!r} were written (entry {done} "
            f"in the export's order is now {now!r:.60}, was {parts[-1]['last_key']!r:.60}); "
            "pass resume=False to start the export afresh")


def _signature(store: Any, key: str, criteria: Any, fields: Any, fetch: Any,
               on_error: str, order: dict | None) -> dict:
    """What must be equal for parts to belong to one export (functions by their names)."""
    def named(spec: Any) -> Any:
        if callable(spec):
            return f"{getattr(spec, '__module__', '')}.{getattr(spec, '__qualname__', spec)}"
        if isinstance(spec, dict):
            return {str(k): named(v) for k, v in spec.items()}
        if isinstance(spec, (list, tuple)):
            return [named(v) for v in spec]
        return spec

    signature = {"store": store.name, "key": key, "criteria": criteria, "fields": fields,
                 "fetch": named(fetch), "on_error": on_error}
    if order is not None:  # pairs: the order of the fields matters (key order: as before)
        signature["sort"] = [[field, direction] for field, direction in order.items()]
    return json.loads(json.dumps(signature, default=str, sort_keys=True))


def _resumed(work: Path, signature: dict) -> list[dict]:
    record = work / PROGRESS
    if not record.exists():
        return []
    try:
        state = json.loads(record.read_text())
        parts = list(state["parts"])
        same = state["signature"] == signature
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(
            f"{str(record)!r} cannot be read ({type(exc).__name__}); remove "
            f"{str(work)!r} or pass resume=False to start the export afresh") from None
    if not same:
        raise ConfigurationError(
            f"{str(work)!r} holds the parts of another export (other store, criteria, "
            "fields, sort, fetch or on_error); remove it, pass resume=False to start afresh, or "
            "choose another path")
    missing = [p["file"] for p in parts if not (work / p["file"]).exists()]
    if missing:
        raise ConfigurationError(
            f"{str(work)!r} lacks the parts {missing[:3]} that {PROGRESS} lists; pass "
            "resume=False to start the export afresh")
    return parts


def _next_keys(store: Any, key: str, criteria: dict | None, after: Any,
               limit: int) -> list:
    """The next ``limit`` keys in key order after ``after``: one read of the index."""
    where = criteria or {}
    if after is not None:
        where = {"$and": [where, {key: {"$gt": after}}]} if where else {key: {"$gt": after}}
    return [e[key] for e in store.query(where, properties=[key], sort={key: 1}, limit=limit)
            if key in e]


def _write_arrow(file: Path, table: pa.Table) -> None:
    import pyarrow.ipc as ipc

    with ipc.new_file(file, table.schema) as writer:
        writer.write_table(table)


def _write_atomically(file: Path, write: Callable[[Path], None]) -> None:
    partial = file.with_name(file.name + ".partial")
    write(partial)
    os.replace(partial, file)


def _save(work: Path, signature: dict, parts: list[dict]) -> None:
    text = json.dumps({"signature": signature, "parts": parts}, default=str, indent=1)
    _write_atomically(work / PROGRESS, lambda f: f.write_text(text))


def _read_parts(work: Path, parts: list[dict]) -> Iterator[tuple[int, dict[str, pa.Array]]]:
    import pyarrow.ipc as ipc

    for part in parts:
        with ipc.open_file(pa.memory_map(str(work / part["file"]))) as source:
            table = source.read_all()
        yield table.num_rows, {n: table.column(n).combine_chunks() for n in table.column_names}


class _Order:
    """The column order of the parts together: the key, the fields asked for, the others
    by name, in the order the parts first show them otherwise."""

    def __init__(self, key: str, fields: list[str] | None) -> None:
        self.first = [key, *(fields or [])]
        self.names: dict[str, None] = {}

    def order(self) -> list[str]:
        rest = [n for n in self.names if n not in self.first]
        return [n for n in self.first if n in self.names] + rest


def _combine(work: Path, parts: list[dict], key: str, fields: list[str] | None,
             target: Path, parquet_kwargs: dict) -> int:
    import pyarrow.parquet as pq

    order = _Order(key, fields)
    tracker = SchemaTracker(order)  # type: ignore[arg-type]
    for _, arrays in _read_parts(work, parts):
        order.names.update(dict.fromkeys(arrays))
        tracker.add(arrays)
    schema = tracker.schema()

    def write(file: Path) -> None:
        with pq.ParquetWriter(file, schema, **parquet_kwargs) as writer:
            for rows, arrays in _read_parts(work, parts):
                if rows:
                    writer.write_batch(conform(arrays, rows, schema))

    _write_atomically(target, write)
    return sum(p["rows"] for p in parts), [f.name for f in schema
                                           if not pa.types.is_null(f.type)]


def _warn_unseen(store: Any, fetch: Any, columns: list[str], rows: int) -> None:
    """A fetch path no part found anything under: once for the export, not once a part."""
    paths = [fetch] if isinstance(fetch, str) else fetch
    if not rows or not isinstance(paths, (list, tuple)):
        return
    for path in paths:
        if isinstance(path, str) and not under(path, set(columns)):
            warn(f"fetch path {path!r} is in none of the {rows} objects exported; its "
                 "column is all null (check the spelling with store.get(key))")
