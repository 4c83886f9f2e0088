"""The public store classes: each store of ``_stores`` with the DataFrame methods of
``_frames`` mixed in. Names, constructors, docstrings and reprs are those of the stores."""

from __future__ import annotations

from s3explore import _stores
from s3explore._frames import DataFrameMixin


class MemoryStore(DataFrameMixin, _stores.MemoryStore):
    __doc__ = _stores.MemoryStore.__doc__


class MontyStore(DataFrameMixin, _stores.MontyStore):
    __doc__ = _stores.MontyStore.__doc__


class MongoStore(DataFrameMixin, _stores.MongoStore):
    __doc__ = _stores.MongoStore.__doc__


class MongograntStore(_stores.MongograntStore, MongoStore):
    # Also a public MongoStore, so isinstance(store, s3explore.MongoStore) holds as before.
    __doc__ = _stores.MongograntStore.__doc__


class S3Store(DataFrameMixin, _stores.S3Store):
    __doc__ = _stores.S3Store.__doc__


__all__ = ["MemoryStore", "MongoStore", "MongograntStore", "MontyStore", "S3Store"]
