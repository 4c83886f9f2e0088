"""DocumentViewer: one document, fetched only when asked, as a collapsible tree."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
from traitlets import Unicode, observe

from s3explore._errors import ObjectNotFoundError, S3ExploreError
from s3explore._stores import StoredObject
from s3explore.widgets._base import StoreWidget
from s3explore.widgets._style import html
from s3explore.widgets._tree import (
    render_document,
    render_error,
    render_header,
    render_placeholder,
)
from s3explore.widgets._view3d import structure_toggles

PLACEHOLDER = "No document open: click a row of the browser, or call viewer.show(key)."


class DocumentViewer(StoreWidget):
    """Shows the document stored under ``key``: its fields as a tree, sizes and fetch time.

    Nothing is fetched until ``show(key)`` is called (or ``key`` is given or set). A missing
    or corrupt object shows an inline error naming the key; ``error`` then holds the
    exception. ``doc`` and ``stored`` give the decoded document and its StoredObject.
    ``state`` is ``empty``, ``shown`` or ``error``. Other widgets drive it through
    ``show(key)``, ``show_error(key, exc)`` and ``clear()``.
    The root element carries the CSS class ``s3x-doc``.
    """

    widget_name = "DocumentViewer"
    css_classes = ("s3x-doc", "s3x-viewer", "s3x-card")
    STATES = ("empty", "shown", "error")

    key = Unicode(None, allow_none=True, help="the key shown (or that failed to load)")

    def __init__(self, store: Any, key: str | int | None = None, *, open_depth: int = 2,
                 **kwargs: Any) -> None:
        self._use_store(store)
        self.open_depth = open_depth
        self.stored: StoredObject | None = None
        self.error: BaseException | None = None
        self._head = html("", "s3x-head")
        self._body = html(render_placeholder(PLACEHOLDER), "s3x-body")
        # one "3D view" toggle per structure in the document (nglview, the view3d extra)
        self._views = widgets.VBox([])
        self._views.add_class("s3x-views")
        super().__init__([self._head, self._views, self._body], **kwargs)
        if key is not None:
            self.show(key)

    @property
    def doc(self) -> Any:
        """The decoded document shown, or None."""
        return self.stored.doc if self.stored is not None else None

    def show(self, key: str | int) -> StoredObject | None:
        """Fetch and show the object under ``key``; None (and an inline error) when the
        store cannot give it (an S3ExploreError); other exceptions propagate."""
        with self._quiet():
            self.key = str(key)
            self._head.value = render_placeholder(f"Loading {key!r} \u2026")
            self._body.value = ""
            self._views.children = ()
            try:
                stored = self._fetch(key)
            except S3ExploreError as exc:
                self._show_error(key, exc)
                return None
            except Exception as exc:  # not the store's doing (a bug?): show it, then raise
                self._show_error(key, exc)
                raise
            self.stored, self.error = stored, None
            from_index = not hasattr(self.store, "get_object")
            self._head.value = render_header(stored, from_index=from_index)
            self._body.value = render_document(stored.doc, open_depth=self.open_depth)
            self._views.children = structure_toggles(stored.doc)
            self.state = "shown"
        return stored

    def show_error(self, key: str | int, error: BaseException) -> None:
        """Show that ``key`` could not be shown, and why (``error`` is kept in ``error``)."""
        with self._quiet():
            self._show_error(key, error)

    def clear(self) -> None:
        """Forget the document shown; back to the placeholder."""
        with self._quiet():
            self.stored = self.error = None
            self.key = None
            self._head.value = ""
            self._views.children = ()
            self._body.value = render_placeholder(PLACEHOLDER)
            self.state = "empty"

    def _show_error(self, key: str | int, error: BaseException) -> None:
        self.stored, self.error = None, error
        self.key = str(key)
        self._head.value = ""
        self._views.children = ()
        self._body.value = render_error(str(key), error)
        self.state = "error"

    @observe("key")
    def _on_key(self, change: dict) -> None:
        if self._reacting:
            if change["new"] is None:
                self.clear()
            else:
                self.show(change["new"])

    def _fetch(self, key: str | int) -> StoredObject:
        get_object = getattr(self.store, "get_object", None)
        if get_object is not None:
            return get_object(key)
        # An index store on its own: its entries are the documents.
        doc = self.store.query_one({self.store.key: key})
        if doc is None:
            raise ObjectNotFoundError(f"no document with {self.store.key}={key!r} in "
                                      f"{self.store.name}", key=str(key))
        return StoredObject(str(key), doc, 0, 0, None, 0.0)
