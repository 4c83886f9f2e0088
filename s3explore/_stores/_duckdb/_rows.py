"""Documents to shadow-column values: what each dotted path holds, the way MongoDB sees it.

A batch is walked once (``walk_batch``): for every path, the rows that reach it through dicts
with their *direct* values, and the rows that reach it below an array of documents with
their candidate values (``NOTHING`` where an element lacks the path). ``PathColumns`` turns
one path's slot into typed column values (see ``_schema`` for the columns); a path holding
one scalar type in every row takes a fast path without per-value work.
"""

from __future__ import annotations

from typing import Any

from s3explore._errors import InvalidDocumentError
from s3explore._stores._duckdb._values import (
    BOOL,
    BRACKET,
    BYTES,
    DATE,
    DICT,
    EMPTY_ARRAY_KEY,
    EXACT_INT,
    FLOAT,
    INT,
    LIST,
    NONE,
    NOTHING,
    STR,
    TAG_OF,
    enc,
    tag_of,
)

# value column (suffix) for each tag; dicts have none (their fields have columns)
VALUE_COLUMN = {INT: "n", FLOAT: "n", STR: "s", BOOL: "b", DATE: "d", LIST: "k", BYTES: "k"}
SORT_COLUMN = {"n": "on", "s": "os", "b": "obb", "d": "od", "k": "ok"}
ELEMENT_COLUMN = {"n": "en", "s": "es", "b": "eb", "d": "ed", "k": "ek"}
_SCALAR_TAGS = frozenset({NONE, INT, FLOAT, STR, BOOL, DATE})
_GOOD_NAMES: set[str] = set()  # field names already checked

Entry = tuple[Any, list | None]  # (direct value or NOTHING, candidates below arrays or None)


def addressable(name: Any) -> bool:
    if not isinstance(name, str):
        raise InvalidDocumentError(f"field names must be strings, got {name!r:.60}; "
                                   "index stores key documents by string field names")
    # names MongoDB queries cannot address get no shadow columns (they stay in the document)
    return bool(name) and "." not in name and not name.startswith("$")


class Slot:
    """One path over one batch: direct values by row, and candidates below arrays by row."""

    __slots__ = ("lists", "rows", "values", "via_cands", "via_rows")

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.values: list = []
        self.via_rows: list[int] = []
        self.via_cands: list[list] = []
        self.lists = False  # some direct value is an array

    @property
    def multi(self) -> bool:
        return self.lists or bool(self.via_rows)


def walk_batch(docs: list[dict]) -> dict[str, Slot]:
    slots: dict[str, Slot] = {}
    for row, doc in enumerate(docs):
        _walk_into(doc, "", row, slots)
    return slots


def _walk_into(doc: dict, prefix: str, row: int, slots: dict[str, Slot]) -> None:
    for name, value in doc.items():
        if name not in _GOOD_NAMES:
            if not addressable(name):
                continue
            if len(_GOOD_NAMES) < 100_000:
                _GOOD_NAMES.add(name)
        path = prefix + name
        slot = slots.get(path)
        if slot is None:
            slot = slots[path] = Slot()
        slot.rows.append(row)
        slot.values.append(value)
        kind = type(value)
        if kind is dict:
            if value:
                _walk_into(value, path + ".", row, slots)
        elif kind is list:
            slot.lists = True
            for rel, cands in _walk_list(value).items():
                below = slots.get(f"{path}.{rel}")
                if below is None:
                    below = slots[f"{path}.{rel}"] = Slot()
                below.via_rows.append(row)
                below.via_cands.append(cands)


def walk(doc: dict) -> dict[str, Entry]:
    """One document's paths: ``path -> (direct value or NOTHING, candidates or None)``."""
    out: dict[str, Entry] = {}
    _walk_dict(doc, "", out)
    return out


def _walk_dict(doc: dict, prefix: str, out: dict[str, Entry]) -> None:
    for name, value in doc.items():
        if not addressable(name):
            continue
        path = prefix + name
        out[path] = (value, None)
        kind = type(value)
        if kind is dict:
            _walk_dict(value, path + ".", out)
        elif kind is list:
            for rel, cands in _walk_list(value).items():
                out[f"{path}.{rel}"] = (NOTHING, cands)


