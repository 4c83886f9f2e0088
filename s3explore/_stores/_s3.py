"""S3Store: documents as objects in S3, searchable fields in an index store (maggma's layout)."""

from __future__ import annotations

import datetime as _dt
import io
import logging
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from boto3.s3.transfer import TransferConfig

from s3explore import _codec as codec
from s3explore._errors import (
    AccessDeniedError,
    ConfigurationError,
    InvalidDocumentError,
    NotConnectedError,
    ObjectNotFoundError,
    S3ExploreError,
    S3RequestError,
    StoreConnectionError,
)
from s3explore._s3client import (
    is_transient,
    make_client,
    redact_url,
    strip_userinfo,
    translate,
)
from s3explore._stores._base import (
    Properties,
    Sort,
    Store,
    check_criteria,
    has_path,
    project,
    property_names,
)
from s3explore._stores._maintenance import MaintenanceMixin
from s3explore._stores._mongo import iter_batches
from s3explore._stores._results import Failure, StoredObject, UpdateResult
from s3explore._transfer import (
    Callback,
    RetryPolicy,
    as_callback,
    call_with_retries,
    check_workers,
    ordered_map,
)

logger = logging.getLogger("s3explore")

MULTIPART_THRESHOLD = 64 * 1024 * 1024
ON_MISSING = ("skip", "raise", "none")




def _names(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) and v for v in value):
        return list(value)
    raise ConfigurationError(f"{what} must be a field name or a list of field names, got {value!r}")


