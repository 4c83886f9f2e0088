"""The obstore engine: GET, PUT and HEAD through Apache Arrow's Rust ``object_store``.

obstore sends a request without holding the interpreter lock, so worker threads wait on the
network in parallel while Python decodes, at about a tenth of boto3's CPU per request.
boto3 still resolves credentials, region and endpoint (profiles, ``~/.aws``, environment),
and a boto3 engine beside this one serves what obstore does not do the S3 way: listings
(exact keys, ``StartAfter``), copies with replaced metadata, multipart uploads (their
part sizes fix the ETag s3explore records), bulk deletes, the bucket check, and keys that
obstore's paths cannot hold as they are (empty segments, a trailing ``/``, control
characters).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from s3explore._errors import ConfigurationError
from s3explore._s3client import EngineError, make_session
from s3explore._s3engine._boto import BotoEngine
from s3explore._s3engine._types import Engine, EngineSettings, ListPage, ObjectInfo

# Attributes object_store reads from HTTP headers of its own; every other one is metadata.
_STANDARD = frozenset({"Content-Type", "Content-Disposition", "Content-Encoding",
                       "Content-Language", "Cache-Control"})
# Keys object_store's paths would refuse or rewrite: empty, "." and ".." segments, a
# leading or trailing "/", control characters. They go through boto3, as they are.
_UNSAFE_KEY = re.compile(r"(^/|//|/$|(^|/)\.\.?(/|$)|[\x00-\x1f\x7f])")
CHUNK = 1 << 18  # bytes a streamed body is handed over in
WHOLE = 4 << 20  # bodies up to this size are read in one call


def _resolved(settings: EngineSettings) -> dict[str, Any]:
    """obstore's S3Store arguments from boto3's view of the profile and settings."""
    kwargs = settings.client_kwargs
    session = make_session(settings.profile)
    # as boto3 resolves them: client arguments first, then the session (profile, files, env)
    config: dict[str, Any] = {
        "region": kwargs.get("region_name") or session.region_name or "us-east-1"}
    if settings.endpoint_url:
        config["endpoint"] = settings.endpoint_url
        config["virtual_hosted_style_request"] = False  # MinIO and most servers: path-style
    if settings.anonymous:
        config["skip_signature"] = True
        return config
    if kwargs.get("aws_access_key_id"):
        config["access_key_id"] = kwargs["aws_access_key_id"]
        config["secret_access_key"] = kwargs.get("aws_secret_access_key", "")
        if kwargs.get("aws_session_token"):
            config["session_token"] = kwargs["aws_session_token"]
        return config
    credentials = session.get_credentials()
    if credentials is None:
        raise EngineError("NoCredentials", "no AWS credentials found")
    if getattr(credentials, "refresh_needed", None) is None:  # static: no callback needed
        frozen = credentials.get_frozen_credentials()
        config["access_key_id"] = frozen.access_key
        config["secret_access_key"] = frozen.secret_key
        if frozen.token:
            config["session_token"] = frozen.token
    else:  # refreshable (SSO, assumed roles): botocore refreshes, obstore asks every 5 min
        def provide() -> dict[str, Any]:
            frozen = credentials.get_frozen_credentials()
            return {"access_key_id": frozen.access_key, "secret_access_key": frozen.secret_key,
                    "token": frozen.token,
                    "expires_at": dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)}

        config["credential_provider"] = provide
    return config


class _Download:
    """A GET's body: small ones whole in one call, larger ones streamed in chunks of about
    CHUNK bytes, so a large body is never held whole."""

    def __init__(self, result: Any, key: str) -> None:
        meta = result.meta
        self.info = ObjectInfo(key, meta.get("e_tag"), meta.get("size", 0),
                               meta.get("last_modified"), _metadata(result.attributes))
        self._stream: Any = None
        self._buffer = bytearray()
        self._position = 0
        self._done = False
        if self.info.size <= WHOLE:
            self._whole = memoryview(_call(result.bytes))
            self._done = True
        else:
            self._whole = None
            self._stream = result.stream(min_chunk_size=CHUNK)

    def read(self, size: int = -1) -> bytes:
        if self._whole is not None:
            end = len(self._whole) if size < 0 else self._position + size
            out = bytes(self._whole[self._position:end])
            self._position += len(out)
            return out
        while (size < 0 or len(self._buffer) - self._position < size) and not self._done:
            try:
                chunk = _call(self._stream.__next__)
            except StopIteration:
                self._done = True
                break
            if self._position:  # drop what was read before growing the buffer
                del self._buffer[:self._position]
                self._position = 0
            self._buffer += chunk
        end = len(self._buffer) if size < 0 else self._position + size
        out = bytes(self._buffer[self._position:end])
        self._position += len(out)
        return out

    def close(self) -> None:
        self._done = True
        self._whole = None
        self._buffer = bytearray()


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """An obstore call, its errors as EngineError (S3's code kept) with the original as
    the cause."""
    try:
        return fn(*args, **kwargs)
    except StopIteration:
        raise
    except Exception as exc:
        raise from_obstore(exc) from exc


class _Listing:
    """obstore's list stream, its errors as EngineError."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __iter__(self) -> _Listing:
        return self

    def __next__(self) -> Any:
        return _call(self._stream.__next__)


def _metadata(attributes: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in attributes.items() if k not in _STANDARD}


class ObstoreEngine(Engine):
    name = "obstore"

    def __init__(self, settings: EngineSettings) -> None:
        super().__init__(settings)
        try:
            from obstore.store import S3Store
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise ConfigurationError("engine='obstore' needs obstore: pip install obstore; "
                                     "or pass engine='boto3'") from exc
        self.fallback = BotoEngine(settings)
        config = _resolved(settings)
        provider = config.pop("credential_provider", None)
        seconds = max(settings.connect_timeout, settings.read_timeout)
        options = {"allow_http": "true", "connect_timeout": f"{settings.connect_timeout}s",
                   # a whole request, body included: the read timeout per answer, and a
                   # second one for a body that is still arriving
                   "timeout": f"{2 * seconds}s",
                   "pool_max_idle_per_host": str(max(settings.pool_size, 10))}
        retries = {"max_retries": 0, "retry_timeout": dt.timedelta(seconds=seconds),
                   "backoff": {"init_backoff": dt.timedelta(milliseconds=50),
                               "max_backoff": dt.timedelta(seconds=1), "base": 2.0}}
        self._store = _call(S3Store, settings.bucket, config=config, client_options=options,
                            retry_config=retries, credential_provider=provider)
        import obstore

        self._obstore = obstore

    @property
    def client(self) -> Any:
        """The boto3 client of the engine beside this one (same settings)."""
        return self.fallback.client

    def _direct(self, key: str) -> bool:
        return _UNSAFE_KEY.search(key) is None

    def head_bucket(self) -> None:
        self.fallback.head_bucket()

    def get(self, key: str, byte_range: tuple[int, int] | None = None) -> Any:
        if not self._direct(key):
            return self.fallback.get(key, byte_range)
        options = {"range": (byte_range[0], byte_range[1] + 1)} if byte_range else None
        return _Download(_call(self._obstore.get, self._store, key, options=options), key)

    def head(self, key: str) -> ObjectInfo:
        if not self._direct(key):
            return self.fallback.head(key)
        result = _call(self._obstore.get, self._store, key, options={"head": True})
        meta = result.meta
        return ObjectInfo(key, meta.get("e_tag"), meta.get("size", 0), meta.get("last_modified"),
                          _metadata(result.attributes))

    def put(self, key: str, body: bytes, metadata: Mapping[str, str], *,
            if_none_match: bool = False, if_match: str | None = None) -> str | None:
        if not self._direct(key):
            return self.fallback.put(key, body, metadata, if_none_match=if_none_match,
                                     if_match=if_match)
        mode: Any = "create" if if_none_match else (
            {"e_tag": if_match} if if_match is not None else "overwrite")
        answer = _call(self._obstore.put, self._store, key, body, attributes=dict(metadata),
                       mode=mode, use_multipart=False)
        return answer.get("e_tag")

    def put_parts(self, key: str, parts: Any, metadata: Mapping[str, str]) -> str | None:
        return self.fallback.put_parts(key, parts, metadata)

    def list(self, prefix: str, *, start_after: str | None = None) -> Iterator[ObjectInfo]:
        # object_store lists whole path segments: a prefix must name a folder. Keys its
        # paths cannot hold stop its listing; boto3 lists those buckets from the start.
        if prefix and (not prefix.endswith("/") or not self._direct(prefix[:-1])):
            yield from self.fallback.list(prefix, start_after=start_after)
            return
        stream = _call(self._obstore.list, self._store, prefix.rstrip("/") or None,
                       offset=start_after or None, chunk_size=1000)
        seen = None
        try:
            for chunk in _Listing(stream):
                for meta in chunk:
                    seen = meta["path"]
                    yield ObjectInfo(seen, meta.get("e_tag"), meta.get("size", 0),
                                     meta.get("last_modified"))
        except EngineError as exc:
            if exc.code != "InvalidRequest":
                raise
            yield from self.fallback.list(prefix, start_after=seen or start_after)

    def list_folders(self, prefix: str, max_keys: int = 1000) -> ListPage:
        return self.fallback.list_folders(prefix, max_keys)

    def copy(self, key: str, source_key: str, metadata: Mapping[str, str] | None) -> None:
        self.fallback.copy(key, source_key, metadata)

    def delete(self, keys: Sequence[str]) -> list[str]:
        return self.fallback.delete(keys)

    def close(self) -> None:
        self.fallback.close()
        self._store = None


# S3's error code in the XML body obstore quotes; else the HTTP status it names.
_CODE = re.compile(r"<Code>([A-Za-z0-9.]+)</Code>")
_STATUS = re.compile(r"status code: (\d{3})")
# What S3's error bodies may quote back that is not ours to show: the access key id.
_QUOTED_KEY = re.compile(r"<(AWSAccessKeyId|HostId|SignatureProvided|StringToSign)"
                         r"(?:Bytes)?>[^<]*</[^>]+>")
# The kind of an HTTP failure, as object_store's debug text names it.
_HTTP_KIND = re.compile(r"HttpError \{\s*kind: (\w+)")
_HTTP_KINDS = {"Connect": "EndpointUnreachable", "Timeout": "ReadTimeout",
               "Request": "ConnectionError", "Interrupted": "ConnectionError",
               "Decode": "ConnectionError"}


_OBSTORE_KINDS = {"NotFoundError": "NoSuchKey", "PermissionDeniedError": "AccessDenied",
                  "UnauthenticatedError": "AccessDenied", "PreconditionError": "PreconditionFailed",
                  "AlreadyExistsError": "PreconditionFailed"}


def from_obstore(exc: BaseException) -> EngineError:
    """An obstore error as an EngineError with S3's code (what the error table knows)."""
    message = _QUOTED_KEY.sub("", str(exc))
    if exc.args:  # the original stays the cause; what it quotes of the request goes
        exc.args = (message, *exc.args[1:])
    code = None
    if (found := _CODE.search(message)) is not None:
        code = found.group(1)
    elif (status := _STATUS.search(message)) is not None:
        code = status.group(1)
    elif (kind := _HTTP_KIND.search(message)) is not None:
        code = _HTTP_KINDS.get(kind.group(1), "ConnectionError")
    elif isinstance(exc, ValueError) or type(exc).__name__ == "InvalidPathError":
        code = "InvalidRequest"  # a key object_store's paths cannot hold
    else:  # a bodiless answer (a HEAD's): object_store's class says what S3 answered
        code = _OBSTORE_KINDS.get(type(exc).__name__)
    return EngineError(code or type(exc).__name__, message.split("\n\nDebug source", 1)[0])
