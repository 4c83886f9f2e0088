"""The one place that builds boto3 clients and turns S3's errors into ours.

boto3 and botocore are imported when a client is built, not with s3explore (they take a
large part of its import time, and an index-only session or a Dask worker may never need
them).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from s3explore._errors import (
    AccessDeniedError,
    BucketNotFoundError,
    ConfigurationError,
    CredentialsError,
    MetadataTooLargeError,
    ObjectNotFoundError,
    S3ExploreError,
    S3RequestError,
    StoreConnectionError,
    TransientS3Error,
)
from s3explore._secrets import redact_url, strip_userinfo  # importable from here too, as before

if TYPE_CHECKING:
    import boto3

SESSION_ARGS = frozenset(
    {"aws_access_key_id", "aws_secret_access_key", "aws_session_token", "region_name",
     "profile_name", "botocore_session"}
)

# S3 error code -> (exception class, what to tell the user). The original ClientError is kept
# as __cause__.
ERROR_TABLE: dict[str, tuple[type[S3ExploreError], str]] = {
    # "Bucket not present" is maggma's wording, which its users' code matches.
    "NoSuchBucket": (BucketNotFoundError, "Bucket not present; create the bucket or check its "
                     "name and endpoint"),
    "NoSuchKey": (ObjectNotFoundError, "the index may point at an object that was deleted"),
    "AccessDenied": (AccessDeniedError, "check the profile's permissions on this bucket"),
    "AllAccessDisabled": (AccessDeniedError, "access to this bucket is disabled"),
    "InvalidAccessKeyId": (CredentialsError, "the access key id is unknown to this endpoint"),
    "SignatureDoesNotMatch": (CredentialsError, "the secret key does not match the access key"),
    "ExpiredToken": (CredentialsError, "the session token has expired; refresh credentials"),
    "InvalidToken": (CredentialsError, "the session token is invalid"),
    "SlowDown": (TransientS3Error, "the endpoint is throttling; retry with fewer workers"),
    "Throttling": (TransientS3Error, "the endpoint is throttling; retry with fewer workers"),
    "RequestTimeout": (TransientS3Error, "the request timed out"),
    "InternalError": (TransientS3Error, "the endpoint had an internal error"),
    "ServiceUnavailable": (TransientS3Error, "the endpoint is unavailable"),
    "InvalidBucketName": (ConfigurationError, "bucket names are 3-63 lower-case characters"),
    "MetadataTooLarge": (MetadataTooLargeError, "this endpoint refuses user metadata over its "
                         "limit (2 KB on AWS); index fewer searchable fields, or keep "
                         "metadata_limit at the endpoint's limit so the store refuses first"),
    # Servers that keep objects as files (Versity S3 Gateway's posix backend): a key cannot
    # also be the folder of other keys ("a" beside "a/b").
    "ExistingObjectIsDirectory": (S3RequestError, "this server stores objects as files and "
                                  "other keys already use this key as their folder"),
    "ObjectParentIsFile": (S3RequestError, "this server stores objects as files and a "
                           "prefix of this key is already an object"),
}
# HEAD requests carry no body, so S3 answers with the bare HTTP status as the code.
STATUS_CODES = {"400": "BadRequest", "403": "AccessDenied", "500": "InternalError",
                "502": "ServiceUnavailable", "503": "SlowDown", "504": "ServiceUnavailable"}


class EngineError(Exception):
    """A request engine's failure (``s3explore._s3engine``) with S3's error code, or the
    HTTP status when the answer had no body, or one of ours: ``EndpointUnreachable``,
    ``ConnectionError``, ``ReadTimeout``, ``NoCredentials``. The engine's own exception
    is its ``__cause__``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# Engine codes that are not S3's: what went wrong before or instead of an answer.
TRANSIENT_ENGINE_CODES = frozenset({"ConnectionError", "ReadTimeout"})


def _is_botocore(exc: BaseException, *names: str) -> bool:
    """Whether ``exc`` is one of botocore's exceptions of these class names. Without importing
    botocore: an exception object of one of its classes means botocore.exceptions is loaded."""
    bexc = sys.modules.get("botocore.exceptions")
    return bexc is not None and isinstance(exc, tuple(getattr(bexc, n) for n in names))


# botocore reads its service models (megabytes of JSON) afresh for each new session: about
# 0.1 s for every store that connects. Sessions reading models from the same folders share one
# loader, as all clients of boto3's default session do; it holds those data files only, while
# credentials, profiles and settings stay each session's own.
_model_loaders: dict[Any, Any] = {}
_model_loaders_lock = threading.Lock()


