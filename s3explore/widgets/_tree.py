"""A document as a collapsible HTML tree (details/summary), which every Jupyter front end shows.

Everything from the document is HTML-escaped: documents are data, never markup. Long lists
show their length and their first items, the rest behind a "more" fold; numpy arrays print
as numpy prints them (summarised past ``max_items``); datetimes print as ISO dates. A node
budget keeps the HTML of a huge document bounded.
"""

from __future__ import annotations

import datetime as _dt
import enum
import uuid
from collections.abc import Mapping
from html import escape
from pathlib import PurePath
from typing import Any

import numpy as np

from s3explore._stores import StoredObject
from s3explore.widgets._format import human_bytes, human_seconds
from s3explore.widgets._objects import RENDERERS, is_enum, object_dict

INLINE_ITEMS = 8  # scalar lists this short print on one line
HEAD_ITEMS = 10  # items shown before the "more" fold
MAX_ITEMS = 1000  # items (or array elements) shown at most per list
MAX_STRING = 200  # characters shown before a string folds
MAX_NODES = 5000  # lines in one rendered document
NUMBER_LIST = 100  # lists of numbers longer than this print as one numpy-style block
MIN_FIELD_NODES = 50  # lines each top-level field may use, however many fields there are


def render_document(doc: Any, *, open_depth: int = 2, max_items: int = MAX_ITEMS,
                    max_nodes: int = MAX_NODES) -> str:
    """The HTML tree of ``doc`` (a dict, usually), top levels open to ``open_depth``."""
    max_items = max(max_items, HEAD_ITEMS)
    if isinstance(doc, Mapping):
        # Each top-level field has its own share of the budget: a huge field (a DOS) cannot
        # hide the fields after it.
        fields = [(k, v) for k, v in doc.items() if not _hidden(k)]
        share = max(MIN_FIELD_NODES, max_nodes // max(len(fields), 1))
        parts = [_Renderer(open_depth, max_items, share).field(name, value, 0)
                 for name, value in fields[:max_nodes]]
        if len(fields) > max_nodes:
            parts.append(_REST)
        body = "".join(parts)
    else:
        body = _Renderer(open_depth, max_items, max_nodes).field("(document)", doc, depth=0)
    return f'<div class="s3x-tree tex2jax_ignore mathjax_ignore">{body}</div>'


def render_header(stored: StoredObject, from_index: bool = False) -> str:
    """Key, sizes and fetch time; ``from_index``: the document is an index entry."""
    compression = f" ({escape(stored.compression)})" if stored.compression else ""
    facts = "index entry" if from_index else (
        f"stored {human_bytes(stored.stored_size)}{compression} \u00b7 decoded "
        f"{human_bytes(stored.decoded_size)} \u00b7 fetched in {human_seconds(stored.seconds)}")
    return (f'<div class="s3x-doc-head"><span class="s3x-key">{escape(stored.key)}</span>'
            f'<span class="s3x-facts">{facts}</span></div>')


def render_error(key: str, error: BaseException) -> str:
    return (f'<div class="s3x-error"><b>Cannot show {escape(repr(key))}</b>: '
            f"{escape(str(error))}</div>")


def render_placeholder(text: str) -> str:
    return f'<div class="s3x-empty">{escape(text)}</div>'


def scalar_html(value: Any) -> str:
    """One leaf value, typed by its CSS class."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:
        return '<span class="s3x-null">null</span>'
    if isinstance(value, bool):
        return f'<span class="s3x-bool">{"true" if value else "false"}</span>'
    if isinstance(value, (int, float)):
        return f'<span class="s3x-num">{escape(repr(value))}</span>'
    if isinstance(value, str):
        return f'<span class="s3x-str">"{escape(value)}"</span>'
    if isinstance(value, _dt.datetime | _dt.date):
        text = value.isoformat(sep=" ") if isinstance(value, _dt.datetime) else value.isoformat()
        return f'<span class="s3x-date">{escape(text)}</span>{_badge(type(value).__name__)}'
    if isinstance(value, (uuid.UUID, PurePath)):
        return f'<span class="s3x-str">{escape(str(value))}</span>{_badge(type(value).__name__)}'
    if isinstance(value, (bytes, bytearray)):
        return f'<span class="s3x-other">{len(value)} bytes</span>'
    return f'<span class="s3x-other">{escape(repr(value)[:MAX_STRING])}</span>'


def _badge(text: str) -> str:
    return f' <span class="s3x-type">{escape(text)}</span>'


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, (Mapping, list, tuple, np.ndarray))


def _hidden(name: Any) -> bool:
    """monty's ``@module``, ``@class``, ``@version``: shown in a node's summary instead."""
    return isinstance(name, str) and name.startswith("@")


def _numbers(value: list | tuple) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)


_REST = ('<div class="s3x-leaf s3x-meta">\u2026 the rest is not shown (large document); '
         "viewer.doc holds all of it</div>")
_PLAIN = (str, int, float, bool, type(None), bytes, bytearray, _dt.date, uuid.UUID,
          PurePath, np.generic)


class _Renderer:
    def __init__(self, open_depth: int, max_items: int, max_nodes: int) -> None:
        self.open_depth = open_depth
        self.max_items = max_items
        self.nodes_left = max_nodes

    def children(self, items: Any, depth: int) -> str:
        parts = []
        for name, value in items:
            if _hidden(name):
                continue
            if self.nodes_left <= 0:
                parts.append(_REST)
                break
            parts.append(self.field(name, value, depth))
        return "".join(parts)

    def field(self, name: Any, value: Any, depth: int) -> str:
        self.nodes_left -= 1
        label = f'<span class="s3x-name">{escape(str(name))}</span>'
        if isinstance(value, enum.Enum):  # rebuilt with decode_objects
            return self._enum(label, value.value, type(value).__name__)
        if not isinstance(value, (_PLAIN, Mapping, list, tuple, np.ndarray)):
            value = object_dict(value) or value  # a rebuilt object: shown as stored
        if isinstance(value, Mapping):
            return self._mapping(label, value, depth)
        if isinstance(value, np.ndarray):
            return self._array(label, value, depth)
        if isinstance(value, (list, tuple)):
            return self._list(label, value, depth)
        if isinstance(value, str) and len(value) > MAX_STRING:
            return self._long_string(label, value)
        return f'<div class="s3x-leaf">{label}<span class="s3x-sep">: </span>' \
               f"{scalar_html(value)}</div>"

    def _fold(self, label: str, meta: str, body: str, opened: bool, preview: str = "") -> str:
        attr = " open" if opened else ""
        preview = f' <span class="s3x-preview">{preview}</span>' if preview else ""
        return (f'<details class="s3x-node"{attr}><summary>{label} '
                f'<span class="s3x-meta">{meta}</span>{preview}</summary>'
                f'<div class="s3x-children">{body}</div></details>')

    def _mapping(self, label: str, value: Mapping, depth: int) -> str:
        if not value:
            return f'<div class="s3x-leaf">{label}<span class="s3x-sep">: </span>' \
                   '<span class="s3x-meta">{}</span></div>'
        shown = sum(not _hidden(k) for k in value)
        meta = f"{{{shown} field{'s' if shown != 1 else ''}}}"
        cls = value.get("@class")
        if isinstance(cls, str):  # an MSONable object maggma stored as its as_dict()
            if is_enum(value):
                return self._enum(label, value["value"], cls)
            meta = f"{escape(cls)} \u00b7 {escape(str(value.get('@module', '')))}"
            render = RENDERERS.get(cls)
            body = render(value) if render is not None else None
            if body is not None:
                return self._fold(label, meta, f'<div class="s3x-object">{body}</div>',
                                  depth < self.open_depth - 1)
        return self._fold(label, meta, self.children(value.items(), depth + 1),
                          depth < self.open_depth - 1)

    def _enum(self, label: str, value: Any, cls: str) -> str:
        return (f'<div class="s3x-leaf">{label}<span class="s3x-sep">: </span>'
                f"{scalar_html(value)}{_badge(cls)}</div>")

    def _list(self, label: str, value: list | tuple, depth: int) -> str:
        count = len(value)
        if count > NUMBER_LIST and _numbers(value):  # one node, printed as numpy prints
            return self._array(label, np.asarray(value), depth, "list")
        if count <= INLINE_ITEMS and all(_is_scalar(v) for v in value):
            inner = ", ".join(scalar_html(v) for v in value)
            return f'<div class="s3x-leaf">{label}<span class="s3x-sep">: </span>[{inner}]</div>'
        meta = f"list \u00b7 {count} item{'s' if count != 1 else ''}"
        preview = ""
        if count > 3 and all(_is_scalar(v) for v in value[:3]):
            preview = "[" + ", ".join(scalar_html(v) for v in value[:3]) + ", \u2026]"
        head = self.children(((f"[{i}]", v) for i, v in enumerate(value[:HEAD_ITEMS])),
                             depth + 1)
        rest = ""
        if count > HEAD_ITEMS:
            shown = value[HEAD_ITEMS:self.max_items]
            more = self.children(((f"[{i}]", v) for i, v in enumerate(shown, HEAD_ITEMS)),
                                 depth + 1)
            if count > self.max_items:
                more += (f'<div class="s3x-leaf s3x-meta">\u2026 {count - self.max_items} more '
                         "items not shown; viewer.doc holds all of them</div>")
            rest = (f'<details class="s3x-more"><summary>show {count - HEAD_ITEMS} more'
                    f"</summary>{more}</details>")
        opened = depth < self.open_depth - 1 and count <= HEAD_ITEMS
        return self._fold(label, meta, head + rest, opened, preview)

    def _array(self, label: str, value: np.ndarray, depth: int, what: str = "ndarray") -> str:
        kind = f"{value.dtype} \u00b7 shape {value.shape}"
        if value.size == 0 or (value.ndim <= 1 and value.size <= INLINE_ITEMS):
            text = np.array2string(value, separator=", ")
            return (f'<div class="s3x-leaf">{label}<span class="s3x-sep">: </span>'
                    f'<span class="s3x-num">{escape(text)}</span>{_badge(kind)}</div>')
        head = ", ".join(escape(repr(v)) for v in value.ravel()[:3].tolist())
        preview = f"[{head}, \u2026]" if value.size > 3 else f"[{head}]"
        full = np.array2string(value, separator=", ", threshold=self.max_items, edgeitems=5,
                               max_line_width=100)
        body = f'<pre class="s3x-array">{escape(full)}</pre>'
        return self._fold(label, f"{what} {escape(kind)}", body, False,
                          f'<span class="s3x-num">{preview}</span>')

    def _long_string(self, label: str, value: str) -> str:
        """The start in the summary; unfolded, the whole string (up to a bound)."""
        start = escape(value[:MAX_STRING])
        whole = escape(value[:MAX_STRING * 500])
        return (f'<div class="s3x-leaf">{label}<span class="s3x-sep">: </span>'
                f'<details class="s3x-more s3x-text"><summary><span class="s3x-str">"{start}'
                f'\u2026"</span> <span class="s3x-meta">{len(value)} characters</span>'
                f'</summary><div class="s3x-str">"{whole}"</div></details></div>')
