"""S3Store's write path: objects land first, their index entries follow in batches.

No index entry is ever written for an object that did not land. Every document that cannot
be stored is counted once, by key, and raised (``UpdateError``) or handed back
(``on_error="collect"``): nothing is dropped silently. Entries go in by compare-and-set over
the versions noted before the puts, or are confirmed against their objects afterwards, so
concurrent writers leave each entry describing its object (``_confirm.py``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any

from s3explore import _codec as codec
from s3explore._checks import ON_ERROR_WRITE, one_of, positive_int
from s3explore._errors import (
    InvalidDocumentError,
    InvalidDocumentsError,
    S3ExploreError,
    StoreConnectionError,
    UpdateError,
)
from s3explore._stores._confirm import confirm_entries, indexed_versions, settle, swap_batch
from s3explore._stores._results import Failure, UpdateResult
from s3explore._transfer import Callback, RetryPolicy, as_callback, ordered_map

if TYPE_CHECKING:
    from s3explore._stores._s3 import S3Store

ERRORS = ON_ERROR_WRITE  # kept importable under its old name


def write_documents(store: S3Store, docs: Iterable[Any], fields: list[str], *,
                    workers: int | None, chunk_size: int,
                    progress: bool | Callback | Callable | None,
                    cancel: threading.Event | None, retries: int | None,
                    on_error: str) -> UpdateResult:
    """The body of ``S3Store.update`` (see there)."""
    one_of(on_error, "on_error", ON_ERROR_WRITE)
    positive_int(chunk_size, "chunk_size")
    workers = store.objects.with_workers(workers)
    # retries= changes the attempts only: the store's deadline (its timeout) still holds
    policy = store.objects.retry if retries is None else RetryPolicy(
        attempts=retries, deadline=store.objects.retry.deadline)
    callback = as_callback(progress)
    store.client  # noqa: B018 -- raise NotConnectedError before consuming anything

    result = UpdateResult()
    started = time.perf_counter()
    callback.set_total(len(docs) if hasattr(docs, "__len__") else None)
    pending: list[dict] = []
    # Keys whose object may still be landing or whose entry is not written yet: a second
    # copy of one of these would race it. Finished keys leave, so memory stays flat.
    unsettled: set[str] = set()
    pending_keys: list[str] = []
    etags: list[str | None] = []  # what S3 answered for each pending object's put
    # On an index that compares and sets: the version each in-flight key's entry had
    # before its put (see _confirm.py), noted a few dozen keys at a time.
    swaps = store.store_hash and bool(getattr(store.index, "atomic_swaps", False))
    seen: dict[str, str | None] = {}

    def index_failure(exc: S3ExploreError, landed: int) -> StoreConnectionError:
        error = StoreConnectionError(
            f"{exc} ({landed} objects may have landed in {store.name} without index "
            "entries; rerun the update or run verify(repair=True))")
        error.result = result  # type: ignore[attr-defined]
        return error

    def flush() -> None:
        if not pending:
            return
        try:
            _drop_aliases(store, pending)
            if swaps:
                to_check = _swap_entries(store, pending, [seen.get(k) for k in pending_keys])
            else:
                store.index.update(pending, key=store.key)
        except S3ExploreError as exc:
            raise index_failure(exc, len(pending)) from exc
        result.written += len(pending)
        if swaps:
            result.failures += settle(store, to_check, workers, result)
        else:
            result.failures += confirm_entries(store, pending, pending_keys, etags, workers,
                                               result)
        pending.clear()
        etags.clear()
        unsettled.difference_update(pending_keys)
        for key in pending_keys:
            seen.pop(key, None)
        pending_keys.clear()

    def noted(items: Iterator[tuple[str | None, Any]]) -> Iterator[tuple[str | None, Any]]:
        if not swaps:
            yield from items
            return
        while batch := list(islice(items, min(chunk_size, NOTE_AHEAD))):
            docs = [(key, doc) for key, doc in batch if not isinstance(doc, Exception)]
            try:
                versions = indexed_versions(store, [doc[store.key] for _, doc in docs])
            except S3ExploreError as exc:
                raise index_failure(exc, 2 * workers + chunk_size) from exc
            seen.update((key, versions.get(doc[store.key])) for key, doc in docs)
            yield from batch

    upload = _uploader(store, fields, policy)
    try:
        # A window of a whole batch beyond the workers: while this thread writes a batch's
        # entries and confirms them, the next batch keeps uploading instead of stalling.
        window = 2 * workers + chunk_size
        keyed = noted(_keyed(store, docs, unsettled))
        for outcome in ordered_map(upload, keyed, workers, window, stop=cancel):
            key, doc = outcome.item
            if outcome.error is None:
                entry, nbytes, etag = outcome.value
                pending.append(entry)
                pending_keys.append(key)
                etags.append(etag)
                result.bytes += nbytes
                callback.advance(docs=1, nbytes=nbytes)
                if len(pending) >= chunk_size:
                    flush()
            else:
                if not isinstance(doc, Exception):  # its upload failed: settled
                    unsettled.discard(key)
                    seen.pop(key, None)
                result.failures.append(_failure(key, outcome.error))
                callback.advance(failed=1)
        flush()
    finally:
        result.cancelled = cancel is not None and cancel.is_set()
        result.seconds = time.perf_counter() - started
        callback.close()
    if result.failures and on_error == "raise":
        invalid = all(isinstance(f.error, InvalidDocumentError) for f in result.failures)
        raise (InvalidDocumentsError if invalid else UpdateError)(_summary(store, result), result)
    return result


NOTE_AHEAD = 64  # keys whose entries' versions one index query notes before their puts


def _swap_entries(store: S3Store, entries: list[dict], seen: list[str | None]) -> list[dict]:
    """Swap in the entries whose put answered an ETag; a server that answered none leaves
    nothing to compare, so those are written as they are. The entries to check (settle)."""
    tagged = [i for i, e in enumerate(entries) if e.get(codec.ETAG_FIELD)]
    if len(tagged) < len(entries):
        store.index.update([e for e in entries if not e.get(codec.ETAG_FIELD)], key=store.key)
    return swap_batch(store, [entries[i] for i in tagged], [seen[i] for i in tagged])


def _drop_aliases(store: S3Store, entries: list[dict]) -> None:
    """Remove the index entries naming these objects under a key of another type (``1`` for
    ``"1"``): one object, one entry, and the latest write's key wins. Before the upsert, so
    a failure in between leaves an object without an entry (verify repairs it), never two."""
    aliases = [a for e in entries for a in codec.key_aliases(e.get(store.key), store.key)]
    if aliases:
        store.index.remove_docs({store.key: {"$in": aliases}})


def _summary(store: S3Store, result: UpdateResult) -> str:
    shown = "; ".join(f"{f.key!r}: {f.reason}" for f in result.failures[:5])
    more = f" (and {len(result.failures) - 5} more)" if len(result.failures) > 5 else ""
    return (f"{len(result.failures)} document(s) could not be stored in {store.name} "
            f"({result.written} were stored and indexed): {shown}{more}. The error's .result "
            "lists them all; pass on_error='collect' (formerly errors='collect') to get the "
            "result instead of this error")


def _keyed(store: S3Store, docs: Iterable[Any],
           unsettled: set[str]) -> Iterator[tuple[str | None, Any]]:
    """Pair each document with its key, or with the error that stops it (caller thread)."""
    for doc in docs:
        try:
            key = codec.doc_key(doc, store.key)
            store.objects.object_key(key)
        except InvalidDocumentError as exc:
            yield exc.key, exc
            continue
        if key in unsettled:
            yield key, InvalidDocumentError(
                f"key {key!r} appears again while its first copy in this update is still "
                "being stored; only the first is kept, send each key once per update",
                key=key)
            continue
        unsettled.add(key)
        yield key, doc


def _uploader(store: S3Store, fields: list[str], policy: RetryPolicy) -> Callable:
    def upload(item: tuple[str | None, Any]) -> tuple[dict, int, str | None]:
        key, doc = item
        if isinstance(doc, Exception):
            raise doc
        entry = codec.index_document(doc, store.key, fields, store.sub_dir, store.compression)
        metadata = codec.metadata_document(entry)
        codec.check_metadata(metadata, store.metadata_limit, key)
        # Encoded, compressed and hashed piece by piece: a large document's body is never
        # held whole (the bytes are exactly encode_body's). The body's digest goes in its
        # metadata when it fits: maggma's fields come first, verify() then reads the rest.
        digest = store.store_hash and codec.digest_fits(metadata, store.metadata_limit)
        chunks = codec.encode_chunks(doc, store.compression, store.compression_level, key)
        etag, size, sha1 = store.objects.put_chunks(key, chunks, metadata, policy, digest)
        if codec.LAST_UPDATED in doc:
            entry[codec.LAST_UPDATED] = doc[codec.LAST_UPDATED]
        if store.store_hash:
            entry["obj_hash"] = sha1
            if etag is not None:
                entry[codec.ETAG_FIELD] = codec.bare_etag(etag)
        return entry, size, etag

    return upload


def _failure(key: str | None, error: BaseException) -> Failure:
    if isinstance(error, S3ExploreError):
        return Failure(key, str(error), error)
    return Failure(key, f"{type(error).__name__}: {error}", error)
