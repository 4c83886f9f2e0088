"""One export of the browser's selection in one background thread that only reports into a
ProgressCounter; the browser's thread polls it and alone touches the widgets (ipywidgets
updates from worker threads are fragile under ipykernel 7), as ``_run`` does for uploads.

Files go through ``store.to_parquet(..., sort=..., fetch=...)``, which runs in parts and
resumes an interrupted export; a CSV file is that Parquet file turned into CSV batch by batch.
Rows come in the order the browser's table shows: the index's sort, or, when the table orders
the keys itself (natural order, ``mp-2`` before ``mp-10``, for at most NATURAL_SORT_LIMIT
entries), that order, applied once all rows are in.
"""

from __future__ import annotations

import json
import keyword
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s3explore._errors import ConfigurationError
from s3explore._transfer import ProgressCounter
from s3explore.widgets._display import default_columns
from s3explore.widgets._run import BackgroundRun

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
# Entries a resumable part holds when the widget exports: small enough that the bar moves
# and an interruption loses little; the same for every widget export, so reruns resume.
PART_SIZE = 500
CSV_BATCH_ROWS = 10_000


@dataclass(frozen=True)
class Selection:
    """What the browser shows: its criteria (filter included), sort and visible fields.
    ``keys_in_order``: the matching keys in the table's order when the browser orders them
    itself (natural order); None when the index's ``sort`` is the table's order."""

    criteria: dict
    sort: dict | None
    fields: list[str] | None
    keys_in_order: list | None = None


def check_fetch(fetch: Any) -> list[str] | None:
    """``fetch`` as a list of dotted paths (text is split at commas), or None."""
    if fetch is None:
        return None
    if isinstance(fetch, str):
        fetch = [p.strip() for p in fetch.split(",")]
    if not isinstance(fetch, (list, tuple)) or not all(isinstance(p, str) for p in fetch):
        raise ConfigurationError(f"fetch must be dotted paths in the objects, such as "
                                 f"['structure.lattice'] or 'a.b, c', got {fetch!r:.80}")
    paths = [p for p in fetch if p]
    return paths or None


def check_target(path: Any) -> tuple[Path, str]:
    """The export file and its format, from its suffix (.parquet, .pq or .csv)."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise ConfigurationError(f"the export path must be a file name ending in .parquet or "
                                 f".csv, got {path!r:.80}")
    target = Path(os.path.expanduser(str(path).strip()))
    fmt = FORMATS.get(target.suffix.lower())
    if fmt is None:
        raise ConfigurationError(f"cannot tell the format of {str(target)!r}: end the file "
                                 "name in .parquet or .csv")
    if not target.parent.is_dir():
        raise ConfigurationError(f"cannot write {str(target)!r}: the folder "
                                 f"{str(target.parent)!r} does not exist; create it first")
    if target.is_dir():
        raise ConfigurationError(f"{str(target)!r} is a folder; give a file name")
    return target, fmt


def check_variable(name: Any, namespace: Mapping[str, Any] | None) -> str:
    """A Python name a DataFrame may be stored under, without replacing something else."""
    if not isinstance(name, str) or not name.strip().isidentifier() or keyword.iskeyword(
            name.strip()) or name.strip().startswith("_"):
        raise ConfigurationError(f"the variable name must be a Python name such as "
                                 f"'selection' (letters, digits, _; not starting with _ or a "
                                 f"digit), got {name!r:.60}")
    name = name.strip()
    held = None if namespace is None else namespace.get(name)
    if held is not None and type(held).__name__ != "DataFrame":
        raise ConfigurationError(f"the variable {name!r} already holds a "
                                 f"{type(held).__name__}; choose another name")
    return name


def user_namespace() -> dict | None:
    """IPython's user namespace when running in IPython (a Jupyter or Voila kernel)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return getattr(shell, "user_ns", None) if shell is not None else None


class ExportCancelled(Exception):
    """Raised in the export thread at the next part once cancel() was asked for."""


class _CancellableCounter(ProgressCounter):
    """A ProgressCounter that stops the export at the next part boundary once cancelled:
    the parts written stay, so running the export again resumes."""

    def __init__(self, cancel: threading.Event) -> None:
        super().__init__()
        self._cancel = cancel

    def advance(self, docs: int = 0, nbytes: int = 0, failed: int = 0) -> None:
        super().advance(docs, nbytes, failed)
        if self._cancel.is_set():
            raise ExportCancelled


class BackgroundExport(BackgroundRun):
    """``start()`` runs ``work(counter)`` in a thread; ``result`` is what it returned, ``error``
    the exception it raised (``ExportCancelled`` after ``cancel()``). ``parts``: the folder of
    the resumable parts when the export runs in parts (only then can it be cancelled midway),
    and ``resumed`` the entries found written there when it started."""

    def __init__(self, work: Callable[[ProgressCounter], Any], what: str,
                 parts: Path | None = None) -> None:
        cancel = threading.Event()
        super().__init__("s3explore-export", _CancellableCounter(cancel))
        self.cancel_event = cancel  # the counter watches this one
        self.what = what  # "a DataFrame" or the file's path, for the status line
        self.parts = parts
        self.resumed = written_before(parts) if parts is not None else 0  # before start()
        self.result: Any = None
        self._work = work

    def _run(self) -> None:
        try:
            self.result = self._work(self.counter)
        except BaseException as exc:  # reported by the owner; KeyboardInterrupt included
            self.error = exc
        finally:
            self.counter.close()


