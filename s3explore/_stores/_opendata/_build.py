"""Building a manifest for a prefix that has none: list, read every object in parallel.

The entries go to Parquet parts in the cache folder as the build goes (one part per
``chunk`` objects), so a build that was cancelled, interrupted or crashed resumes where it
stopped; the finished manifest is one ``manifest.parquet`` there. Progress counts objects
(for grouped objects, each holds many documents).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s3explore import _codec as codec
from s3explore._errors import CorruptObjectError, warn
from s3explore._query import check_fields, get_path, nested
from s3explore._stores._objects import ObjectIO
from s3explore._stores._opendata import _json
from s3explore._stores._opendata._layout import is_json_document, json_key
from s3explore._stores._opendata._manifest import (
    MANIFEST_PARQUET,
    Layout,
    parse_group_name,
    read_parquet,
    write_parquet,
)
from s3explore._stores._results import Failure
from s3explore._transfer import Callback, as_callback, check_workers, ordered_map

OBJECT = "_object"  # which object an entry came from, in the parts only
MAX_AUTO_FIELDS = 64
MAX_TEXT = 256
MAX_LIST = 32


@dataclass
class BuildResult:
    """How a manifest build went. ``path``: the manifest (None unless finished)."""

    path: Path | None
    objects: int = 0
    entries: int = 0
    resumed: int = 0
    failures: list[Failure] = field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0
    bytes: int = 0

    def __str__(self) -> str:
        state = "cancelled, " if self.cancelled else ""
        return (f"{state}{self.entries} entries from {self.objects} objects "
                f"({self.resumed} from an earlier run) in {self.seconds:.1f} s, "
                f"{len(self.failures)} failed")


def _scalar(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= MAX_TEXT
    return value is None or isinstance(value, (bool, int, float, _dt.datetime))


def summary(doc: Mapping, fields: list[str] | None) -> dict:
    """The index fields of ``doc``: ``fields``, or by default its scalar values, short lists
    of scalars, and the scalars of its sub-documents (one level down)."""
    if fields is not None:
        missing = object()
        picked = {f: get_path(doc, f, missing) for f in fields}
        return nested({f: v for f, v in picked.items() if v is not missing})
    out: dict[str, Any] = {}
    for name, value in doc.items():
        if len(out) >= MAX_AUTO_FIELDS or name == "_id":
            continue
        if _scalar(value) or (isinstance(value, list) and len(value) <= MAX_LIST and all(
                _scalar(v) and not isinstance(v, dict) for v in value)):
            out[name] = value
        elif isinstance(value, Mapping):
            inner = {k: v for k, v in value.items() if _scalar(v)}
            if inner:
                out[name] = inner
    return out


def _modified(value: Any) -> _dt.datetime | None:
    if isinstance(value, _dt.datetime):
        return value.astimezone(_dt.UTC).replace(tzinfo=None) if value.tzinfo else value
    return None


class Builder:
    """One build: which objects, how to turn each into entries, where the parts go."""

    def __init__(self, objects: ObjectIO, layout: Layout, folder: Path,
                 fields: list[str] | None = None) -> None:
        self.objects = objects
        self.layout = layout
        self.folder = folder
        self.parts = folder / "build"
        self.fields = check_fields(fields, "fields")

    def data_objects(self) -> list[tuple[str, Any]]:
        if self.layout.kind == "grouped-jsonl":
            keep = lambda n: parse_group_name(n, self.layout.suffix) is not None  # noqa: E731
        else:
            keep = is_json_document
        return sorted((n, m) for n, m in self.objects.list() if keep(n))

    def entries_of(self, item: tuple[str, Any]) -> tuple[list[dict], int]:
        """The entries of one object and its size (runs in worker threads)."""
        name, modified = item
        # A name that could not be a key (".." or "." segments, control characters) would
        # make an entry no read can follow: reported as a failure, never indexed or read.
        codec.key_string(name, "object name")
        raw, *_ = self.objects.read(name)
        key = self.layout.key
        if self.layout.kind == "json-objects":
            stem, compression = json_key(name)
            doc = _json.read_document(raw, name, self.objects.max_decoded_bytes)
            entry = summary(doc, self.fields)
            entry[key] = stem  # the object's name is the key: it finds the object again
            if compression:
                entry["compression"] = compression
            entry.setdefault("last_updated", doc.get("last_updated") or _modified(modified))
            return [entry], len(raw)
        groups = parse_group_name(name, self.layout.suffix) or {}
        out = []
        for number, doc in enumerate(
                _json.read_lines(raw, name, self.objects.max_decoded_bytes), 1):
            if doc.get(key) is None:
                raise CorruptObjectError(f"document {number} of {name!r} has no {key!r} "
                                         "field; pass key= naming the documents' key",
                                         key=name)
            entry = summary(doc, self.fields)
            entry[key] = doc[key]
            entry.update(groups)  # the object's name decides where the document is
            if doc.get("last_updated") is not None:
                entry["last_updated"] = doc["last_updated"]
            out.append(entry)
        return out, len(raw)

    # ------------------------------------------------------------ parts

    def done(self) -> tuple[list[dict], set[str]]:
        entries: list[dict] = []
        for part in sorted(self.parts.glob("part-*.parquet")):
            try:
                entries += read_parquet(str(part), str(part)).entries
            except FileNotFoundError:  # another build of this prefix finished meanwhile
                continue
            except CorruptObjectError:  # a part cut short by a crash: redo its objects
                with contextlib.suppress(FileNotFoundError):
                    part.unlink()
        return entries, {e[OBJECT] for e in entries if OBJECT in e}

    def write_part(self, entries: list[dict]) -> None:
        if not entries:
            return
        self.parts.mkdir(parents=True, exist_ok=True)
        name = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:6]}.parquet"
        body = write_parquet(entries, self.layout)
        for attempt in range(3):  # another build of this prefix may remove parts/ meanwhile
            try:
                self.parts.mkdir(parents=True, exist_ok=True)
                scratch = self.parts / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
                scratch.write_bytes(body)
                scratch.replace(self.parts / name)
                return
            except FileNotFoundError:
                if attempt == 2:
                    raise

    def finish(self, entries: list[dict]) -> Path:
        """``manifest.parquet``, written under a name of this build's own and renamed into
        place: two processes building one prefix at once both finish, and the file is
        always one of theirs, whole."""
        path = self.folder / MANIFEST_PARQUET
        self.folder.mkdir(parents=True, exist_ok=True)
        scratch = self.folder / f".{MANIFEST_PARQUET}.{uuid.uuid4().hex}.tmp"
        clean = [{k: v for k, v in e.items() if k != OBJECT} for e in entries]
        try:
            scratch.write_bytes(write_parquet(clean, self.layout, {"built": True}))
            scratch.replace(path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                scratch.unlink()
        shutil.rmtree(self.parts, ignore_errors=True)
        return path


def build(objects: ObjectIO, layout: Layout, folder: Path, *, fields: list[str] | None = None,
          workers: int = 8, progress: bool | Callback | Callable | None = None,
          cancel: threading.Event | None = None, chunk: int = 1000) -> BuildResult:
    """Read every data object under the prefix and write ``folder/manifest.parquet``."""
    workers = check_workers(workers)
    started = time.perf_counter()
    builder = Builder(objects, layout, folder, fields)
    callback = as_callback(progress)
    previous, seen = builder.done()
    listed = builder.data_objects()
    todo = [item for item in listed if item[0] not in seen]
    result = BuildResult(None, objects=len(listed), resumed=len(listed) - len(todo))
    callback.set_total(len(listed))
    callback.advance(docs=result.resumed)
    pending: list[dict] = []
    try:
        for outcome in ordered_map(builder.entries_of, todo, objects.with_workers(workers),
                                   stop=cancel):
            name = outcome.item[0]
            if outcome.error is not None:
                result.failures.append(Failure(name, str(outcome.error), outcome.error))
                callback.advance(failed=1)
                continue
            found, size = outcome.value
            pending += [{**e, OBJECT: name} for e in found]
            result.bytes += size
            callback.advance(docs=1, nbytes=size)
            if len(pending) >= chunk:
                builder.write_part(pending)
                previous += pending
                pending = []
    finally:
        builder.write_part(pending)  # what landed is kept, even when interrupted
        previous += pending
        callback.close()
    result.cancelled = bool(cancel is not None and cancel.is_set())
    result.entries = len(previous)
    result.seconds = time.perf_counter() - started
    if result.failures:
        shown = ", ".join(f.key or "?" for f in result.failures[:10])
        warn(f"{len(result.failures)} object(s) under {objects.name} could not be read and "
             f"are not in the manifest: {shown}" + (" ..." if len(result.failures) > 10 else "")
             + f" (the first: {result.failures[0].reason[:300]})")
    if not result.cancelled:
        result.path = builder.finish(previous)
    return result
