"""What lies under a bucket prefix: a manifest, grouped JSON lines, JSON documents, or none.

Detection costs a few requests: one listing page (and the "folders" below the prefix),
HEADs for the manifest names, and for a foreign ``manifest.jsonl`` a HEAD on the object
its first entry points at.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from s3explore import _codec as codec
from s3explore._errors import (
    AccessDeniedError,
    ConfigurationError,
    LayoutNotRecognizedError,
    ObjectNotFoundError,
)
from s3explore._stores._objects import ObjectIO
from s3explore._stores._opendata._manifest import (
    GROUPED_SUFFIX,
    MANIFEST_JSONL,
    MANIFEST_NAMES,
    Layout,
    parse_group_name,
)

KEY_CANDIDATES = ("task_id", "material_id", "fs_id", "id", "key")
SAMPLE = 1000


@dataclass
class Listing:
    """The first page of names under the prefix, and the "folders" right below it."""

    names: list[str]
    folders: list[str]
    truncated: bool

    def grouped(self) -> list[str]:
        return [n for n in self.names if parse_group_name(n) is not None]

    def json_documents(self) -> list[str]:
        return [n for n in self.names if is_json_document(n)]

    def summary(self) -> str:
        if not self.names and not self.folders:
            return "nothing (no objects under this prefix)"
        kinds = Counter(suffix_of(n) for n in self.names)
        more = "+" if self.truncated else ""
        text = (f"{len(self.names)}{more} objects ("
                + ", ".join(f"{c} {k or 'without suffix'}" for k, c in kinds.most_common(6))
                + f"), first: {self.names[:5]}")
        if self.folders:
            text += f"; folders: {self.folders[:10]}" + (" ..." if len(self.folders) > 10 else "")
        return text


def suffix_of(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    return "." + base.split(".", 1)[1] if "." in base else ""


def is_json_document(name: str) -> bool:
    stem, _ = codec.strip_compression_suffix(name)
    return stem.endswith(".json") and len(stem) > len(".json") and not name.startswith(
        MANIFEST_NAMES)


def json_key(name: str) -> tuple[str, str | None]:
    """``"mp-1.json.gz"`` -> ``("mp-1", "gzip")``."""
    stem, found = codec.strip_compression_suffix(name)
    return stem[: -len(".json")], (found.name if found else None)


def list_sample(objects: ObjectIO) -> Listing:
    cut = len(objects.sub_dir)
    names = [o.key[cut:] for o in objects.listed_objects(limit=SAMPLE + 1)]
    _, folders = objects.listed_folders(max_keys=SAMPLE)
    below = [prefix[cut:] for prefix in folders]
    return Listing(names[:SAMPLE], below, len(names) > SAMPLE)


def stat(objects: ObjectIO, name: str) -> dict | None:
    """``{"ETag", "ContentLength"}`` of object ``name``, None when it is absent.

    HEAD first; some endpoints answer anonymous HEADs with 403 where a GET is allowed, so a
    one-byte ranged GET settles it (S3 also answers 403 for a missing key when listing is
    not allowed: then the object counts as absent).
    """
    try:
        info = objects.stat(name)
        return {"ETag": info.etag, "ContentLength": info.size}
    except ObjectNotFoundError:
        return None
    except AccessDeniedError:
        pass
    try:
        info = objects.read_range_info(name, 0, 0)
    except (ObjectNotFoundError, AccessDeniedError):
        return None
    return {"ETag": info.etag, "ContentLength": info.size}


def exists(objects: ObjectIO, name: str) -> bool:
    return stat(objects, name) is not None


def guess_key(entries: list[Mapping], wanted: str | None, where: str) -> str:
    """The key field of foreign manifest entries: ``wanted``, else a usual name they all have."""
    sample = entries[:200]
    if wanted is not None:
        if sample and not all(wanted in e for e in sample):
            raise ConfigurationError(f"key={wanted!r}: entries of {where} lack that field; "
                                     f"they have {sorted(sample[0])[:12]}")
        return wanted
    common = set.intersection(*(set(e) for e in sample)) if sample else set()
    for name in KEY_CANDIDATES:
        if name in common:
            return name
    ids = sorted(n for n in common if n.endswith("_id"))
    if ids:
        return ids[0]
    raise ConfigurationError(f"cannot tell the key field of {where}: none of "
                             f"{list(KEY_CANDIDATES)} is in every entry; pass key= (fields: "
                             f"{sorted(common)[:12]})")


def guess_document_key(doc: Mapping, stem: str, wanted: str | None) -> str:
    """A field of ``doc`` whose value is the object's name (``mp-1``), else ``wanted``/"key"."""
    if wanted is not None:
        return wanted
    leaf = stem.rsplit("/", 1)[-1]
    for name in KEY_CANDIDATES:
        if str(doc.get(name)) in (stem, leaf):
            return name
    for name, value in doc.items():
        if isinstance(value, (str, int)) and str(value) == stem:
            return name
    return "key"


