"""Stores: the Store base, the index stores, and the object-backed S3Store and ManifestStore.

The layers above (frames, widgets) import from this package only, never from its modules:
``__all__`` is what ``s3explore`` exports, and the names marked "for the layers above" are
what those layers may use besides (a test in ``tests/guarantees/test_house.py`` keeps them to this).
"""

from s3explore._stores._base import Store
from s3explore._stores._config import Sealed as Sealed  # for the layers above (see above)
from s3explore._stores._cost import CostEstimate
from s3explore._stores._counting import CountEstimate
from s3explore._stores._documents import ObjectBackedStore as ObjectBackedStore  # layers above
from s3explore._stores._duckdb import DuckDBStore
from s3explore._stores._embedded import MemoryStore, MontyStore
from s3explore._stores._mongo import MongograntStore, MongoStore
from s3explore._stores._mongo_uri import query_time_limit as query_time_limit  # layers above
from s3explore._stores._opendata import ManifestStore, open
from s3explore._stores._results import Failure, StoredObject, UpdateResult, VerifyReport
from s3explore._stores._s3 import S3Store
from s3explore._stores._timezones import AWARE_FIELD as AWARE_FIELD  # for the layers above
from s3explore._stores._timezones import from_index as from_index  # for the layers above

__all__ = [
    "CostEstimate",
    "CountEstimate",
    "DuckDBStore",
    "Failure",
    "ManifestStore",
    "MemoryStore",
    "MongoStore",
    "MongograntStore",
    "MontyStore",
    "S3Store",
    "Store",
    "StoredObject",
    "UpdateResult",
    "VerifyReport",
    "open",
]
