"""DocumentViewer: one document, fetched only when asked, as a collapsible tree."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
from traitlets import Unicode, observe

from s3explore._errors import ObjectNotFoundError, S3ExploreError
from s3explore._stores import StoredObject
from s3explore.widgets._state import check_store
from s3explore.widgets._style import html, style_widget
from s3explore.widgets._tree import (
    render_document,
    render_error,
    render_header,
    render_placeholder,
)

PLACEHOLDER = "No document open: click a row of the browser, or call viewer.show(key)."


class DocumentViewer(widgets.VBox):
    """Shows the document stored under ``key``: its fields as a tree, sizes and fetch time.

    Nothing is fetched until ``show(key)`` is called (or ``key`` is given or set). A missing
    or corrupt object shows an inline error naming the key; ``error`` then holds the
    exception. ``doc`` and ``stored`` give the decoded document and its StoredObject.
    The root element carries the CSS class ``s3x-doc``.
    """

    key = Unicode(None, allow_none=True, help="the key shown (or that failed to load)")

    def __init__(self, store: Any, key: str | int | None = None, *, open_depth: int = 2,
                 **kwargs: Any) -> None:
        check_store(store, "DocumentViewer", s3_only=False)
        self.store = store
        self.open_depth = open_depth
        self.stored: StoredObject | None = None
        self.error: S3ExploreError | None = None
        self._head = html("", "s3x-head")
        self._body = html(render_placeholder(PLACEHOLDER), "s3x-body")
        super().__init__([style_widget(), self._head, self._body], **kwargs)
        for name in ("s3x-doc", "s3x-viewer", "s3x-card"):
            self.add_class(name)
        if key is not None:
            self.show(key)

    @property
    def doc(self) -> Any:
        """The decoded document shown, or None."""
        return self.stored.doc if self.stored is not None else None

    def show(self, key: str | int) -> StoredObject | None:
        """Fetch and show the object under ``key``; None (and an inline error) on failure."""
        self._load(key)
        return self.stored

    def clear(self) -> None:
        self.stored = self.error = None
        self._set_key(None)
        self._head.value = ""
        self._body.value = render_placeholder(PLACEHOLDER)

    def _set_key(self, key: str | None) -> None:
        self._setting_key = True
        try:
            self.key = key
        finally:
            self._setting_key = False

    @observe("key")
    def _on_key(self, change: dict) -> None:
        if change["new"] is not None and not getattr(self, "_setting_key", False):
            self._load(change["new"])

    def _load(self, key: str | int) -> None:
        self._set_key(str(key))
        self._head.value = render_placeholder(f"Loading {key!r} \u2026")
        self._body.value = ""
        try:
            stored = self._fetch(key)
        except S3ExploreError as exc:
            self.stored, self.error = None, exc
            self._head.value = ""
            self._body.value = render_error(str(key), exc)
            return
        self.stored, self.error = stored, None
        self._head.value = render_header(stored, from_index=not hasattr(self.store, "get_object"))
        self._body.value = render_document(stored.doc, open_depth=self.open_depth)

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
