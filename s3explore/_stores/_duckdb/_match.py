"""``s3x_match(_doc, token)``: the clauses SQL cannot express, run on the stored document.

The translator hands a clause (``$elemMatch``, a positional path, a pattern RE2 cannot run)
to ``register`` and puts only the returned token in the query, as a parameter. The function
decodes the document and applies the clause with mongomock's matcher, the same code
MemoryStore uses.
"""

from __future__ import annotations

import contextlib
import itertools
import operator
import threading
from collections import OrderedDict
from typing import Any

from s3explore._query import get_path
from s3explore._stores._duckdb._values import NOTHING, enc, unpack_doc

FUNCTION = "s3x_match"
SORT_KEY = "s3x_sort_key"  # (_doc, path) -> sortable encoding of a dict value
_KEEP = 4096  # clauses remembered (a token lives as long as any query still being read)
_clauses: OrderedDict[str, dict] = OrderedDict()
_lock = threading.Lock()
_numbers = itertools.count()


def register(clause: dict | DictTest) -> str:
    with _lock:
        token = f"c{next(_numbers)}"
        _clauses[token] = clause
        while len(_clauses) > _KEEP:
            _clauses.popitem(last=False)
    return token


class DictTest:
    """Dict operands, compared MongoDB's way (field order matters, 1 == 1.0): does any value
    at ``path`` (or any item of an array there) compare ``op`` to one of ``operands``?"""

    def __init__(self, path: str, op: str, operands: list[dict]) -> None:
        self.path = path
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


_COMPARE = {"$eq": operator.eq, "$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt,
            "$lte": operator.le}


def _match(doc: bytes | None, token: str | None) -> bool:
    from mongomock_ng.filtering import filter_applies

    if doc is None or token is None:
        return False
    clause = _clauses.get(token)
    if clause is None:
        raise RuntimeError("the query's clause was forgotten (more than 4096 queries ran "
                           "while it was being read); run the query again")
    if isinstance(clause, DictTest):
        return clause(unpack_doc(doc))
    return bool(filter_applies(clause, unpack_doc(doc)))


def _sort_key(doc: bytes | None, path: str | None) -> bytes | None:
    if doc is None or path is None:
        return None
    value = get_path(unpack_doc(doc), path, NOTHING)
    return None if value is NOTHING else enc(value)


def install(conn: Any) -> None:
    """Register the functions once per database (DuckDB shares them between connections)."""
    import duckdb

    with contextlib.suppress(duckdb.CatalogException):  # another store registered it
        conn.create_function(FUNCTION, _match, ["BLOB", "VARCHAR"], "BOOLEAN",
                             null_handling="special", side_effects=False)
    with contextlib.suppress(duckdb.CatalogException):
        conn.create_function(SORT_KEY, _sort_key, ["BLOB", "VARCHAR"], "BLOB",
                             null_handling="special", side_effects=False)
