"""S3Store: documents as objects in S3, searchable fields in an index store (maggma's layout)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, ClassVar

from s3explore import _codec as codec
from s3explore._checks import DEFAULT_WORKERS, positive_int
from s3explore._errors import ConfigurationError, S3ExploreError, S3RequestError, warn
from s3explore._query import Query, has_path, project
from s3explore._s3engine import DEFAULT_ENGINE
from s3explore._stores._config import seal
from s3explore._stores._documents import ObjectBackedStore, field_names
from s3explore._stores._maintenance import MaintenanceMixin
from s3explore._stores._objects import DEFAULT_TIMEOUT, ObjectIO
from s3explore._stores._results import StoredObject, UpdateResult
from s3explore._stores._s3reads import (  # noqa: F401 -- importable here, as before
    ON_ERROR,
    ON_MISSING,
    Replaced,
    check_read_choices,
    describes,
    missing_choice,
    reread,
)
from s3explore._stores._writer import write_documents
from s3explore._transfer import Outcome

logger = logging.getLogger("s3explore")

INDEX_METHODS = ("connect", "close", "query", "count", "update", "remove_docs", "distinct")
# boto3 client arguments whose values carry no secret, shown as they are
_SHOWN_CLIENT_ARGUMENTS = frozenset({"region_name", "api_version", "use_ssl", "verify",
                                     "config", "aws_account_id"})


def check_index(index: Any) -> None:
    """Any store with maggma's Store API will do as an index (ours or maggma's own)."""
    missing = [m for m in INDEX_METHODS if not callable(getattr(index, m, None))]
    if missing or not isinstance(getattr(index, "key", None), str):
        raise ConfigurationError(
            "index must be a store with maggma's Store API (key, query, count, update, "
            f"remove_docs, distinct, connect, close), such as MemoryStore or MongoStore; got "
            f"{type(index).__name__}" + (f", which lacks {missing}" if missing else ""))


class S3Store(MaintenanceMixin, ObjectBackedStore):
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

    The public API is ``ObjectBackedStore``'s (``_documents``); this class implements its
    hooks over ``ObjectIO`` (reads, writes through ``_writer``) and its index, and
    ``MaintenanceMixin`` the maintenance hooks.
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
        objects = ObjectIO(bucket, sub_dir, s3_profile=s3_profile, endpoint_url=endpoint_url,
                           anonymous=anonymous, client_kwargs=s3_resource_kwargs,
                           workers=s3_workers, retries=retries, timeout=timeout, engine=engine)
        super().__init__(index, objects, decode_objects, **store_kwargs)
        self.index_store_kwargs = dict(index_store_kwargs or {})
        if max_decoded_bytes is not None:  # per object; else the default or the environment
            self.objects.max_decoded_bytes = codec.max_decoded_bytes(max_decoded_bytes)
        self.compress = compress
        self.compression_level = compression_level
        self.store_hash = bool(store_hash)
        self.unpack_data = bool(unpack_data)
        self.searchable_fields = field_names(searchable_fields, "searchable_fields")
        self.metadata_limit = positive_int(metadata_limit, "metadata_limit", none_ok=True)
        self._retries = retries
        self.__resource_kwargs = seal(dict(s3_resource_kwargs or {}))

    # ------------------------------------------------------------ configuration

    @property
    def compress(self) -> bool:
        return self.compression is not None

    @compress.setter
    def compress(self, value: bool | str) -> None:
        self.compression = codec.normalize_compression(value)

    s3_bucket = property(lambda self: self.objects.bucket_resource(),
                         doc="maggma's boto3 Bucket resource (not thread-safe, as there).")

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

    # ------------------------------------------------------------ read hooks
    # ObjectBackedStore's public reads call these with checked arguments.

    def _read_entries(self, q: Query, entries: Iterator[dict], workers: int,
                      prefixes: tuple[str, ...]) -> Iterator[Outcome]:
        """One GET per entry, ``workers`` at a time; a body its entry does not describe
        (replaced by another writer meanwhile) is read again with its new entry."""
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

        for outcome in self._parallel_reads(load, entries, workers):
            if isinstance(outcome.value, Replaced):
                settled = reread(self, outcome.value, q.criteria)
                if settled is None:
                    continue  # its object now holds a document this query does not match
                outcome = Outcome(outcome.item, value=finish(*settled))
            yield outcome

    def _read_keys(self, keys: Iterable[Any], workers: int,
                   prefixes: tuple[str, ...]) -> Iterator[Outcome]:
        return self._parallel_reads(lambda k: self._read_object(k, prefixes).doc, keys,
                                    workers)

    def _read_object(self, key: Any, prefixes: tuple[str, ...]) -> StoredObject:
        key = codec.key_string(key, self.key)
        got = self.objects.read_doc(key)  # decoded as it downloads
        doc = codec.rebuild_objects(got.doc, prefixes, key)
        return StoredObject(key, doc, got.stored_size, got.decoded_size, got.compression,
                            got.seconds, dict(got.metadata))

    # ------------------------------------------------------------ write hooks

    def _write(self, docs: Iterable[Any], fields: list[str], *, workers: int | None,
               chunk_size: int, progress: Any, cancel: threading.Event | None,
               retries: int | None, on_error: str) -> UpdateResult:
        return write_documents(self, docs, fields, workers=workers, chunk_size=chunk_size,
                               progress=progress, cancel=cancel, retries=retries,
                               on_error=on_error)

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

    def write_manifest(self, formats: Any = ("parquet", "jsonl"),
                       criteria: dict | None = None) -> Any:
        """Publish the index next to the objects: ``manifest.parquet`` and ``manifest.jsonl``
        (what maggma's S3IndexStore reads), so others browse the bucket with
        ``s3explore.open`` and no database. See ``s3explore._stores._opendata``."""
        from s3explore._stores._opendata import write_manifest

        return write_manifest(self, formats, criteria)
