"""Object I/O: one bucket, under one sub_dir, through one shared boto3 client.

The unit that ``S3Store.update``, maintenance and manifest-backed stores share: client
lifecycle, reads, puts, listing and deletes, each request retried on throttling and 5xx with
S3's errors turned into ours.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from boto3.s3.transfer import TransferConfig

from s3explore import _codec as codec
from s3explore._errors import (
    AccessDeniedError,
    ConfigurationError,
    NotConnectedError,
    S3ExploreError,
    S3RequestError,
)
from s3explore._s3client import is_transient, make_client, redact_url, strip_userinfo, translate
from s3explore._stores._config import seal
from s3explore._transfer import RetryPolicy, call_with_retries, check_workers, iter_batches

MULTIPART_THRESHOLD = 64 * 1024 * 1024


class ObjectIO:
    """Reads and writes the objects of ``bucket`` under ``sub_dir`` (keys are relative to it).

    The credentials (``s3_profile`` as a dict) stay private: never shown, never serialized.
    """

    def __init__(self, bucket: str, sub_dir: str | None = None, *,
                 s3_profile: str | Mapping | None = None, endpoint_url: str | None = None,
                 anonymous: bool = False, client_kwargs: Mapping | None = None,
                 workers: int = 4, retries: int = 5) -> None:
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
        self.retry = RetryPolicy(attempts=retries)
        self.__profile = s3_profile
        self.__client_kwargs = dict(client_kwargs or {})
        self._client: Any = None
        self._pool_size = 0

    @property
    def profile_name(self) -> str | None:
        """The profile name; a dict of credentials is not given back."""
        return self.__profile if isinstance(self.__profile, str) else None

    def sealed_settings(self) -> tuple[Any, Any]:
        """``(s3_profile, client_kwargs)`` for ``as_dict``: inline credentials sealed."""
        profile = self.__profile
        return (seal(profile) if isinstance(profile, Mapping) else profile,
                seal(self.__client_kwargs) if self.__client_kwargs else {})

    @property
    def name(self) -> str:
        return f"s3://{self.bucket}/{self.sub_dir}"

    def __getstate__(self) -> dict[str, Any]:
        # clients do not travel; connect() rebuilds one in the receiving process
        return {**self.__dict__, "_client": None, "_pool_size": 0}

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
        return make_client(self.__profile, self.endpoint_url, workers, self.anonymous,
                           self.__client_kwargs)

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
        return translate(exc, bucket=self.bucket, key=key, endpoint_url=self.endpoint_url)

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
        return raw, metadata, modified, time.perf_counter() - start

    def put(self, key: str, body: bytes, metadata: dict[str, str],
            policy: RetryPolicy | None = None) -> None:
        object_key = self.object_key(key)
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
            call_with_retries(send, policy or self.retry, is_transient)
        except Exception as exc:
            raise self.error(exc, key) from exc

    def list(self) -> Iterator[tuple[str, Any]]:
        """``(key, last_modified)`` for every object under the sub_dir, page by page."""
        kwargs: dict[str, Any] = {"Prefix": self.sub_dir}
        while True:
            page = self.call("list_objects_v2", **kwargs)
            for obj in page.get("Contents", []):
                yield obj["Key"][len(self.sub_dir):], obj.get("LastModified")
            if not page.get("IsTruncated"):
                return
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

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