def grouping_of(listing: Listing) -> tuple[str, ...]:
    first = listing.grouped()
    if not first:
        return ()
    return tuple(parse_group_name(first[0]) or ())


@dataclass
class Found:
    """What open() found: where the index comes from and how to read the documents."""

    kind: str  # "manifest" (published under the prefix) or "objects" (build one)
    layout_kind: str
    manifest: str | None = None
    grouping: tuple[str, ...] = ()
    listing: Listing | None = None
    notes: list[str] = field(default_factory=list)


def detect(objects: ObjectIO) -> Found:
    """Classify the prefix of ``objects``; LayoutNotRecognizedError says what was listed."""
    listing = list_sample(objects)
    names = set(listing.names)
    for manifest in MANIFEST_NAMES:
        if manifest in names or exists(objects, manifest):
            return Found("manifest", "", manifest=manifest, grouping=grouping_of(listing),
                         listing=listing)
    if listing.grouped():
        return Found("objects", "grouped-jsonl", grouping=grouping_of(listing), listing=listing)
    if listing.json_documents():
        return Found("objects", "json-objects", listing=listing)
    where = f"s3://{objects.bucket}/{objects.sub_dir}"
    hint = ("; open one of the folders instead, e.g. "
            f"s3://{objects.bucket}/{objects.sub_dir}{listing.folders[0]}"
            if listing.folders else "")
    raise LayoutNotRecognizedError(
        f"nothing under {where} is a collection s3explore can open. Listed: "
        f"{listing.summary()}. Recognised are: a published manifest ({' or '.join(MANIFEST_NAMES)}"
        f" at the prefix), maggma OpenDataStore objects (field=value/...{GROUPED_SUFFIX}), or "
        f"one JSON document per object (.json or .json.gz){hint}")


def layout_for_manifest(objects: ObjectIO, found: Found, entries: list[dict],
                        key: str | None) -> Layout:
    """The layout of a manifest that does not say (a maggma manifest.jsonl)."""
    where = f"s3://{objects.bucket}/{objects.sub_dir}{found.manifest}"
    key = guess_key(entries, key, where)
    if found.grouping and entries and all(g in entries[0] for g in found.grouping):
        return Layout("grouped-jsonl", key, found.grouping, GROUPED_SUFFIX)
    if entries:
        first = entries[0]
        name = codec.key_string(first[key], key)
        if exists(objects, name):
            return Layout("s3store", key)
        candidate = Layout("json-objects", key)
        if exists(objects, candidate.object_name(first)):
            return candidate
    raise LayoutNotRecognizedError(
        f"{where} lists {len(entries)} entries (key {key!r}), but their documents are neither "
        f"grouped objects (field=value/...{GROUPED_SUFFIX}) nor objects named after the key; "
        f"listed: {found.listing.summary() if found.listing else 'nothing'}")


def describe(found: Found, layout: Layout, entries: Any = None) -> str:
    source = (f"manifest {found.manifest}" if found.kind == "manifest"
              else "a manifest built from the objects")
    count = f", {entries} entries" if entries is not None else ""
    return f"{layout.describe()}; index from {source}{count}"


MANIFEST_FORMS = {MANIFEST_JSONL: "JSON lines (maggma)", "manifest.parquet": "Parquet"}
