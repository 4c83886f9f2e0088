"""MongoStore's columnar read: the whole result as one Arrow table through pymongoarrow.

pymongoarrow decodes BSON straight into Arrow, skipping Python dicts. It infers each field's
type from the first value it meets and quietly bends later values of another type: a string
in an integer column becomes null, 2.5 becomes 2, a scalar in a list column an empty list,
a scalar in a struct column a struct of nulls. So every table is checked before it is used:
one more query on the server (the same criteria, sort, skip and limit) looks for a value of
a type its column cannot hold, with ``$type``; if there is one, or a column's type cannot be
checked that way (lists of lists, ObjectIds, binary, decimals), the answer is None and the
frames layer builds from dicts, which keeps every value whole. ``USE_PYMONGOARROW = False``
here switches the columnar read off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from s3explore._query import Query, check_sort
from s3explore._stores._mongo import mongo_projection

if TYPE_CHECKING:
    import pyarrow as pa

USE_PYMONGOARROW = True

# The $type aliases of every BSON type MongoDB stores, and of those FerretDB stores (its $type
# refuses the others' aliases: "Unknown type name alias: decimal").
MONGODB_TYPES = ("double", "string", "object", "array", "binData", "undefined", "objectId",
                 "bool", "date", "null", "regex", "dbPointer", "javascript", "symbol",
                 "javascriptWithScope", "int", "timestamp", "long", "decimal", "minKey",
                 "maxKey")
FERRETDB_TYPES = ("double", "string", "object", "array", "binData", "objectId", "bool", "date",
                  "null", "regex", "int", "timestamp", "long")


def find_arrow(store: Any, q: Query) -> pa.Table | None:
    """``q`` on ``store``'s collection as an Arrow table with nested struct columns and no
    ``_id`` (unless asked for); None when pymongoarrow is absent or switched off, the
    collection is not a real pymongo Collection (mongomock, montydb, a test double), or a
    column holds values of more than one type (the dict path keeps them)."""
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
    ms = store._time_limit()
    if ms:
        kwargs["max_time_ms"] = ms
    try:
        table = find_arrow_all(collection, q.criteria, **kwargs)
    except pymongo.errors.PyMongoError as exc:
        raise store._translate(exc) from exc
    except (TypeError, ValueError, OverflowError):
        # pymongoarrow refuses some values of a second type outright (a string in a
        # datetime column, an int64 over int32's range): the dict path keeps them
        return None
    if "_id" in table.column_names and "_id" not in (q.properties or ()):
        table = table.drop_columns(["_id"])
    checks = type_checks(table.schema, FERRETDB_TYPES if getattr(store, "_ferretdb", None)
                         else MONGODB_TYPES)
    if checks is None:
        return None
    if checks and _has_mixed_types(store, collection, q, sort, checks):
        return None
    return table.cast(_widened(table.schema))


def _has_mixed_types(store: Any, collection: Any, q: Query, sort: list | None,
                     checks: list[dict]) -> bool:
    """Whether a document of the result holds a value its column cannot: the query's own
    window (criteria, sort, skip, limit) is filtered by the checks on the server."""
    pipeline: list[dict] = [{"$match": q.criteria}]
    if sort:
        pipeline.append({"$sort": dict(sort)})
    if q.skip:
        pipeline.append({"$skip": q.skip})
    if q.limit:
        pipeline.append({"$limit": q.limit})
    pipeline += [{"$match": {"$or": checks}}, {"$limit": 1}, {"$project": {"_id": 1}}]
    found = store._run(lambda: collection.aggregate(pipeline, **store._limits()))
    return any(True for _ in found)


def type_checks(schema: pa.Schema, bson_types: tuple[str, ...]) -> list[dict] | None:
    """One filter per column (and nested field) that matches a document whose value there
    is of a type pymongoarrow would bend; None when some column cannot be checked so."""
    checks: list[dict] = []
    for field in schema:
        if not _plain(field.name) or not _checks(field.name, field.type, False, bson_types,
                                                   checks):
            return None
    return checks


def _plain(name: str) -> bool:
    """A field name a query path can name alone (not dotted, not an operator)."""
    return bool(name) and "." not in name and not name.startswith("$")


def _checks(path: str, typ: pa.DataType, under_list: bool, bson_types: tuple[str, ...],
            out: list[dict]) -> bool:
    import pyarrow as pa

    def other(*allowed: str) -> dict:  # $type on an array also tests each of its elements
        return {path: {"$type": [t for t in bson_types if t not in allowed]}}

    if pa.types.is_struct(typ):
        out.append(other("object", "null"))
        return all(_plain(f.name) and _checks(f"{path}.{f.name}", f.type, under_list,
                                              bson_types, out) for f in typ)
    if pa.types.is_list(typ) or pa.types.is_large_list(typ):
        if under_list:
            return False  # a list inside a list of documents: $type cannot tell the levels
        out.append({path: {"$exists": True, "$not": {"$type": ["array", "null"]}}})
        item = typ.value_type
        if pa.types.is_struct(item):
            out.append(other("object", "null", "array"))
            return all(_plain(f.name) and _checks(f"{path}.{f.name}", f.type, True,
                                                  bson_types, out) for f in item)
        allowed = _scalar_types(item)
        if allowed is None:
            return False
        out.append(other(*allowed, "null", "array"))
        return True
    allowed = _scalar_types(typ)
    if allowed is None:
        return False
    out.append(other(*allowed, "null"))
    return True


def _scalar_types(typ: pa.DataType) -> tuple[str, ...] | None:
    """The BSON types pymongoarrow keeps whole in a column of this Arrow type."""
    import pyarrow as pa

    if isinstance(typ, pa.ExtensionType):
        return None  # ObjectId, binary subtypes, Decimal128, code: the dict path
    if pa.types.is_integer(typ):
        return ("int", "long")  # a double would be truncated, a bool turned into 0/1
    if pa.types.is_floating(typ):
        return ("double", "int", "long")  # an integer is the same number as a float
    for test, bson_type in ((pa.types.is_boolean, "bool"), (pa.types.is_string, "string"),
                            (pa.types.is_timestamp, "date"), (pa.types.is_null, None)):
        if test(typ):
            return (bson_type,) if bson_type else ()
    return None


def _widened(schema: pa.Schema) -> pa.Schema:
    """The dict path's types: int64 for pymongoarrow's int32 (BSON int), microseconds for
    its milliseconds (BSON dates)."""
    import pyarrow as pa

    def widen(typ: pa.DataType) -> pa.DataType:
        if pa.types.is_int32(typ):
            return pa.int64()
        if pa.types.is_timestamp(typ):
            return pa.timestamp("us", typ.tz)
        if pa.types.is_struct(typ):
            return pa.struct([f.with_type(widen(f.type)) for f in typ])
        if pa.types.is_list(typ):
            return pa.list_(typ.value_field.with_type(widen(typ.value_type)))
        return typ

    return pa.schema([f.with_type(widen(f.type)) for f in schema])
