"""Open data: browse bucket prefixes without a database, from a manifest.

``open(url)`` recognises the layout under a prefix (``_layout``), loads or builds its
manifest (``_manifest``, ``_build``) into a local DuckDB index (``_index``) and returns a
read-only ``ManifestStore`` (``_store``) whose documents are read lazily, one GET per object
(``_reader``); JSON documents use extended JSON (``_json``). Reopening checks the cache
against the bucket (``_fresh``); builds run in folders of their own (``_builds``).
``write_manifest`` (``_publish``) publishes an S3Store's index in the forms s3explore and
maggma read.
"""

from s3explore._errors import (
    CancelledBuildError,
    LayoutNotRecognizedError,
    ReadOnlyStoreError,
    StaleObjectError,
)
from s3explore._stores._opendata._build import BuildResult
from s3explore._stores._opendata._manifest import Layout
from s3explore._stores._opendata._open import open
from s3explore._stores._opendata._publish import PublishedManifest, write_manifest
from s3explore._stores._opendata._store import ManifestStore

__all__ = [
    "BuildResult",
    "CancelledBuildError",
    "Layout",
    "LayoutNotRecognizedError",
    "ManifestStore",
    "PublishedManifest",
    "ReadOnlyStoreError",
    "StaleObjectError",
    "open",
    "write_manifest",
]
