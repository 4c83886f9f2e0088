"""What every s3explore widget shares: the store check, the stylesheet, a state trait, one
re-entrancy guard, an error box and callback hooks."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from html import escape
from typing import Any, ClassVar

import ipywidgets as widgets
from traitlets import TraitError, Unicode, validate

from s3explore._errors import ConfigurationError
from s3explore._stores import S3Store, Store
from s3explore.widgets._style import style_widget


def check_store(store: Any, widget: str, *, s3_only: bool) -> None:
    """A clear error when a widget is handed something that is not a store it can use."""
    wanted = S3Store if s3_only else Store
    if isinstance(store, wanted) and hasattr(store, "query_df"):
        return
    what = "an S3Store" if s3_only else "a store from s3explore (S3Store, MemoryStore, ...)"
    raise ConfigurationError(
        f"{widget} needs {what}, got {type(store).__name__}: {store!r:.60}"
    )


class ErrorBox(widgets.HTML):
    """An inline error, hidden while there is none; ``message`` is the text shown."""

    def __init__(self) -> None:
        super().__init__("")
        for name in ("s3x-html", "s3x-errorbox"):
            self.add_class(name)
        self.layout.display = "none"
        self.message = ""

    def show(self, message: str) -> None:
        self.message = message
        self.value = f'<div class="s3x-error">{escape(message)}</div>'
        self.layout.display = None

    def clear(self) -> None:
        self.message = ""
        self.value = ""
        self.layout.display = "none"


class Hooks:
    """Callbacks registered with ``on_...(callback, remove=False)``.

    Unlike ipywidgets' dispatcher, a failing callback is not only logged: ``__call__`` returns
    one line per failure, which the widget shows inline.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.callbacks: list[Callable[..., Any]] = []

    def register(self, callback: Callable[..., Any], remove: bool = False) -> None:
        if not callable(callback):
            raise ConfigurationError(f"{self.name} needs a function, got "
                                     f"{type(callback).__name__}: {callback!r:.60}")
        if remove:
            if callback in self.callbacks:
                self.callbacks.remove(callback)
        elif callback not in self.callbacks:
            self.callbacks.append(callback)

    def __call__(self, *args: Any) -> list[str]:
        problems = []
        for callback in list(self.callbacks):
            try:
                callback(*args)
            except Exception as exc:  # a widget event has no caller to raise to: report it
                name = getattr(callback, "__qualname__", type(callback).__name__)
                problems.append(f"{self.name} callback {name} raised "
                                f"{type(exc).__name__}: {exc}")
        return problems


class StoreWidget(widgets.VBox):
    """Base of the widgets: validates the store, carries the stylesheet and a ``state``.

    Subclasses set ``widget_name`` (used in errors), ``needs_s3``, ``css_classes`` (on the
    root) and ``STATES`` (the values ``state`` may take, the first is the initial one); their
    ``__init__`` calls ``self._use_store(store)`` first, builds its children, then
    ``super().__init__(children)``.
    """

    widget_name: ClassVar[str] = "widget"
    needs_s3: ClassVar[bool] = False
    css_classes: ClassVar[tuple[str, ...]] = ()
    STATES: ClassVar[tuple[str, ...]] = ("ready", "error")

    state = Unicode("", help="what the widget is doing or showing; see the class's STATES")

    def _use_store(self, store: Any) -> None:
        """Check ``store`` before anything is built on it."""
        check_store(store, self.widget_name, s3_only=self.needs_s3)
        self.store = store
        self._updating = False

    def __init__(self, children: Sequence[widgets.Widget], **kwargs: Any) -> None:
        if not hasattr(self, "store"):
            raise TypeError(f"{type(self).__name__} must call _use_store(store) first")
        super().__init__([style_widget(), *children], **kwargs)
        for name in self.css_classes:
            self.add_class(name)
        self.state = self.STATES[0]

    @validate("state")
    def _valid_state(self, proposal: dict) -> str:
        if proposal["value"] not in self.STATES:
            raise TraitError(f"{self.widget_name}.state must be one of {self.STATES}, "
                             f"got {proposal['value']!r}")
        return proposal["value"]

    # The one re-entrancy guard: while the widget updates its own traits and children it
    # does not react to them (each observer starts with ``if not self._reacting: return``).
    @contextmanager
    def _quiet(self) -> Iterator[None]:
        before, self._updating = self._updating, True
        try:
            yield
        finally:
            self._updating = before

    @property
    def _reacting(self) -> bool:
        return not getattr(self, "_updating", True)  # observers may fire inside __init__
