"""S3Store's write path: objects land first, their index entries follow in batches.

No index entry is ever written for an object that did not land. Every document that cannot
be stored is counted once, by key, and raised (``UpdateError``) or handed back
(``errors="collect"``): nothing is dropped silently.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from s3explore import _codec as codec
from s3explore._errors import (
    AccessDeniedError,
    ConfigurationError,
    InvalidDocumentError,
    ObjectNotFoundError,
    S3ExploreError,
    StoreConnectionError,
    UpdateError,
)
from s3explore._stores._results import Failure, UpdateResult
from s3explore._transfer import Callback, RetryPolicy, as_callback, ordered_map

if TYPE_CHECKING:
    from s3explore._stores._s3 import S3Store

ERRORS = ("raise", "collect")


def write_documents(store: S3Store, docs: Iterable[Any], fields: list[str], *,
                    workers: int | None, chunk_size: int,
                    progress: bool | Callback | Callable | None,
                    cancel: threading.Event | None, retries: int | None,
                    errors: str) -> UpdateResult:
    """The body of ``S3Store.update`` (see there)."""
    if errors not in ERRORS:
        raise ConfigurationError(f"errors must be one of {ERRORS}, got {errors!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ConfigurationError(f"chunk_size must be a whole number >= 1, got {chunk_size!r}")
    workers = store.objects.with_workers(workers)
    policy = store.objects.retry if retries is None else RetryPolicy(attempts=retries)
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

    def flush() -> None:
        if not pending:
            return
        try:
            _drop_aliases(store, pending)
            store.index.update(pending, key=store.key)
        except S3ExploreError as exc:
            error = StoreConnectionError(
                f"{exc} ({len(pending)} objects landed in {store.name} without index "
                "entries; rerun the update or run verify(repair=True))")
            error.result = result  # type: ignore[attr-defined]
            raise error from exc
        result.written += len(pending)
        result.failures += confirm_entries(store, pending, pending_keys, etags, workers, result)
        pending.clear()
        etags.clear()
        unsettled.difference_update(pending_keys)
        pending_keys.clear()

    upload = _uploader(store, fields, policy)
    try:
        # A window of a whole batch beyond the workers: while this thread writes a batch's
        # entries and confirms them, the next batch keeps uploading instead of stalling.
        window = 2 * workers + chunk_size
        for outcome in ordered_map(upload, _keyed(store, docs, unsettled), workers, window,
                                   stop=cancel):
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
                result.failures.append(_failure(key, outcome.error))
                callback.advance(failed=1)
        flush()
    finally:
        result.cancelled = cancel is not None and cancel.is_set()
        result.seconds = time.perf_counter() - started
        callback.close()
    if result.failures and errors == "raise":
        raise UpdateError(_summary(store, result), result)
    return result


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
            "lists them all; pass errors='collect' to get the result instead of this error")


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


MAX_ROUNDS = 5  # re-indexings of one key racing other writers before giving up (verify)


def confirm_entries(store: S3Store, entries: list[dict], keys: list[str],
                    etags: list[str | None], workers: int,
                    result: UpdateResult | None = None) -> list[Failure]:
    """Make sure each entry just written describes the object now under its key.

    Another process may have replaced an object after this update put it, and its entry may
    have been overwritten by ours. A HEAD after the index write tells: if the object's ETag
    is still the one our put got, the entry is right (any later writer writes its own entry
    after its put, so after this check). If not, the entry is rewritten from the object that
    is there now, and checked again; an object deleted meanwhile loses its entry. So, once
    every writer has returned, each entry describes its object, whatever the interleaving.
    ``result.overtaken`` counts the keys another writer replaced.
    """
    failures: list[Failure] = []
    expected = dict(zip(keys, etags, strict=True))
    originals = {k: e[store.key] for k, e in zip(keys, entries, strict=True)}
    todo = _unconfirmed_by_listing(store, [k for k in keys if expected[k] is not None],
                                   expected)
    for _ in range(MAX_ROUNDS):
        if not todo:
            return failures
        stale: list[str] = []
        for outcome in ordered_map(lambda k: store.objects.stat(k).etag, todo, workers):
            key = outcome.item
            if isinstance(outcome.error, ObjectNotFoundError):
                store.index.remove_docs({store.key: originals[key]})  # deleted meanwhile
            elif outcome.error is not None:
                failures.append(Failure(key, f"stored and indexed, but {outcome.error}; run "
                                        "verify() to check its entry", outcome.error))
            elif outcome.value != expected[key]:
                stale.append(key)
                if result is not None:
                    result.overtaken += 1
        todo = []
        for key in stale:  # rare: only when writers race on a key
            try:
                entry, etag = store._entry_and_etag(key, {})
            except ObjectNotFoundError:
                store.index.remove_docs({store.key: originals[key]})
                continue
            except S3ExploreError as exc:
                failures.append(_failure(key, exc))
                continue
            store.index.update([entry], key=store.key)
            expected[key] = etag
            todo.append(key)
    failures += [Failure(key, f"its object kept changing under concurrent writers over "
                         f"{MAX_ROUNDS} checks; run verify(repair=True) once they are done")
                 for key in todo]
    return failures


LIST_FROM = 10  # keys in a batch from which one listing of their range may replace HEADs


def _unconfirmed_by_listing(store: S3Store, keys: list[str],
                            expected: dict[str, str | None]) -> list[str]:
    """The keys a listing of the batch's key range does not show at the ETag our put got;
    they are checked one HEAD each. Neighbouring keys (a bulk upload) cost one LIST for
    the batch instead of a HEAD each; a listing that is refused (no s3:ListBucket) is not
    tried again, and keys it does not reach in two pages get their HEAD."""
    if len(keys) < LIST_FROM or store.objects.listing_refused:
        return keys
    try:
        listed = store.objects.listed_etags(keys, max_pages=2)
    except AccessDeniedError:
        store.objects.listing_refused = True
        return keys
    except S3ExploreError:  # only a shortcut: the HEADs decide, with their own errors
        return keys
    return [k for k in keys if listed.get(k) != expected[k]]


def _failure(key: str | None, error: BaseException) -> Failure:
    if isinstance(error, S3ExploreError):
        return Failure(key, str(error), error)
    return Failure(key, f"{type(error).__name__}: {error}", error)
