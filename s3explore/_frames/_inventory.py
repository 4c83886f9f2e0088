"""``fields()``: every dotted path of an index, with its types, how often it is present,
its distinct values and an example, and a plain statement of what was counted."""

from __future__ import annotations

from typing import Any

import pandas as pd

from s3explore._frames._columns import ABSENT, ColumnBuilder, column_order, setting
from s3explore._frames._read import BOOKKEEPING_FIELDS, find, index_of
from s3explore._query import Query
from s3explore._stores import ObjectBackedStore, Store

COLUMNS = ["field", "types", "count", "fraction", "distinct", "example"]
DEFAULT_SAMPLE = 1000
# sample=None: every entry is read up to this many; beyond, DEFAULT_SAMPLE of them
READ_ALL_UP_TO = 10 * DEFAULT_SAMPLE


class FieldsFrame(pd.DataFrame):
    """The ``fields()`` table; its repr starts with what was counted (all entries or a sample).

    ``attrs``: ``sampled`` (entries read), ``total`` (entries in the index), ``complete``
    (True when every entry was counted). Derived frames (``set_index``...) are plain
    DataFrames that keep ``attrs``.
    """

    @property
    def caption(self) -> str:
        sampled, total = self.attrs.get("sampled", 0), self.attrs.get("total", 0)
        where = self.attrs.get("index", "the index")
        if self.attrs.get("complete", True):
            return f"fields of all {total:,} entries in {where}"
        return (f"fields of a SAMPLE of {sampled:,} of {total:,} entries in {where}: count, "
                f"fraction and distinct are over the sample (fields(sample={total}) reads all)")

    def __repr__(self) -> str:
        return f"{self.caption}\n{super().__repr__()}"

    def _repr_html_(self) -> str | None:
        html = super()._repr_html_()
        return None if html is None else f"<p><i>{self.caption}</i></p>{html}"


def _type_names(values: list, has_null: bool) -> str:
    """``"float, int, null"``; lists as ``list[str]`` with the item types of all of them."""
    names = {type(v).__name__ for v in values if not isinstance(v, list)}
    lists = [v for v in values if isinstance(v, list)]
    if lists:
        items = sorted({type(item).__name__ for v in lists for item in v})
        names.add(f"list[{'|'.join(items)}]" if items else "list")
    return ", ".join(sorted(names) + (["null"] if has_null else []))


def _distinct(values: list) -> int:
    seen = set()
    for value in values:
        try:
            seen.add(value)
        except TypeError:  # lists and dicts are compared by their repr
            seen.add(("unhashable", repr(value)))
    return len(seen)


def draw(index: Any, size: int) -> list[dict]:
    """``size`` documents: ``Store._entry_sample`` (random where the engine can), else the
    first ones of a foreign index."""
    if isinstance(index, Store):
        return index._entry_sample(size)
    return list(find(index, Query({}, limit=size)))


def table(docs: list[dict], key: str, skip: frozenset[str] | tuple = ()) -> pd.DataFrame:
    """The inventory of ``docs``: one row per dotted field, the key first."""
    builder = ColumnBuilder(skip=skip, fill=ABSENT)
    builder.extend(docs)
    columns = builder.finish()
    rows = []
    for name in column_order(columns, key, None, []):
        if name not in columns:
            continue
        present = [v for v in columns[name] if v is not ABSENT]
        values = [v for v in present if v is not None]
        rows.append({"field": name, "types": _type_names(values, len(values) < len(present)),
                     "count": len(present), "fraction": len(present) / len(docs),
                     "distinct": _distinct(values), "example": values[0] if values else None})
    return pd.DataFrame(rows, columns=COLUMNS)


def inventory(store: Any, sample: int | None = DEFAULT_SAMPLE) -> pd.DataFrame:
    """Inventory of the index: one row per dotted field.

    Columns: ``field``, ``types`` (Python type names seen, ``null`` for explicit nulls),
    ``count`` and ``fraction`` of the entries read that have it, ``distinct`` values among
    them, and an ``example`` value. Every entry is counted when the index has at most
    ``sample`` entries or its backend computes the inventory itself (``_inventory``);
    otherwise ``sample`` entries are drawn (at random where the backend can) and the table
    says so: its repr starts with "fields of a SAMPLE of ...", and ``attrs`` holds
    ``sampled`` (entries read), ``total`` and ``complete``. ``sample=None`` reads every
    entry of an index up to 10,000 entries, and 1,000 of a larger one.
    """
    index = index_of(store)
    size = DEFAULT_SAMPLE if sample is None else setting(sample, "sample")
    skip = BOOKKEEPING_FIELDS if isinstance(store, ObjectBackedStore) else frozenset()
    total = index.count()
    frame = index._entry_inventory() if isinstance(index, Store) else None
    if frame is not None:  # computed by the backend over the whole index
        frame = frame[~frame["field"].isin(skip)].reset_index(drop=True)
        read = total
    else:
        everything = total <= (READ_ALL_UP_TO if sample is None else size)
        docs = list(find(index, Query({}))) if everything else draw(index, size)
        frame, read = table(docs, index.key, skip), len(docs)
    result = FieldsFrame(frame)
    result.attrs.update(sampled=read, total=total, complete=read >= total, index=index.name)
    return result
