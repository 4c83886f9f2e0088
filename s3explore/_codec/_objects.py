"""Objects named in a body, rebuilt only from modules the user allowed (``decode_objects``).

By default nothing named in the data is imported: a monty-tagged dict (``@module``,
``@class``) other than the few built-in tags (numpy arrays, datetimes, UUIDs, paths) stays a
dict. ``decode_objects=["pymatgen", "emmet.core"]`` allows module prefixes: a tagged dict
whose ``@module`` is one of them, or below one, is rebuilt the way maggma users rebuild it
(``monty.json.MontyDecoder().process_decoded``, so monty is needed), top-down, as
MontyDecoder does. An object is rebuilt only when every module named inside it is
allowed too; otherwise it stays a dict and the allowed objects inside it are rebuilt.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from typing import Any

from s3explore._errors import ConfigurationError, CorruptObjectError


def check_decode_objects(value: Any, what: str = "decode_objects") -> tuple[str, ...]:
    """The allowed module prefixes as a tuple (empty: decode nothing). Each must be
    importable: a ConfigurationError names the one that is not."""
    if value is None or value is False:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Iterable) or not all(
            isinstance(p, str) and p.strip(".") and " " not in p for p in value):
        raise ConfigurationError(
            f"{what} must be a list of module prefixes such as ['pymatgen', 'emmet.core'], "
            f"got {value!r}")
    prefixes = tuple(dict.fromkeys(p.strip(".") for p in value))
    if prefixes and not _importable("monty.json"):
        raise ConfigurationError(
            f"{what} rebuilds objects with monty, which is not installed: pip install monty "
            "(pymatgen and emmet-core bring it)")
    for prefix in prefixes:
        if not _importable(prefix):
            raise ConfigurationError(
                f"{what} names {prefix!r}, which cannot be imported here; install it "
                f"(pip install {prefix.partition('.')[0].replace('_', '-')}) or remove it "
                f"from {what}")
    return prefixes


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a parent package is missing
        return False


def allowed_module(module: Any, prefixes: tuple[str, ...]) -> bool:
    return isinstance(module, str) and any(
        module == p or module.startswith(p + ".") for p in prefixes)


def _tag(value: Any) -> tuple[str, str] | None:
    if isinstance(value, dict):
        module, cls = value.get("@module"), value.get("@class")
        if isinstance(module, str) and isinstance(cls, str):
            return module, cls
    return None


def _foreign(value: Any, prefixes: tuple[str, ...]) -> str | None:
    """The first module named inside ``value`` (itself excluded) that is not allowed."""
    stack = list(value.values()) if isinstance(value, dict) else list(value)
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            tag = _tag(item)
            if tag is not None and not allowed_module(tag[0], prefixes):
                return tag[0]
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(i for i in item if isinstance(i, (dict, list, tuple)))
    return None


def build(d: dict) -> Any:
    """One allowed tagged dict as its object, by monty's MontyDecoder (as maggma users
    rebuild them; the import it does is the only one, and only for allowed modules)."""
    from monty.json import MontyDecoder

    obj = MontyDecoder().process_decoded(d)
    if isinstance(obj, dict) and obj.get("@class") == d["@class"]:
        raise TypeError("monty could not rebuild it (its module or class is missing here)")
    return obj


def rebuild_objects(doc: dict, prefixes: tuple[str, ...], key: str | None = None) -> dict:
    """``doc`` with the allowed objects in it rebuilt (in place; the document itself stays a
    dict and is returned).
    An allowed object that cannot be rebuilt is a CorruptObjectError naming key and field."""
    if not prefixes:
        return doc

    def walk(value: Any, path: str) -> Any:
        tag = _tag(value)
        if (tag is not None and allowed_module(tag[0], prefixes)
                and _foreign(value, prefixes) is None):
            try:
                return build(value)
            except Exception as exc:
                raise CorruptObjectError(
                    f"object {key!r}: field {path or '(document)'!r} holds a {tag[0]}."
                    f"{tag[1]} that could not be rebuilt ({type(exc).__name__}: "
                    f"{str(exc)[:300]}); read it without decode_objects to get the dict, or "
                    f"install the version of {tag[0].partition('.')[0]} that wrote it",
                    key=key) from exc
        if isinstance(value, dict):
            for name, item in value.items():
                if isinstance(item, (dict, list)):
                    value[name] = walk(item, f"{path}.{name}" if path else str(name))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, (dict, list)):
                    value[i] = walk(item, f"{path}.{i}" if path else str(i))
        return value

    # The document itself stays a dict (its index fields and last_updated go in it).
    for name, item in doc.items():
        if isinstance(item, (dict, list)):
            doc[name] = walk(item, str(name))
    return doc
