"""Documents to columns: dotted-path flattening, Arrow chunks, and the column order.

No row-wise DataFrame is ever built: a batch of documents is pulled apart column by column,
and each column becomes one Arrow array (or stays Python objects when Arrow cannot type it).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import gc
import threading
from collections.abc import Iterable, Iterator, Mapping
from itertools import repeat
from typing import Any

import numpy as np
import pyarrow as pa

from s3explore._checks import whole_number
from s3explore._stores import AWARE_FIELD, from_index

ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError,
                OverflowError, TypeError, ValueError)
ABSENT = object()  # a path a document lacks, told apart from an explicit null
_CONTAINERS = (list, tuple, dict, np.ndarray)
_EMPTY: dict = {}

# one column of one batch: Arrow (a table's column keeps its chunks), or Python objects
# Arrow cannot type
Chunk = pa.Array | pa.ChunkedArray | list
Piece = tuple[int, dict[str, Chunk]]  # (rows, columns) of one batch


_pause_lock = threading.Lock()
_pauses = 0
_resume = False


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while Arrow values become Python objects.

    Every list or dict made counts towards the next collection, and collections walk the
    objects made so far: for a million lists that was about 3/4 of the conversion time. The
    values made here hold no cycles, so collecting once afterwards loses nothing. Pauses in
    several threads share one: the collector resumes when the last ends, if it ran before.
    """
    global _pauses, _resume
    with _pause_lock:
        if not _pauses:
            _resume = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pauses -= 1
            if not _pauses and _resume:
                gc.enable()


def python_values(array: pa.Array | pa.ChunkedArray) -> list:
    """``array.to_pylist()``, the collector paused (lists and dicts: see ``gc_paused``)."""
    with gc_paused():
        return array.to_pylist()


def setting(value: Any, name: str, minimum: int = 1) -> int:
    """A whole-number setting (batch_size, sample, part_size): ArgumentError, which is the
    ConfigurationError of any option and the QueryError of a query argument both."""
    return whole_number(value, name, minimum)


def _columns(docs: list[dict], prefix: str, flatten: bool, fill: Any, skip: frozenset,
             out: dict[str, list]) -> None:
    """Column-wise flattening: each column is pulled out of all documents at once (C loops
    via ``map``); only columns holding dicts are walked again, one level down."""
    for name in set().union(*docs):
        if name in skip or (isinstance(name, str) and name.startswith("@")):
            continue  # monty's @module, @class, @version never become columns
        values = list(map(dict.get, docs, repeat(name), repeat(fill)))
        path = f"{prefix}{name}"
        kinds = set(map(type, values)) if flatten else ()
        if not any(issubclass(kind, dict) for kind in kinds) or any(
                isinstance(v, dict) and "@class" in v for v in values):
            out[path] = values  # an object (a Structure's dict) stays one value
            continue
        inner = [v if isinstance(v, dict) else _EMPTY for v in values]
        scalars = {k for k in kinds if not issubclass(k, dict)} - {type(None), type(fill)}
        if scalars:  # values beside the sub-documents stay under the parent's name
            out[path] = [fill if isinstance(v, dict) else v for v in values]
        _columns(inner, f"{path}.", flatten, fill, frozenset(), out)


class ColumnBuilder:
    """Collects documents, then hands them out as columns under dotted names.

    A field a document lacks is ``fill`` in its row; an empty dict counts as absent.
    """

    def __init__(self, flatten: bool = True, skip: Iterable[str] = (), fill: Any = None):
        self.flatten = flatten
        self.skip = frozenset(skip)
        self.fill = fill
        self.docs: list[dict] = []

    @property
    def rows(self) -> int:
        return len(self.docs)

    def add(self, doc: Mapping | None) -> None:
        self.docs.append(_EMPTY if not doc else doc if type(doc) is dict else dict(doc))

    def extend(self, docs: list) -> None:
        if set(map(type, docs)) == {dict}:  # what every driver returns: no per-doc work
            self.docs.extend(docs)
        else:
            for doc in docs:
                self.add(doc)

    def finish(self) -> dict[str, list]:
        out: dict[str, list] = {}
        _columns(self.docs, "", self.flatten, self.fill, self.skip, out)
        return out


def _zones(values: list) -> set | None:
    """The tzinfo of each datetime among ``values`` and their list items (None for naive
    ones), or None when there is no datetime."""
    kinds = set(map(type, values))
    if list in kinds:
        values = [i for v in values for i in (v if type(v) is list else (v,))]
        kinds = set(map(type, values))
    if not any(issubclass(k, _dt.datetime) for k in kinds):
        return None
    return {v.tzinfo if v.utcoffset() is not None else None
            for v in values if isinstance(v, _dt.datetime)}


def _utc(value: Any) -> Any:
    if type(value) is list:
        return [_utc(v) for v in value]
    return value.astimezone(_dt.UTC) if isinstance(value, _dt.datetime) else value