def read_frame(store: Any, selection: Selection, fetch: list[str] | None) -> Any:
    """The selection as a DataFrame, rows in the table's order, columns as the table's."""
    frame = store.query_df(selection.criteria, fields=selection.fields, sort=selection.sort,
                           fetch=fetch)
    if selection.fields is None:  # the columns the browser shows
        frame = default_columns(frame, store.key)
    if selection.keys_in_order is None or store.key not in frame.columns:
        return frame
    order = _positions(frame[store.key], selection.keys_in_order)
    return frame.iloc[order].reset_index(drop=True)


def _positions(keys: Any, keys_in_order: list) -> Any:
    """Row numbers that put ``keys`` in the order of ``keys_in_order``; a key it lacks (an
    entry added since the browser counted) goes last, in the index's order."""
    import numpy as np

    place = {k: i for i, k in enumerate(keys_in_order)}
    ranks = np.fromiter((place.get(k, len(place)) for k in keys), dtype=np.int64)
    return np.argsort(ranks, kind="stable")


def parquet_path(target: Path, fmt: str, selection: Selection) -> Path:
    """Where ``store.to_parquet`` writes (its parts folder beside it): the target, or a
    staging file beside it that is put in the table's order or turned into CSV after."""
    if fmt == "parquet" and selection.keys_in_order is None:
        return target
    return target.with_name(target.name + ".parquet")


def parts_of(target: Path, fmt: str, selection: Selection) -> Path:
    """The folder of the resumable parts of an export of ``selection`` to ``target``."""
    from s3explore._frames._export import parts_folder  # pyarrow: only once exporting

    return parts_folder(parquet_path(target, fmt, selection))


def written_before(parts: Path) -> int:
    """Entries in the finished ``parts`` of an earlier, interrupted export (0 when none);
    ``to_parquet`` itself checks that they belong to this export before it resumes."""
    from s3explore._frames._export import PROGRESS

    try:
        record = json.loads((parts / PROGRESS).read_text())
        return sum(int(p["entries"]) for p in record["parts"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def write_file(store: Any, selection: Selection, target: Path, fmt: str,
               fetch: list[str] | None, counter: ProgressCounter,
               part_size: int | None = None) -> int:
    """The selection to ``target``; the rows written. Runs in the export thread.
    ``part_size``: entries a resumable part holds (None: ``PART_SIZE``)."""
    staging = parquet_path(target, fmt, selection)
    rows = _to_parquet(store, selection, staging, fetch, counter, part_size or PART_SIZE)
    if staging == target:
        return rows
    if selection.keys_in_order is not None:
        _put_in_order(staging, store.key, selection.keys_in_order)
    if fmt == "csv":
        _parquet_to_csv(staging, target)
        staging.unlink()
    else:
        os.replace(staging, target)
    return rows


def _to_parquet(store: Any, selection: Selection, target: Path, fetch: list[str] | None,
                counter: ProgressCounter, part_size: int) -> int:
    if fetch:
        return store.to_parquet(target, selection.criteria, selection.fields, fetch=fetch,
                                sort=selection.sort, progress=counter, part_size=part_size)
    # Index fields only: one streaming pass, no parts to resume and no progress to report.
    counter.set_total(None)
    rows = store.to_parquet(target, selection.criteria, selection.fields, sort=selection.sort)
    ProgressCounter.advance(counter, docs=rows)  # done: nothing left to cancel
    return rows


def _put_in_order(path: Path, key: str, keys_in_order: list) -> None:
    """Rewrite ``path`` with its rows in natural key order (at most NATURAL_SORT_LIMIT rows:
    the browser orders keys itself only that far)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if key not in table.column_names:
        return
    ordered = table.take(_positions(table.column(key).to_pylist(), keys_in_order))
    partial = path.with_name(path.name + ".partial")
    pq.write_table(ordered, partial)
    os.replace(partial, path)


def _parquet_to_csv(source: Path, target: Path) -> None:
    """Batch by batch, so memory stays at one batch; nested values are written as text."""
    import pyarrow.parquet as pq

    partial = target.with_name(target.name + ".partial")
    parquet = pq.ParquetFile(source)
    with partial.open("w", newline="", encoding="utf-8") as out:
        for n, batch in enumerate(parquet.iter_batches(batch_size=CSV_BATCH_ROWS)):
            batch.to_pandas().to_csv(out, header=n == 0, index=False)
        if parquet.metadata.num_rows == 0:
            out.write(",".join(parquet.schema_arrow.names) + "\n")
    os.replace(partial, target)
