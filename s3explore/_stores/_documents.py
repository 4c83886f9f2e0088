"""The base of stores whose documents live as objects behind an index: S3Store, ManifestStore.

``ObjectBackedStore`` owns their public API once, with explicit signatures: the reads
(``query`` with ``workers``/``on_missing``/``on_error``/``decode_objects``, ``query_one``,
``get``, ``get_object``, ``get_many``, ``count``, ``distinct``, ``groupby``,
``last_updated``, ``newer_in``), the writes (``update`` with ``additional_metadata`` and
its settings, ``remove_docs`` with ``remove_s3_object``) and the maintenance entry points
(``verify``, ``rebuild_index_from_s3_data``, ``rebuild_metadata_from_index``). Arguments
are checked here; a store implements hooks that receive them checked:

- reads: ``_read_entries(q, entries, workers, prefixes)`` and ``_read_keys(keys, workers,
  prefixes)`` give one ``Outcome`` per entry or key, in order; ``_read_object(key,
  prefixes)`` gives a ``StoredObject``; ``_ready_to_read()`` raises when nothing can be
  fetched now. Missing and corrupt objects are handled here, the same on every store.
- writes: ``_write(docs, fields, **settings) -> UpdateResult``, ``_remove(criteria,
  remove_s3_object)``.
- maintenance: ``_verify(...)``, ``_rebuild_index(workers)``, ``_rebuild_metadata(criteria,
  workers)``.

Index reads (``count``, ``distinct``, ``groupby``, ``last_updated``, ``newer_in``) go to
``self.index``, any store with maggma's API. A read-only store composes ``ReadOnly``
(``_readonly``), which refuses every write before its arguments are looked at.
"""

from __future__ import annotations

import datetime as _dt
import threading
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from s3explore import _codec as codec
from s3explore._checks import ArgumentError, renamed
from s3explore._errors import ConfigurationError, InvalidDocumentError
from s3explore._query import Properties, Query, SortSpec, check_criteria
from s3explore._stores._base import Store
from s3explore._stores._hints import hinted
from s3explore._stores._objects import ObjectIO
from s3explore._stores._results import StoredObject, UpdateResult, VerifyReport
from s3explore._stores._s3reads import ObjectReads, missing_choice
from s3explore._transfer import Callback, Outcome


