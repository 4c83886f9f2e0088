"""Notebook widgets: IndexBrowser, DocumentViewer and UploadWidget (ipywidgets).

Imported on demand (``from s3explore.widgets import IndexBrowser``), so ``import s3explore``
does not import ipywidgets. Each widget is a thin view over pure state (``_state``,
``_filters``, ``_tree``, ``_format``, ``_sources``) and works in JupyterLab, Notebook 7,
VS Code and Voila.

CSS classes on the rendered page, kept stable for tests and custom styling:
``s3x-browser`` (browser root), ``s3x-row`` (one per visible row; a click opens it),
``s3x-next``, ``s3x-prev``, ``s3x-count`` (its text holds the total; it also carries
``s3x-stale`` while an error keeps the last good page on screen), ``s3x-filter`` (the
filter box; the ``<input>`` is inside it), ``s3x-doc`` (viewer root), ``s3x-upload`` (upload
Start button), ``s3x-cancel``, ``s3x-progress`` (progress bar; its label reads
``done / total``) and ``s3x-status`` (upload status text). The browser's export panel:
``s3x-export-toggle`` (the Export button that shows it), ``s3x-export`` (panel root),
``s3x-cost`` (the cost line), ``s3x-export-fetch``, ``s3x-export-name`` and
``s3x-export-path`` (boxes; the ``<input>`` is inside), ``s3x-export-df``,
``s3x-export-file`` and ``s3x-export-cancel`` (buttons), ``s3x-export-progress`` and
``s3x-export-status``.
"""

from s3explore.widgets._browser import IndexBrowser
from s3explore.widgets._facets import FacetPanel
from s3explore.widgets._filters import parse_filter
from s3explore.widgets._state import Pager, SortState
from s3explore.widgets._tree import render_document
from s3explore.widgets._upload import UploadWidget
from s3explore.widgets._viewer import DocumentViewer

__all__ = [
    "DocumentViewer",
    "FacetPanel",
    "IndexBrowser",
    "Pager",
    "SortState",
    "UploadWidget",
    "parse_filter",
    "render_document",
]
