"""``s3x_match(_doc, clause)``: the clauses SQL cannot express, run on the stored document.

The planner (``_plan``) marks what has no SQL form (``$elemMatch`` with several conditions,
a positional path, a pattern RE2 cannot run, dict operands); the emitter passes each such
clause, encoded by ``encode``, as a parameter of the query itself. The clause travels with
its query: nothing is registered, so nothing can be forgotten while a result is read, and
any cursor or thread running the query has all it needs. The function decodes the clause
(cached by its bytes) and the document, and applies the clause with mongomock's matcher,
the same code MemoryStore uses.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import operator
import re
import struct
from typing import Any

import msgpack

from s3explore._query import get_path
from s3explore._stores._duckdb._values import NOTHING, enc, from_micros, micros, unpack_doc

FUNCTION = "s3x_match"
SORT_KEY = "s3x_sort_key"  # (_doc, path) -> sortable encoding of a dict value
_DATE, _PATTERN = 1, 2  # msgpack extension codes in encoded clauses


class DictTest:
    """Dict operands, compared MongoDB's way (field order matters, 1 == 1.0): does any value
    at ``path`` (or any item of an array there) compare ``op`` to one of ``operands``?"""

    def __init__(self, path: str, op: str, operands: list[dict]) -> None:
        self.path = path
        self.op = op
        self.operands = operands
        self.test = _COMPARE[op]
        self.keys = [enc(o) for o in operands]

    def __call__(self, doc: dict) -> bool:
        from s3explore._stores._duckdb._rows import walk

        direct, cands = walk(doc).get(self.path, (NOTHING, None))
        for value in [direct] if cands is None else cands:
            for item in value if type(value) is list else [value]:
                if type(item) is dict:
                    key = enc(item)
                    if any(self.test(key, k) for k in self.keys):
                        return True
        return False

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, DictTest) and (self.path, self.op, self.keys)
                == (other.path, other.op, other.keys))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"DictTest({self.path!r}, {self.op!r}, {self.operands!r})"


_COMPARE = {"$eq": operator.eq, "$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt,
            "$lte": operator.le}


# ---------------------------------------------------------------- clauses as parameters


def _default(value: Any) -> Any:
    if isinstance(value, re.Pattern):
        return msgpack.ExtType(_PATTERN, msgpack.packb([value.pattern, value.flags]))
    if isinstance(value, _dt.datetime):  # naive UTC here (see _values.operand)
        return msgpack.ExtType(_DATE, struct.pack(">q", micros(value)))
    raise TypeError(f"a value of type {type(value).__name__} cannot be passed to s3x_match")


def _ext_hook(code: int, data: bytes) -> Any:
    if code == _DATE:
        return from_micros(struct.unpack(">q", data)[0])
    if code == _PATTERN:
        pattern, flags = msgpack.unpackb(data)
        return re.compile(pattern, flags)
    return msgpack.ExtType(code, data)


def encode(clause: dict | DictTest) -> bytes:
    """The clause as the bytes of a query parameter (``decode`` gives it back)."""
    body = (["dict", clause.path, clause.op, clause.operands] if isinstance(clause, DictTest)
            else ["match", clause])
    return msgpack.packb(body, default=_default, datetime=False)


@functools.lru_cache(maxsize=256)  # a miss only decodes again: nothing depends on the cache
def decode(data: bytes) -> dict | DictTest:
    body = msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=False)
    return DictTest(*body[1:]) if body[0] == "dict" else body[1]


def _match(doc: bytes | None, clause: bytes | None) -> bool:
    from mongomock_ng.filtering import filter_applies

    if doc is None or clause is None:
        return False
    test = decode(clause)
    if isinstance(test, DictTest):
        return test(unpack_doc(doc))
    return bool(filter_applies(test, unpack_doc(doc)))


def _sort_key(doc: bytes | None, path: str | None) -> bytes | None:
    if doc is None or path is None:
        return None
    value = get_path(unpack_doc(doc), path, NOTHING)
    return None if value is NOTHING else enc(value)


def install(conn: Any) -> None:
    """Register the functions once per database (DuckDB shares them between connections)."""
    import duckdb

    with contextlib.suppress(duckdb.CatalogException):  # another store registered it
        conn.create_function(FUNCTION, _match, ["BLOB", "BLOB"], "BOOLEAN",
                             null_handling="special", side_effects=False)
    with contextlib.suppress(duckdb.CatalogException):
        conn.create_function(SORT_KEY, _sort_key, ["BLOB", "VARCHAR"], "BLOB",
                             null_handling="special", side_effects=False)
