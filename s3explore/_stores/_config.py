"""Stores as configuration: MSONable dicts, copies for other processes, equality.

maggma compares, serializes (builder JSON files, ``mrun``) and sends (``mrun -n``, which
copies a Builder through its ``as_dict()``) stores by their constructor arguments. An inline
credential appears in ``as_dict()`` only sealed: shown as a marker, written to JSON as a marker
that ``from_dict`` explains, and carried only when the dict is copied to another of the user's
own processes (multiprocessing, Dask workers), which is what a sealed value is for.
"""

from __future__ import annotations

import json
import sys
from typing import Any, ClassVar

from s3explore._errors import ConfigurationError

CREDENTIALS_MARKER = "@s3explore:credentials-not-serialized"
_CLASSES: dict[str, type] = {}


class Sealed:
    """An inline credential inside ``as_dict()``: never shown, never written to JSON.

    Process copies (``__reduce__``) carry it, so a Builder holding the store still works in
    ``mrun -n`` or on Dask workers; JSON gets a marker that ``from_dict`` explains.
    """

    __slots__ = ("_value",)

    def __init__(self, value: Any) -> None:
        self._value = value

    def unseal(self) -> Any:
        return self._value

    def __repr__(self) -> str:
        return repr(CREDENTIALS_MARKER)

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sealed) and other._value == self._value

    def __hash__(self) -> int:
        return hash(CREDENTIALS_MARKER)

    def __reduce__(self) -> tuple:
        return (Sealed, (self._value,))

    def as_dict(self) -> dict[str, Any]:  # what MontyEncoder writes to JSON
        return {"@module": __name__, "@class": "Sealed", "value": CREDENTIALS_MARKER}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        _decode(CREDENTIALS_MARKER, "an argument")


def seal(value: Any) -> Sealed | None:
    return None if value is None else Sealed(value)


def _version() -> str:
    return getattr(sys.modules.get("s3explore"), "__version__", "0")


class ConfigMixin:
    """``as_dict``/``from_dict``/``to_json``, ``__eq__``/``__hash__`` and process copies by config.

    Subclasses say which constructor arguments make their configuration (``_config``) and
    which attributes are runtime state to drop when copied to another process (``_transient``).
    """

    _transient: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _CLASSES[cls.__name__] = cls

    def _config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this store (secrets replaced by the marker)."""
        raise NotImplementedError

    # ------------------------------------------------------------ MSONable

    def as_dict(self) -> dict[str, Any]:
        cls = type(self)
        public = getattr(sys.modules.get("s3explore"), cls.__name__, None) is cls
        out: dict[str, Any] = {"@module": "s3explore" if public else cls.__module__,
                               "@class": cls.__name__, "@version": _version()}
        out.update({name: _encode(value) for name, value in self._config().items()})
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        if not isinstance(d, dict):
            raise ConfigurationError(f"from_dict takes a dict, got {type(d).__name__}")
        target = _CLASSES.get(d.get("@class", cls.__name__), cls)
        if not issubclass(target, cls):
            raise ConfigurationError(f"{d.get('@class')!r} is not a {cls.__name__}")
        kwargs = {k: _decode(v, k) for k, v in d.items() if not k.startswith("@")}
        return target(**kwargs)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), default=_json_default)

    # ------------------------------------------------------------ equality

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.as_dict() == other.as_dict()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, json.dumps(self.as_dict(), sort_keys=True,
                                                      default=_json_default)))

    # ------------------------------------------------------------ copies for other processes

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for name in self._transient:
            if name in state:
                state[name] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def _json_default(value: Any) -> Any:
    return value.as_dict() if isinstance(value, Sealed) else str(value)


def _encode(value: Any) -> Any:
    if isinstance(value, Sealed):
        return value
    if hasattr(value, "as_dict") and callable(value.as_dict):
        return value.as_dict()
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any, name: str) -> Any:
    if isinstance(value, Sealed):
        return value.unseal()
    if value == CREDENTIALS_MARKER or (
            isinstance(value, dict) and value.get("value") == CREDENTIALS_MARKER):
        raise ConfigurationError(
            f"{name} held inline credentials, which are never serialized to JSON; keep "
            "credentials in a profile instead (s3_profile='name' from ~/.aws; for MongoDB "
            "mongogrant or a URI without a password), or pass them to the constructor yourself")
    if isinstance(value, list):
        return [_decode(v, name) for v in value]
    if not isinstance(value, dict):
        return value
    if "@class" in value and "@module" in value:
        if value["@class"] == "Sealed":
            _decode(CREDENTIALS_MARKER, name)
        module, cls_name = str(value["@module"]), value["@class"]
        if (module == "s3explore" or module.startswith("s3explore.")) and cls_name in _CLASSES:
            return _CLASSES[cls_name].from_dict(value)
        try:  # another library's object (a maggma store as an index): monty rebuilds it
            from monty.json import MontyDecoder
        except ImportError:
            raise ConfigurationError(
                f"{name} is a {module}.{cls_name}; install monty to rebuild it") from None
        return MontyDecoder().process_decoded(value)
    return {k: _decode(v, name) for k, v in value.items()}
