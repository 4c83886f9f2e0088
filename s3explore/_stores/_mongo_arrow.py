"""MongoStore's columnar read: the whole result as one Arrow table through pymongoarrow.

pymongoarrow decodes BSON straight into Arrow, skipping Python dicts. It infers each field's
type from the data and may return a value of another type in a later document as null; set
``USE_PYMONGOARROW = False`` here for indexes with mixed-type fields (the frames layer then
builds from dicts, which keeps such values).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from s3explore._query import Query, check_sort
from s3explore._stores._mongo import mongo_projection

if TYPE_CHECKING:
    import pyarrow as pa

USE_PYMONGOARROW = True


def find_arrow(store: Any, q: Query) -> pa.Table | None:
    """``q`` on ``store``'s collection as an Arrow table with nested struct columns and no
    ``_id``; None when pymongoarrow is absent or switched off, or the collection is not a
    real pymongo Collection (mongomock, montydb, a test double)."""
    if not USE_PYMONGOARROW:
        return None
    try:
        import pymongo.collection
        from pymongoarrow.api import find_arrow_all
    except ImportError:
        return None
    collection = store.collection
    if not isinstance(collection, pymongo.collection.Collection):
        return None
    import pymongo.errors

    sort = q.sort or check_sort(getattr(store, "default_sort", None))
    kwargs: dict[str, Any] = {"projection": mongo_projection(q.properties)}
    if sort:
        kwargs["sort"] = sort
    if q.skip:
        kwargs["skip"] = q.skip
    if q.limit:
        kwargs["limit"] = q.limit
    try:
        table = find_arrow_all(collection, q.criteria, **kwargs)
    except pymongo.errors.PyMongoError as exc:
        raise store._translate(exc) from exc
    return table.drop_columns(["_id"]) if "_id" in table.column_names else table
