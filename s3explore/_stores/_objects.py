"""Object I/O: one bucket, under one sub_dir, through one shared boto3 client.

The unit that ``S3Store.update``, maintenance and manifest-backed stores share: client
lifecycle, reads, puts, listing and deletes, each request retried on throttling and 5xx with
S3's errors turned into ours.
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from s3explore import _codec as codec
from s3explore._errors import (
    AccessDeniedError,
    ConfigurationError,
    NotConnectedError,
    S3ExploreError,
    S3RequestError,
)
from s3explore._s3client import (
    CONNECT_TIMEOUT,
    is_transient,
    make_client,
    redact_url,
    strip_userinfo,
    translate,
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
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ConfigurationError(f"timeout must be a positive number of seconds, got "
                                 f"{timeout!r} (20 by default; raise it for a slow link)")
    return float(timeout)


class ObjectIO:
    """Reads and writes the objects of ``bucket`` under ``sub_dir`` (keys are relative to it).

    The credentials (``s3_profile`` as a dict) stay private: never shown, never serialized.
    """

    def __init__(self, bucket: str, sub_dir: str | None = None, *,
                 s3_profile: str | Mapping | None = None, endpoint_url: str | None = None,
                 anonymous: bool = False, client_kwargs: Mapping | None = None,
                 workers: int = 4, retries: int = 5,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
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
        self.listing_refused = False  # no s3:ListBucket: updates confirm with HEADs only
        self._hashes: dict[tuple[str, str], str] = {}  # (key, ETag) -> SHA-1, see verify()
        # Sealed even in private attributes: vars(), debuggers and tracebacks show the marker.
        self.__profile = seal(s3_profile) if isinstance(s3_profile, Mapping) else s3_profile
        self.__client_kwargs = seal(dict(client_kwargs or {}))
        self._client: Any = None
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
        return {**self.__dict__, "_client": None, "_pool_size": 0, "_hashes": {}}

    # ------------------------------------------------------------ client lifecycle

    def connect(self, force_reset: bool = False) -> None:
        """Build the client and check the bucket is reachable."""
        if self._client is None or force_reset:
            client = self._make_client(self.workers)
            self._check_bucket(client)
            self._client = client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None

    @property
    def client(self) -> Any:
        """The boto3 S3 client (thread-safe, shared by all workers)."""
        if self._client is None:
            raise NotConnectedError(f"{self.name} is not connected; call connect() or use `with`")
        return self._client

    def _make_client(self, workers: int) -> Any:
        self._pool_size = workers
        profile = self.__profile
        return make_client(profile.unseal() if isinstance(profile, Sealed) else profile,
                           self.endpoint_url, workers, self.anonymous,
                           self.__client_kwargs.unseal(), connect_timeout=self.connect_timeout,
                           read_timeout=self.read_timeout)

    def with_workers(self, workers: int | None) -> int:
        """Validate a per-call worker count; grow the connection pool if it is larger."""
        workers = check_workers(self.workers if workers is None else workers)
        if workers > self._pool_size and self._client is not None:
            # Called from the caller's thread before any worker starts; the old client stays
            # usable by anyone still holding it.
            self._client = self._make_client(workers)
        return workers

    def _check_bucket(self, client: Any) -> None:
        try:
            call_with_retries(lambda: client.head_bucket(Bucket=self.bucket), self.retry,
                              is_transient)
            return
        except Exception as exc:
            error = self.error(exc)
            if not isinstance(error, AccessDeniedError):
                raise error from exc
        # HEAD answers a bare 403 for bad keys too; a GET's error body tells them apart.
        try:
            call_with_retries(lambda: client.list_objects_v2(Bucket=self.bucket, MaxKeys=1),
                              self.retry, is_transient)
        except Exception as exc:
            raise self.error(exc) from exc

    # ------------------------------------------------------------ requests

    def error(self, exc: BaseException, key: str | None = None) -> S3ExploreError:
        return translate(exc, bucket=self.bucket, key=key, endpoint_url=self.endpoint_url,
                         timeouts=(self.connect_timeout, self.read_timeout))

    def call(self, operation: str, key: str | None = None, **kwargs: Any) -> Any:
        """One S3 request on this bucket, retried on throttling and 5xx, errors translated."""
        method = getattr(self.client, operation)
        try:
            return call_with_retries(lambda: method(Bucket=self.bucket, **kwargs), self.retry,
                                     is_transient)
        except Exception as exc:
            raise self.error(exc, key) from exc

    def object_key(self, key: str) -> str:
        return codec.object_key(self.sub_dir, key)

    def read(self, key: str) -> tuple[bytes, dict[str, str], Any, float]:
        """``(body, metadata, last_modified, seconds)`` of the object under ``key``."""
        start = time.perf_counter()
        object_key = self.object_key(key)

        def fetch() -> tuple[bytes, dict, Any]:
            response = self.client.get_object(Bucket=self.bucket, Key=object_key)
            body = response["Body"].read()
            return body, response.get("Metadata", {}), response.get("LastModified")

        try:
            raw, metadata, modified = call_with_retries(fetch, self.retry, is_transient)
        except Exception as exc:
            raise self.error(exc, key) from exc
        note_size(len(raw))
        return raw, metadata, modified, time.perf_counter() - start

    def read_doc(self, key: str, compression: str | None = AUTO, decode: bool = True,
                 hash_body: bool = False) -> Fetched:
        """Read and decode the object under ``key`` as it downloads (the compressed body and
        its decompressed copy are never held whole). ``compression``: as recorded in the
        index entry, or ``AUTO``. ``hash_body``: also compute the body's SHA-1 (obj_hash)."""
        start = time.perf_counter()
        object_key = self.object_key(key)

        def fetch() -> Fetched:
            response = self.client.get_object(Bucket=self.bucket, Key=object_key)
            stream = response["Body"]
            try:
                metadata = response.get("Metadata", {})
                hasher = hashlib.sha1() if hash_body else None
                raw = codec.CountingReader(stream, hasher)
                source: Any = raw
                declared = compression
                if declared == AUTO:
                    head = raw.read(4)
                    declared = declared_compression(head, metadata)
                    source = codec.PrefixedReader(head, raw)
                doc, plain = codec.decode_stream(source, declared, key, decode)
                if hasher is not None:  # bytes after the document still belong to the body
                    while raw.read(1 << 20):
                        pass
            finally:
                stream.close()
            note_size(plain)
            return Fetched(key, doc, metadata, response.get("LastModified"),
                           response.get("ETag"), raw.count, plain, declared,
                           time.perf_counter() - start,
                           hasher.hexdigest() if hasher is not None else None)

        try:
            return call_with_retries(fetch, self.retry, is_transient)
        except Exception as exc:
            raise self.error(exc, key) from exc

    def head(self, key: str) -> dict[str, Any]:
        """The object's HEAD answer (ETag, LastModified, Metadata, ContentLength)."""
        return self.call("head_object", key, Key=self.object_key(key))

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
        each retried on its own, aborted if the body cannot be finished.
        """
        object_key = self.object_key(key)
        policy = policy or self.retry
        hashes = codec.BodyDigest(PART_SIZE)

        def request(fn: Any) -> Any:
            try:
                return call_with_retries(fn, policy, is_transient)
            except Exception as exc:
                raise self.error(exc, key) from exc

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
                answer = request(lambda: self.client.put_object(
                    Bucket=self.bucket, Key=object_key, Body=body, Metadata=metadata))
            else:
                answer = self._upload_parts(object_key, spool, metadata, request)
        return answer.get("ETag"), hashes.size, hashes.sha1

    def _upload_parts(self, object_key: str, spool: Any, metadata: dict[str, str],
                      request: Any) -> dict:
        upload_id = request(lambda: self.client.create_multipart_upload(
            Bucket=self.bucket, Key=object_key, Metadata=metadata))["UploadId"]
        try:
            parts: list[dict] = []
            for number, data in enumerate(iter(lambda: spool.read(PART_SIZE), b""), 1):
                answer = request(lambda data=data, number=number: self.client.upload_part(
                    Bucket=self.bucket, Key=object_key, UploadId=upload_id,
                    PartNumber=number, Body=data))
                parts.append({"PartNumber": number, "ETag": answer["ETag"]})
            return request(lambda: self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=object_key, UploadId=upload_id,
                MultipartUpload={"Parts": parts}))
        except BaseException:
            with contextlib.suppress(Exception):  # the original error matters more
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=object_key,
                                                   UploadId=upload_id)
            raise

    def hash_body(self, key: str) -> tuple[str | None, str]:
        """``(ETag, SHA-1)`` of the object's body, streamed (never held whole)."""
        object_key = self.object_key(key)

        def fetch() -> tuple[str | None, str]:
            response = self.client.get_object(Bucket=self.bucket, Key=object_key)
            stream, hasher = response["Body"], hashlib.sha1()
            try:
                for chunk in iter(lambda: stream.read(1 << 20), b""):
                    hasher.update(chunk)
            finally:
                stream.close()
            return response.get("ETag"), hasher.hexdigest()

        try:
            return call_with_retries(fetch, self.retry, is_transient)
        except Exception as exc:
            raise self.error(exc, key) from exc

    def known_hash(self, key: str, etag: str | None) -> str | None:
        """The SHA-1 of the body under ``key`` if this store hashed it at this ETag."""
        return None if etag is None else self._hashes.get((key, etag))

    def remember_hash(self, key: str, etag: str, sha1: str) -> None:
        # An object with the same key and ETag has the same bytes, so the SHA-1 stays true
        # for as long as S3 reports that ETag. Bounded: forgotten wholesale past the limit.
        if len(self._hashes) >= HASH_MEMORY:
            self._hashes.clear()
        self._hashes[(key, etag)] = sha1

    def _listed(self, max_pages: int | None = None, **kwargs: Any) -> Iterator[dict]:
        """The ``Contents`` entries of a listing under the sub_dir, page by page (at most
        ``max_pages`` requests); ``kwargs`` go to ``list_objects_v2``."""
        kwargs["Prefix"] = self.sub_dir
        pages = 0
        while max_pages is None or pages < max_pages:
            page = self.call("list_objects_v2", **kwargs)
            pages += 1
            yield from page.get("Contents", [])
            if not page.get("IsTruncated"):
                return
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

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
        for obj in self._listed(max_pages, StartAfter=first[:-1],
                                MaxKeys=min(1000, 2 * len(wanted) + 8)):
            if obj["Key"] > last:
                break
            if obj["Key"] in wanted:
                found[wanted[obj["Key"]]] = obj.get("ETag")
        return found

    def listing(self) -> Iterator[tuple[str, str | None, int]]:
        """``(key, ETag, size)`` for every object under the sub_dir, page by page."""
        for obj in self._listed():
            yield obj["Key"][len(self.sub_dir):], obj.get("ETag"), obj.get("Size", 0)

    def list(self) -> Iterator[tuple[str, Any]]:
        """``(key, last_modified)`` for every object under the sub_dir, page by page."""
        for obj in self._listed():
            yield obj["Key"][len(self.sub_dir):], obj.get("LastModified")

    def delete(self, keys: Iterable[str]) -> None:
        """Delete objects, 1,000 per request; raises naming the keys S3 would not delete."""
        failed: list[str] = []
        for batch in iter_batches(keys, 1000):
            objects = [{"Key": self.object_key(k)} for k in batch]
            response = self.call("delete_objects", Delete={"Objects": objects, "Quiet": True})
            failed += [e.get("Key", "?") for e in response.get("Errors", [])]
        if failed:
            raise S3RequestError(f"could not delete {len(failed)} objects from {self.name} "
                                 f"(first: {failed[:5]})")
