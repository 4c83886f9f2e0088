"""The tables of a DuckDB index and the catalog of dotted paths that grows with the data.

One collection is three things in the database file:

- ``s3x_collections``: collection name -> number ``N`` (shared by all collections);
- ``s3x_data_N``: ``_rid`` (insertion number, the natural order), ``_key`` (the sortable
  encoding of the key value, PRIMARY KEY: one entry per key), ``_doc`` (the whole document,
  msgpack) and the shadow columns of every path seen, named ``c<id>_<suffix>``;
- ``s3x_paths_N``: path -> id and what has been seen there.

Shadow columns of a path (created when first needed):

- direct value (reached through dicts only): ``t`` type tag (NULL: missing), ``n`` number
  (DOUBLE), ``s`` string, ``b`` bool, ``d`` datetime (naive UTC), ``k`` sortable encoding of
  bytes (a dict has columns for its fields, an array is described by the multi columns);
- once the path has held an array or been reached below one ("multi"): the values MongoDB
  matches against (elements of arrays, and the arrays themselves) in ``en es eb ed ek``,
  ``x`` exists, ``u`` matches null, ``z`` array sizes, ``it`` item types of direct arrays,
  and the sort key where it differs from the direct value in ``ob on os obb od ok``.

Column names are generated from ids, never from field names, so no user string reaches SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from s3explore._stores._duckdb._values import BOOL, BYTES, DATE, FLOAT, INT, STR

DIRECT_TYPES = {"t": "UTINYINT", "n": "DOUBLE", "s": "VARCHAR", "b": "BOOLEAN",
                "d": "TIMESTAMP", "k": "BLOB"}
MULTI_TYPES = {"en": "DOUBLE[]", "es": "VARCHAR[]", "eb": "BOOLEAN[]", "ed": "TIMESTAMP[]",
               "ek": "BLOB[]", "x": "BOOLEAN", "u": "BOOLEAN", "z": "INTEGER[]",
               "it": "USMALLINT", "ob": "UTINYINT", "on": "DOUBLE", "os": "VARCHAR",
               "obb": "BOOLEAN", "od": "TIMESTAMP", "ok": "BLOB"}
COLUMN_TYPES = {**DIRECT_TYPES, **MULTI_TYPES}
# direct value columns needed for each tag
TAG_COLUMNS = {INT: "n", FLOAT: "n", STR: "s", BOOL: "b", DATE: "d", BYTES: "k"}
ELEMENTS = {"n": "en", "s": "es", "b": "eb", "d": "ed", "k": "ek"}
MAX_PATHS = 4000  # beyond this many distinct paths, new ones get no shadow columns


def bits(tags: int) -> set[int]:
    return {tag for tag in range(16) if tags >> tag & 1}


@dataclass
class PathInfo:
    id: int
    path: str
    tags: int = 0  # bit per direct-value tag ever seen
    items: int = 0  # bit per item tag of direct arrays
    multi: bool = False
    via: bool = False  # ever reached below an array
    big: bool = False  # ints beyond 2**53 seen (DOUBLE is not exact)
    columns: set[str] = field(default_factory=set)

    def col(self, suffix: str) -> str | None:
        """The column name, or None when the column does not exist (nothing stored there)."""
        return f"c{self.id}_{suffix}" if suffix in self.columns else None

    def wanted(self, filled: set[str]) -> set[str]:
        """Columns for what was stored (``filled``), and those every query of the mode uses."""
        wanted = {"t"} | filled | {TAG_COLUMNS[t] for t in bits(self.tags) if t in TAG_COLUMNS}
        if self.multi:  # exists, null, sort bracket; elements of the plain values
            wanted |= {"x", "u", "ob"} | {ELEMENTS[c] for c in wanted if c in ELEMENTS}
        return wanted


class Catalog:
    """The paths of one collection, kept in memory and in ``s3x_paths_N``."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.data = f"s3x_data_{number}"
        self.paths_table = f"s3x_paths_{number}"
        self.paths: dict[str, PathInfo] = {}

    def get(self, path: str) -> PathInfo | None:
        return self.paths.get(path)

    @property
    def full(self) -> bool:
        """Paths beyond MAX_PATHS have no columns: criteria on unknown paths must read the
        documents."""
        return len(self.paths) >= MAX_PATHS

    def columns(self) -> list[str]:
        return [f"c{info.id}_{s}" for info in self.paths.values() for s in sorted(info.columns)]

    # ------------------------------------------------------------ persistence

    @staticmethod
    def open(conn: Any, name: str, create: bool) -> Catalog | None:
        """The catalog of collection ``name``; created when ``create``, else None if absent."""
        import duckdb

        try:
            row = conn.execute("SELECT number FROM s3x_collections WHERE name = ?",
                               [name]).fetchone()
        except duckdb.CatalogException:  # a new database
            if not create:
                return None
            conn.execute("CREATE TABLE s3x_collections (name VARCHAR PRIMARY KEY, "
                         "number INTEGER NOT NULL)")
            row = None
        if row is None:
            if not create:
                return None
            number = conn.execute("SELECT coalesce(max(number), 0) + 1 FROM "
                                  "s3x_collections").fetchone()[0]
            conn.execute("INSERT INTO s3x_collections VALUES (?, ?)", [name, number])
            catalog = Catalog(number)
            conn.execute(f"CREATE TABLE {catalog.data} (_rid BIGINT NOT NULL, "
                         "_key BLOB PRIMARY KEY, _doc BLOB NOT NULL);\n"
                         f"CREATE TABLE {catalog.paths_table} (path VARCHAR PRIMARY KEY, "
                         "id INTEGER, tags INTEGER, items INTEGER, multi BOOLEAN, via BOOLEAN, "
                         "big BOOLEAN)")
            return catalog
        catalog = Catalog(row[0])
        catalog.reload(conn)
        return catalog

    def reload(self, conn: Any) -> None:
        existing = {name for (name,) in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
            [self.data]).fetchall()}
        self.paths = {}
        for path, id_, tags, items, multi, via, big in conn.execute(
                f"SELECT * FROM {self.paths_table}").fetchall():
            info = PathInfo(id_, path, tags, items, multi, via, big)
            info.columns = {s for s in COLUMN_TYPES if f"c{id_}_{s}" in existing}
            self.paths[path] = info

    def grow(self, conn: Any, seen: dict[str, dict]) -> None:
        """Record what a batch holds (``seen``: path -> tags/items/via/big/multi/columns),
        adding columns, and turning paths multi (filling their element columns for the rows
        already stored)."""
        changed, statements, turned = [], [], []
        next_id = max((i.id for i in self.paths.values()), default=0) + 1
        for path, found in seen.items():
            info = self.paths.get(path)
            if info is None:
                if len(self.paths) >= MAX_PATHS:
                    continue
                info = self.paths[path] = PathInfo(next_id, path)
                next_id += 1
            elif found["multi"] and not info.multi:
                turned.append(info)  # rows already stored need their element columns
            before = (info.tags, info.items, info.multi, info.via, info.big)
            info.tags |= found["tags"]
            info.items |= found["items"]
            info.via |= found["via"]
            info.big |= found["big"]
            info.multi |= found["multi"]
            for suffix in sorted(info.wanted(found["columns"]) - info.columns):
                statements.append(f"ALTER TABLE {self.data} ADD COLUMN c{info.id}_{suffix} "
                                  f"{COLUMN_TYPES[suffix]}")
                info.columns.add(suffix)
            if (info.tags, info.items, info.multi, info.via, info.big) != before:
                changed.append(info)
        if statements:  # one call: DDL is cheap, round trips are not
            conn.execute(";\n".join(statements))
        for info in turned:
            self._fill_elements(conn, info)
        if changed:
            conn.execute(f"INSERT OR REPLACE INTO {self.paths_table} VALUES "
                         + ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(changed)),
                         [v for i in changed for v in (i.path, i.id, i.tags, i.items, i.multi,
                                                       i.via, i.big)])

    def _fill_elements(self, conn: Any, info: PathInfo) -> None:
        """Rows stored before a path turned multi held plain values: one element each."""
        c = f"c{info.id}_"
        sets = [f"{c}x = TRUE", f"{c}u = ({c}t = 1)"]
        for direct, element in (("n", "en"), ("s", "es"), ("b", "eb"), ("d", "ed"),
                                ("k", "ek")):
            if direct in info.columns:
                sets.append(f"{c}{element} = CASE WHEN {c}{direct} IS NOT NULL "
                            f"THEN [{c}{direct}] END")
        conn.execute(f"UPDATE {self.data} SET {', '.join(sets)} WHERE {c}t IS NOT NULL")

    def drop(self, conn: Any, name: str) -> None:
        conn.execute(f"DROP TABLE IF EXISTS {self.data}")
        conn.execute(f"DROP TABLE IF EXISTS {self.paths_table}")
        conn.execute("DELETE FROM s3x_collections WHERE name = ?", [name])


class _RowId(PathInfo):
    """``_id``: the entry's insertion number, a plain number column."""

    def col(self, suffix: str) -> str | None:
        return {"t": "2", "n": "_rid"}.get(suffix)


ROW_ID = _RowId(0, "_id", tags=1 << INT)