def _share_models(session: boto3.Session) -> boto3.Session:
    import botocore.exceptions as bexc
    from botocore.loaders import create_loader

    core = session._session
    try:
        data_path = core.get_config_variable("data_path")
    except bexc.ProfileNotFound:
        return session  # the missing profile is reported where it always was, on first use
    with _model_loaders_lock:
        loader = _model_loaders.get(data_path)
        if loader is None:
            loader = _model_loaders[data_path] = create_loader(data_path)
    core.register_component("data_loader", loader)
    return session


def make_session(s3_profile: str | Mapping[str, Any] | None) -> boto3.Session:
    """A boto3 session from a profile name, a dict of session arguments, or the defaults."""
    import boto3
    import botocore.exceptions as bexc

    if s3_profile is None:
        return _share_models(boto3.Session())
    if isinstance(s3_profile, str):
        try:
            return _share_models(boto3.Session(profile_name=s3_profile))
        except bexc.ProfileNotFound as exc:
            raise CredentialsError(
                f"AWS profile {s3_profile!r} is not in your AWS config or credentials files "
                "(~/.aws/config, ~/.aws/credentials, or AWS_CONFIG_FILE / "
                "AWS_SHARED_CREDENTIALS_FILE); add it or pass s3_profile=None"
            ) from exc
    if isinstance(s3_profile, Mapping):
        unknown = sorted(set(s3_profile) - SESSION_ARGS)
        if unknown:
            raise ConfigurationError(
                f"s3_profile has unknown entries {unknown}; allowed: {sorted(SESSION_ARGS)}"
            )
        try:
            session = boto3.Session(**s3_profile)
            # a botocore session of the caller's own keeps its own loader
            return session if "botocore_session" in s3_profile else _share_models(session)
        except bexc.ProfileNotFound as exc:
            name = s3_profile.get("profile_name")
            raise CredentialsError(f"AWS profile {name!r} not found") from exc
    raise ConfigurationError(
        f"s3_profile must be None, a profile name or a dict, not {type(s3_profile).__name__}"
    )


# What one request may take by default (S3Store(timeout=20) splits its budget this way):
# connections open in well under a second anywhere S3 is reachable; a first byte within 10 s.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0


def make_client(
    s3_profile: str | Mapping[str, Any] | None,
    endpoint_url: str | None,
    workers: int,
    anonymous: bool = False,
    resource_kwargs: Mapping[str, Any] | None = None,
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
) -> Any:
    """One thread-safe S3 client whose connection pool fits ``workers`` threads.

    Retries are ours (see the transfer layer), so botocore tries each request once.
    ``connect_timeout``/``read_timeout`` are seconds to open a connection and to wait for
    each read of an answer: an endpoint that accepts connections and never answers fails
    after ``read_timeout`` (botocore's own default is 60 s, too long for a notebook).
    """
    import botocore.exceptions as bexc
    from botocore import UNSIGNED
    from botocore.config import Config

    kwargs = dict(resource_kwargs or {})
    extra_config = kwargs.pop("config", None)
    config = Config(
        max_pool_connections=max(10, workers + 2),
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        signature_version=UNSIGNED if anonymous else None,
    )
    if extra_config is not None:
        config = config.merge(extra_config)
    session = make_session(s3_profile)
    try:
        return session.client("s3", endpoint_url=strip_userinfo(endpoint_url), config=config,
                              **kwargs)
    except ValueError as exc:  # botocore rejects malformed endpoint URLs here
        raise ConfigurationError(
            f"endpoint_url {redact_url(endpoint_url)!r} is not a valid URL"
        ) from exc
    except bexc.NoRegionError as exc:
        raise ConfigurationError(
            "no AWS region is configured; set region in the profile or pass "
            "s3_resource_kwargs={'region_name': ...}"
        ) from exc


def make_resource(s3_profile: str | Mapping[str, Any] | None, endpoint_url: str | None,
                  anonymous: bool = False, resource_kwargs: Mapping[str, Any] | None = None,
                  ) -> Any:
    """A boto3 S3 resource (what maggma's ``s3_bucket`` is built on), with our settings."""
    from botocore import UNSIGNED
    from botocore.config import Config

    kwargs = dict(resource_kwargs or {})
    config = Config(signature_version=UNSIGNED if anonymous else None)
    if kwargs.get("config") is not None:
        config = config.merge(kwargs.pop("config"))
    return make_session(s3_profile).resource("s3", endpoint_url=strip_userinfo(endpoint_url),
                                             config=config, **kwargs)


