"""Is a cached index still what the bucket holds? The record a build keeps, and the check.

A manifest built from the objects keeps, beside it, the list of objects it was built from:
``listing-<digest>.parquet`` (``digest``: the SHA-1 of that ``manifest.parquet``'s bytes,
so a manifest and its listing always belong together) with each object's name, ETag and
size as read, how many entries it gave and, for an object whose bytes could not be used,
why. Reopening lists the prefix again (what the build paid for first) and compares names,
ETags and sizes: unchanged objects keep their entries, changed and added objects are read
again, deleted ones leave the index. A published manifest is checked by its own ETag and
size (``_index.remote_fingerprint``); ``published.json`` remembers the last one loaded, so
``offline=True`` can find its cached index without asking the bucket.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s3explore import _codec as codec
from s3explore._stores._objects import ObjectIO
from s3explore._stores._opendata._layout import is_json_document
from s3explore._stores._opendata._manifest import Layout, parse_group_name

PUBLISHED_NOTE = "published.json"
LISTING_GRACE_SECONDS = 600  # a twin may be between writing its listing and its manifest


@dataclass(frozen=True)
class Listed:
    """One data object as a listing (or the GET that read it) showed it."""

    etag: str | None
    size: int
    modified: Any = None


@dataclass(frozen=True)
class Record:
    """One object a build looked at: as read, its entry count, why it is not indexed."""

    name: str
    etag: str | None
    size: int
    entries: int
    failed: str | None = None


def is_data_object(layout: Layout, name: str) -> bool:
    if layout.kind == "grouped-jsonl":
        return parse_group_name(name, layout.suffix) is not None
    return is_json_document(name)


def list_data_objects(objects: ObjectIO, layout: Layout) -> dict[str, Listed]:
    """Every data object under the prefix (a full listing, page by page)."""
    cut = len(objects.sub_dir)
    out = {}
    for info in objects.listed_objects():
        name = info.key[cut:]
        if is_data_object(layout, name):
            out[name] = Listed(codec.bare_etag(info.etag), int(info.size or 0),
                               info.last_modified)
    return dict(sorted(out.items()))


# ---------------------------------------------------------------- the record of a build


def listing_path(folder: Path, fingerprint: str) -> Path:
    return folder / f"listing-{fingerprint[:20]}.parquet"


def write_listing(folder: Path, fingerprint: str, records: Iterable[Record]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = sorted(records, key=lambda r: r.name)
    table = pa.table({
        "name": pa.array([r.name for r in rows], pa.string()),
        "etag": pa.array([r.etag for r in rows], pa.string()),
        "size": pa.array([r.size for r in rows], pa.int64()),
        "entries": pa.array([r.entries for r in rows], pa.int64()),
        "failed": pa.array([r.failed for r in rows], pa.string()),
    })
    path = listing_path(folder, fingerprint)
    scratch = folder / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        pq.write_table(table, scratch, compression="zstd")
        os.replace(scratch, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            scratch.unlink()


def read_listing(folder: Path, fingerprint: str) -> dict[str, Record] | None:
    """The objects the manifest with this fingerprint was built from; None when unknown
    (a manifest from an earlier version, or a listing file that is gone or damaged)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(listing_path(folder, fingerprint)).to_pylist()
        return {r["name"]: Record(r["name"], r["etag"], int(r["size"]), int(r["entries"]),
                                  r["failed"]) for r in rows}
    except (OSError, pa.ArrowInvalid, KeyError, TypeError, ValueError):
        return None


def prune_listings(folder: Path, keep: str) -> None:
    """Listings of older manifests; a recent one may be a twin's, about to be in place."""
    kept = listing_path(folder, keep).name
    for old in folder.glob("listing-*.parquet"):
        with contextlib.suppress(OSError):
            if old.name != kept and time.time() - old.stat().st_mtime > LISTING_GRACE_SECONDS:
                old.unlink()


# ---------------------------------------------------------------- the check


@dataclass
class Staleness:
    """What changed under the prefix since the manifest was built."""

    changed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def fresh(self) -> bool:
        return not (self.changed or self.deleted or self.added)

    def describe(self) -> str:
        parts = []
        for what, names in (("changed", self.changed), ("deleted", self.deleted),
                            ("new or not yet read", self.added)):
            if names:
                shown = ", ".join(names[:3]) + (" ..." if len(names) > 3 else "")
                parts.append(f"{len(names)} {what} ({shown})")
        return "; ".join(parts) or f"{len(self.unchanged)} objects unchanged"


def compare(recorded: Mapping[str, Record], listed: Mapping[str, Listed]) -> Staleness:
    """Objects by name, ETag and size. An object whose read failed for a passing reason
    (the network) is not in the record, so it counts as new and is read again."""
    out = Staleness()
    for name, now in listed.items():
        before = recorded.get(name)
        if before is None:
            out.added.append(name)
        elif before.etag != now.etag or before.size != now.size:
            out.changed.append(name)
        else:
            out.unchanged.append(name)
    out.deleted = sorted(recorded.keys() - listed.keys())
    return out


def reusable(entries: Iterable[dict], layout: Layout, recorded: Mapping[str, Record],
             unchanged: Iterable[str]) -> tuple[dict[str, list[dict]], list[Record]]:
    """Entries of the unchanged objects, by object, and the records of unchanged objects
    that gave none (empty, or unreadable as they still are). An unchanged object whose
    entries cannot be told apart (its name is not what its entries point at) is left out,
    so it is read again."""
    keep = set(unchanged)
    by_object: dict[str, list[dict]] = {}
    for entry in entries:
        try:
            name = layout.object_name(entry)
        except Exception:  # an entry that names no object is rebuilt with its object
            continue
        if name in keep:
            by_object.setdefault(name, []).append(entry)
    quiet = [recorded[n] for n in keep if recorded[n].entries == 0]
    complete = {n: e for n, e in by_object.items() if len(e) == recorded[n].entries}
    return complete, quiet


# ---------------------------------------------------------------- published manifests


def remember_published(folder: Path, manifest: str, fingerprint: str) -> None:
    """The version of the published manifest whose index is cached now."""
    folder.mkdir(parents=True, exist_ok=True)
    note = folder / PUBLISHED_NOTE
    scratch = note.with_name(f".{note.name}.{uuid.uuid4().hex[:8]}.tmp")
    scratch.write_text(json.dumps({"manifest": manifest, "fingerprint": fingerprint,
                                   "saved": time.time()}))
    os.replace(scratch, note)


def published(folder: Path) -> dict | None:
    try:
        note = json.loads((folder / PUBLISHED_NOTE).read_text())
        if isinstance(note.get("manifest"), str) and isinstance(note.get("fingerprint"), str):
            return note
    except (OSError, ValueError, AttributeError):
        pass
    return None