def _walk_list(items: list) -> dict[str, list]:
    """Paths inside the dicts of an array, one candidate per element (NOTHING if absent)."""
    elements: list[dict[str, Entry] | None] = []
    names: dict[str, None] = {}
    for item in items:
        if type(item) is dict:
            found: dict[str, Entry] = {}
            _walk_dict(item, "", found)
            elements.append(found)
            names.update(dict.fromkeys(found))
        else:
            elements.append(None)
    merged: dict[str, list] = {}
    for rel in names:
        cands: list = []
        for found in elements:
            entry = found.get(rel) if found else None
            if entry is None:
                cands.append(NOTHING)
            elif entry[1] is None:
                cands.append(entry[0])
            else:
                cands.extend(entry[1])
        merged[rel] = cands
    return merged


def _scatter(rows: list[int], values: list, size: int) -> list:
    if len(rows) == size:  # rows are increasing and distinct: every row, in order
        return values
    column = [None] * size
    for row, value in zip(rows, values, strict=True):
        column[row] = value
    return column


class PathColumns:
    """The column values of one path over one batch of ``rows`` documents."""

    def __init__(self, rows: int, multi: bool) -> None:
        self.rows = rows
        self.multi = multi
        self.values: dict[str, list] = {}
        self.tags = 0  # bit per direct-value tag seen
        self.items = 0  # bit per tag of direct arrays' items
        self.via = False  # reached below an array
        self.big = False  # an int beyond EXACT_INT

    def fill(self, slot: Slot) -> PathColumns:
        kinds = set(map(type, slot.values))
        tag = TAG_OF.get(next(iter(kinds))) if len(kinds) == 1 else None
        if not self.multi and (tag in _SCALAR_TAGS or tag == DICT):
            # one scalar type (or dicts, whose fields have columns): whole columns at once
            self.tags = 1 << tag
            self.values["t"] = _scatter(slot.rows, [tag] * len(slot.rows), self.rows)
            suffix = VALUE_COLUMN.get(tag)
            if suffix is not None:
                values = slot.values
                if tag == INT and max(map(abs, values)) > EXACT_INT:
                    self.big = True
                    values = [float(v) for v in values]
                self.values[suffix] = _scatter(slot.rows, values, self.rows)
            return self
        if self.multi and kinds == {list} and not slot.via_rows and self._plain_lists(slot):
            return self
        for row, value in zip(slot.rows, slot.values, strict=True):
            self.add(row, (value, None))
        for row, cands in zip(slot.via_rows, slot.via_cands, strict=True):
            self.add(row, (NOTHING, cands))
        return self

    def _set(self, suffix: str, row: int, value: Any) -> None:
        column = self.values.get(suffix)
        if column is None:
            column = self.values[suffix] = [None] * self.rows
        column[row] = value

    def _value(self, prefix: dict | None, row: int, value: Any, tag: int,
               encoded: bytes | None = None) -> None:
        """Store ``value`` in its typed column (``prefix`` maps to the sort-override ones)."""
        suffix = VALUE_COLUMN.get(tag)
        if suffix is None:
            if prefix is None:
                return
            suffix = "k"  # a dict as the sort key
        if prefix is not None:
            suffix = prefix[suffix]
        if suffix in ("n", "on"):
            if tag == INT and abs(value) > EXACT_INT:
                self.big = True
            value = float(value)
        elif suffix in ("k", "ok"):
            value = encoded if encoded is not None else enc(value)
        self._set(suffix, row, value)

    def _plain_lists(self, slot: Slot) -> bool:
        """Every row's value an array of one and the same scalar type (``["Fe", "O"]`` in
        every document): whole columns at once, as ``_plain_list`` fills them row by row."""
        values = slot.values
        first = values[0]
        kind = type(first[0]) if first else None
        tag = TAG_OF.get(kind)
        suffix = VALUE_COLUMN.get(tag) if tag in _SCALAR_TAGS else None
        if suffix is None or not all(items and all(type(v) is kind for v in items)
                                     for items in values):
            return False
        if suffix == "n":
            if tag == INT and max(max(map(abs, items)) for items in values) > EXACT_INT:
                self.big = True
            values = [[float(v) for v in items] for items in values]
        n, rows, size = len(values), slot.rows, self.rows
        self.tags |= 1 << LIST
        self.items |= 1 << tag
        columns = {
            "t": [LIST] * n, "it": [1 << tag] * n, ELEMENT_COLUMN[suffix]: values,
            "ek": [[enc(items)] for items in slot.values], "x": [True] * n, "u": [False] * n,
            "z": [[len(items)] for items in values], "ob": [BRACKET[tag]] * n,
            SORT_COLUMN[suffix]: [items[0] for items in values]}
        for name, column in columns.items():
            self.values[name] = _scatter(rows, column, size)
        return True

    def _plain_list(self, row: int, items: list) -> bool:
        """A direct array of one scalar type (``["Fe", "O"]``), the common case, without
        per-item work; False for any other array."""
        kinds = set(map(type, items))
        tag = TAG_OF.get(next(iter(kinds))) if len(kinds) == 1 else None
        suffix = VALUE_COLUMN.get(tag) if tag in _SCALAR_TAGS else None
        if suffix is None:
            return False
        encoded = enc(items)
        self.tags |= 1 << LIST
        self.items |= 1 << tag
        self._set("t", row, LIST)
        self._set("it", row, 1 << tag)
        if suffix == "n":
            if tag == INT and max(map(abs, items)) > EXACT_INT:
                self.big = True
            self._set("en", row, [float(v) for v in items])
        else:
            self._set(ELEMENT_COLUMN[suffix], row, items)
        self._set("ek", row, [encoded])
        self._set("x", row, True)
        self._set("u", row, False)
        self._set("z", row, [len(items)])
        self._set("ob", row, BRACKET[tag])
        self._value(SORT_COLUMN, row, items[0], tag)
        return True

    def add(self, row: int, entry: Entry) -> None:
        direct, cands = entry
        if self.multi and cands is None and type(direct) is list and direct and (
                self._plain_list(row, direct)):
            return
        encoded = None
        if direct is not NOTHING:
            tag = tag_of(direct)
            self.tags |= 1 << tag
            self._set("t", row, tag)
            if tag == LIST:
                encoded = enc(direct)
                for item in direct:
                    self.items |= 1 << tag_of(item)
                if self.multi:
                    self._set("it", row, _item_bits(direct))
            else:  # an array's own encoding is among its elements (ek)
                self._value(None, row, direct, tag)
        else:
            self.via = True
        if not self.multi:
            return
        self._elements(row, [direct] if cands is None else cands, encoded)
        if cands is None and type(direct) is not list:
            return  # a plain direct value is its own sort key
        if cands is None:
            cands = [direct]
        first = cands[0] if cands else NOTHING
        if type(first) is list:
            if not first:
                self._set("ob", row, 0)
                self._set("ok", row, EMPTY_ARRAY_KEY)
                return
            first = first[0]
        if first is NOTHING or first is None:
            self._set("ob", row, 1)
            return
        tag = tag_of(first)
        self._set("ob", row, BRACKET[tag])
        self._value(SORT_COLUMN, row, first, tag)

    def _elements(self, row: int, cands: list, encoded: bytes | None) -> None:
        """What MongoDB matches against: each candidate, and the items of array ones.
        Dicts are left out: criteria with dict operands run through s3x_match."""
        lists: dict[str, list] = {}
        exists = nullish = False
        sizes = []
        for cand in cands:
            if cand is NOTHING:
                nullish = True
                continue
            exists = True
            if type(cand) is list:
                sizes.append(len(cand))
                for item in cand:
                    nullish |= _element(lists, item)
                lists.setdefault("ek", []).append(encoded if len(cands) == 1 and encoded
                                                  else enc(cand))
            else:
                nullish |= _element(lists, cand)
        self._set("x", row, exists)
        self._set("u", row, nullish)
        if sizes:
            self._set("z", row, sizes)
        for suffix, values in lists.items():
            self._set(suffix, row, values)


def _element(lists: dict[str, list], item: Any) -> bool:
    """Add ``item`` to the element list of its type; True when it is null."""
    tag = tag_of(item)
    if tag == NONE:
        return True
    suffix = VALUE_COLUMN.get(tag)
    if suffix is None:
        return False  # a dict
    value = enc(item) if suffix == "k" else float(item) if suffix == "n" else item
    lists.setdefault(ELEMENT_COLUMN[suffix], []).append(value)
    return False


def _item_bits(items: list) -> int:
    bits = 0
    for item in items:
        bits |= 1 << tag_of(item)
    return bits

