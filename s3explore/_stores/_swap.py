"""Compare-and-set of index entries: how concurrent S3Store writers keep entries true.

A writer notes the version (the ``obj_etag``) each entry had before it put the object, and
afterwards writes its entry only if that version is still there. Whoever loses the swap
checks the object itself (see the write path), so the common case costs no request to S3.
``seen`` holds, per entry, the version the writer saw: a string, ``""`` for an entry
without one (written by maggma, say), ``None`` for no entry at all.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from s3explore._errors import ConfigurationError
from s3explore._query import Query
from s3explore._stores._mongo_uri import _pymongo_errors, write_failure

if TYPE_CHECKING:
    from s3explore._stores._base import Store

# Swaps on in-process indexes take this lock around their read and write; one lock for all
# of them is enough, as a swap is one short read and one write per batch.
_IN_PROCESS = threading.Lock()


def check_swap(entries: list[dict], seen: list[str | None], key: str) -> None:
    if len(entries) != len(seen):
        raise ConfigurationError(
            f"swap_entries needs one seen version per entry: {len(entries)} entries, "
            f"{len(seen)} versions")
    for entry, was in zip(entries, seen, strict=True):
        if not isinstance(entry, dict) or key not in entry:
            raise ConfigurationError(f"swap_entries: every entry needs its key field {key!r}")
        if was is not None and not isinstance(was, str):
            raise ConfigurationError(
                f"swap_entries: the version seen for {entry[key]!r} must be a string, '' "
                f"or None, got {type(was).__name__}")


def versions(store: Store, keys: list[Any], key: str, field: str) -> dict[Any, str]:
    """The version each of ``keys`` has in the index now (``""`` for none), by key: the
    base's ``_versions`` hook, one ``$in`` query."""
    if not keys:
        return {}
    q = Query.build({key: {"$in": keys}}, [key, field], None, 0, 0)
    return {doc.get(key): doc.get(field) or "" for doc in store._find(q)}


def swap_in_process(store: Store, entries: list[dict], seen: list[str | None], key: str,
                    field: str) -> list[bool]:
    """For indexes no other process writes: read, compare and write under one lock."""
    with _IN_PROCESS:
        now = store._versions([e[key] for e in entries], key, field)
        won = [now.get(e[key]) == was for e, was in zip(entries, seen, strict=True)]
        chosen = [e for e, ok in zip(entries, won, strict=True) if ok]
        if chosen:
            store._upsert(chosen, [key])
    return won


def swap_in_mongo(store: Any, entries: list[dict], seen: list[str | None], key: str,
                  field: str) -> list[bool]:
    """One unordered bulk write whose filters carry the versions seen: the server compares
    and sets each entry atomically, whatever other processes do. Only when the counts say
    some filter missed are the versions read back to tell which."""
    from pymongo import ReplaceOne, UpdateOne

    requests: list[Any] = []
    for entry, was in zip(entries, seen, strict=True):
        if was is None:  # no entry seen: insert only if there still is none
            requests.append(UpdateOne({key: entry[key]}, {"$setOnInsert": entry}, upsert=True))
        else:
            version = was or {"$exists": False}
            requests.append(ReplaceOne({key: entry[key], field: version}, entry))
    try:
        result = store.collection.bulk_write(requests, ordered=False)
    except Exception as exc:
        if not isinstance(exc, (*store._query_errors, *_pymongo_errors("PyMongoError"))):
            raise
        raise write_failure(store.name, exc, entries, key, store._secrets()) from exc
    inserts = sum(was is None for was in seen)
    if result.upserted_count == inserts and result.matched_count == len(entries) - inserts:
        return [True] * len(entries)
    now = store._versions([e[key] for e in entries], key, field)
    return [bool(e.get(field)) and now.get(e[key]) == e.get(field) for e in entries]
