"""Building a manifest for a prefix that has none: list, read every object in parallel.

The entries go to Parquet parts in this build's own folder (``_builds``) as the build goes
(one part per ``chunk`` objects), so a build that was cancelled, interrupted or crashed
resumes where it stopped (for the objects whose ETag is still the one read); the finished
manifest is one ``manifest.parquet`` in the cache folder, beside the listing it was built
from (``_fresh``). Each entry names its object's ETag (``obj_etag``, as S3Store entries
do). Progress counts objects (for grouped objects, each holds many documents).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s3explore import _codec as codec
from s3explore._checks import DEFAULT_WORKERS
from s3explore._errors import CorruptObjectError, InvalidDocumentError, warn
from s3explore._query import check_fields, get_path, nested
from s3explore._stores._objects import ObjectIO
from s3explore._stores._opendata import _fresh, _json
from s3explore._stores._opendata._builds import BuildFolder
from s3explore._stores._opendata._index import S3_LAST_MODIFIED, fingerprint_bytes
from s3explore._stores._opendata._layout import json_key
from s3explore._stores._opendata._manifest import (
    MANIFEST_PARQUET,
    Layout,
    parse_group_name,
    read_parquet,
    write_parquet,
)
from s3explore._stores._opendata._reader import read_object
from s3explore._stores._results import Failure
from s3explore._transfer import Callback, as_callback, check_workers, ordered_map

OBJECT = "_object"  # which object an entry came from, in the parts only
OBJECT_SIZE = "_object_size"  # and that object's size, in the parts only
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
    fingerprint: str | None = None  # of the manifest written (its listing is named after it)

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


_DIGITS = re.compile(r"(\d+)")


def natural_key(key: Any) -> tuple:
    """``"mp-10"`` -> ``(("mp-", 10, ""), "mp-10")``: digit runs compare as numbers, so
    ``mp-2`` comes before ``mp-10`` (S3 lists, and indexes sort, as text). Text and numbers
    alternate at the same places in every key, so any two compare; the text itself breaks
    ties (``mp-02`` and ``mp-2``)."""
    text = str(key)
    parts = _DIGITS.split(text)
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), text


def _modified(value: Any) -> _dt.datetime | None:
    if isinstance(value, _dt.datetime):
        return value.astimezone(_dt.UTC).replace(tzinfo=None) if value.tzinfo else value
    return None


class Builder:
    """One build: which objects, how to turn each into entries, where the parts go.

    ``listed``: the data objects (from ``_fresh.list_data_objects``; listed on demand when
    not given). ``reuse``: entries kept from the manifest being refreshed, by object (those
    objects are not read), and ``quiet``: records of kept objects that gave no entry."""

    def __init__(self, objects: ObjectIO, layout: Layout, folder: Path,
                 fields: list[str] | None = None, *,
                 listed: dict[str, _fresh.Listed] | None = None,
                 reuse: dict[str, list[dict]] | None = None,
                 quiet: list[_fresh.Record] | None = None) -> None:
        self.objects = objects
        self.layout = layout
        self.folder = folder
        self.fields = check_fields(fields, "fields")
        self.listed = listed
        self.reuse = reuse or {}
        if layout.kind == "json-objects":  # builds before s3_last_modified: read again
            self.reuse = {name: found for name, found in self.reuse.items()
                          if all(S3_LAST_MODIFIED in e for e in found)}
        self.records: dict[str, _fresh.Record] = {r.name: r for r in quiet or ()}
        self._parts: BuildFolder | None = None

    def _build_folder(self) -> BuildFolder:
        if self._parts is None:
            self._parts = BuildFolder(self.folder)
        return self._parts

    @property
    def parts(self) -> Path:
        """This build's own folder, made (and locked) on first use."""
        return self._build_folder().path

    def data_objects(self) -> list[tuple[str, _fresh.Listed]]:
        if self.listed is None:
            self.listed = _fresh.list_data_objects(self.objects, self.layout)
        return list(self.listed.items())

    def entries_of(self, item: tuple[str, _fresh.Listed]) -> tuple[list[dict], int, str | None]:
        """The entries of one object, its size and ETag (runs in worker threads). Each
        entry names the ETag of the body it came from, so a read that finds another body
        says so instead of serving it."""
        name, listed = item
        # A name that could not be a key (".." or "." segments, control characters) would
        # make an entry no read can follow: reported as a failure, never indexed or read.
        codec.key_string(name, "object name")
        raw, info = read_object(self.objects, name)
        etag = codec.bare_etag(info.etag)
        key = self.layout.key
        if self.layout.kind == "json-objects":
            stem, compression = json_key(name)
            doc = _json.read_document(raw, name, self.objects.max_decoded_bytes)
            entry = summary(doc, self.fields)
            entry[key] = stem  # the object's name is the key: it finds the object again
            if compression:
                entry["compression"] = compression
            if doc.get("last_updated") is not None:  # the document's own, kept with fields=
                entry["last_updated"] = doc["last_updated"]
            # when the object was uploaded, under its own name: not a date of the document,
            # but what last_updated means for maggma's Builders when it has none of its own
            # (_index.last_updated_field)
            uploaded = _modified(info.last_modified or listed.modified)
            if uploaded is not None:
                entry[S3_LAST_MODIFIED] = uploaded
            return [_with_etag(entry, etag)], len(raw), etag
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
            out.append(_with_etag(entry, etag))
        return out, len(raw), etag

    # ------------------------------------------------------------ parts

    def done(self) -> list[dict]:
        """Entries from the parts of builds that died, for objects that are unchanged
        since (same ETag as listed now); the rest are read again."""
        self._build_folder().adopt_abandoned()
        listed = dict(self.data_objects())
        kept: list[dict] = []
        source: dict[str, Path] = {}  # one part per object: two dead builds may both hold it
        for part in sorted(self.parts.glob("part-*.parquet")):
            try:
                found = read_parquet(str(part), str(part)).entries
            except CorruptObjectError:  # a part cut short by a crash: redo its objects
                with contextlib.suppress(FileNotFoundError):
                    part.unlink()
                continue
            for entry in found:
                name = entry.get(OBJECT)
                now = listed.get(name)
                if (now is None or name in self.reuse or source.setdefault(name, part) != part
                        or now.etag != entry.get(codec.ETAG_FIELD)
                        or entry.get(OBJECT_SIZE) != now.size
                        or (self.layout.kind == "json-objects"
                            and S3_LAST_MODIFIED not in entry)):
                    continue
                kept.append(entry)
        return kept

    def write_part(self, entries: list[dict]) -> None:
        if not entries:
            return
        name = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:6]}.parquet"
        scratch = self.parts / f".{name}.tmp"
        scratch.write_bytes(write_parquet(entries, self.layout))
        scratch.replace(self.parts / name)

    def record(self, name: str, etag: str | None, size: int, entries: int,
               failed: str | None = None) -> None:
        self.records[name] = _fresh.Record(name, etag, size, entries, failed)

    def finish(self, entries: list[dict]) -> tuple[Path, str]:
        """``manifest.parquet`` and the listing it was built from, written under names of
        this build's own and renamed into place (the listing first, named after the
        manifest's digest): two processes building one prefix at once both finish, and the
        manifest is always one of theirs, whole, beside its own listing."""
        path = self.folder / MANIFEST_PARQUET
        self.folder.mkdir(parents=True, exist_ok=True)
        counts: dict[str, list] = {}
        for e in entries:  # resumed and reused objects are recorded from their entries
            name = e.get(OBJECT)
            if name is not None and name not in self.records:
                counts.setdefault(name, [e.get(codec.ETAG_FIELD), e.get(OBJECT_SIZE, 0), 0])
                counts[name][2] += 1
        for name, (etag, size, number) in counts.items():
            self.record(name, etag, size, number)
        clean = [{k: v for k, v in e.items() if k not in (OBJECT, OBJECT_SIZE)}
                 for e in entries]
        if self.layout.kind == "json-objects":  # grouped ones stay by object: fewer reads
            clean.sort(key=lambda e: natural_key(e[self.layout.key]))
        # "uploaded_as": where the objects' upload time is (older builds put it in
        # last_updated, as if the documents said so)
        body = write_parquet(clean, self.layout, {"built": True, "fields": self.fields,
                                                  "uploaded_as": S3_LAST_MODIFIED})
        fingerprint = fingerprint_bytes(body)
        _fresh.write_listing(self.folder, fingerprint, self.records.values())
        scratch = self.folder / f".{MANIFEST_PARQUET}.{uuid.uuid4().hex}.tmp"
        try:
            scratch.write_bytes(body)
            scratch.replace(path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                scratch.unlink()
        _fresh.prune_listings(self.folder, fingerprint)
        self.release(remove=True)
        return path, fingerprint

    def release(self, remove: bool) -> None:
        if self._parts is not None:
            self._parts.release(remove)
            self._parts = None


def _with_etag(entry: dict, etag: str | None) -> dict:
    if etag is not None:
        entry[codec.ETAG_FIELD] = etag
    return entry


def _lasting(error: BaseException) -> bool:
    """A failure the object's bytes cause (it stays while they do), not the network's."""
    return isinstance(error, (CorruptObjectError, InvalidDocumentError))


def build(objects: ObjectIO, layout: Layout, folder: Path, *, fields: list[str] | None = None,
          workers: int = DEFAULT_WORKERS, progress: bool | Callback | Callable | None = None,
          cancel: threading.Event | None = None, chunk: int = 1000,
          listed: dict[str, _fresh.Listed] | None = None,
          reuse: dict[str, list[dict]] | None = None,
          quiet: list[_fresh.Record] | None = None) -> BuildResult:
    """Read every data object under the prefix and write ``folder/manifest.parquet``;
    with ``reuse``, only the objects it does not hold (see ``Builder``)."""
    workers = check_workers(workers)
    started = time.perf_counter()
    builder = Builder(objects, layout, folder, fields, listed=listed, reuse=reuse, quiet=quiet)
    try:
        return _run(builder, objects, workers, progress, cancel, chunk, started)
    finally:
        builder.release(remove=False)  # interrupted: the parts stay for the next build


def _run(builder: Builder, objects: ObjectIO, workers: int, progress: Any, cancel: Any,
         chunk: int, started: float) -> BuildResult:
    callback = as_callback(progress)
    listed = builder.data_objects()
    sizes = {name: now.size for name, now in listed}
    previous = [{**e, OBJECT: name, OBJECT_SIZE: sizes.get(name, 0)}
                for name, found in builder.reuse.items() for e in found]
    previous += builder.done()
    seen = {e[OBJECT] for e in previous} | set(builder.records)
    todo = [item for item in listed if item[0] not in seen]
    result = BuildResult(None, objects=len(listed), resumed=len(listed) - len(todo))
    callback.set_total(len(listed))
    callback.advance(docs=result.resumed)
    pending: list[dict] = []
    try:
        for outcome in ordered_map(builder.entries_of, todo, objects.with_workers(workers),
                                   stop=cancel):
            name, now = outcome.item
            if outcome.error is not None:
                result.failures.append(Failure(name, str(outcome.error), outcome.error))
                if _lasting(outcome.error):  # not read again until the object changes
                    builder.record(name, now.etag, now.size, 0, str(outcome.error)[:500])
                callback.advance(failed=1)
                continue
            found, size, etag = outcome.value
            if not found:
                builder.record(name, etag, size, 0)
            pending += [{**e, OBJECT: name, OBJECT_SIZE: size} for e in found]
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
        result.path, result.fingerprint = builder.finish(previous)
    return result
