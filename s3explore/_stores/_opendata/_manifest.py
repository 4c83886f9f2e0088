"""Manifests: the index of a bucket prefix as one object, in JSON lines or Parquet.

``manifest.jsonl`` is the form maggma 0.77.1's ``S3IndexStore``/``OpenDataStore`` read: one
entry per line, extended JSON as ``bson.json_util`` writes it, at ``{prefix}manifest.jsonl``.
``manifest.parquet`` holds the same entries as typed columns (dotted names for nested
fields) and, in its schema metadata under ``s3explore``, the layout: what kind of objects
the entries point at, the key field and the grouping fields. Pure: no I/O but local files.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from s3explore import _codec as codec
from s3explore._checks import one_of
from s3explore._errors import ConfigurationError, CorruptObjectError, InvalidKeyError
from s3explore._query import nested
from s3explore._stores._objects import (  # noqa: F401 - the names live there, used here too
    MANIFEST_JSONL,
    MANIFEST_NAMES,
    MANIFEST_PARQUET,
)
from s3explore._stores._opendata import _json

FORMAT = "s3explore-manifest"
VERSION = 1
CACHE_ENV = "S3EXPLORE_CACHE"
KINDS = ("s3store", "json-objects", "grouped-jsonl")
GROUPED_SUFFIX = ".jsonl.gz"  # maggma OpenDataStore's object_file_extension


@dataclass(frozen=True)
class Layout:
    """How manifest entries map to objects under the prefix.

    ``s3store``: one msgpack object per entry at its key (an S3Store's bucket);
    ``json-objects``: one JSON document per entry at ``key + ".json"`` (``+ ".gz"`` when
    the entry says ``compression: gzip``); ``grouped-jsonl``: many documents per object, at
    ``g1=v1/g2=v2 + suffix`` from the entry's ``grouping`` fields (maggma's OpenDataStore).
    """

    kind: str
    key: str
    grouping: tuple[str, ...] = ()
    suffix: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            one_of(self.kind, "layout kind", KINDS)
        if not isinstance(self.key, str) or not self.key:
            raise ConfigurationError(f"the key field must be a non-empty name, got {self.key!r}")
        if self.kind == "grouped-jsonl" and not self.grouping:
            raise ConfigurationError("a grouped-jsonl layout needs its grouping fields")
        if not isinstance(self.grouping, (list, tuple)) or not all(
                isinstance(g, str) and g and "/" not in g and "=" not in g
                for g in self.grouping):
            raise ConfigurationError(f"grouping fields must be names without '/' or '=', "
                                     f"got {self.grouping!r:.80}")
        if not isinstance(self.suffix, str) or "/" in self.suffix:
            raise ConfigurationError(f"the object suffix must be a name ending such as "
                                     f"'.jsonl.gz', got {self.suffix!r:.80}")
        object.__setattr__(self, "grouping", tuple(self.grouping))

    def object_name(self, entry: Mapping) -> str:
        """The object (relative to the prefix) holding ``entry``'s document; names that
        could leave the prefix (``..``, ``.``, a leading ``/``, control characters) are an
        InvalidKeyError before any request."""
        if self.kind == "grouped-jsonl":
            name = group_name(self.grouping, entry, self.suffix or GROUPED_SUFFIX)
            return codec.key_string(name, "object name of manifest entry")
        name = codec.key_string(entry[self.key], self.key)
        if self.kind == "s3store":
            return name
        compression = entry.get("compression")
        return name + ".json" + (codec.get_codec(compression).suffixes[0] if compression else "")

    def describe(self) -> str:
        if self.kind == "grouped-jsonl":
            parts = "/".join(f"{g}=..." for g in self.grouping)
            return (f"grouped JSON lines ({parts}{self.suffix or GROUPED_SUFFIX}, maggma "
                    f"OpenDataStore layout), key {self.key!r}")
        if self.kind == "json-objects":
            return f"one JSON document per object (.json / .json.gz), key {self.key!r}"
        return f"an s3explore / maggma S3Store bucket (msgpack objects), key {self.key!r}"

    def to_dict(self) -> dict:
        return {**asdict(self), "grouping": list(self.grouping)}

    @classmethod
    def from_dict(cls, data: Mapping) -> Layout:
        return cls(data["kind"], data["key"], tuple(data.get("grouping") or ()),
                   data.get("suffix", ""))


def group_value(value: Any) -> str:
    # maggma formats the grouping values with an f-string of the pandas value
    return str(value)


def group_name(grouping: Iterable[str], entry: Mapping, suffix: str) -> str:
    parts = []
    for name in grouping:
        if name not in entry:
            raise CorruptObjectError(f"manifest entry {entry!r:.80} has no grouping field "
                                     f"{name!r}, so its object cannot be found")
        value = group_value(entry[name])
        if "/" in value:  # one path segment per grouping field, as maggma writes them
            raise InvalidKeyError(f"manifest entry field {name!r} = {value!r:.80} holds a '/'; "
                                  "a grouping value names one folder, so its object is not "
                                  "read (the manifest is not what maggma writes)", key=value)
        parts.append(f"{name}={value}")
    return "/".join(parts) + suffix


def parse_group_name(name: str, suffix: str = GROUPED_SUFFIX) -> dict[str, Any] | None:
    """``"nelements=2/symmetry_number=225.jsonl.gz"`` -> ``{"nelements": 2, ...}``; None
    for a name that is not a grouped object."""
    if not name.endswith(suffix) or len(name) <= len(suffix):
        return None
    values: dict[str, Any] = {}
    for part in name[: -len(suffix)].split("/"):
        field_name, eq, text = part.partition("=")
        if not eq or not field_name or not text:
            return None
        values[field_name] = _typed(text)
    return values


def _typed(text: str) -> Any:
    """A grouping value as a number when it prints back to the same text (the object name
    is rebuilt from it), else as the text."""
    for kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            continue
        if str(value) == text:
            return value
    return text


# ---------------------------------------------------------------- entries


def clean_entry(entry: Mapping) -> dict:
    """A manifest row as an index entry: no ``_id``, no NaN (pandas' missing value)."""
    if not any(v != v for v in entry.values() if type(v) is float):  # no NaN: the usual
        return {k: v for k, v in entry.items() if k != "_id"}
    return {k: v for k, v in entry.items()
            if k != "_id" and not (isinstance(v, float) and v != v)}


def read_jsonl(body: bytes, name: str = MANIFEST_JSONL, max_bytes: int | None = None
               ) -> Iterator[dict]:
    for entry in _json.read_lines(body, name, max_bytes):
        yield clean_entry(entry)


def write_jsonl(entries: Iterable[Mapping]) -> bytes:
    return "".join(_json.dumps(e) + "\n" for e in entries).encode("utf-8")


def _flatten(entry: Mapping, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, value in entry.items():
        if isinstance(value, Mapping) and value:
            yield from _flatten(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", value


def _column(values: list) -> tuple[Any, bool]:
    """An Arrow array for one column and whether it holds extended JSON text (mixed types)."""
    import pyarrow as pa

    kinds = {type(v) for v in values if v is not None}
    if not kinds - {int, float} and int in kinds and float in kinds:
        values = [float(v) if v is not None else None for v in values]
    if len(kinds) <= 1 or kinds == {int, float}:
        try:
            array = pa.array(values)
            if not pa.types.is_null(array.type) and not pa.types.is_struct(array.type):
                return array, False
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
    return pa.array([None if v is None else _json.dumps(v) for v in values], pa.string()), True


def write_parquet(entries: list[Mapping], layout: Layout, extra: Mapping | None = None) -> bytes:
    """The entries as a Parquet file, the layout in its schema metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    flat = [dict(_flatten(e)) for e in entries]
    names = list(dict.fromkeys(n for row in flat for n in row))
    arrays, json_columns = [], []
    for name in names:
        array, as_json = _column([row.get(name) for row in flat])
        arrays.append(array)
        if as_json:
            json_columns.append(name)
    meta = {"format": FORMAT, "version": VERSION, "layout": layout.to_dict(),
            "json_columns": json_columns, "entries": len(flat), **(extra or {})}
    table = pa.table(dict(zip(names, arrays, strict=True))) if names else pa.table({})
    table = table.replace_schema_metadata({"s3explore": json.dumps(meta)})
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


@dataclass
class ParquetManifest:
    entries: list[dict]
    layout: Layout | None
    meta: dict = field(default_factory=dict)


def read_parquet(source: bytes | str | os.PathLike, name: str = MANIFEST_PARQUET
                 ) -> ParquetManifest:
    """Entries (nested again, nulls left out) and the layout, when s3explore wrote it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (pa.ArrowInvalid, OSError) as exc:
        raise CorruptObjectError(f"{name!r} is not a readable Parquet file ({exc})",
                                 key=str(name)) from None
    meta, layout = _metadata((table.schema.metadata or {}).get(b"s3explore"), str(name))
    json_columns = set(meta.get("json_columns") or ())
    entries = []
    for number, row in enumerate(table.to_pylist(), 1):
        try:
            flat = {k: (_json.loads(v) if k in json_columns else v)
                    for k, v in row.items() if v is not None}
        except (ValueError, TypeError) as exc:  # TooDeep among them
            raise CorruptObjectError(f"row {number} of {name!r} has a column s3explore wrote "
                                     f"as JSON that is not ({exc}); republish the manifest",
                                     key=str(name)) from None
        entries.append(clean_entry(nested(flat)))
    return ParquetManifest(entries, layout, meta)


def _metadata(raw: bytes | None, name: str) -> tuple[dict, Layout | None]:
    """The ``s3explore`` schema metadata of a Parquet manifest and its layout; anything
    malformed is a CorruptObjectError naming the manifest (its writer is not trusted)."""
    if not raw:
        return {}, None
    try:
        meta = json.loads(raw)
        if not isinstance(meta, dict):
            raise TypeError(f"a JSON {type(meta).__name__}, not an object")
        if meta.get("format") != FORMAT:
            return meta, None
        if not isinstance(meta.get("layout"), Mapping):
            raise TypeError("no 'layout' object")
        columns = meta.get("json_columns") or []
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise TypeError("'json_columns' is not a list of names")
        return meta, Layout.from_dict(meta["layout"])
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        raise CorruptObjectError(
            f"the s3explore metadata of the manifest {name!r} is malformed "
            f"({type(exc).__name__}: {str(exc)[:200]}); the manifest cannot be trusted: "
            "republish it (store.write_manifest()) or open the prefix with refresh=True to "
            "build one from the objects", key=name) from None


def read_meta(source: bytes, name: str = MANIFEST_PARQUET) -> dict:
    """The s3explore metadata of a Parquet manifest's bytes, without reading its rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        raw = (pq.read_schema(io.BytesIO(source)).metadata or {}).get(b"s3explore")
    except (pa.ArrowInvalid, OSError) as exc:
        raise CorruptObjectError(f"{name!r} is not a readable Parquet file ({exc})",
                                 key=str(name)) from None
    return _metadata(raw, name)[0]


def read_layout(path: str | os.PathLike) -> Layout | None:
    """The layout in a Parquet manifest's footer, without reading its rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        raw = (pq.read_schema(path).metadata or {}).get(b"s3explore")
        return _metadata(raw, os.fspath(path))[1]
    except (pa.ArrowInvalid, OSError, CorruptObjectError):
        return None  # a local copy that cannot be read is built again


# ---------------------------------------------------------------- local cache


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, else ``$S3EXPLORE_CACHE``, else ``~/.cache/s3explore``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "s3explore"


STEM_CHARS = 48  # readable part of a cache folder's name; the whole name stays under 80


def _readable(text: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")
    return safe[:STEM_CHARS].rstrip("._-") or "_"


def cache_folder(root: Path, endpoint_url: str | None, bucket: str, prefix: str) -> Path:
    """One folder per endpoint, bucket and prefix: ``manifests/<host>/<bucket_prefix>-<digest>``.

    The digest (SHA-256 of endpoint, bucket and prefix exactly as given) tells every URL
    apart (``s3://b/`` and ``s3://b/_root``, prefixes that differ in case or in characters
    the readable stem drops); the stem is for people and bounded, so no name is too long
    for a file system however long or non-ASCII the prefix."""
    host = urllib.parse.urlsplit(endpoint_url).netloc if endpoint_url else "aws"
    prefix = prefix.strip("/")
    identity = json.dumps([endpoint_url or "aws", bucket, prefix])
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:20]
    stem = _readable(f"{bucket}_{prefix}" if prefix else bucket)
    return root / "manifests" / _readable(host or "aws") / f"{stem}-{digest}"
