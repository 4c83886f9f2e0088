"""Stores: the Store base, the index stores and S3Store."""

from s3explore._stores._base import Store
from s3explore._stores._cost import CostEstimate
from s3explore._stores._counting import CountEstimate
from s3explore._stores._duckdb import DuckDBStore
from s3explore._stores._embedded import MemoryStore, MontyStore
from s3explore._stores._mongo import MongograntStore, MongoStore
from s3explore._stores._opendata import ManifestStore, open
from s3explore._stores._results import Failure, StoredObject, UpdateResult, VerifyReport
from s3explore._stores._s3 import S3Store

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
