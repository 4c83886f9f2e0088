"""How an update makes sure each entry it wrote describes the object now under its key.

Another process may replace an object after this update put it. On an index that compares
and sets atomically (``Store.atomic_swaps``: MongoDB, in-process indexes) each entry is
written only if the version (``obj_etag``) its key had before the put is still there
(``swap_batch``): in the common case that costs no request to S3 at all. Only an entry that
loses its swap, or replaces an entry without a version, is checked against its object
(``settle``). Other indexes write, then confirm by one listing of the batch's key range or a
HEAD a key (``confirm_entries``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from s3explore import _codec as codec
from s3explore._errors import AccessDeniedError, ObjectNotFoundError, S3ExploreError
from s3explore._stores._results import Failure, UpdateResult
from s3explore._transfer import ordered_map

if TYPE_CHECKING:
    from s3explore._stores._s3 import S3Store

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
                failures.append(_unchecked(key, outcome.error))
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
                failures.append(Failure(key, str(exc), exc))
                continue
            store.index.update([entry], key=store.key)
            expected[key] = etag
            todo.append(key)
    return failures + [_restless(key) for key in todo]


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


def indexed_versions(store: S3Store, keys: list[Any]) -> dict[Any, str]:
    """The ``obj_etag`` each of ``keys`` has in the index now (``""``: an entry without
    one); keys without an entry are absent."""
    if not keys:
        return {}
    hook = getattr(store.index, "_versions", None)  # our stores' fast path (MemoryStore's)
    if hook is not None:
        return hook(keys, store.key, codec.ETAG_FIELD)
    found = store.index.query({store.key: {"$in": keys}},
                              properties=[store.key, codec.ETAG_FIELD])
    return {e.get(store.key): e.get(codec.ETAG_FIELD) or "" for e in found}


def swap_batch(store: S3Store, entries: list[dict], seen: list[str | None]) -> list[dict]:
    """Write each entry if its key still has the version seen before its put; the entries
    that must be checked against their object: those that lost the swap, and those that
    won over an entry without a version (which says nothing of which put came first)."""
    won = store.index.swap_entries(entries, seen, key=store.key, field=codec.ETAG_FIELD)
    return [e for e, ok, was in zip(entries, won, seen, strict=True) if not ok or was == ""]


def settle(store: S3Store, entries: list[dict], workers: int,
           result: UpdateResult | None = None) -> list[Failure]:
    """Make each entry's key end with an entry describing the object there now.

    Each round, a HEAD tells whose object is under the key: ours, and the entry is swapped
    in over whatever the index holds (unless it holds ours already); another writer's, and
    its entry is rebuilt from that object and swapped in the same way (that writer, losing
    its own swap, then finds its object described and stops). A lost swap means yet another
    writer moved the key meanwhile: the key goes round again.
    """
    failures: list[Failure] = []
    todo = [(codec.doc_key(e, store.key), e) for e in entries]
    for _ in range(MAX_ROUNDS):
        if not todo:
            return failures
        again: list[tuple[str, dict]] = []
        heads = ordered_map(lambda item: store.objects.stat(item[0]).etag, todo, workers)
        for outcome in heads:
            key, entry = outcome.item
            if isinstance(outcome.error, ObjectNotFoundError):
                store.index.remove_docs({store.key: entry[store.key]})  # deleted meanwhile
                continue
            if outcome.error is not None:
                failures.append(_unchecked(key, outcome.error))
                continue
            if codec.bare_etag(outcome.value) != entry.get(codec.ETAG_FIELD):
                if result is not None:
                    result.overtaken += 1
                try:
                    entry = store._entry_and_etag(key, {})[0]
                except ObjectNotFoundError:
                    store.index.remove_docs({store.key: entry[store.key]})
                    continue
                except S3ExploreError as exc:
                    failures.append(Failure(key, str(exc), exc))
                    continue
            now = indexed_versions(store, [entry[store.key]]).get(entry[store.key])
            if now == entry.get(codec.ETAG_FIELD):
                continue  # the index describes the object there
            if not store.index.swap_entries([entry], [now], key=store.key,
                                            field=codec.ETAG_FIELD)[0]:
                again.append((key, entry))
        todo = again
    return failures + [_restless(key) for key, _ in todo]


def _unchecked(key: str, error: BaseException) -> Failure:
    return Failure(key, f"stored and indexed, but {error}; run verify() to check its entry",
                   error)


def _restless(key: str) -> Failure:
    return Failure(key, f"its object kept changing under concurrent writers over "
                   f"{MAX_ROUNDS} checks; run verify(repair=True) once they are done")
