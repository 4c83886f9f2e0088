"""The Store base: the query interface every store shares, maggma-style."""

from __future__ import annotations

import datetime as _dt
import itertools
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from typing import Any

from s3explore._errors import ConfigurationError, QueryError

Sort = Mapping[str, int]
Properties = list[str] | Mapping[str, Any] | None


def get_path(doc: Mapping, path: str, default: Any = None) -> Any:
    """``doc["a"]["b"]`` for ``"a.b"``; ``default`` when any step is missing."""
    value: Any = doc
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return default
    return value


_MISSING = object()


def has_path(doc: Mapping, path: str) -> bool:
    return get_path(doc, path, _MISSING) is not _MISSING


def nested(flat: Mapping[str, Any]) -> dict:
    """``{"calc.encut": 520}`` -> ``{"calc": {"encut": 520}}``."""
    out: dict = {}
    for path, value in flat.items():
        *parents, leaf = path.split(".")
        target = out
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return out


def project(doc: Mapping, names: list[str]) -> dict:
    """A Mongo-style projection of ``doc`` onto dotted ``names`` (absent paths left out)."""
    found = {name: get_path(doc, name, _MISSING) for name in names}
    return nested({name: value for name, value in found.items() if value is not _MISSING})


def check_criteria(criteria: Any) -> dict:
    if criteria is None:
        return {}
    if not isinstance(criteria, Mapping):
        raise QueryError(
            f"criteria must be a dict such as {{'nsites': {{'$gt': 10}}}}, "
            f"not {type(criteria).__name__}: {criteria!r:.60}"
        )
    return dict(criteria)


def check_sort(sort: Any) -> list[tuple[str, int]] | None:
    if not sort:
        return None
    if not isinstance(sort, Mapping):
        raise QueryError(f"sort must be a dict like {{'nsites': -1}}, not {type(sort).__name__}")
    pairs = []
    for field, direction in sort.items():
        value = getattr(direction, "value", direction)  # maggma's Sort enum
        if value not in (1, -1):
            raise QueryError(f"sort direction for {field!r} must be 1 or -1, got {direction!r}")
        pairs.append((str(field), int(value)))
    return pairs


def check_paging(skip: Any, limit: Any) -> None:
    for name, value in (("skip", skip), ("limit", limit)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise QueryError(f"{name} must be a whole number >= 0, got {value!r}")


def property_names(properties: Properties) -> list[str] | None:
    if properties is None:
        return None
    if isinstance(properties, str):
        return [properties]
    if isinstance(properties, Mapping):
        return [k for k, v in properties.items() if v]
    if isinstance(properties, (list, tuple)):
        return [str(p) for p in properties]
    raise QueryError(f"properties must be a list of field names, not {type(properties).__name__}")


def to_datetime(value: Any) -> _dt.datetime | None:
    if isinstance(value, _dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return _dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


class Store(ABC):
    """A queryable collection of documents with a key field (maggma's Store interface)."""

    last_updated_field = "last_updated"

    def __init__(self, key: str = "fs_id") -> None:
        if not isinstance(key, str) or not key:
            raise ConfigurationError(f"key must be a non-empty field name, got {key!r}")
        self.key = key

    # -- lifecycle
    @abstractmethod
    def connect(self, force_reset: bool = False) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Store:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    @abstractmethod
    def name(self) -> str: ...

    # -- queries
    @abstractmethod
    def query(
        self,
        criteria: dict | None = None,
        properties: Properties = None,
        sort: Sort | None = None,
        skip: int = 0,
        limit: int = 0,
    ) -> Iterator[dict]: ...

    @abstractmethod
    def count(self, criteria: dict | None = None) -> int: ...

    @abstractmethod
    def update(self, docs: Any, key: list[str] | str | None = None) -> Any: ...

    @abstractmethod
    def remove_docs(self, criteria: dict) -> None: ...

    @abstractmethod
    def ensure_index(self, key: str, unique: bool = False) -> bool: ...

    def query_one(
        self, criteria: dict | None = None, properties: Properties = None, sort: Sort | None = None
    ) -> dict | None:
        return next(iter(self.query(criteria, properties, sort, limit=1)), None)

    def distinct(self, field: str, criteria: dict | None = None) -> list:
        seen: dict[Any, None] = {}
        for doc in self.query(criteria, properties=[field]):
            value = get_path(doc, field, _MISSING)
            if value is _MISSING:
                continue
            for item in value if isinstance(value, list) else [value]:
                try:
                    seen.setdefault(item)
                except TypeError:  # unhashable values are compared by repr
                    seen.setdefault(repr(item))
        return list(seen)

    def groupby(
        self,
        keys: list[str] | str,
        criteria: dict | None = None,
        properties: Properties = None,
        sort: Sort | None = None,
        skip: int = 0,
        limit: int = 0,
    ) -> Iterator[tuple[dict, list[dict]]]:
        """Group documents by ``keys``; yields ``({key: value, ...}, [docs])`` per group.

        Groups come sorted by their key values; ``skip``/``limit`` count groups.
        """
        check_paging(skip, limit)
        keys = [keys] if isinstance(keys, str) else list(keys)
        if not keys:
            raise QueryError("groupby needs at least one key")
        props = property_names(properties)
        wanted = None if props is None else list(dict.fromkeys(keys + props + [self.key]))
        docs = [d for d in self.query(criteria, wanted, sort) if all(has_path(d, k) for k in keys)]

        def group_key(doc: dict) -> tuple:
            return tuple(_sortable(get_path(doc, k)) for k in keys)

        docs.sort(key=group_key)
        groups = itertools.groupby(docs, key=group_key)
        stop = skip + limit if limit else None
        for _, members in itertools.islice(groups, skip, stop):
            members = list(members)
            yield nested({k: get_path(members[0], k) for k in keys}), members

    @property
    def last_updated(self) -> _dt.datetime:
        """The newest ``last_updated`` in the store, ``datetime.min`` when there is none."""
        field = self.last_updated_field
        doc = self.query_one({field: {"$exists": True}}, [field], {field: -1})
        value = to_datetime(get_path(doc, field)) if doc else None
        return value or _dt.datetime.min

    def newer_in(
        self, target: Store, criteria: dict | None = None, exhaustive: bool = False
    ) -> list:
        """Keys of documents that are newer in ``target`` than in this store."""
        target = getattr(target, "index", target)
        field = self.last_updated_field
        if not exhaustive:
            newest = self.last_updated
            query = {"$and": [check_criteria(criteria), {field: {"$gt": newest}}]}
            return target.distinct(target.key, query)
        mine = {
            d[self.key]: to_datetime(d.get(field)) or _dt.datetime.max
            for d in self.query(properties=[self.key, field])
            if self.key in d
        }
        theirs = {
            d[target.key]: to_datetime(d.get(field)) or _dt.datetime.min
            for d in target.query(criteria, properties=[target.key, field])
            if target.key in d
        }
        return [k for k, t in theirs.items() if k not in mine or t > mine[k]]


def _sortable(value: Any) -> tuple:
    """Order mixed types the way MongoDB roughly does: None, numbers, strings, the rest."""
    if value is None:
        return (0, 0)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, repr(value))