def to_chunk(values: list, keep_containers: bool = False) -> Chunk:
    """An Arrow array when Arrow can type the values, else the values themselves.

    ``keep_containers`` (query_df): list, array and dict values stay the Python objects they
    are, since pandas holds them as objects anyway; Arrow only types the scalar columns.
    Datetimes: naive ones a naive column, aware ones of one time zone a column in it, aware
    ones of several zones a UTC column; naive and aware ones together stay Python values
    (Arrow would read them all in the first one's kind, moving the others' wall time).
    """
    if keep_containers:
        first = next((v for v in values if v is not None), None)
        if isinstance(first, _CONTAINERS):
            return values
    zones = _zones(values)
    if zones is not None and len(zones) > 1:
        if None in zones:
            return values
        values = [_utc(v) for v in values]
    try:
        array = pa.array(values)
    except ARROW_ERRORS:
        return values
    if keep_containers and pa.types.is_nested(array.type):
        return values
    return array


def table_columns(table: pa.Table, flatten: bool, skip: frozenset[str]) -> dict[str, Chunk]:
    """Columns of an Arrow table from an index (nested structs), as the dict path makes them."""
    marks = None
    if AWARE_FIELD in table.column_names:  # which datetimes were aware (_stores/_timezones.py)
        marks = python_values(table.column(AWARE_FIELD))
        table = table.drop_columns([AWARE_FIELD])
    while flatten and any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()  # one level per call: "calc" -> "calc.encut"
    columns: dict[str, Chunk] = {}
    for name in table.column_names:
        if name == "_id" or name in skip:
            continue
        # chunks kept as they are: joining them is a copy of the whole column, which pandas
        # makes anyway (a second of fresh memory for 10 million rows of 4 columns)
        column = table.column(name)
        plain = isinstance(column.type, pa.ExtensionType) or pa.types.is_struct(column.type)
        columns[name] = python_values(column) if plain else column  # ObjectId, Decimal128, dicts
    if marks is not None:
        _mark_aware(columns, marks)
    return columns


def _mark_aware(columns: dict[str, Chunk], marks: list) -> None:
    """Columns holding the datetimes ``marks`` (each row's list of aware paths) names made
    UTC-aware: a cast when no row holds a naive datetime there, else (naive and aware values
    in one column) Python values, each as the index holds it."""
    marked = {p for row in marks if row for p in row if isinstance(p, str)}
    for name, chunk in columns.items():
        paths = [p for p in marked if p == name or p.startswith(name + ".")]
        if not paths:
            continue
        if isinstance(chunk, pa.Array | pa.ChunkedArray):
            target = chunk.type
            for path in paths:
                parts = path[len(name) + 1:].split(".") if path != name else []
                target = _utc_type(target, parts) if target is not None else None
                lacking = pa.array([not (m and path in m) for m in marks])
                if target is not None and any(
                        _datetime_at(v, parts) for v in python_values(chunk.filter(lacking))):
                    target = None  # a naive datetime beside aware ones
            if target is not None:
                columns[name] = chunk.cast(target)
                continue
        values = chunk if isinstance(chunk, list) else python_values(chunk)
        columns[name] = [from_index({name: v, AWARE_FIELD: [p for p in m if p in paths]})[name]
                         if m and v is not None else v for v, m in zip(values, marks, strict=True)]


def _datetime_at(value: Any, parts: list[str]) -> bool:
    if type(value) is list:
        return any(_datetime_at(v, parts) for v in value)
    if not parts:
        return isinstance(value, _dt.datetime)
    return type(value) is dict and _datetime_at(value.get(parts[0]), parts[1:])


def _utc_type(kind: pa.DataType, parts: list[str]) -> pa.DataType | None:
    """``kind`` with the naive timestamps at ``parts`` (through lists and structs) in UTC;
    None when something else is there."""
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        inner = _utc_type(kind.value_type, parts)
        if inner is None:
            return None
        field = kind.value_field.with_type(inner)
        return pa.list_(field) if pa.types.is_list(kind) else pa.large_list(field)
    if not parts:
        if pa.types.is_timestamp(kind) and kind.tz is None:
            return pa.timestamp(kind.unit, "UTC")
        return kind if pa.types.is_null(kind) or pa.types.is_timestamp(kind) else None
    if pa.types.is_struct(kind):
        index = kind.get_field_index(parts[0])
        inner = _utc_type(kind.field(index).type, parts[1:]) if index >= 0 else None
        if inner is None:
            return None
        return pa.struct([f.with_type(inner) if i == index else f for i, f in enumerate(kind)])
    return None


def under(path: str, names: Iterable[str]) -> list[str]:
    """``path`` itself and the dotted names below it, sorted."""
    return sorted(n for n in names if n == path or n.startswith(path + "."))


def column_order(names: Iterable[str], key: str, fields: list[str] | None,
                 fetch: list[str]) -> list[str]:
    """Key first, then ``fields`` in the order asked, the rest by name, fetched paths last."""
    names = set(names)
    fetched = list(dict.fromkeys(n for p in fetch for n in (under(p, names) or [p])))
    ordered = [key]
    for field in fields or []:
        ordered += under(field, names) or [field]
    ordered = [n for n in ordered if n not in fetched]
    ordered += sorted(names - set(ordered) - set(fetched))
    return list(dict.fromkeys(ordered + fetched))
