"""Publishing a manifest next to the objects: ``S3Store.write_manifest``.

Two objects at the store's prefix: ``manifest.parquet`` (typed columns, the layout in its
metadata: what ``s3explore.open`` reads first) and ``manifest.jsonl`` (extended JSON lines,
what maggma 0.77.1's ``S3IndexStore``/``OpenDataStore`` read with ``manifest_key``'s
default). Anyone who can read the bucket can then browse it without a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from s3explore._errors import ConfigurationError
from s3explore._query import check_criteria
from s3explore._stores._opendata._manifest import (
    MANIFEST_JSONL,
    MANIFEST_PARQUET,
    Layout,
    clean_entry,
    write_jsonl,
    write_parquet,
)

FORMATS = {"parquet": MANIFEST_PARQUET, "jsonl": MANIFEST_JSONL}


@dataclass
class PublishedManifest:
    """What ``write_manifest`` wrote: object names (under the bucket) and their sizes."""

    bucket: str
    entries: int
    objects: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        names = ", ".join(f"s3://{self.bucket}/{k} ({v / 1e6:.2f} MB)"
                          for k, v in self.objects.items())
        return f"{self.entries} entries published: {names}"


def check_formats(formats: Any) -> list[str]:
    if isinstance(formats, str):
        formats = [formats]
    if not isinstance(formats, (list, tuple)) or not formats or any(
            f not in FORMATS for f in formats):
        raise ConfigurationError(f"formats must be a non-empty list from {sorted(FORMATS)}, "
                                 f"got {formats!r}")
    return list(dict.fromkeys(formats))


def manifest_bodies(entries: Iterable[Mapping], layout: Layout,
                    formats: list[str]) -> dict[str, bytes]:
    entries = [clean_entry(e) for e in entries]
    out = {}
    if "parquet" in formats:
        out[MANIFEST_PARQUET] = write_parquet(entries, layout)
    if "jsonl" in formats:
        out[MANIFEST_JSONL] = write_jsonl(entries)
    return out


def write_manifest(store: Any, formats: Any = ("parquet", "jsonl"),
                   criteria: dict | None = None) -> PublishedManifest:
    """Publish ``store``'s index (entries matching ``criteria``) as manifests at its prefix."""
    formats = check_formats(formats)
    criteria = check_criteria(criteria)
    layout = getattr(store, "layout", None) or Layout("s3store", store.key)
    entries = list(store.index.query(criteria))
    published = PublishedManifest(store.bucket, len(entries))
    for name, body in manifest_bodies(entries, layout, formats).items():
        store.objects.put(name, body, {})
        published.objects[store.objects.object_key(name)] = len(body)
    return published
