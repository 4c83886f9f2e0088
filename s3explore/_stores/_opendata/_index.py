"""Loading a manifest into the embedded index engine, with a local cache of the result.

The index is a DuckDBStore: in memory, or (with a cache folder) a DuckDB file named after a
fingerprint of the manifest (its ETag, or the hash of a local Parquet file) and the layout,
written once and then opened read-only, so the next session skips the load entirely.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from s3explore._errors import (
    CorruptObjectError,
    ObjectNotFoundError,
    StoreConnectionError,
    warn,
)
from s3explore._stores._duckdb import DuckDBStore
from s3explore._stores._objects import ObjectIO
from s3explore._stores._opendata._manifest import (
    Layout,
    read_jsonl,
    read_parquet,
)

COLLECTION = "manifest"
LAST_UPDATED = "last_updated"
# The upload time of each object of a one-JSON-document-per-object prefix, as built
# (_build): named for what it is, so it is never read as a date of the documents.
S3_LAST_MODIFIED = "s3_last_modified"


def remote_fingerprint(objects: ObjectIO, name: str) -> str:
    from s3explore._stores._opendata._layout import stat

    head = stat(objects, name)
    if head is None:
        raise ObjectNotFoundError(f"the manifest {objects.name}{name} is gone; open the prefix "
                                  "again with s3explore.open()", key=name)
    return f"{head.get('ETag', '')}:{head.get('ContentLength', '')}"


def fingerprint_bytes(body: bytes) -> str:
    """The fingerprint of a local manifest's bytes (what ``local_fingerprint`` gives)."""
    return hashlib.sha1(body, usedforsecurity=False).hexdigest()


def local_fingerprint(path: str | os.PathLike) -> str:
    digest = hashlib.sha1(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_remote(objects: ObjectIO, name: str) -> tuple[list[dict], Layout | None, dict]:
    """Entries of the manifest object ``name`` under the prefix (and its layout, if any)."""
    raw, *_ = objects.read(name)
    return parse(raw, name, objects.max_decoded_bytes)


def parse(raw: bytes, name: str, max_bytes: int | None = None
          ) -> tuple[list[dict], Layout | None, dict]:
    if name.endswith(".parquet"):
        found = read_parquet(raw, name)
        return found.entries, found.layout, found.meta
    return list(read_jsonl(raw, name, max_bytes)), None, {}


def read_local(path: str | os.PathLike) -> tuple[list[dict], Layout | None, dict]:
    found = read_parquet(os.fspath(path), str(path))
    return found.entries, found.layout, found.meta


def check_entries(entries: Iterable[dict], key: str, where: str) -> list[dict]:
    """Every entry must carry the key; duplicates are reported (the last one wins)."""
    entries = list(entries)
    for number, entry in enumerate(entries, 1):
        if entry.get(key) is None:
            raise CorruptObjectError(
                f"entry {number} of {where} has no {key!r} field ({sorted(entry)[:8]}); "
                f"pass key= naming the manifest's key field", key=where)
    distinct = len({str(e[key]) for e in entries})
    if distinct < len(entries):
        warn(f"{where} lists {len(entries) - distinct} key(s) more than once; the last entry "
             "of each is used")
    return entries


def _fresh(entries: list[dict], layout: Layout, path: str | None) -> DuckDBStore:
    index = DuckDBStore(COLLECTION, path=path, key=layout.key)
    index.connect()
    try:
        index.update(entries)
    finally:
        if path is not None:
            index.close()
    return index


def last_updated_field(index: DuckDBStore, layout: Layout) -> str:
    """The field ``last_updated`` and ``newer_in`` read: ``last_updated`` when every entry
    has one (the documents' own), else, for one JSON document per object, the objects'
    upload time ``s3_last_modified`` when every entry has that (as built here); else
    ``last_updated`` (maggma's default)."""
    if layout.kind != "json-objects":
        return LAST_UPDATED
    total = index.count()
    if not total or index.count({LAST_UPDATED: {"$exists": True, "$ne": None}}) == total:
        return LAST_UPDATED
    if index.count({S3_LAST_MODIFIED: {"$exists": True, "$ne": None}}) == total:
        return S3_LAST_MODIFIED
    return LAST_UPDATED


def load(entries: list[dict] | None, layout: Layout, fingerprint: str | None,
         folder: Path | None, read: Any, rebuild: bool = True) -> DuckDBStore:
    """A connected index holding the manifest's entries, its ``last_updated_field`` the one
    its entries hold (``last_updated_field``).

    ``read()`` gives the entries when they are not passed and the cache has no copy;
    ``fingerprint`` names the manifest's version (None: no caching).
    """
    index = _load(entries, layout, fingerprint, folder, read, rebuild)
    index.last_updated_field = last_updated_field(index, layout)
    return index


def _load(entries: list[dict] | None, layout: Layout, fingerprint: str | None,
          folder: Path | None, read: Any, rebuild: bool = True) -> DuckDBStore:
    if folder is None or fingerprint is None:
        return _fresh(check_entries(entries if entries is not None else read(), layout.key,
                                    "the manifest"), layout, None)
    tag = hashlib.sha1(json.dumps([fingerprint, layout.to_dict()]).encode(),
                       usedforsecurity=False).hexdigest()[:20]
    path = folder / f"index-{tag}.duckdb"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        entries = check_entries(entries if entries is not None else read(), layout.key,
                                "the manifest")
        scratch = folder / f".index-{tag}-{uuid.uuid4().hex[:8]}.tmp"
        try:
            _fresh(entries, layout, str(scratch))
            os.replace(scratch, path)  # complete files only: a crash leaves no half index
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(scratch)
            with contextlib.suppress(FileNotFoundError):
                os.remove(str(scratch) + ".wal")
        for old in folder.glob("index-*.duckdb"):  # older versions of this manifest
            if old != path:
                with contextlib.suppress(OSError):
                    old.unlink()
    index = DuckDBStore(COLLECTION, path=str(path), read_only=True, key=layout.key)
    try:
        index.connect()
    except StoreConnectionError as exc:  # the cached copy is damaged: it is only a cache
        if "damaged" not in str(exc) or not rebuild:
            raise
        warn(f"the cached index {path} is damaged; it is built again from the manifest")
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return _load(entries, layout, fingerprint, folder, read, rebuild=False)
    return index


def _layout_note(folder: Path, fingerprint: str) -> Path:
    tag = hashlib.sha1(fingerprint.encode(), usedforsecurity=False).hexdigest()[:20]
    return folder / f"layout-{tag}.json"


def remembered_layout(folder: Path, fingerprint: str) -> Layout | None:
    """The layout found for this version of a remote manifest in an earlier session."""
    try:
        return Layout.from_dict(json.loads(_layout_note(folder, fingerprint).read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remember_layout(folder: Path, fingerprint: str, layout: Layout) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    note = _layout_note(folder, fingerprint)
    scratch = note.with_name(f".{note.name}.{uuid.uuid4().hex[:8]}.tmp")
    scratch.write_text(json.dumps(layout.to_dict()))
    os.replace(scratch, note)  # whole, whichever process wrote it last