def field_names(value: Any, what: str) -> list[str]:
    """A field name or a list of them, as a list (None: none)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) and v for v in value):
        return list(value)
    raise ConfigurationError(f"{what} must be a field name or a list of field names, got {value!r}")


class ObjectBackedStore(ObjectReads, Store):
    """Documents as objects in a bucket (``objects``: an ObjectIO), their entries in an index
    store (``index``); the public API of S3Store and ManifestStore, over their hooks."""

    index: Any
    objects: ObjectIO
    searchable_fields: list[str]

    def __init__(self, index: Any, objects: ObjectIO,
                 decode_objects: Sequence[str] | None = None, **store_kwargs: Any) -> None:
        super().__init__(index.key, **store_kwargs)
        self.index = index
        self.objects = objects
        self.searchable_fields = []
        self.decode_objects = list(codec.check_decode_objects(decode_objects))

    # ------------------------------------------------------------ where the objects are

    bucket = property(lambda self: self.objects.bucket)
    sub_dir = property(lambda self: self.objects.sub_dir)
    endpoint_url = property(lambda self: self.objects.endpoint_url)
    anonymous = property(lambda self: self.objects.anonymous)
    s3_workers = property(lambda self: self.objects.workers)
    client = property(lambda self: self.objects.client, doc="A boto3 S3 client, thread-safe.")
    engine = property(lambda self: self.objects.engine_name,
                      doc='What sends the requests: "obstore" or "boto3".')

    @property
    def s3_profile(self) -> str | None:
        """The profile name; a dict of credentials is not given back."""
        return self.objects.profile_name

    @property
    def name(self) -> str:
        return self.objects.name

    # ------------------------------------------------------------ reads

    def query(
        self,
        criteria: dict | None = None,
        properties: Properties = None,
        sort: SortSpec = None,
        skip: int = 0,
        limit: int = 0,
        *,
        workers: int | None = None,
        on_missing: str = "skip",
        on_error: str = "raise",
        decode_objects: Sequence[str] | bool | None = None,
    ) -> Iterator[dict]:
        """Documents matching ``criteria`` in index order, fetched ``workers`` at a time.

        When every requested property is in a document's index entry, the answer comes from
        the index and the bucket is not asked. A missing object is logged and skipped
        (``on_missing="raise"`` raises ObjectNotFoundError instead). A corrupt object raises
        CorruptObjectError, or with ``on_error="skip"``/``"null"`` is left out or yielded as
        None, with a warning naming its key. ``decode_objects``: as for ``get``.

        On S3Store each body is the one its entry describes: an object replaced by another
        writer after its entry was read is read again with its new entry, and left out when
        that entry no longer matches ``criteria``. On ManifestStore the documents of one
        object share one GET.
        """
        q = Query.build(criteria, properties, sort, skip, limit)
        entries = hinted(self, q.criteria, self._entries_of(q))  # typo hints when empty
        return self._documents(q, entries, workers, missing_choice(on_missing), on_error,
                               self._prefixes(decode_objects))

    def get_object(self, key: str | int, *,
                   decode_objects: Sequence[str] | bool | None = None) -> StoredObject:
        """Fetch and decode one document, with its sizes and fetch time (of its whole
        object). ``decode_objects``: this read's module prefixes whose monty objects are
        rebuilt (None: the store's; False: none)."""
        return self._read_object(key, self._prefixes(decode_objects))

    def get(self, key: str | int, *, decode_objects: Sequence[str] | bool | None = None) -> dict:
        """The decoded document stored under ``key`` (``last_updated`` lives in the index)."""
        return self.get_object(key, decode_objects=decode_objects).doc

    def get_many(self, keys: Iterable[str | int], workers: int | None = None,
                 on_missing: str = "skip", on_error: str = "raise", *,
                 decode_objects: Sequence[str] | bool | None = None
                 ) -> Iterator[dict | None]:
        """Fetch documents in parallel, yielded in the order of ``keys``.

        ``on_missing`` (no object): "skip", "raise" or "null" (yield None in its place;
        "none" is its deprecated spelling).
        ``on_error`` (an object that cannot be decoded): "raise", "skip" or "null" (None),
        the last two with a warning naming the keys.
        """
        prefixes = self._prefixes(decode_objects)
        on_missing = missing_choice(on_missing)
        workers = self._read_settings(on_missing, on_error, workers)
        return self._outcomes(self._read_keys(keys, workers, prefixes), on_missing,
                              self._key_of, False, on_error)

    def distinct(self, field: str | list[str], criteria: dict | None = None,
                 all_exist: bool = False) -> list:
        """Distinct values of ``field`` in the index (see ``Store.distinct``)."""
        criteria = check_criteria(criteria)
        if all_exist:
            return self.index.distinct(field, criteria, all_exist=True)
        return self.index.distinct(field, criteria)

    def groupby(self, keys: list[str] | str, criteria: dict | None = None,
                properties: Properties = None, sort: SortSpec = None, skip: int = 0,
                limit: int = 0) -> Iterator[tuple[dict, list[dict]]]:
        """Index entries grouped by ``keys`` (see ``Store.groupby``)."""
        q = Query.build(criteria, properties, sort, skip, limit)
        return self.index.groupby(keys, q.criteria, q.properties, sort, q.skip, q.limit)

    @property
    def last_updated(self) -> _dt.datetime:
        return self.index.last_updated

    def newer_in(self, target: Any, criteria: dict | None = None,
                 exhaustive: bool = False) -> list:
        return self.index.newer_in(getattr(target, "index", target), criteria, exhaustive)

    # ------------------------------------------------------------ writes

    def update(
        self,
        docs: Iterable[Mapping] | Mapping,
        key: list[str] | str | None = None,
        additional_metadata: list[str] | str | None = None,
        *,
        workers: int | None = None,
        chunk_size: int = 100,
        progress: bool | Callback | Callable | None = None,
        cancel: threading.Event | None = None,
        retries: int | None = None,
        on_error: str = "raise",
        errors: str | None = None,
    ) -> UpdateResult:
        """Store documents: objects first, then their index entries in batches as they land.

        ``docs`` may be any iterable and is streamed. Every document that can be stored
        lands and is indexed; no index entry is ever written for an object that did not
        land. Documents that could not be stored (invalid, metadata too large, retries
        exhausted) then raise ``UpdateError`` naming their keys and reasons, with the
        ``UpdateResult`` attached; ``on_error="collect"`` returns the result instead
        (``errors=`` is its deprecated name). Rerunning the same update is idempotent.
        A read-only store raises ReadOnlyStoreError, whatever the arguments.
        """
        self._check_writable("update")
        on_error = renamed("errors", "on_error", errors, on_error, "raise")
        if isinstance(docs, Mapping):
            docs = [docs]
        if isinstance(docs, (str, bytes)) or not isinstance(docs, Iterable):
            raise InvalidDocumentError(
                f"docs must be a dict or an iterable of dicts, not {type(docs).__name__}")
        return self._write(docs, self._fields(key, additional_metadata), workers=workers,
                           chunk_size=chunk_size, progress=progress, cancel=cancel,
                           retries=retries, on_error=on_error)

    def remove_docs(self, criteria: dict, remove_s3_object: bool = False) -> None:
        """Remove index entries (first) and, when asked, their objects."""
        self._check_writable("remove_docs")
        if criteria is None:
            raise ArgumentError("remove_docs needs criteria; pass {} to remove everything")
        self._remove(check_criteria(criteria), bool(remove_s3_object))

    def _fields(self, key: Any, additional_metadata: Any) -> list[str]:
        """The index fields of an update, in maggma's order: the key field(s), additional
        metadata, searchable fields."""
        return list(dict.fromkeys((field_names(key, "key") or [self.key])
                                  + field_names(additional_metadata, "additional_metadata")
                                  + list(self.searchable_fields)))

    # ------------------------------------------------------------ maintenance

    def verify(self, repair: bool = False, check_hashes: bool = True,
               workers: int | None = None, *, deep: bool = False,
               quarantine: str | None = None) -> VerifyReport:
        """Compare the index with the objects under the prefix; optionally repair.

        Reports objects without index entries (orphans), entries without objects
        (dangling), keys with more than one entry (duplicates, such as ``1`` and ``"1"``),
        and with ``check_hashes`` entries whose ``obj_hash`` is not their object's SHA-1.

        No body is downloaded to check a hash. An entry s3explore wrote names the ETag its
        object had (``obj_etag``): when the listing shows that ETag, the entry's hash is
        the body's, with no request at all. Otherwise the object's metadata tells (a HEAD):
        s3explore writes each body's SHA-1 and ETag there. An object whose recorded ETag is
        not the one S3 reports (rewritten by another tool, metadata copied) is downloaded
        and hashed. Objects with neither (written by maggma) are listed in
        ``report.unchecked``.
        ``deep=True`` downloads and decodes every body instead: it also checks those, and
        finds objects that cannot be decoded (``unreadable``).

        ``repair=True`` removes dangling entries, re-indexes orphans, mismatches and
        duplicates from the objects, and goes past objects it cannot decode: they are
        listed in ``report.unreadable`` and, with ``quarantine="prefix/"``, moved under that
        prefix (outside the sub_dir) with their entries removed. The plan is in the report
        (``report.plan()``); rerunning is safe. Errors of S3 itself (unreachable, retries
        exhausted) raise: a hash that could not be checked is not a hash that matched.

        ManifestStore compares its manifest with the objects (no repair): ``mismatched``
        lists objects whose ``obj_hash`` differs, ``deep=True`` finds ``unreadable`` ones;
        ``repair`` and ``quarantine`` raise ReadOnlyStoreError there, as on any read-only
        store.
        """
        if repair:
            self._check_writable("verify(repair=True)")
        if quarantine is not None:
            self._check_writable("verify(quarantine=...)")
        return self._verify(bool(repair), bool(check_hashes), workers, deep=bool(deep),
                            quarantine=quarantine)

    def rebuild_index_from_s3_data(self, workers: int | None = None) -> int:
        """Re-create every index entry under the prefix from the objects themselves; how many.

        Field types come from the object bodies where they hold the field; an entry that
        already exists keeps its ``last_updated``, a new one takes the object's LastModified.
        """
        self._check_writable("rebuild_index_from_s3_data")
        return self._rebuild_index(workers)

    def rebuild_metadata_from_index(self, index_query: dict | None = None,
                                    workers: int | None = None) -> int:
        """Rewrite each object's metadata from its index entry (copy in place); how many.
        The body's digest is kept when it still describes the body."""
        self._check_writable("rebuild_metadata_from_index")
        return self._rebuild_metadata(check_criteria(index_query), workers)

    # ------------------------------------------------------------ shared read machinery

    def _prefixes(self, decode_objects: Sequence[str] | bool | None) -> tuple[str, ...]:
        return tuple(self.decode_objects) if decode_objects is None else (
            codec.check_decode_objects(decode_objects))

    def _key_of(self, item: Any) -> Any:
        """The key an outcome's item names, for warnings: an entry's key value, or the key."""
        return str(item.get(self.key)) if isinstance(item, Mapping) else item

    def _entries_of(self, q: Query) -> Iterator[dict]:
        return self.index.query(q.criteria, sort=q.sort and dict(q.sort), skip=q.skip,
                                limit=q.limit)

    def _documents(self, q: Query, entries: Iterator[dict], workers: int | None,
                   on_missing: str, on_error: str, prefixes: tuple[str, ...]) -> Iterator:
        """The documents of ``entries`` (those of ``q``), in order (see ``query``)."""
        workers = self._read_settings(on_missing, on_error, workers)
        return self._outcomes(self._read_entries(q, entries, workers, prefixes), on_missing,
                              self._key_of, True, on_error)

    # The Store hooks: the public methods above and Store's call these with validated
    # input; they never call back into the public methods.
    def _count(self, criteria: dict) -> int:
        return self.index.count(criteria)

    def _find(self, q: Query) -> Iterator[dict]:
        return self._documents(q, self._entries_of(q), None, "skip", "raise",
                               self._prefixes(None))

    def _upsert(self, docs: list[dict], keys: list[str]) -> None:
        self._write(docs, self._fields(keys, None), workers=None, chunk_size=100,
                    progress=None, cancel=None, retries=None, on_error="raise")

    def _delete(self, criteria: dict) -> None:
        self._remove(criteria, False)

    def _create_index(self, field: str, unique: bool) -> bool:
        return self.index.ensure_index(field, unique)

    # ------------------------------------------------------------ hooks of object stores

    @abstractmethod
    def _read_entries(self, q: Query, entries: Iterator[dict], workers: int,
                      prefixes: tuple[str, ...]) -> Iterator[Outcome]:
        """``Outcome(entry, document | error)`` per entry, in order, each document projected
        onto ``q.properties`` and its monty objects of ``prefixes`` rebuilt. An entry may be
        left out (its object now holds a document ``q.criteria`` does not match)."""

    @abstractmethod
    def _read_keys(self, keys: Iterable[Any], workers: int,
                   prefixes: tuple[str, ...]) -> Iterator[Outcome]:
        """``Outcome(key or entry, document | error)`` per key, in order."""

    @abstractmethod
    def _read_object(self, key: Any, prefixes: tuple[str, ...]) -> StoredObject: ...

    @abstractmethod
    def _write(self, docs: Iterable[Any], fields: list[str], *, workers: int | None,
               chunk_size: int, progress: Any, cancel: threading.Event | None,
               retries: int | None, on_error: str) -> UpdateResult: ...

    @abstractmethod
    def _remove(self, criteria: dict, remove_s3_object: bool) -> None: ...

    @abstractmethod
    def _verify(self, repair: bool, check_hashes: bool, workers: int | None, *,
                deep: bool, quarantine: str | None) -> VerifyReport: ...

    @abstractmethod
    def _rebuild_index(self, workers: int | None) -> int: ...

    @abstractmethod
    def _rebuild_metadata(self, criteria: dict, workers: int | None) -> int: ...
