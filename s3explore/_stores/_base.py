"""The Store base: maggma's Store interface, validated once, over a backend's hooks.

A backend (an index engine) implements a handful of hooks that receive validated input:
``_connect``, ``_close``, ``_find``, ``_count``, ``_upsert`` and ``_delete``, and may implement
faster versions of the optional ones (``_distinct``, ``_groupby``, ``_create_index``,
``_find_arrow``, ``_sample``, ``_inventory``, ``_swap``, ``_versions``). Everything public
lives here; stores whose documents are objects behind an index add theirs once in
``_documents.ObjectBackedStore``, and a read-only store composes ``_readonly.ReadOnly``.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from s3explore._checks import ArgumentError, one_of
from s3explore._errors import ConfigurationError, InvalidDocumentError, QueryError
from s3explore._query import (
    Properties,
    Query,
    SortSpec,
    check_criteria,
    check_fields,
    get_path,
    has_path,
    nested,
    operators,
    project,
    whole_number,
)
from s3explore._stores._config import ConfigMixin
from s3explore._stores._dataframes import DataFrameMethods
from s3explore._stores._hints import check, from_user, hint_if_empty
from s3explore._stores._results import UpdateResult
from s3explore._stores._sanitize import sanitize
from s3explore._stores._swap import check_swap, swap_in_process, versions
from s3explore._stores._timezones import (
    aware_distinct,
    aware_groups,
    to_index,
    utc_criteria,
    with_aware_field,
)
from s3explore._stores._values import (
    _from_isoformat,
    _identity,
    _to_isoformat,
    sortable,
    to_datetime,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from s3explore._stores._cost import CostEstimate
    from s3explore._stores._counting import CountEstimate

# Kept importable from here: the stores layer's historical home of these helpers.
__all__ = ["Query", "Store", "get_path", "has_path", "nested", "project"]

_MISSING = object()
LAST_UPDATED_TYPES = ("datetime", "isoformat")


class Store(DataFrameMethods, ConfigMixin, ABC):
    """A queryable collection of documents with a key field: maggma's Store interface.

    Public methods validate their arguments once, then call the backend's hooks. Stores are
    MSONable (``as_dict``/``from_dict``), travel to other processes without their connections
    (``__getstate__``), and compare equal
    when configured alike, as maggma's stores do.
    """

    supported_operators: frozenset[str] | None = None  # None: the engine decides
    # Whether swap_entries is atomic against every writer of the index, in any process: then
    # S3Store's writer confirms its entries without a request to S3.
    atomic_swaps: bool = False

    def __init__(self, key: str = "task_id", last_updated_field: str = "last_updated",
                 last_updated_type: Any = "datetime", validator: Any = None) -> None:
        for name, value in (("key", key), ("last_updated_field", last_updated_field)):
            if not isinstance(value, str) or not value:
                raise ConfigurationError(f"{name} must be a non-empty field name, got {value!r}")
        lu_type = getattr(last_updated_type, "value", last_updated_type)  # maggma's enum
        one_of(lu_type, "last_updated_type", LAST_UPDATED_TYPES)
        if validator is not None and not callable(getattr(validator, "is_valid", None)):
            raise ConfigurationError("validator must have is_valid(doc) and "
                                     "validation_errors(doc), like maggma's JSONSchemaValidator")
        self.key = key
        self.last_updated_field = last_updated_field
        self.last_updated_type = lu_type
        self.validator = validator

    @property
    def _lu_func(self) -> tuple:
        """maggma's pair (stored value -> datetime, datetime -> stored value)."""
        if self.last_updated_type == "isoformat":
            return (_from_isoformat, _to_isoformat)
        return (_identity, _identity)

    # ------------------------------------------------------------ lifecycle

    def connect(self, force_reset: bool = False) -> None:
        self._connect(bool(force_reset))

    def close(self) -> None:
        self._close()

    def __enter__(self) -> Store:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    @abstractmethod
    def name(self) -> str: ...

    # ------------------------------------------------------------ public API

    def query(self, criteria: dict | None = None, properties: Properties = None,
              sort: SortSpec = None, skip: int = 0, limit: int = 0) -> Iterator[dict]:
        """Documents matching ``criteria``, projected onto ``properties``, sorted and paged."""
        q = self._query(criteria, properties, sort, skip, limit)
        found = self._find(q)
        return hint_if_empty(self, q.criteria, found) if from_user() else found

    def query_one(self, criteria: dict | None = None, properties: Properties = None,
                  sort: SortSpec = None) -> dict | None:
        return next(iter(self.query(criteria, properties, sort, limit=1)), None)

    def count(self, criteria: dict | None = None, max_time: float | None = None) -> int:
        """Entries matching ``criteria``, exact. With ``max_time`` (seconds), QueryError when
        counting takes longer; ``estimate_count`` answers in time, as a bound if need be."""
        criteria = self._criteria(criteria)
        if max_time is None:
            found = self._count(criteria)
        else:
            from s3explore._stores import _counting

            found = _counting.timed_count(self, criteria, _counting.check_max_time(max_time))
        if not found and from_user():
            check(self, criteria)  # a typo hint (see _hints), for empty results only
        return found

    def estimate_count(self, criteria: dict | None = None,
                       max_time: float | None = 0.5) -> CountEstimate:
        """How many entries match, within ``max_time`` seconds: exact when the engine finishes
        in time, else "at least N" (or MongoDB's "about N" of the whole collection); see
        ``CountEstimate``."""
        from s3explore._stores import _counting

        return _counting.estimate_count(self, self._criteria(criteria),
                                        _counting.check_max_time(max_time))

    def facets(self, field: str, criteria: dict | None = None, limit: int = 10, *,
               bins: int | None = None, max_time: float | None = 0.5) -> pd.DataFrame:
        """The ``limit`` most frequent values of ``field`` (``value``, ``count``) among the
        entries matching ``criteria``, or a histogram (``lower``, ``upper``, ``count``),
        counted in the index engine. ``attrs["complete"]`` is False when ``max_time`` seconds
        ran out. See ``s3explore._stores._facets`` for ``bins`` and the ``attrs``."""
        from s3explore._stores import _facets

        return _facets.facets(self, field, criteria, limit, bins, max_time)

    def estimate(self, criteria: dict | None = None, fetch: list[str] | None = None, *,
                 max_time: float = 2.0) -> CostEstimate:
        """What ``query_df(criteria, fetch=fetch)`` would cost: entries, objects to GET,
        bytes and seconds expected, measured on a few GETs (see ``CostEstimate``)."""
        from s3explore._stores import _cost

        return _cost.estimate(self, criteria, fetch, max_time)

    def distinct(self, field: str | list[str], criteria: dict | None = None,
                 all_exist: bool = False) -> list:
        """Distinct values of ``field`` (list values count item by item, as in MongoDB).

        With a list of fields: the distinct combinations, as nested dicts; ``all_exist``
        keeps only documents that have every field.
        """
        criteria = self._criteria(criteria)
        if isinstance(field, str):
            check_fields([field], "field")
            return aware_distinct(self, field, criteria, self._distinct(field, criteria))
        fields = check_fields(field, "field") or []
        if not fields:
            raise QueryError("distinct needs a field name or a non-empty list of them")
        seen: dict[str, dict] = {}
        for doc in self._find(Query(criteria, fields)):
            if all_exist and not all(has_path(doc, f) for f in fields):
                continue
            combo = {f: get_path(doc, f) for f in fields}
            seen.setdefault(repr(sorted(combo.items(), key=lambda p: p[0])), nested(combo))
        return list(seen.values())

    def groupby(self, keys: list[str] | str, criteria: dict | None = None,
                properties: Properties = None, sort: SortSpec = None, skip: int = 0,
                limit: int = 0) -> Iterator[tuple[dict, list[dict]]]:
        """Group documents by ``keys``; yields ``({key: value, ...}, [docs])`` per group.

        Groups come sorted by their key values; ``skip``/``limit`` count groups. Documents
        that lack a key are left out.
        """
        keys = check_fields([keys] if isinstance(keys, str) else keys, "keys") or []
        if not keys:
            raise QueryError("groupby needs at least one key")
        q = self._query(criteria, properties, sort, skip, limit)
        q = Query(q.criteria, with_aware_field(q.properties), q.sort, q.skip, q.limit)
        groups = self._groupby(keys, q)
        # asked after the engine has begun reading: a mark written since is not missed
        return aware_groups(groups, keys, self._marks_aware())

    def update(self, docs: Iterable[Mapping] | Mapping,
               key: list[str] | str | None = None) -> UpdateResult:
        """Upsert documents by ``key`` (the store's key by default); returns an
        ``UpdateResult`` (``written``: how many), as every store's ``update`` does.

        Values are made storable first (numpy to lists, MSONable objects to dicts, as maggma
        does); a document that fails the store's ``validator`` raises InvalidDocumentError,
        naming its key, before anything is written.
        """
        self._check_writable("update")
        started = time.perf_counter()
        keys = self._keys(key)
        batch = list(self._checked(docs, keys))
        if batch:
            self._upsert(batch, keys)
        return UpdateResult(written=len(batch), seconds=time.perf_counter() - started)

    def swap_entries(self, entries: list[dict], seen: list[str | None], *,
                     key: str | None = None, field: str = "obj_etag") -> list[bool]:
        """Compare and set: write each entry only if its key's ``field`` is still ``seen``
        (``""``: an entry without the field, ``None``: no entry). Returns, per entry,
        whether the index holds it now. S3Store's writer uses it (see ``atomic_swaps``)."""
        self._check_writable("swap_entries")
        keys = self._keys(key)
        check_swap(entries, seen, keys[0])
        check_fields([field], "field")
        return self._swap(list(self._checked(entries, keys)), list(seen), keys[0], field)

    def remove_docs(self, criteria: dict) -> None:
        """Remove every document matching ``criteria`` (``{}`` removes all)."""
        self._check_writable("remove_docs")
        if criteria is None:
            raise ArgumentError("remove_docs needs criteria; pass {} to remove everything")
        self._delete(self._criteria(criteria))

    def ensure_index(self, key: str, unique: bool = False) -> bool:
        check_fields([key], "key")
        return self._create_index(key, bool(unique))

    @property
    def last_updated(self) -> _dt.datetime:
        """The newest ``last_updated`` in the store, ``datetime.min`` when there is none."""
        field = self.last_updated_field
        doc = self.query_one({field: {"$exists": True, "$ne": None}}, [field], {field: -1})
        value = to_datetime(self._lu_func[0](get_path(doc, field))) if doc else None
        return value or _dt.datetime.min

    def newer_in(self, target: Any, criteria: dict | None = None,
                 exhaustive: bool = False) -> list:
        """Keys of documents that are newer (or only present) in ``target`` than here."""
        target = getattr(target, "index", target)
        field = self.last_updated_field
        criteria = check_criteria(criteria)
        if not exhaustive:
            newest = self._lu_func[1](self.last_updated)
            query = {"$and": [criteria, {target.last_updated_field: {"$gt": newest}}]}
            return target.distinct(target.key, query if criteria else query["$and"][1])
        lu_mine, lu_theirs = self._lu_func[0], getattr(target, "_lu_func", (_identity,))[0]
        mine = {
            d[self.key]: to_datetime(lu_mine(d.get(field))) or _dt.datetime.max
            for d in self.query(properties=[self.key, field]) if self.key in d
        }
        theirs = {
            d[target.key]: to_datetime(lu_theirs(d.get(target.last_updated_field)))
            or _dt.datetime.min
            for d in target.query(criteria, properties=[target.key, target.last_updated_field])
            if target.key in d
        }
        return [k for k, t in theirs.items() if k not in mine or t > mine[k]]

    # ------------------------------------------------------------ for the frames layer
    # Documented protected methods: the frames layer (query_df, to_arrow, to_dask, fields)
    # reads index entries through these, not through the backend hooks, which only a
    # backend implements and only this class calls.

    def _entry_query(self, criteria: Any = None, properties: Any = None, sort: Any = None,
                     skip: Any = 0, limit: Any = 0) -> Query:
        """The validated Query of a read of index entries (this store's operator checks)."""
        return self._query(criteria, properties, sort, skip, limit)

    def _index_entries(self, q: Query) -> Iterator[dict]:
        """Index entries for a validated ``q``, without ``_id`` and without typo hints."""
        return self._find(q)

    def _entry_table(self, q: Query) -> pa.Table | None:
        """The entries for ``q`` as one Arrow table, or None when the engine has no
        columnar reader (then read ``_index_entries``)."""
        return self._find_arrow(q)

    def _entry_sample(self, n: int) -> list[dict]:
        """``n`` index entries for ``fields()``: at random where the engine can, else the
        first ones."""
        return list(self._sample(n))

    def _entry_inventory(self) -> pd.DataFrame | None:
        """The whole index's ``fields()`` table when the engine computes it itself, else
        None (then ``fields()`` reads entries)."""
        return self._inventory()

    # ------------------------------------------------------------ validation

    def _criteria(self, criteria: Any) -> dict:
        criteria = utc_criteria(check_criteria(criteria))  # engines hold naive UTC instants
        if self.supported_operators is not None:
            unknown = sorted(set(operators(criteria)) - self.supported_operators)
            if unknown:
                raise QueryError(
                    f"{type(self).__name__} does not support the operator(s) {unknown}; "
                    f"supported: {' '.join(sorted(self.supported_operators))}")
        return criteria

    def _query(self, criteria: Any, properties: Any, sort: Any, skip: Any, limit: Any) -> Query:
        q = Query.build(criteria, properties, sort, skip, limit)
        return Query(self._criteria(q.criteria), q.properties, q.sort, q.skip, q.limit)

    def _keys(self, key: Any) -> list[str]:
        keys = [key] if isinstance(key, str) else list(key or [self.key])
        if not keys or not all(isinstance(k, str) and k for k in keys):
            raise ConfigurationError(f"key must be a field name or a list of them, got {key!r}")
        return keys

    def _checked(self, docs: Any, keys: list[str]) -> Iterator[dict]:
        """Storable copies of ``docs``, each with its key fields; the caller's stay untouched."""
        if isinstance(docs, Mapping):
            docs = [docs]
        if isinstance(docs, (str, bytes)) or not isinstance(docs, Iterable):
            raise InvalidDocumentError(
                f"docs must be a dict or an iterable of dicts, not {type(docs).__name__}")
        for doc in docs:
            if not isinstance(doc, Mapping):
                raise InvalidDocumentError(f"documents must be dicts, got {type(doc).__name__}")
            missing = [k for k in keys if not has_path(doc, k)]
            if missing:
                raise InvalidDocumentError(
                    f"document has no key field(s) {missing}; add them or pass key=",
                    key=str(doc.get(self.key)) if self.key in doc else None)
            if self.validator is not None and not self.validator.is_valid(doc):
                shown = get_path(doc, keys[0])
                raise InvalidDocumentError(
                    f"document {shown!r} fails the store's validator: "
                    f"{self.validator.validation_errors(doc)}", key=str(shown))
            yield to_index(sanitize({k: v for k, v in doc.items() if k != "_id"}))

    # ------------------------------------------------------------ backend hooks

    def _check_writable(self, what: str) -> None:
        """Called by every public write before it looks at its arguments; a read-only store
        raises ReadOnlyStoreError here (see ``_readonly.ReadOnly``)."""

    @abstractmethod
    def _connect(self, force_reset: bool) -> None: ...

    @abstractmethod
    def _close(self) -> None: ...

    @abstractmethod
    def _find(self, q: Query) -> Iterator[dict]:
        """Documents without ``_id``, projected Mongo-style onto ``q.properties``."""

    @abstractmethod
    def _count(self, criteria: dict) -> int: ...

    @abstractmethod
    def _upsert(self, docs: list[dict], keys: list[str]) -> None:
        """Insert or replace by ``keys``; the last copy of a key in ``docs`` wins."""

    @abstractmethod
    def _delete(self, criteria: dict) -> None: ...

    def _swap(self, entries: list[dict], seen: list[str | None], key: str,
              field: str) -> list[bool]:
        return swap_in_process(self, entries, seen, key, field)

    def _versions(self, keys: list[Any], key: str, field: str) -> dict[Any, str]:
        """The ``field`` of each of ``keys`` now (``""`` for none), for swaps and writers."""
        return versions(self, keys, key, field)

    def _distinct(self, field: str, criteria: dict) -> list:
        seen: dict[Any, None] = {}
        for doc in self._find(Query(criteria, [field])):
            value = get_path(doc, field, _MISSING)
            if value is _MISSING:
                continue
            for item in value if isinstance(value, list) else [value]:
                try:
                    seen.setdefault(item)
                except TypeError:  # unhashable values are compared by repr
                    seen.setdefault(repr(item))
        return list(seen)

    def _marks_aware(self) -> bool:
        """Whether some entry may mark aware datetimes (``_timezones``); False spares a
        groupby looking for the marks among millions of members."""
        return True

    def _groupby(self, keys: list[str], q: Query) -> Iterator[tuple[dict, list[dict]]]:
        props = None if q.properties is None else list(dict.fromkeys(
            [*keys, *q.properties, self.key]))
        found = self._find(Query(q.criteria, props, q.sort))
        docs = [d for d in found if all(has_path(d, k) for k in keys)]

        def group_key(doc: dict) -> tuple:
            return tuple(sortable(get_path(doc, k)) for k in keys)

        docs.sort(key=group_key)
        stop = q.skip + q.limit if q.limit else None
        for _, members in itertools.islice(itertools.groupby(docs, key=group_key), q.skip, stop):
            members = list(members)
            yield nested({k: get_path(members[0], k) for k in keys}), members

    def _create_index(self, field: str, unique: bool) -> bool:
        return False

    def _find_arrow(self, q: Query) -> pa.Table | None:
        return None

    def _sample(self, n: int) -> list[dict]:
        return list(self._find(Query({}, limit=whole_number(n, "sample", 1))))

    def _inventory(self) -> pd.DataFrame | None:
        return None
