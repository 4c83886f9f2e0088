"""Object I/O: one bucket, under one sub_dir, through one request engine.

The unit that ``S3Store.update``, maintenance and manifest-backed stores share: engine
lifecycle, reads, puts, listing and deletes, each request retried on throttling and 5xx with
S3's errors turned into ours (``request``, the one wrapper). The engine (``_s3engine``) sends
the requests: obstore by default, boto3 on request.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from s3explore import _codec as codec
from s3explore._checks import DEFAULT_WORKERS, positive_number
from s3explore._errors import (
    ConfigurationError,
    NotConnectedError,
    S3ExploreError,
    S3RequestError,
)
from s3explore._s3client import (
    CONNECT_TIMEOUT,
    is_transient,
    make_resource,
    redact_url,
    strip_userinfo,
    translate,
)
from s3explore._s3engine import (
    DEFAULT_ENGINE,
    Engine,
    EngineSettings,
    ObjectInfo,
    check_engine,
    make_engine,
)
from s3explore._stores._config import Sealed, seal
from s3explore._transfer import (
    RetryPolicy,
    call_with_retries,
    check_workers,
    iter_batches,
    note_size,
)

# What s3explore publishes beside the documents of a sub_dir (s3explore.open reads them); they
# are not documents, so maintenance neither indexes nor reports them.
MANIFEST_JSONL = "manifest.jsonl"
MANIFEST_PARQUET = "manifest.parquet"
MANIFEST_NAMES = (MANIFEST_PARQUET, MANIFEST_JSONL)
# Bodies up to this size go in one PutObject (one ETag = their MD5, as maggma writes them);
# larger ones in a multipart upload of PART_SIZE parts, spooled to disk, never held whole.
MULTIPART_THRESHOLD = 16 * 1024 * 1024
PART_SIZE = 8 * 1024 * 1024
DEFAULT_TIMEOUT = 20.0  # seconds one request may take, retries included
# query()/get_many() read ahead at most this many decoded bytes (and 2 x workers documents).
READ_AHEAD_BYTES = 64 * 1024 * 1024
HASH_MEMORY = 1_000_000  # (key, ETag) -> SHA-1 pairs kept for verify(), about 200 MB at most
AUTO = "auto"  # compression: from the object's metadata, else sniffed from its first bytes


@dataclass
class Fetched:
    """One object read and decoded: the document and what came with it."""

    key: str
    doc: Any
    metadata: dict[str, str]
    last_modified: Any
    etag: str | None
    stored_size: int
    decoded_size: int
    compression: str | None
    seconds: float
    sha1: str | None = field(default=None, repr=False)


def declared_compression(head: bytes, metadata: Mapping[str, str]) -> str | None:
    """The compression of a body: its metadata says (maggma's or ours), else its first bytes."""
    if codec.KEYS_FIELD in metadata:
        return metadata.get("compression") or None
    return codec.sniff_compression(head)


def check_timeout(timeout: Any) -> float:
    return float(positive_number(timeout, "timeout",
                                 hint=" (20 by default; raise it for a slow link)"))


class ObjectIO:
    """Reads and writes the objects of ``bucket`` under ``sub_dir`` (keys are relative to it).

    The credentials (``s3_profile`` as a dict) stay private: never shown, never serialized.
    """

    def __init__(self, bucket: str, sub_dir: str | None = None, *,
                 s3_profile: str | Mapping | None = None, endpoint_url: str | None = None,
                 anonymous: bool = False, client_kwargs: Mapping | None = None,
                 workers: int = DEFAULT_WORKERS, retries: int = 5,
                 timeout: float = DEFAULT_TIMEOUT, engine: str = DEFAULT_ENGINE) -> None:
        if not isinstance(bucket, str) or not bucket:
            raise ConfigurationError(f"bucket must be a non-empty string, got {bucket!r}")
        if endpoint_url is not None and not (
                isinstance(endpoint_url, str) and endpoint_url.startswith(("http://", "https://"))):
            raise ConfigurationError("endpoint_url must start with http:// or https://, "
                                     f"got {redact_url(str(endpoint_url))!r}")
        if s3_profile is not None and not isinstance(s3_profile, (str, Mapping)):
            raise ConfigurationError("s3_profile must be a profile name, a dict of "
                                     f"boto3.Session arguments or None, got "
                                     f"{type(s3_profile).__name__}")
        self.bucket = bucket
        self.sub_dir = codec.normalize_sub_dir(sub_dir)
        # S3 never uses user:password@ in the URL; dropping it keeps it out of every message.
        self.endpoint_url = strip_userinfo(endpoint_url)
        self.anonymous = bool(anonymous)
        self.workers = check_workers(workers, "s3_workers")
        # A dead endpoint is reported after about ``timeout`` s: each attempt waits at most
        # half of it for an answer, and no retry starts once ``timeout`` has passed.
        self.timeout = check_timeout(timeout)
        self.connect_timeout = min(CONNECT_TIMEOUT, self.timeout / 2)
        self.read_timeout = self.timeout / 2
        self.retry = RetryPolicy(attempts=retries, deadline=self.timeout)
        self.read_ahead_bytes = READ_AHEAD_BYTES
        self.max_decoded_bytes: int | None = None  # per object; None: codec.max_decoded_bytes()
        self.listing_refused = False  # no s3:ListBucket: updates confirm with HEADs only
        self._hashes: dict[tuple[str, str], str] = {}  # (key, ETag) -> SHA-1, see verify()
        # Sealed even in private attributes: vars(), debuggers and tracebacks show the marker.
        self.__profile = seal(s3_profile) if isinstance(s3_profile, Mapping) else s3_profile
        self.__client_kwargs = seal(dict(client_kwargs or {}))
        self.engine_name = check_engine(engine)
        self._engine: Engine | None = None
        self._bucket_resource: Any = None
        self._pool_size = 0

    @property
    def profile_name(self) -> str | None:
        """The profile name; a dict of credentials is not given back."""
        return self.__profile if isinstance(self.__profile, str) else None

    def sealed_settings(self) -> tuple[Any, Any]:
        """``(s3_profile, client_kwargs)`` for ``as_dict``: inline credentials sealed."""
        return self.__profile, self.__client_kwargs if self.__client_kwargs.unseal() else {}

    @property
    def name(self) -> str:
        return f"s3://{self.bucket}/{self.sub_dir}"

    def __getstate__(self) -> dict[str, Any]:
        # clients do not travel; connect() rebuilds one in the receiving process
        return {**self.__dict__, "_engine": None, "_pool_size": 0, "_hashes": {},
                "_bucket_resource": None}

    # ------------------------------------------------------------ engine lifecycle

    def connect(self, force_reset: bool = False) -> None:
        """Build the engine and check the bucket is reachable."""
        if self._engine is None or force_reset:
            engine = self._make_engine(self.workers)
            try:
                self.request(engine.head_bucket)
            except BaseException:
                engine.close()
                raise
            self._engine = engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
        self._engine = self._bucket_resource = None

    @property
    def engine(self) -> Engine:
        """The request engine (thread-safe, shared by all workers)."""
        if self._engine is None:
            raise NotConnectedError(f"{self.name} is not connected; call connect() or use `with`")
        return self._engine

    @property
    def client(self) -> Any:
        """A boto3 S3 client for this store's endpoint and credentials (thread-safe)."""
        return self.engine.client

    def bucket_resource(self) -> Any:
        """A boto3 ``Bucket`` resource for this bucket (maggma's ``S3Store.s3_bucket``), built
        on first use. boto3 resources are not thread-safe: use it from one thread."""
        if self._bucket_resource is None:
            self.engine  # noqa: B018 -- raise NotConnectedError first
            profile = self.__profile
            self._bucket_resource = make_resource(
                profile.unseal() if isinstance(profile, Sealed) else profile,
                self.endpoint_url, self.anonymous, self.__client_kwargs.unseal()
            ).Bucket(self.bucket)
        return self._bucket_resource

    def _make_engine(self, workers: int) -> Engine:
        self._pool_size = workers
        profile = self.__profile
        settings = EngineSettings(
            self.bucket, profile.unseal() if isinstance(profile, Sealed) else profile,
            self.endpoint_url, self.anonymous, self.__client_kwargs.unseal(), workers,
            self.connect_timeout, self.read_timeout)
        try:
            return make_engine(self.engine_name, settings)
        except Exception as exc:
            raise self.error(exc) from exc

    def with_workers(self, workers: int | None) -> int:
        """Validate a per-call worker count; grow the connection pool if it is larger."""
        workers = check_workers(self.workers if workers is None else workers)
        if workers > self._pool_size and self._engine is not None:
            # Called from the caller's thread before any worker starts; the old engine stays
            # usable by anyone still holding it.
            self._engine = self._make_engine(workers)
        return workers

    # ------------------------------------------------------------ requests

    def error(self, exc: BaseException, key: str | None = None) -> S3ExploreError:
        return translate(exc, bucket=self.bucket, key=key, endpoint_url=self.endpoint_url,
                         timeouts=(self.connect_timeout, self.read_timeout))

    def request(self, fn: Any, *args: Any, key: str | None = None,
                policy: RetryPolicy | None = None, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``, retried on throttling, 5xx and dropped connections, its
        errors turned into ours (naming ``key``): the one wrapper every request goes through."""
        try:
            return call_with_retries(lambda: fn(*args, **kwargs), policy or self.retry,
                                     is_transient)
        except Exception as exc:
            raise self.error(exc, key) from exc

    def object_key(self, key: str) -> str:
        return codec.object_key(self.sub_dir, key)

    def read(self, key: str) -> tuple[bytes, dict[str, str], Any, float]:
        """``(body, metadata, last_modified, seconds)`` of the object under ``key``, held
        whole: a body larger than ``max_decoded_bytes`` is refused before it is read."""
        start = time.perf_counter()
        raw, info = self.read_whole(key)
        return raw, info.metadata or {}, info.last_modified, time.perf_counter() - start

    def read_whole(self, key: str) -> tuple[bytes, ObjectInfo]:
        """The body under ``key``, held whole, and what its GET said of it (its ETag, size
        and metadata); a body larger than ``max_decoded_bytes`` is refused before it is
        read, naming the key."""
        object_key = self.object_key(key)
        limit = codec.max_decoded_bytes(self.max_decoded_bytes)

        def fetch() -> tuple[bytes, ObjectInfo]:
            download = self.engine.get(object_key)
            try:
                if download.info.size > limit:
                    raise codec.too_large(key, limit)
                return download.read(), download.info
            finally:
                download.close()

        raw, info = self.request(fetch, key=key)
        note_size(len(raw))
        return raw, info

    def read_range_info(self, key: str, first: int, last: int) -> ObjectInfo:
        """What a GET of bytes ``first`` to ``last`` (inclusive) of the object under ``key``
        tells of it (its ETag and whole size; some endpoints answer an anonymous GET where
        they refuse a HEAD). The bytes are dropped."""
        def fetch() -> ObjectInfo:
            download = self.engine.get(self.object_key(key), (first, last))
            download.close()
            return download.info

        return self.request(fetch, key=key)

    def read_doc(self, key: str, compression: str | None = AUTO, decode: bool = True,
                 hash_body: bool = False) -> Fetched:
        """Read and decode the object under ``key`` as it downloads (the compressed body and
        its decompressed copy are never held whole). ``compression``: as recorded in the
        index entry, or ``AUTO``. ``hash_body``: also compute the body's SHA-1 (obj_hash)."""
        start = time.perf_counter()
        object_key = self.object_key(key)

        def fetch() -> Fetched:
            download = self.engine.get(object_key)
            try:
                metadata = download.info.metadata or {}
                hasher = hashlib.sha1() if hash_body else None
                raw = codec.CountingReader(download, hasher)
                source: Any = raw
                declared = compression
                if declared == AUTO:
                    head = raw.read(4)
                    declared = declared_compression(head, metadata)
                    source = codec.PrefixedReader(head, raw)
                doc, plain = codec.decode_stream(source, declared, key, decode,
                                                 self.max_decoded_bytes)
                if hasher is not None:  # bytes after the document still belong to the body
                    while raw.read(1 << 20):
                        pass
            finally:
                download.close()
            note_size(plain)
            info = download.info
            return Fetched(key, doc, metadata, info.last_modified, info.etag, raw.count, plain,
                           declared, time.perf_counter() - start,
                           hasher.hexdigest() if hasher is not None else None)

        return self.request(fetch, key=key)

    def stat(self, key: str) -> ObjectInfo:
        """The object's ETag, size, date and metadata (one HEAD)."""
        return self.request(self.engine.head, self.object_key(key), key=key)

    def put(self, key: str, body: bytes, metadata: dict[str, str],
            policy: RetryPolicy | None = None) -> str | None:
        """Store ``body`` under ``key``; returns the new object's ETag."""
        return self.put_chunks(key, iter((body,)), metadata, policy)[0]

    def put_chunks(self, key: str, chunks: Iterator[bytes], metadata: dict[str, str],
                   policy: RetryPolicy | None = None,
                   digest: bool = False) -> tuple[str | None, int, str]:
        """Store the body that ``chunks`` yields: ``(ETag, size, SHA-1)``.

        The body is spooled (in memory up to MULTIPART_THRESHOLD, then to a temporary file),
        so it is never held whole in memory and its SHA-1 and ETag are known before the
        upload starts: ``digest=True`` adds them to the metadata (``_codec._digest``). Up to
        the threshold it is one PutObject; beyond, a multipart upload of PART_SIZE parts,
        aborted if the body cannot be finished (the whole upload is tried again).
        """
        object_key = self.object_key(key)
        hashes = codec.BodyDigest(PART_SIZE)
        with tempfile.SpooledTemporaryFile(max_size=MULTIPART_THRESHOLD) as spool:
            for chunk in chunks:
                hashes.update(chunk)
                spool.write(chunk)
            spool.seek(0)
            multipart = hashes.size > MULTIPART_THRESHOLD
            if digest:
                metadata = {**metadata, **hashes.metadata(multipart)}
            if not multipart:
                body = spool.read()
                etag = self.request(self.engine.put, object_key, body, metadata, key=key,
                                    policy=policy)
            else:
                def upload() -> str | None:
                    spool.seek(0)
                    parts = iter(lambda: spool.read(PART_SIZE), b"")
                    return self.engine.put_parts(object_key, parts, metadata)

                etag = self.request(upload, key=key, policy=policy)
        return etag, hashes.size, hashes.sha1

    def hash_body(self, key: str) -> tuple[str | None, str]:
        """``(ETag, SHA-1)`` of the object's body, streamed (never held whole)."""
        object_key = self.object_key(key)

        def fetch() -> tuple[str | None, str]:
            download, hasher = self.engine.get(object_key), hashlib.sha1()
            try:
                for chunk in iter(lambda: download.read(1 << 20), b""):
                    hasher.update(chunk)
            finally:
                download.close()
            return download.info.etag, hasher.hexdigest()

        return self.request(fetch, key=key)

    def known_hash(self, key: str, etag: str | None) -> str | None:
        """The SHA-1 of the body under ``key`` if this store hashed it at this ETag."""
        return None if etag is None else self._hashes.get((key, etag))

    def remember_hash(self, key: str, etag: str, sha1: str) -> None:
        # An object with the same key and ETag has the same bytes, so the SHA-1 stays true
        # for as long as S3 reports that ETag. Bounded: forgotten wholesale past the limit.
        if len(self._hashes) >= HASH_MEMORY:
            self._hashes.clear()
        self._hashes[(key, etag)] = sha1

    def listed_objects(self, *, start_after: str | None = None,
                       limit: int | None = None) -> Iterator[ObjectInfo]:
        """The objects under the sub_dir after ``start_after`` (keys as S3 has them,
        sub_dir included), at most ``limit``, fetched page by page as they are iterated.
        A page that fails is retried: the listing goes on after the last key it gave."""
        last, given, failures, started = start_after, 0, 0, time.monotonic()
        policy = self.retry
        while True:
            try:
                for info in self.engine.list(self.sub_dir, start_after=last):
                    if limit is not None and given >= limit:
                        return
                    yield info
                    last, given = info.key, given + 1
                return
            except Exception as exc:
                failures += 1
                delay = policy.delay(failures - 1)
                if (failures >= policy.attempts or not is_transient(exc) or (
                        policy.deadline is not None
                        and time.monotonic() - started + delay >= policy.deadline)):
                    raise self.error(exc) from exc
                time.sleep(delay)

    def listed_folders(self, max_keys: int = 1000) -> tuple[list[ObjectInfo], list[str]]:
        """One page of objects and common prefixes ("folders") directly under the sub_dir."""
        page = self.request(self.engine.list_folders, self.sub_dir, max_keys)
        return page.objects, page.prefixes

    def copy(self, key: str, metadata: dict[str, str] | None = None, *,
             to: str | None = None) -> None:
        """Copy the object under ``key`` with its metadata replaced by ``metadata`` (kept
        when None): in place, or to the object key ``to`` (a full key, anywhere in the
        bucket)."""
        source = self.object_key(key)
        self.request(self.engine.copy, source if to is None else to, source, metadata, key=key)

    def listed_etags(self, keys: Iterable[str], max_pages: int) -> dict[str, str | None]:
        """ETags of those ``keys`` a listing of their key range finds, in at most
        ``max_pages`` requests of twice as many keys as asked for: for a batch of
        neighbouring keys, one LIST instead of a HEAD each. Keys not found (absent, or
        beyond the pages) are left out."""
        wanted = {self.object_key(k): k for k in keys}
        if not wanted:
            return {}
        first, last = min(wanted), max(wanted)
        # S3 lists in UTF-8 byte order, which is code point order; StartAfter is exclusive.
        # Pages no longer than the batch needs: each listed entry costs parsing.
        found: dict[str, str | None] = {}
        for obj in self.listed_objects(start_after=first[:-1],
                                       limit=max_pages * min(1000, 2 * len(wanted) + 8)):
            if obj.key > last:
                break
            if obj.key in wanted:
                found[wanted[obj.key]] = obj.etag
        return found

    def listing(self) -> Iterator[tuple[str, str | None, int]]:
        """``(key, ETag, size)`` for every object under the sub_dir, page by page."""
        for obj in self.listed_objects():
            yield obj.key[len(self.sub_dir):], obj.etag, obj.size

    def list(self) -> Iterator[tuple[str, Any]]:
        """``(key, last_modified)`` for every object under the sub_dir, page by page."""
        for obj in self.listed_objects():
            yield obj.key[len(self.sub_dir):], obj.last_modified

    def delete(self, keys: Iterable[str]) -> None:
        """Delete objects, 1,000 per request; raises naming the keys S3 would not delete."""
        failed: list[str] = []
        for batch in iter_batches(keys, 1000):
            failed += self.request(self.engine.delete, [self.object_key(k) for k in batch])
        if failed:
            raise S3RequestError(f"could not delete {len(failed)} objects from {self.name} "
                                 f"(first: {failed[:5]})")
