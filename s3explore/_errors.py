"""One exception tree for everything s3explore raises.

Every class also derives from the closest built-in (ValueError, LookupError, ...) so callers
that already catch those keep working. Messages name the bucket, key, field or endpoint at
fault and never contain credentials.
"""

from __future__ import annotations

import os


class S3ExploreError(Exception):
    """Base class of every error s3explore raises."""


class ConfigurationError(S3ExploreError, ValueError):
    """An argument to a constructor or method is invalid."""


class InvalidDocumentError(S3ExploreError, ValueError):
    """A document cannot be stored (not a dict, no key, a value msgpack cannot encode, ...)."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class InvalidKeyError(InvalidDocumentError):
    """A key value cannot become an S3 object key."""


class MetadataTooLargeError(InvalidDocumentError):
    """The user-defined object metadata is over the configured limit (2 KB on AWS)."""


class QueryError(S3ExploreError, ValueError):
    """Criteria, projection or sort are malformed or unsupported by the index store."""


class NotConnectedError(S3ExploreError, RuntimeError):
    """A method that needs a connection was called before ``connect()``."""


class StoreConnectionError(S3ExploreError, ConnectionError):
    """The S3 endpoint or the index store cannot be reached."""


class CredentialsError(S3ExploreError, PermissionError):
    """Credentials are missing, unknown (profile) or rejected by the endpoint."""


class AccessDeniedError(S3ExploreError, PermissionError):
    """The credentials are valid but not allowed to do this."""


class BucketNotFoundError(S3ExploreError, LookupError, RuntimeError):
    """The bucket does not exist on this endpoint (a RuntimeError too, as in maggma)."""


class ObjectNotFoundError(S3ExploreError, LookupError):
    """No object exists under this key."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class CorruptObjectError(S3ExploreError, ValueError):
    """An object body cannot be decompressed or decoded."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class StaleObjectError(CorruptObjectError):
    """An object changed since the manifest indexed it: its body may no longer match the
    entry, so its documents are not served (``on_error`` may skip or null the row)."""


class S3RequestError(S3ExploreError):
    """Any other error answered by S3; ``code`` is S3's error code."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class TransientS3Error(S3RequestError):
    """Throttling or a server error (5xx) that may succeed when retried."""


class MissingDependencyError(S3ExploreError, ImportError):
    """An optional dependency is needed for this feature."""


class ReadOnlyStoreError(S3ExploreError, PermissionError):
    """A write was attempted on a store opened read-only (a manifest-backed store)."""


class LayoutNotRecognizedError(ConfigurationError, LookupError):
    """Nothing under a bucket prefix looks like a collection s3explore can open."""


class CancelledBuildError(S3ExploreError, InterruptedError):
    """A manifest build was cancelled; ``result`` says how far it got (it resumes)."""

    def __init__(self, message: str, result: object) -> None:
        super().__init__(message)
        self.result = result


class UpdateError(S3ExploreError, RuntimeError):
    """Some documents of an update could not be stored; the others landed and were indexed.

    ``result`` is the ``UpdateResult`` (written, bytes, per-key ``failures``). Pass
    ``on_error="collect"`` to ``update`` to get the result back instead of this exception.
    """

    def __init__(self, message: str, result: object) -> None:
        super().__init__(message)
        self.result = result


class InvalidDocumentsError(UpdateError, InvalidDocumentError):
    """An update whose every failure is an invalid document: an ``UpdateError`` (the other
    documents landed; ``result`` lists the failures) that ``except InvalidDocumentError``
    catches too, as it catches an index store's refusal of the same documents."""

    def __init__(self, message: str, result: object) -> None:
        UpdateError.__init__(self, message, result)
        failures = getattr(result, "failures", None) or [None]
        self.key = getattr(failures[0], "key", None)


class UnknownFieldWarning(UserWarning):
    """A query names a field that no entry of the store has (a typo?); the message names
    the closest field. A warning, not an error: such a query is legal in MongoDB."""


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` attributed to the first caller outside s3explore: the user's line,
    however deep in the package the warning starts (no hard-coded stack levels)."""
    import sys
    import warnings

    frame = sys._getframe(1)
    level = 2  # stacklevel 1 would be this function
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
