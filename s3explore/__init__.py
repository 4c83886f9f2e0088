"""s3explore: explore large document collections in S3 with a MongoDB index, from Jupyter.

Widgets live in ``s3explore.widgets`` and are imported on demand, so importing this package
does not import ipywidgets.
"""

from s3explore._errors import (
    AccessDeniedError,
    BucketNotFoundError,
    ConfigurationError,
    CorruptObjectError,
    CredentialsError,
    InvalidDocumentError,
    InvalidKeyError,
    MetadataTooLargeError,
    MissingDependencyError,
    NotConnectedError,
    ObjectNotFoundError,
    QueryError,
    S3ExploreError,
    S3RequestError,
    StoreConnectionError,
    TransientS3Error,
    UpdateError,
)
from s3explore._stores import (
    Failure,
    MemoryStore,
    MongograntStore,
    MongoStore,
    MontyStore,
    S3Store,
    Store,
    StoredObject,
    UpdateResult,
    VerifyReport,
)
from s3explore._transfer import Callback, ProgressCounter, ProgressSnapshot, TqdmCallback

__version__ = "0.1.0"

__all__ = [
    "AccessDeniedError",
    "BucketNotFoundError",
    "Callback",
    "ConfigurationError",
    "CorruptObjectError",
    "CredentialsError",
    "Failure",
    "InvalidDocumentError",
    "InvalidKeyError",
    "MemoryStore",
    "MetadataTooLargeError",
    "MissingDependencyError",
    "MongoStore",
    "MongograntStore",
    "MontyStore",
    "NotConnectedError",
    "ObjectNotFoundError",
    "ProgressCounter",
    "ProgressSnapshot",
    "QueryError",
    "S3ExploreError",
    "S3RequestError",
    "S3Store",
    "Store",
    "StoreConnectionError",
    "StoredObject",
    "TqdmCallback",
    "TransientS3Error",
    "UpdateError",
    "UpdateResult",
    "VerifyReport",
    "__version__",
]