class S3Store(MaintenanceMixin, Store):
    """Documents in an S3 bucket, indexed in another store; reads and writes maggma's layout.

    ``compress``: True or "zlib" (maggma-compatible), "zstd" (s3explore only), or False.
    ``s3_profile``: None (boto3's defaults), a profile name from ~/.aws, or a dict of
    boto3.Session arguments. ``metadata_limit``: bytes of user metadata allowed per object
    (AWS: 2048); None disables the check.
    """

    def __init__(
        self,
        index: Store,
        bucket: str,
        s3_profile: str | dict | None = None,
        compress: bool | str = False,
        endpoint_url: str | None = None,
        sub_dir: str | None = None,
        s3_workers: int = 4,
        s3_resource_kwargs: dict | None = None,
        key: str = "fs_id",
        store_hash: bool = True,
        unpack_data: bool = True,
        searchable_fields: list[str] | None = None,
        anonymous: bool = False,
        *,
        compression_level: int | None = None,
        metadata_limit: int | None = codec.AWS_METADATA_LIMIT,
        retries: int = 5,
    ) -> None:
        if not isinstance(index, Store):
            raise ConfigurationError(
                "index must be a store such as MemoryStore or MongoStore, "
                f"got {type(index).__name__}"
            )
        if not isinstance(bucket, str) or not bucket:
            raise ConfigurationError(f"bucket must be a non-empty string, got {bucket!r}")
        if endpoint_url is not None and not (
            isinstance(endpoint_url, str) and endpoint_url.startswith(("http://", "https://"))
        ):
            raise ConfigurationError(
                "endpoint_url must start with http:// or https://, "
                f"got {redact_url(str(endpoint_url))!r}"
            )
        if key != index.key:
            warnings.warn(f"S3Store key {key!r} differs from the index key {index.key!r}; "
                          "the index key is used", UserWarning, stacklevel=2)
        super().__init__(index.key)
        self.index = index
        self.bucket = bucket
        self.__s3_profile = s3_profile  # may hold secret keys: never shown
        self.compression = codec.normalize_compression(compress)
        self.compression_level = compression_level
        # S3 never uses user:password@ in the URL; dropping it keeps it out of every message.
        self.endpoint_url = strip_userinfo(endpoint_url)
        self.sub_dir = codec.normalize_sub_dir(sub_dir)
        self.s3_workers = check_workers(s3_workers, "s3_workers")
        self.s3_resource_kwargs = dict(s3_resource_kwargs or {})
        self.store_hash = bool(store_hash)
        self.unpack_data = bool(unpack_data)
        self.searchable_fields = _names(searchable_fields, "searchable_fields")
        self.anonymous = bool(anonymous)
        if metadata_limit is not None and (
            isinstance(metadata_limit, bool) or not isinstance(metadata_limit, int)
            or metadata_limit < 1
        ):
            raise ConfigurationError(
                f"metadata_limit must be a positive int or None, got {metadata_limit!r}"
            )
        self.metadata_limit = metadata_limit
        self._retry = RetryPolicy(attempts=retries)
        self._client: Any = None
        self._pool_size = 0

    @property
    def compress(self) -> bool:
        return self.compression is not None

    @property
    def s3_profile(self) -> str | None:
        """The profile name; a dict of credentials is not given back."""
        return self.__s3_profile if isinstance(self.__s3_profile, str) else None

    @property
    def name(self) -> str:
        return f"s3://{self.bucket}/{self.sub_dir}"

    def __repr__(self) -> str:
        parts = [f"bucket={self.bucket!r}", f"index={self.index!r}"]
        if self.endpoint_url:
            parts.append(f"endpoint_url={redact_url(self.endpoint_url)!r}")
        if self.sub_dir:
            parts.append(f"sub_dir={self.sub_dir!r}")
        if self.compression:
            parts.append(f"compress={self.compression!r}")
        return f"S3Store({', '.join(parts)})"

    # ------------------------------------------------------------ connection

    def connect(self, force_reset: bool = False) -> None:
        """Build the S3 client, check the bucket is reachable, connect the index."""
        if self._client is None or force_reset:
            client = self._make_client(self.s3_workers)
            self._check_bucket(client)
            self._client = client
        self.index.connect(force_reset=force_reset)

    def _check_bucket(self, client: Any) -> None:
        try:
            call_with_retries(lambda: client.head_bucket(Bucket=self.bucket), self._retry,
                              is_transient)
            return
        except Exception as exc:
            error = self._error(exc)
            if not isinstance(error, AccessDeniedError):
                raise error from exc
        # HEAD answers a bare 403 for bad keys too; a GET's error body tells them apart.
        try:
            call_with_retries(lambda: client.list_objects_v2(Bucket=self.bucket, MaxKeys=1),
                              self._retry, is_transient)
        except Exception as exc:
            raise self._error(exc) from exc

    def _make_client(self, workers: int) -> Any:
        self._pool_size = workers
        return make_client(self.__s3_profile, self.endpoint_url, workers, self.anonymous,
                           self.s3_resource_kwargs)

    def _workers(self, workers: int | None) -> int:
        """Validate a per-call worker count; grow the connection pool if it is larger."""
        workers = check_workers(self.s3_workers if workers is None else workers)  # 0 is bad
        if workers > self._pool_size and self._client is not None:
            # Called from the caller's thread before any worker starts; the old client stays
            # usable by anyone still holding it.
            self._client = self._make_client(workers)
        return workers

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None
        self.index.close()

    @property
    def client(self) -> Any:
        """The boto3 S3 client (thread-safe, shared by all workers)."""
        if self._client is None:
            raise NotConnectedError(f"{self.name} is not connected; call connect() or use `with`")
        return self._client

    def _error(self, exc: BaseException, key: str | None = None) -> S3ExploreError:
        return translate(exc, bucket=self.bucket, key=key, endpoint_url=self.endpoint_url)

    def _call(self, operation: str, key: str | None = None, **kwargs: Any) -> Any:
        """One S3 request with retries on throttling and 5xx, errors translated."""
        method = getattr(self.client, operation)
        try:
            return call_with_retries(lambda: method(Bucket=self.bucket, **kwargs), self._retry,
                                     is_transient)
        except Exception as exc:
            raise self._error(exc, key) from exc

    # ------------------------------------------------------------ index delegation

    def count(self, criteria: dict | None = None) -> int:
        return self.index.count(criteria)

    def distinct(self, field: str, criteria: dict | None = None) -> list:
        return self.index.distinct(field, criteria)

    def groupby(self, keys, criteria=None, properties=None, sort=None, skip=0, limit=0):
        return self.index.groupby(keys, criteria, properties, sort, skip, limit)

    def ensure_index(self, key: str, unique: bool = False) -> bool:
        return self.index.ensure_index(key, unique)

    @property
    def last_updated(self) -> _dt.datetime:
        return self.index.last_updated

    def newer_in(self, target: Store, criteria: dict | None = None, exhaustive: bool = False):
        return self.index.newer_in(getattr(target, "index", target), criteria, exhaustive)

    # ------------------------------------------------------------ reads

    def _read_object(self, key: str) -> tuple[bytes, dict[str, str], Any, float]:
        start = time.perf_counter()

        def fetch() -> tuple[bytes, dict, Any]:
            response = self.client.get_object(Bucket=self.bucket,
                                              Key=codec.object_key(self.sub_dir, key))
            body = response["Body"].read()
            return body, response.get("Metadata", {}), response.get("LastModified")

        try:
            raw, metadata, modified = call_with_retries(fetch, self._retry, is_transient)
        except Exception as exc:
            raise self._error(exc, key) from exc
        return raw, metadata, modified, time.perf_counter() - start

    @staticmethod
    def _declared_compression(raw: bytes, metadata: Mapping[str, str]) -> str | None:
        if codec.KEYS_FIELD in metadata:  # written by maggma or us: metadata is authoritative
            return metadata.get("compression") or None
        return codec.sniff_compression(raw)

    def get_object(self, key: str | int) -> StoredObject:
        """Fetch, decompress and decode one object, with its sizes and fetch time."""
        key = codec.key_string(key, self.key)
        raw, metadata, _, seconds = self._read_object(key)
        compression = self._declared_compression(raw, metadata)
        plain = codec.decompress_bytes(raw, compression, key)
        doc = codec.unpack(plain, key)
        return StoredObject(key, doc, len(raw), len(plain), compression, seconds, dict(metadata))

    def get(self, key: str | int) -> dict:
        """The decoded document stored under ``key`` (``last_updated`` lives in the index)."""
        return self.get_object(key).doc

    def get_many(
        self, keys: Iterable[str | int], workers: int | None = None, on_missing: str = "skip"
    ) -> Iterator[dict | None]:
        """Fetch documents in parallel, yielded in the order of ``keys``."""
        return self._fetch_in_order(keys, lambda k: self.get(k), workers, on_missing,
                                    lambda k: k)

    def query(
        self,
        criteria: dict | None = None,
        properties: Properties = None,
        sort: Sort | None = None,
        skip: int = 0,
        limit: int = 0,
        *,
        workers: int | None = None,
        on_missing: str = "skip",
    ) -> Iterator[dict]:
        """Documents matching ``criteria`` in index order, fetched ``workers`` at a time.

        When every requested property is in a document's index entry, the answer comes from
        the index and S3 is not touched. A missing object is logged and skipped
        (``on_missing="raise"`` raises ObjectNotFoundError instead).
        """
        names = property_names(properties)
        entries = self.index.query(criteria, sort=sort, skip=skip, limit=limit)

        def load(entry: dict) -> Any:
            if names is not None and all(has_path(entry, n) for n in names):
                return project(entry, names)
            key = codec.key_string(entry[self.key], self.key)
            raw, *_ = self._read_object(key)
            if not self.unpack_data:
                return raw
            doc = codec.decode_body(raw, entry.get("compression"), key)
            if codec.LAST_UPDATED in entry:
                doc[codec.LAST_UPDATED] = entry[codec.LAST_UPDATED]
            return project(doc, names) if names is not None else doc

        return self._fetch_in_order(entries, load, workers, on_missing,
                                    lambda e: str(e.get(self.key)), skip_none=True)

    def _fetch_in_order(self, items, load, workers, on_missing, key_of, skip_none=False):
        if on_missing not in ON_MISSING:
            raise ConfigurationError(f"on_missing must be one of {ON_MISSING}, got {on_missing!r}")
        workers = self._workers(workers)
        self.client  # noqa: B018 -- fail now, not on the first item, when not connected
        for outcome in ordered_map(load, items, workers):
            if outcome.error is None:
                yield outcome.value
            elif isinstance(outcome.error, ObjectNotFoundError) and on_missing != "raise":
                logger.warning("no object for key %r in %s; skipped", key_of(outcome.item),
                               self.name)
                if on_missing == "none" and not skip_none:
                    yield None
            else:
                raise outcome.error

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
    ) -> UpdateResult:
        """Store documents: objects first, then their index entries in batches as they land.

        ``docs`` may be any iterable and is streamed. A document that cannot be stored
        (invalid, metadata too large, retries exhausted) is reported in the result's
        ``failures`` and the others still land; no index entry is ever written for an object
        that did not land. Rerunning the same update is idempotent.
        """
        if isinstance(docs, Mapping):
            docs = [docs]
        if isinstance(docs, (str, bytes)) or not isinstance(docs, Iterable):
            raise InvalidDocumentError(
                f"docs must be a dict or an iterable of dicts, not {type(docs).__name__}"
            )
        # maggma's field order: the key field(s), additional metadata, searchable fields
        fields = list(dict.fromkeys((_names(key, "key") or [self.key])
                                    + _names(additional_metadata, "additional_metadata")
                                    + self.searchable_fields))
        workers = self._workers(workers)
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ConfigurationError(f"chunk_size must be a whole number >= 1, got {chunk_size!r}")
        policy = self._retry if retries is None else RetryPolicy(attempts=retries)
        callback = as_callback(progress)
        self.client  # noqa: B018 -- raise NotConnectedError before consuming anything

        result = UpdateResult()
        started = time.perf_counter()
        callback.set_total(len(docs) if hasattr(docs, "__len__") else None)
        pending: list[dict] = []
        # Keys whose object may still be landing or whose entry is not written yet: a second
        # copy of one of these would race it. Finished keys leave, so memory stays flat.
        unsettled: set[str] = set()
        pending_keys: list[str] = []

        def flush() -> None:
            if not pending:
                return
            try:
                self.index.update(pending, key=self.key)
            except S3ExploreError as exc:
                error = StoreConnectionError(
                    f"{exc} ({len(pending)} objects landed in {self.name} without index "
                    "entries; rerun the update or run verify(repair=True))")
                error.result = result  # type: ignore[attr-defined]
                raise error from exc
            result.written += len(pending)
            pending.clear()
            unsettled.difference_update(pending_keys)
            pending_keys.clear()

        upload = self._uploader(fields, policy)
        try:
            keyed = self._keyed(docs, unsettled)
            for outcome in ordered_map(upload, keyed, workers, stop=cancel):
                key, doc = outcome.item
                if outcome.error is None:
                    entry, nbytes = outcome.value
                    pending.append(entry)
                    pending_keys.append(key)
                    result.bytes += nbytes
                    callback.advance(docs=1, nbytes=nbytes)
                    if len(pending) >= chunk_size:
                        flush()
                else:
                    if not isinstance(doc, Exception):  # its upload failed: settled
                        unsettled.discard(key)
                    result.failures.append(self._failure(key, outcome.error))
                    callback.advance(failed=1)
            flush()
        finally:
            result.cancelled = cancel is not None and cancel.is_set()
            result.seconds = time.perf_counter() - started
            callback.close()
        return result

    def _keyed(self, docs: Iterable[Any], unsettled: set[str]) -> Iterator[tuple[str | None, Any]]:
        """Pair each document with its key, or with the error that stops it (caller thread)."""
        for doc in docs:
            try:
                key = codec.doc_key(doc, self.key)
                codec.object_key(self.sub_dir, key)
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

    def _uploader(self, fields: list[str], policy: RetryPolicy) -> Callable:
        def upload(item: tuple[str | None, Any]) -> tuple[dict, int]:
            key, doc = item
            if isinstance(doc, Exception):
                raise doc
            entry = codec.index_document(doc, self.key, fields, self.sub_dir, self.compression)
            metadata = codec.metadata_document(entry)
            codec.check_metadata(metadata, self.metadata_limit, key)
            body = codec.encode_body(doc, self.compression, self.compression_level, key)
            self._put(key, body, metadata, policy)
            if codec.LAST_UPDATED in doc:
                entry[codec.LAST_UPDATED] = doc[codec.LAST_UPDATED]
            if self.store_hash:
                entry["obj_hash"] = codec.content_hash(body)
            return entry, len(body)

        return upload

    def _put(self, key: str, body: bytes, metadata: dict[str, str], policy: RetryPolicy) -> None:
        object_key = codec.object_key(self.sub_dir, key)
        if len(body) < MULTIPART_THRESHOLD:
            def send() -> Any:
                return self.client.put_object(Bucket=self.bucket, Key=object_key, Body=body,
                                              Metadata=metadata)
        else:
            def send() -> Any:
                return self.client.upload_fileobj(
                    io.BytesIO(body), self.bucket, object_key,
                    ExtraArgs={"Metadata": metadata}, Config=TransferConfig(use_threads=False))
        try:
            call_with_retries(send, policy, is_transient)
        except Exception as exc:
            raise self._error(exc, key) from exc

    @staticmethod
    def _failure(key: str | None, error: BaseException) -> Failure:
        if isinstance(error, S3ExploreError):
            return Failure(key, str(error), error)
        return Failure(key, f"{type(error).__name__}: {error}", error)

    def remove_docs(self, criteria: dict, remove_s3_object: bool = False) -> None:
        """Remove index entries (first) and, when asked, their objects."""
        criteria = check_criteria(criteria)
        keys = self.index.distinct(self.key, criteria) if remove_s3_object else []
        self.index.remove_docs(criteria)
        failed: list[str] = []
        for batch in iter_batches(keys, 1000):
            objects = [{"Key": codec.object_key(self.sub_dir, str(k))} for k in batch]
            response = self._call("delete_objects", Delete={"Objects": objects, "Quiet": True})
            failed += [e.get("Key", "?") for e in response.get("Errors", [])]
        if failed:
            raise S3RequestError(f"could not delete {len(failed)} objects from {self.name} "
                                 f"(first: {failed[:5]}); their index entries are gone already")
