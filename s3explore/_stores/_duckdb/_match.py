"""``s3x_match(_doc, token)``: the clauses SQL cannot express, run on the stored document.

The translator hands a clause (``$elemMatch``, a positional path, a pattern RE2 cannot run)
to ``register`` and puts only the returned token in the query, as a parameter. The function
decodes the document and applies the clause with mongomock's matcher, the same code
MemoryStore uses.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections import OrderedDict
from typing import Any

from s3explore._stores._duckdb._values import unpack_doc

FUNCTION = "s3x_match"
_KEEP = 4096  # clauses remembered (a token lives as long as any query still being read)
_clauses: OrderedDict[str, dict] = OrderedDict()
_lock = threading.Lock()
_numbers = itertools.count()


def register(clause: dict) -> str:
    with _lock:
        token = f"c{next(_numbers)}"
        _clauses[token] = clause
        while len(_clauses) > _KEEP:
            _clauses.popitem(last=False)
    return token


def _match(doc: bytes | None, token: str | None) -> bool:
    from mongomock_ng.filtering import filter_applies

    if doc is None or token is None:
        return False
    clause = _clauses.get(token)
    if clause is None:
        raise RuntimeError("the query's clause was forgotten (more than 4096 queries ran "
                           "while it was being read); run the query again")
    return bool(filter_applies(clause, unpack_doc(doc)))


def install(conn: Any) -> None:
    """Register the function once per database (DuckDB shares it between connections)."""
    import duckdb

    with contextlib.suppress(duckdb.CatalogException):  # another store registered it
        conn.create_function(FUNCTION, _match, ["BLOB", "VARCHAR"], "BOOLEAN",
                             null_handling="special", side_effects=False)
