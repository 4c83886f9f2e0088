"""Leave out of an upload the documents the store already holds unchanged.

A document is skipped when the index has an entry for its key whose ``obj_hash`` is the
SHA-1 of the bytes the store would write for it now (the same encoding and compression as
``S3Store.update``). So rerunning a cancelled or partly failed upload sends only what is
missing or changed. Entries without an ``obj_hash`` (a store with ``store_hash=False``, or
written by maggma) prove nothing: those documents are uploaded again.

The check runs in the upload thread, a batch of keys per index query, so the kernel stays free.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from s3explore import _codec as codec
from s3explore._errors import S3ExploreError

BATCH = 200  # keys per index query, once the upload is under way


def stored_hashes(store: Any, keys: list[Any]) -> dict[str, str]:
    """``{key as text: obj_hash}`` for the keys the index holds with a hash."""
    if not keys:
        return {}
    entries = store.index.query(criteria={store.key: {"$in": keys}},
                                properties=[store.key, "obj_hash"])
    return {str(entry[store.key]): entry["obj_hash"] for entry in entries
            if entry.get("obj_hash") and entry.get(store.key) is not None}


def body_hash(store: Any, doc: Mapping, key: str) -> str:
    """The SHA-1 of what ``store.update`` would write for ``doc``."""
    digest = hashlib.sha1()
    for chunk in codec.encode_chunks(doc, store.compression, store.compression_level, key):
        digest.update(chunk)
    return digest.hexdigest()


def skip_stored(store: Any, docs: Iterable, on_skipped: Callable[[int], None]) -> Iterator:
    """``docs`` without those stored unchanged; ``on_skipped(n)`` after each batch. Documents
    that cannot be checked (no key, cannot be encoded) pass through: the upload reports them
    with its own reasons."""
    batch: list[Any] = []
    size = 1  # the first documents go out at once; batches then double up to BATCH
    for doc in docs:
        batch.append(doc)
        if len(batch) >= size:
            yield from _unchanged_out(store, batch, on_skipped)
            batch, size = [], min(size * 2, BATCH)
    yield from _unchanged_out(store, batch, on_skipped)


def _unchanged_out(store: Any, batch: list[Any], on_skipped: Callable[[int], None]) -> list:
    keyed = {}
    for position, doc in enumerate(batch):
        try:
            keyed[position] = codec.doc_key(doc, store.key)
        except (S3ExploreError, TypeError, ValueError):
            continue  # the upload says what is wrong with it
    raw = [batch[p][store.key] for p in keyed]
    hashes = stored_hashes(store, raw)
    kept, skipped = [], 0
    for position, doc in enumerate(batch):
        key = keyed.get(position)
        stored = hashes.get(key) if key is not None else None
        if stored is not None and _same(store, doc, key, stored):
            skipped += 1
        else:
            kept.append(doc)
    if skipped:
        on_skipped(skipped)
    return kept


def _same(store: Any, doc: Mapping, key: str, stored: str) -> bool:
    try:
        return body_hash(store, doc, key) == stored
    except (S3ExploreError, TypeError, ValueError):
        return False  # cannot be encoded: the upload reports it
