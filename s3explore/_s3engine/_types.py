"""What every request engine speaks: named operations on one bucket, small answers.

An engine is one module (httpx's transports are the model): it turns these operations into
requests and raises ``EngineError`` (or a botocore error) with S3's error code when they
fail. Retries, key paths and error translation live above it, in ``ObjectIO``.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ObjectInfo:
    """One object as an answer describes it. ``metadata`` is None where the answer carries
    none (listings)."""

    key: str
    etag: str | None = None
    size: int = 0
    last_modified: Any = None
    metadata: dict[str, str] | None = None


@dataclass(frozen=True)
class ListPage:
    """One page of a listing: objects, common prefixes (with a delimiter), and the token
    of the next page (None on the last)."""

    objects: list[ObjectInfo] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    next_token: str | None = None


class Download(Protocol):
    """A body being read: ``info`` (with metadata) and ``read(n)`` until it gives b""."""

    info: ObjectInfo

    def read(self, size: int = -1) -> bytes: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class EngineSettings:
    """What an engine is built from, resolved by the S3 client layer from boto3's settings.

    ``profile``: a profile name, a dict of boto3.Session arguments, or None (defaults);
    ``client_kwargs``: boto3 client arguments (``region_name``, ``config``, ...).
    """

    bucket: str
    profile: str | Mapping[str, Any] | None = None
    endpoint_url: str | None = None
    anonymous: bool = False
    client_kwargs: Mapping[str, Any] = field(default_factory=dict)
    pool_size: int = 10
    connect_timeout: float = 5.0
    read_timeout: float = 10.0


class Engine(abc.ABC):
    """Requests on one bucket. Thread-safe: one engine serves every worker thread.
    ``client``: a boto3 S3 client with the same settings (``S3Store.client``)."""

    name = "engine"
    client: Any

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self.bucket = settings.bucket

    @abc.abstractmethod
    def head_bucket(self) -> None:
        """Raise when the bucket cannot be reached (absent, refused, unreachable)."""

    @abc.abstractmethod
    def get(self, key: str, byte_range: tuple[int, int] | None = None) -> Download:
        """Start reading ``key`` (``byte_range``: first and last byte, inclusive)."""

    @abc.abstractmethod
    def head(self, key: str) -> ObjectInfo:
        """The object's ETag, size, date and metadata, without its body."""

    @abc.abstractmethod
    def put(self, key: str, body: bytes, metadata: Mapping[str, str], *,
            if_none_match: bool = False, if_match: str | None = None) -> str | None:
        """Store ``body``; the new ETag. ``if_none_match``: only if ``key`` is absent;
        ``if_match``: only if its ETag is that one (S3's conditional writes)."""

    @abc.abstractmethod
    def put_parts(self, key: str, parts: Any, metadata: Mapping[str, str]) -> str | None:
        """A multipart upload of the bodies ``parts`` yields, in order; the new ETag.
        Aborted if any part fails."""

    @abc.abstractmethod
    def list(self, prefix: str, *, start_after: str | None = None) -> Iterator[ObjectInfo]:
        """The objects under ``prefix`` ("" or ending in "/") after ``start_after``, in
        S3's (UTF-8 byte) order, page by page as the caller iterates."""

    @abc.abstractmethod
    def list_folders(self, prefix: str, max_keys: int = 1000) -> ListPage:
        """One page of the objects and common prefixes directly under ``prefix``."""

    @abc.abstractmethod
    def copy(self, key: str, source_key: str, metadata: Mapping[str, str] | None) -> None:
        """Copy ``source_key`` to ``key`` within the bucket, its metadata replaced by
        ``metadata`` (kept when None)."""

    @abc.abstractmethod
    def delete(self, keys: Sequence[str]) -> list[str]:
        """Delete up to 1,000 keys in one request; the keys S3 would not delete."""

    def close(self) -> None:  # noqa: B027 -- engines without connections need nothing
        """Release connections."""