def error_code(exc: BaseException) -> str | None:
    if isinstance(exc, EngineError):
        return STATUS_CODES.get(exc.code, exc.code)
    if _is_botocore(exc, "ClientError"):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        return STATUS_CODES.get(code, code)
    return None


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: throttling, 5xx, dropped connections and read timeouts."""
    if isinstance(exc, TransientS3Error):
        return True
    if _is_botocore(exc, "ConnectionClosedError", "ReadTimeoutError"):
        return True
    code = error_code(exc)
    if code in TRANSIENT_ENGINE_CODES:
        return True
    return code is not None and ERROR_TABLE.get(code, (None,))[0] is TransientS3Error


def translate(
    exc: BaseException, *, bucket: str, key: str | None = None, endpoint_url: str | None = None,
    timeouts: tuple[float, float] | None = None,
) -> S3ExploreError:
    """Our exception for a botocore one, naming bucket, key and endpoint, never secrets.

    ``timeouts``: the client's ``(connect_timeout, read_timeout)``, named in timeout errors.
    """
    where = f"bucket {bucket!r}" + (f", key {key!r}" if key is not None else "")
    where += f" at {redact_url(endpoint_url) or 'AWS'}"
    if isinstance(exc, S3ExploreError):
        return exc
    engine_code = exc.code if isinstance(exc, EngineError) else None
    if _is_botocore(exc, "ReadTimeoutError") or engine_code == "ReadTimeout":
        within = f" within {timeouts[1]:g} s" if timeouts else ""
        return TransientS3Error(
            f"the S3 endpoint accepted the connection but sent no answer{within} (read "
            f"timeout) for {where}; check that endpoint_url points at an S3 service, or pass "
            "a larger timeout= to the store for a slow link", code="ReadTimeout")
    if _is_botocore(exc, "ConnectTimeoutError"):
        within = f" within {timeouts[0]:g} s" if timeouts else ""
        return StoreConnectionError(
            f"cannot open a connection to the S3 endpoint{within} (connect timeout) for "
            f"{where}; check endpoint_url and the network, or pass a larger timeout= to the "
            "store for a slow link")
    if engine_code == "ConnectionError":
        return TransientS3Error(f"connection to S3 dropped for {where}", code="ConnectionError")
    if engine_code == "EndpointUnreachable":
        return StoreConnectionError(
            f"cannot reach the S3 endpoint for {where}; check endpoint_url and the network")
    if engine_code == "NoCredentials":
        return CredentialsError(
            f"no AWS credentials found for {where}: set a profile in ~/.aws/credentials and "
            "pass s3_profile='name', pass a dict, or use anonymous=True for public buckets")
    if engine_code is not None or _is_botocore(exc, "ClientError"):
        code = error_code(exc) or "Unknown"
        if code in ("404", "NotFound"):
            code = "NoSuchKey" if key is not None else "NoSuchBucket"
        cls, hint = ERROR_TABLE.get(code, (S3RequestError, "see the cause for details"))
        message = f"S3 answered {code} for {where}: {hint}"
        if cls is ObjectNotFoundError or cls is MetadataTooLargeError:
            return cls(message, key=key)
        if issubclass(cls, S3RequestError):
            return cls(message, code=code)
        return cls(message)
    if _is_botocore(exc, "EndpointConnectionError", "ConnectTimeoutError"):
        return StoreConnectionError(
            f"cannot reach the S3 endpoint for {where}; check endpoint_url and the network"
        )
    if _is_botocore(exc, "ConnectionClosedError", "ReadTimeoutError"):
        return TransientS3Error(f"connection to S3 dropped for {where}", code="ConnectionError")
    if _is_botocore(exc, "NoCredentialsError"):
        return CredentialsError(
            f"no AWS credentials found for {where}: set a profile in ~/.aws/credentials and "
            "pass s3_profile='name', pass a dict, or use anonymous=True for public buckets"
        )
    if _is_botocore(exc, "BotoCoreError"):
        return S3RequestError(f"S3 request failed for {where}: {type(exc).__name__}")
    return S3RequestError(f"S3 request failed for {where}: {type(exc).__name__}")
