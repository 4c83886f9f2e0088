"""S3Store: documents as objects in S3, searchable fields in an index store (maggma's layout)."""

from __future__ import annotations

import datetime as _dt
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from s3explore import _codec as codec
from s3explore._checks import (
    DEFAULT_WORKERS,
    ArgumentError,
    positive_int,
    renamed,
)
from s3explore._errors import (
    ConfigurationError,
    InvalidDocumentError,
    S3ExploreError,
    S3RequestError,
    warn,
)
from s3explore._query import Properties, Query, SortSpec, check_criteria, has_path, project
from s3explore._s3engine import DEFAULT_ENGINE
from s3explore._stores._base import Store
from s3explore._stores._config import seal
from s3explore._stores._hints import hinted
from s3explore._stores._maintenance import MaintenanceMixin
from s3explore._stores._objects import DEFAULT_TIMEOUT, ObjectIO
from s3explore._stores._results import StoredObject, UpdateResult
from s3explore._stores._s3reads import (  # noqa: F401 -- ON_ERROR, ON_MISSING: importable here
    ON_ERROR,
    ON_MISSING,
    ObjectReads,
    Replaced,
    check_read_choices,
    describes,
    missing_choice,
)
from s3explore._stores._writer import write_documents
from s3explore._transfer import Callback

logger = logging.getLogger("s3explore")

INDEX_METHODS = ("connect", "close", "query", "count", "update", "remove_docs", "distinct")
# boto3 client arguments whose values carry no secret, shown as they are
_SHOWN_CLIENT_ARGUMENTS = frozenset({"region_name", "api_version", "use_ssl", "verify",
                                     "config", "aws_account_id"})
def _names(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) and v for v in value):
        return list(value)
    raise ConfigurationError(f"{what} must be a field name or a list of field names, got {value!r}")


def check_index(index: Any) -> None:
    """Any store with maggma's Store API will do as an index (ours or maggma's own)."""
    missing = [m for m in INDEX_METHODS if not callable(getattr(index, m, None))]
    if missing or not isinstance(getattr(index, "key", None), str):
        raise ConfigurationError(
            "index must be a store with maggma's Store API (key, query, count, update, "
            f"remove_docs, distinct, connect, close), such as MemoryStore or MongoStore; got "
            f"{type(index).__name__}" + (f", which lacks {missing}" if missing else ""))


