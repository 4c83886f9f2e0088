"""Documents to shadow-column values: what each dotted path holds, the way MongoDB sees it.

For every path a document reaches (through dicts, and through arrays of dicts as MongoDB
does), ``walk`` records the *direct* value (reached through dicts only) or, below an array,
the list of candidate values (``NOTHING`` where an element lacks the path). ``PathColumns``
turns those into the typed column values of one batch (see ``_schema`` for the columns).
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
    enc,
    tag_of,
)

# value column (suffix) holding each tag: direct values, sort overrides, element lists
VALUE_COLUMN = {INT: "n", FLOAT: "n", STR: "s", BOOL: "b", DATE: "d", DICT: "k", LIST: "k",
                BYTES: "k"}
SORT_COLUMN = {"n": "on", "s": "os", "b": "obb", "d": "od", "k": "ok"}
ELEMENT_COLUMN = {"n": "en", "s": "es", "b": "eb", "d": "ed", "k": "ek"}

Entry = tuple[Any, list | None]  # (direct value or NOTHING, candidates below arrays or None)


def addressable(name: Any) -> bool:
    if not isinstance(name, str):
        raise InvalidDocumentError(f"field names must be strings, got {name!r:.60}; "
                                   "index stores key documents by string field names")
    # names MongoDB queries cannot address get no shadow columns (they stay in the document)
    return bool(name) and "." not in name and not name.startswith("$")


def walk(doc: dict) -> dict[str, Entry]:
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

    def _set(self, suffix: str, row: int, value: Any) -> None:
        column = self.values.get(suffix)
        if column is None:
            column = self.values[suffix] = [None] * self.rows
        column[row] = value

    def _value(self, prefix: dict | None, row: int, value: Any, tag: int) -> None:
        """Store ``value`` in its typed column (``prefix`` maps to the sort-override ones)."""
        suffix = VALUE_COLUMN.get(tag)
        if suffix is None:
            return
        if prefix is not None:
            suffix = prefix[suffix]
        if suffix in ("n", "on"):
            if tag == INT and abs(value) > EXACT_INT:
                self.big = True
            value = float(value)
        elif suffix in ("k", "ok"):
            value = enc(value)
        self._set(suffix, row, value)

    def add(self, row: int, entry: Entry) -> None:
        direct, cands = entry
        if direct is not NOTHING:
            tag = tag_of(direct)
            self.tags |= 1 << tag
            self._set("t", row, tag)
            self._value(None, row, direct, tag)
            if tag == LIST:
                for item in direct:
                    self.items |= 1 << tag_of(item)
                if self.multi:
                    self._set("it", row, _item_bits(direct))
        else:
            self.via = True
        if not self.multi:
            return
        self._elements(row, [direct] if cands is None else cands)
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

    def _elements(self, row: int, cands: list) -> None:
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
    suffix = ELEMENT_COLUMN[VALUE_COLUMN[tag]]
    value = enc(item) if suffix == "ek" else float(item) if suffix == "en" else item
    lists.setdefault(suffix, []).append(value)
    return False


def _item_bits(items: list) -> int:
    bits = 0
    for item in items:
        bits |= 1 << tag_of(item)
    return bits
