"""MongoDB's projection onto dotted field names, applied to a stored document."""

from __future__ import annotations

from typing import Any

_WHOLE = True


def _tree(names: list[str]) -> dict:
    """``["a.b", "a.c", "d"]`` -> ``{"a": {"b": True, "c": True}, "d": True}``; a field
    and a path inside it ("a", "a.b") select the whole field."""
    tree: dict = {}
    for name in names:
        node = tree
        *parents, leaf = name.split(".")
        for part in parents:
            child = node.get(part)
            if child is _WHOLE:
                break
            node = node.setdefault(part, {})
        else:
            node[leaf] = _WHOLE
    return tree


def _apply(value: Any, tree: dict) -> Any:
    if type(value) is dict:
        out = {}
        for name, item in value.items():
            spec = tree.get(name)
            if spec is _WHOLE:
                out[name] = item
            elif spec is not None and type(item) in (dict, list):
                out[name] = _apply(item, spec)
        return out
    # arrays: documents are projected, nested arrays recursed into, other values dropped
    return [_apply(item, tree) for item in value if type(item) in (dict, list)]


def project(doc: dict, names: list[str], rid: int) -> dict:
    """Fields in document order, as MongoDB returns them; ``_id`` is the entry's number."""
    tree = _tree([n for n in names if n != "_id"])
    out = _apply(doc, tree)
    return {"_id": rid, **out} if "_id" in names else out