class S3Store(ObjectReads, MaintenanceMixin, Store):
    """Documents in an S3 bucket, indexed in another store; reads and writes maggma's layout.

    ``index``: any store with maggma's Store API; its ``key`` is this store's key. ``None``
    gives an embedded DuckDB index in memory (keyed on ``key``, "task_id" by default), for
    instance to fill with ``rebuild_index_from_s3_data()``.
    ``compress``: True or "zlib" (maggma-compatible), "zstd" (s3explore only), or False.
    ``s3_profile``: None (boto3's defaults), a profile name from ~/.aws, or a dict of
    boto3.Session arguments (kept out of reprs and ``as_dict``). ``metadata_limit``: bytes of
    user metadata allowed per object (AWS: 2048); None disables the check. ``engine``: what
    sends the requests, "obstore" (GET/PUT/HEAD in Rust without the interpreter lock; the
    default) or "boto3" (every request through botocore); boto3 resolves credentials and
    settings for both. ``decode_objects``: module prefixes (``["pymatgen", "emmet.core"]``)
    whose monty objects (``@module``/``@class`` dicts) reads rebuild as objects, as
    ``MontyDecoder`` does; the default rebuilds none (nothing named in the data is imported).
    """

    _transient: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        index: Any,
        bucket: str,
        s3_profile: str | dict | None = None,
        compress: bool | str = False,
        endpoint_url: str | None = None,
        sub_dir: str | None = None,
        s3_workers: int = DEFAULT_WORKERS,
        s3_resource_kwargs: dict | None = None,
        ssh_tunnel: Any = None,
        key: str | None = None,
        store_hash: bool = True,
        unpack_data: bool = True,
        searchable_fields: list[str] | None = None,
        index_store_kwargs: dict | None = None,
        anonymous: bool = False,
        *,
        compression_level: int | None = None,
        metadata_limit: int | None = codec.AWS_METADATA_LIMIT,
        retries: int = 5,
        timeout: float = DEFAULT_TIMEOUT,
        engine: str = DEFAULT_ENGINE,
        max_decoded_bytes: int | None = None,
        decode_objects: Sequence[str] | None = None,
        **store_kwargs: Any,
    ) -> None:
        if ssh_tunnel is not None:
            raise ConfigurationError(
                "ssh_tunnel (maggma's SSHTunnel) is not supported by s3explore; open the "
                "tunnel yourself and pass its local address as endpoint_url")
        if index is None:  # an embedded index, e.g. to fill with rebuild_index_from_s3_data()
            from s3explore._stores._duckdb import DuckDBStore

            index = DuckDBStore(f"index-{bucket}", key=key or "task_id")
        check_index(index)
        if index_store_kwargs:
            if not isinstance(index_store_kwargs, dict):
                raise ConfigurationError("index_store_kwargs must be a dict of the index "
                                         "store's constructor arguments")
            index = type(index).from_dict({**index.as_dict(), **index_store_kwargs})
        if key is not None and key != index.key:
            warn(f"S3Store key {key!r} differs from the index key {index.key!r}; the index "
                 "key is used, as in maggma")
        super().__init__(index.key, **store_kwargs)
        self.index = index
        self.index_store_kwargs = dict(index_store_kwargs or {})
        self.objects = ObjectIO(bucket, sub_dir, s3_profile=s3_profile,
                                endpoint_url=endpoint_url, anonymous=anonymous,
                                client_kwargs=s3_resource_kwargs, workers=s3_workers,
                                retries=retries, timeout=timeout, engine=engine)
        if max_decoded_bytes is not None:  # per object; else the default or the environment
            self.objects.max_decoded_bytes = codec.max_decoded_bytes(max_decoded_bytes)
        self.compress = compress
        self.compression_level = compression_level
        self.store_hash = bool(store_hash)
        self.unpack_data = bool(unpack_data)
        self.searchable_fields = _names(searchable_fields, "searchable_fields")
        self.metadata_limit = positive_int(metadata_limit, "metadata_limit", none_ok=True)
        self._retries = retries
        self.decode_objects = list(codec.check_decode_objects(decode_objects))
        self.__resource_kwargs = seal(dict(s3_resource_kwargs or {}))

    # ------------------------------------------------------------ configuration

    @property
    def compress(self) -> bool:
        return self.compression is not None

    @compress.setter
    def compress(self, value: bool | str) -> None:
        self.compression = codec.normalize_compression(value)

    bucket = property(lambda self: self.objects.bucket)
    sub_dir = property(lambda self: self.objects.sub_dir)
    endpoint_url = property(lambda self: self.objects.endpoint_url)
    anonymous = property(lambda self: self.objects.anonymous)
    s3_workers = property(lambda self: self.objects.workers)
    client = property(lambda self: self.objects.client, doc="A boto3 S3 client, thread-safe.")
    s3_bucket = property(lambda self: self.objects.bucket_resource(),
                         doc="maggma's boto3 Bucket resource (not thread-safe, as there).")
    engine = property(lambda self: self.objects.engine_name,
                      doc='What sends the requests: "obstore" or "boto3".')

    @property
    def s3_profile(self) -> str | None:
        """The profile name; a dict of credentials is not given back."""
        return self.objects.profile_name

    @property
    def s3_resource_kwargs(self) -> dict:
        """The boto3 client arguments; only known harmless ones show their value, any other
        (``aws_session_token``, a key under any name) shows ``***``."""
        return {k: v if k in _SHOWN_CLIENT_ARGUMENTS else "***"
                for k, v in self.__resource_kwargs.unseal().items()}

    def _config(self) -> dict[str, Any]:
        profile, client_kwargs = self.objects.sealed_settings()
        return {
            "index": self.index, "bucket": self.bucket, "s3_profile": profile,
            "compress": self.compression or False, "endpoint_url": self.endpoint_url,
            "sub_dir": self.sub_dir or None, "s3_workers": self.s3_workers,
            "s3_resource_kwargs": client_kwargs, "store_hash": self.store_hash,
            "unpack_data": self.unpack_data, "searchable_fields": self.searchable_fields,
            "anonymous": self.anonymous, "compression_level": self.compression_level,
            "metadata_limit": self.metadata_limit, "retries": self._retries,
            "timeout": self.objects.timeout, "engine": self.objects.engine_name,
            "max_decoded_bytes": self.objects.max_decoded_bytes,
            "decode_objects": list(self.decode_objects) or None,
            "last_updated_field": self.last_updated_field,
            "last_updated_type": self.last_updated_type,
        }

    @property
    def name(self) -> str:
        return self.objects.name

    def __repr__(self) -> str:
        parts = [f"bucket={self.bucket!r}", f"index={self.index!r}"]
        if self.endpoint_url:
            parts.append(f"endpoint_url={self.endpoint_url!r}")
        if self.sub_dir:
            parts.append(f"sub_dir={self.sub_dir!r}")
        if self.compression:
            parts.append(f"compress={self.compression!r}")
        return f"S3Store({', '.join(parts)})"

    # ------------------------------------------------------------ connection

    def _connect(self, force_reset: bool) -> None:
        """Build the S3 client, check the bucket is reachable, connect the index."""
        self.objects.connect(force_reset)
        self.index.connect(force_reset=force_reset)

    def _close(self) -> None:
        self.objects.close()
        self.index.close()

    # ------------------------------------------------------------ index delegation

    def distinct(self, field: Any, criteria: dict | None = None, all_exist: bool = False) -> list:
        criteria = check_criteria(criteria)
        if all_exist:
            return self.index.distinct(field, criteria, all_exist=True)
        return self.index.distinct(field, criteria)

    def groupby(self, keys: Any, criteria: dict | None = None, properties: Properties = None,
                sort: SortSpec = None, skip: int = 0, limit: int = 0) -> Iterator:
        q = Query.build(criteria, properties, sort, skip, limit)
        return self.index.groupby(keys, q.criteria, q.properties, sort, q.skip, q.limit)

    @property
    def last_updated(self) -> _dt.datetime:
        return self.index.last_updated

    def newer_in(self, target: Any, criteria: dict | None = None, exhaustive: bool = False):
        return self.index.newer_in(getattr(target, "index", target), criteria, exhaustive)

    # The Store hooks: the base's public methods call these with validated input; they
    # never call back into the public methods.
    def _count(self, criteria: dict) -> int:
        return self.index.count(criteria)

    def _find(self, q: Query) -> Iterator[dict]:
        return self._documents(q, self._entries_of(q), None, "skip", "raise",
                               self._prefixes(None))

    def _upsert(self, docs: list[dict], keys: list[str]) -> None:
        write_documents(self, docs, self._fields(keys, None), workers=None, chunk_size=100,
                        progress=None, cancel=None, retries=None, on_error="raise")

    def _delete(self, criteria: dict) -> None:
        self._remove(criteria, remove_s3_object=False)

    def _create_index(self, field: str, unique: bool) -> bool:
        return self.index.ensure_index(field, unique)

    def _entries_of(self, q: Query) -> Iterator[dict]:
        return self.index.query(q.criteria, sort=q.sort and dict(q.sort), skip=q.skip,
                                limit=q.limit)

    # ------------------------------------------------------------ reads

    def _prefixes(self, decode_objects: Sequence[str] | bool | None) -> tuple[str, ...]:
        return tuple(self.decode_objects) if decode_objects is None else (
            codec.check_decode_objects(decode_objects))

    def get_object(self, key: str | int, *,
                   decode_objects: Sequence[str] | bool | None = None) -> StoredObject:
        """Fetch, decompress and decode one object, with its sizes and fetch time.
        ``decode_objects``: this read's module prefixes (None: the store's; False: none)."""
        prefixes = self._prefixes(decode_objects)
        key = codec.key_string(key, self.key)
        got = self.objects.read_doc(key)  # decoded as it downloads
        doc = codec.rebuild_objects(got.doc, prefixes, key)
        return StoredObject(key, doc, got.stored_size, got.decoded_size, got.compression,
                            got.seconds, dict(got.metadata))

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
        return self._fetch_in_order(keys, lambda k: self.get(k, decode_objects=prefixes),
                                    workers, missing_choice(on_missing), lambda k: k,
                                    on_error=on_error)

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

        Each body is the one its entry describes: an object replaced by another writer
        after its entry was read is read again with its new entry, and left out when that
        entry no longer matches ``criteria``.

        When every requested property is in a document's index entry, the answer comes from
        the index and S3 is not touched. A missing object is logged and skipped
        (``on_missing="raise"`` raises ObjectNotFoundError instead). A corrupt object raises
        CorruptObjectError, or with ``on_error="skip"``/``"null"`` is left out or yielded as
        None, with a warning naming its key. ``decode_objects``: as for ``get``.
        """
        q = Query.build(criteria, properties, sort, skip, limit)
        entries = hinted(self, q.criteria, self._entries_of(q))  # typo hints when empty
        return self._documents(q, entries, workers, missing_choice(on_missing), on_error,
                               self._prefixes(decode_objects))

    def _documents(self, q: Query, entries: Iterator[dict], workers: int | None,
                   on_missing: str, on_error: str, prefixes: tuple[str, ...]) -> Iterator:
        """The documents of ``entries`` (those of ``q``), fetched in order (see ``query``)."""
        names = q.properties

        def load(entry: dict) -> Any:
            if names is not None and all(has_path(entry, n) for n in names):
                return project(entry, names)
            key = codec.key_string(entry[self.key], self.key)
            if not self.unpack_data:
                return self.objects.read(key)[0]
            got = self.objects.read_doc(key, entry.get("compression"))  # as it downloads
            if not describes(entry, got):
                return Replaced(key, entry)  # settled in the caller's thread (owns the index)
            return finish(got.doc, entry)

        def finish(doc: Any, entry: dict) -> Any:
            if codec.LAST_UPDATED in entry:
                doc[codec.LAST_UPDATED] = entry[codec.LAST_UPDATED]
            doc = project(doc, names) if names is not None else doc
            return codec.rebuild_objects(doc, prefixes, str(entry.get(self.key)))

        found = self._fetch_in_order(entries, load, workers, on_missing,
                                     lambda e: str(e.get(self.key)), skip_none=True,
                                     on_error=on_error)
        return self._settled(found, q.criteria, finish)

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
        """
        on_error = renamed("errors", "on_error", errors, on_error, "raise")
        if isinstance(docs, Mapping):
            docs = [docs]
        if isinstance(docs, (str, bytes)) or not isinstance(docs, Iterable):
            raise InvalidDocumentError(
                f"docs must be a dict or an iterable of dicts, not {type(docs).__name__}")
        fields = self._fields(key, additional_metadata)
        return write_documents(self, docs, fields, workers=workers, chunk_size=chunk_size,
                               progress=progress, cancel=cancel, retries=retries,
                               on_error=on_error)

    def _fields(self, key: Any, additional_metadata: Any) -> list[str]:
        """The index fields of an update, in maggma's order: the key field(s), additional
        metadata, searchable fields."""
        return list(dict.fromkeys((_names(key, "key") or [self.key])
                                  + _names(additional_metadata, "additional_metadata")
                                  + self.searchable_fields))

    def write_manifest(self, formats: Any = ("parquet", "jsonl"),
                       criteria: dict | None = None) -> Any:
        """Publish the index next to the objects: ``manifest.parquet`` and ``manifest.jsonl``
        (what maggma's S3IndexStore reads), so others browse the bucket with
        ``s3explore.open`` and no database. See ``s3explore._stores._opendata``."""
        from s3explore._stores._opendata import write_manifest

        return write_manifest(self, formats, criteria)

    def remove_docs(self, criteria: dict, remove_s3_object: bool = False) -> None:
        """Remove index entries (first) and, when asked, their objects."""
        if criteria is None:
            raise ArgumentError("remove_docs needs criteria; pass {} to remove everything")
        self._remove(check_criteria(criteria), bool(remove_s3_object))

    def _remove(self, criteria: dict, remove_s3_object: bool) -> None:
        keys = self.index.distinct(self.key, criteria) if remove_s3_object else []
        self.index.remove_docs(criteria)
        try:
            self.objects.delete(str(k) for k in keys)
        except S3ExploreError as exc:  # refused per key (AWS) or whole (Versity S3 Gateway)
            note = (f"; their {len(keys)} index entries (first: {sorted(map(str, keys))[:5]})"
                    " are gone already")
            raise (S3RequestError(f"{exc}{note}", code=exc.code)
                   if isinstance(exc, S3RequestError) else type(exc)(f"{exc}{note}")) from exc
