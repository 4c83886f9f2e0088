"""Reads of many objects, in parallel and in order, for every object-backed store; and
S3Store's rereads, so each body it yields is the one its entry describes.

Also the documented protected methods the frames layer reads objects through
(``_read_workers``, ``_parallel_reads``, ``_object_size``), so it never reaches into
``store.objects``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from s3explore import _codec as codec
from s3explore._checks import ON_ERROR_READ, deprecated_choice, one_of
from s3explore._errors import CorruptObjectError, ObjectNotFoundError, TransientS3Error, warn
from s3explore._stores._objects import Fetched
from s3explore._transfer import Outcome, ordered_map

logger = logging.getLogger("s3explore")

ON_MISSING = ("skip", "raise", "null")  # "none": the old spelling of "null", deprecated
ON_ERROR = ON_ERROR_READ
# A query reading an object another writer just replaced waits for that writer's entry.
REREAD_ROUNDS = 6
REREAD_PAUSE = 0.05  # seconds, doubled each round: about 3 s in all


@dataclass
class Replaced:
    """A query's entry whose object another writer replaced (see ``reread``)."""

    key: str
    entry: dict


def describes(entry: Mapping, got: Fetched) -> bool:
    """Whether the body read is the one the entry was written for: the SHA-1 its writer
    recorded in its metadata is the entry's (either may be missing: maggma's objects, or
    store_hash=False, and then there is nothing to compare)."""
    claimed, expected = codec.claimed_hash(got.metadata), entry.get("obj_hash")
    return not (claimed and expected) or claimed == expected


def missing_choice(on_missing: Any) -> Any:
    """``on_missing`` in the shared vocabulary: "none" (deprecated) is "null"."""
    return deprecated_choice(on_missing, "on_missing", "none", "null")


def check_read_choices(on_missing: Any, on_error: Any) -> None:
    one_of(on_missing, "on_missing", ON_MISSING)
    one_of(on_error, "on_error", ON_ERROR)


class ObjectReads:
    """The read machinery of object-backed stores (a mixin: ``self`` is an
    ``ObjectBackedStore``, with ``objects``, ``key`` and ``name``)."""

    # ------------------------------------------------------------ for the frames layer
    # Documented protected methods: the frames layer (query_df's fetch=, to_dask's sizing)
    # reads objects through these, never through ``store.objects``.

    def _read_workers(self, workers: int | None = None) -> int:
        """The threads a read runs (``workers``, else the store's ``s3_workers``), checked."""
        return self.objects.with_workers(workers)

    def _parallel_reads(self, load: Callable[[Any], Any], items: Iterable[Any],
                        workers: int | None = None) -> Iterator[Outcome]:
        """``Outcome(item, load(item) | error)`` per item, in order, ``workers`` calls at a
        time, read-ahead bounded by the store's byte budget."""
        return ordered_map(load, items, self._read_workers(workers),
                           max_bytes=self.objects.read_ahead_bytes)

    def _object_size(self, key: str) -> int:
        """The stored size in bytes of the object under ``key`` (one HEAD request)."""
        return self.objects.stat(key).size

    def _read_settings(self, on_missing: str, on_error: str, workers: int | None) -> int:
        """Check a read's arguments and the connection; the worker count to use."""
        check_read_choices(on_missing, on_error)
        workers = self.objects.with_workers(workers)
        self._ready_to_read()  # fail now, not on the first item, when not connected
        return workers

    def _ready_to_read(self) -> None:
        """Raise NotConnectedError unless objects can be fetched now (a hook: ManifestStore
        opened offline connects on the first fetch instead)."""
        self.objects.client  # noqa: B018

    def _outcomes(self, outcomes: Iterable[Outcome], on_missing: str,
                  key_of: Callable[[Any], Any], skip_none: bool, on_error: str) -> Iterator:
        """The values of ``outcomes``; a missing or corrupt object handled as ``on_missing``
        and ``on_error`` say (``skip_none``: a missing one is never yielded as None)."""
        corrupt: list[str] = []
        try:
            for outcome in outcomes:
                if outcome.error is None:
                    yield outcome.value
                elif isinstance(outcome.error, ObjectNotFoundError) and on_missing != "raise":
                    logger.warning("no object for key %r in %s; skipped", key_of(outcome.item),
                                   self.name)
                    if on_missing == "null" and not skip_none:
                        yield None
                elif isinstance(outcome.error, CorruptObjectError) and on_error != "raise":
                    corrupt.append(key_of(outcome.item))
                    if on_error == "null":
                        yield None
                else:
                    raise outcome.error
        finally:
            if corrupt:
                shown = ", ".join(map(repr, corrupt[:10])) + (" ..." if len(corrupt) > 10 else "")
                warn(f"{len(corrupt)} object(s) in {self.name} could not be decoded and were "
                     f"{'left out' if on_error == 'skip' else 'returned as None'}: {shown}")


def reread(store: Any, replaced: Replaced, criteria: dict) -> tuple[Any, dict] | None:
    """The body and entry of an object another writer replaced after its entry was read
    (its metadata names another SHA-1 than the entry): ``(document, entry)`` once the
    index has the new body's entry, None when that entry no longer matches ``criteria``.
    So a query never yields a body its entry does not describe, while writers race."""
    key, entry = replaced.key, replaced.entry
    this = {store.key: entry[store.key]}
    for attempt in range(REREAD_ROUNDS):
        time.sleep(REREAD_PAUSE * 2 ** attempt)  # the other writer's entry follows its put
        current = store.index.query_one({"$and": [criteria, this]} if criteria else this)
        if current is None:
            return None
        got = store.objects.read_doc(key, current.get("compression"))
        if describes(current, got):
            return got.doc, current
    raise TransientS3Error(
        f"the object under {key!r} in {store.name} kept changing while it was read "
        f"({REREAD_ROUNDS} reads, each replaced before its index entry caught up); run "
        "the query again once the writers are done")
