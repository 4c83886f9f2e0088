"""``s3explore.open(url)``: a read-only store for any recognisable bucket prefix."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from s3explore import _codec as codec
from s3explore._errors import (
    AccessDeniedError,
    CancelledBuildError,
    ConfigurationError,
    CredentialsError,
    S3ExploreError,
    S3RequestError,
    warn,
)
from s3explore._stores._objects import ObjectIO
from s3explore._stores._opendata import _index, _layout
from s3explore._stores._opendata._build import build
from s3explore._stores._opendata._manifest import (
    GROUPED_SUFFIX,
    MANIFEST_PARQUET,
    Layout,
    cache_folder,
    cache_root,
    read_layout,
    read_parquet,
)
from s3explore._stores._opendata._publish import manifest_bodies
from s3explore._stores._opendata._reader import DEFAULT_CACHE_BYTES
from s3explore._stores._opendata._store import ManifestStore
from s3explore._transfer import Callback

logger = logging.getLogger("s3explore")
PUBLISH = (True, False, "auto")


def parse_url(url: Any) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> ``("bucket", "prefix/")``."""
    if not isinstance(url, str) or not url.startswith("s3://"):
        shown = f"{url!r:.80}" if isinstance(url, str) else type(url).__name__
        raise ConfigurationError(f"open() takes an s3:// URL such as "
                                 f"s3://materialsproject-parsed/dos, got {shown}; for other "
                                 "endpoints (MinIO) pass endpoint_url= and keep the s3:// URL")
    bucket, _, prefix = url[len("s3://"):].partition("/")
    if not bucket:
        raise ConfigurationError(f"the URL {url!r} names no bucket: write s3://bucket/prefix")
    return bucket, prefix.strip("/")


def _has_credentials(s3_profile: Any) -> bool:
    from s3explore._s3client import make_session

    try:
        return make_session(s3_profile).get_credentials() is not None
    except S3ExploreError:
        raise
    except Exception:
        return False


def open(url: str, *, anonymous: bool | None = None, key: str | None = None,
         endpoint_url: str | None = None, s3_profile: str | dict | None = None,
         build_manifest: bool = True, fields: list[str] | None = None,
         publish: bool | str = "auto", refresh: bool = False,
         cache_dir: str | os.PathLike | None = None, cache: bool = True,
         workers: int = 8, progress: bool | Callback | Callable | None = None,
         cancel: threading.Event | None = None, cache_bytes: int = DEFAULT_CACHE_BYTES,
         s3_resource_kwargs: dict | None = None,
         max_decoded_bytes: int | None = None) -> ManifestStore:
    """Open ``s3://bucket/prefix`` read-only; the index runs locally, documents load lazily.

    Recognises a published manifest (``manifest.parquet`` from s3explore, or maggma's
    ``manifest.jsonl`` beside ``field=value/...jsonl.gz`` objects or an S3Store's objects),
    and prefixes of one ``.json``/``.json.gz`` document per object or of grouped
    ``.jsonl.gz`` objects without a manifest: for those it builds one (``build_manifest``)
    by reading every object (``workers`` at a time, ``progress``, ``cancel``; an interrupted
    build resumes), keeps it in ``cache_dir`` (default ``~/.cache/s3explore``), and with
    ``publish`` (``"auto"``: when signed in and allowed) writes it next to the objects.

    ``anonymous``: unsigned requests (public buckets); None: unsigned when boto3 finds no
    credentials. ``key``: the key field when it cannot be told. ``fields``: index fields of
    a built manifest (default: the documents' scalar fields). ``refresh``: rebuild it.
    ``max_decoded_bytes``: how far one object (or manifest) may inflate when decompressed
    (default 2 GiB, or ``$S3EXPLORE_MAX_DECODED_BYTES``); past it the object is a
    CorruptObjectError, as a decompression bomb must be.
    The returned store says what was found in ``store.found``.
    """
    bucket, prefix = parse_url(url)
    if publish not in PUBLISH:
        raise ConfigurationError(f"publish must be True, False or 'auto', got {publish!r}")
    limit = None if max_decoded_bytes is None else codec.max_decoded_bytes(max_decoded_bytes)
    if anonymous is None:
        anonymous = not _has_credentials(s3_profile)
    objects = ObjectIO(bucket, prefix, s3_profile=None if anonymous else s3_profile,
                       endpoint_url=endpoint_url, anonymous=bool(anonymous),
                       client_kwargs=s3_resource_kwargs, workers=workers)
    objects.max_decoded_bytes = limit
    try:
        return _open(objects, url, key, s3_profile, anonymous, build_manifest, fields, publish,
                     refresh, cache_dir, cache, workers, progress, cancel, cache_bytes,
                     s3_resource_kwargs)
    except (AccessDeniedError, CredentialsError) as exc:
        objects.close()
        hint = (" The bucket may not be public: sign in (s3_profile=, anonymous=False)."
                if anonymous else " For a public bucket pass anonymous=True.")
        raise type(exc)(f"cannot open {url}: {exc}.{hint}") from exc
    except BaseException:
        objects.close()
        raise


def _open(objects: ObjectIO, url: str, key: Any, s3_profile: Any, anonymous: bool,
          build_manifest: bool, fields: Any, publish: Any, refresh: bool, cache_dir: Any,
          cache: bool, workers: int, progress: Any, cancel: Any, cache_bytes: int,
          s3_resource_kwargs: Any) -> ManifestStore:
    bucket = objects.bucket
    prefix = objects.sub_dir
    objects.connect()
    folder = cache_folder(cache_root(cache_dir), objects.endpoint_url, bucket, objects.sub_dir)
    common = dict(s3_profile=None if anonymous else s3_profile,
                  endpoint_url=objects.endpoint_url,
                  anonymous=bool(anonymous), s3_workers=workers,
                  s3_resource_kwargs=s3_resource_kwargs, cache_dir=cache_dir, cache=cache,
                  cache_bytes=cache_bytes, max_decoded_bytes=objects.max_decoded_bytes,
                  _objects=objects)
    local = folder / MANIFEST_PARQUET
    if local.exists() and not refresh:  # built in an earlier session
        layout = read_layout(local)
        if layout is not None and (key is None or key == layout.key):
            store = ManifestStore(bucket, prefix, layout, manifest_path=local,
                                  found=f"{layout.describe()}; index from the manifest "
                                        f"built earlier, {local}", **common)
            return _connected(store, url)
    detected = _layout.detect(objects)
    if detected.kind == "manifest":
        return _from_manifest(objects, detected, key, common, url, folder if cache else None)
    return _from_objects(objects, detected, key, common, folder, fields=fields,
                         build_manifest=build_manifest, publish=publish, progress=progress,
                         cancel=cancel, workers=workers, url=url)


def _connected(store: ManifestStore, url: str) -> ManifestStore:
    store.connect()
    logger.info("opened %s: %s", url, store.found)
    return store


def _from_manifest(objects: ObjectIO, detected: _layout.Found, key: str | None,
                   common: dict, url: str, folder: Any) -> ManifestStore:
    name = detected.manifest
    fingerprint = _index.remote_fingerprint(objects, name) if folder is not None else None
    known = _index.remembered_layout(folder, fingerprint) if fingerprint else None
    if known is not None and key in (None, known.key):  # loaded before: the index is cached
        store = ManifestStore(objects.bucket, objects.sub_dir, known, name,
                              found=_layout.describe(detected, known) + " (local index "
                                    "cached)", **common)
        return _connected(store, url)
    entries, layout, _ = _index.read_remote(objects, name)
    if layout is None:
        layout = _layout.layout_for_manifest(objects, detected, entries, key)
    elif key is not None and key != layout.key:
        raise ConfigurationError(f"key={key!r}, but the manifest of {url} says the key is "
                                 f"{layout.key!r}; leave key= out")
    store = ManifestStore(objects.bucket, objects.sub_dir, layout, name,
                          found=_layout.describe(detected, layout, len(entries)),
                          _entries=entries, **common)
    _connected(store, url)
    if fingerprint:
        _index.remember_layout(folder, fingerprint, layout)
    return store


def _layout_from_objects(objects: ObjectIO, detected: _layout.Found, key: str | None
                         ) -> Layout:
    from s3explore._stores._opendata import _json

    if detected.layout_kind == "grouped-jsonl":
        first = detected.listing.grouped()[0]
        doc = _json.first_document(_json.head_of(read_head(objects, first), first), first)
        chosen = key or next((k for k in _layout.KEY_CANDIDATES if k in doc), None)
        if chosen is None:
            raise ConfigurationError(f"cannot tell the key field of the documents in {first!r}"
                                     f" (fields: {sorted(doc)[:12]}); pass key=")
        return Layout("grouped-jsonl", chosen, detected.grouping, GROUPED_SUFFIX)
    first = detected.listing.json_documents()[0]
    doc = _json.first_document(_json.head_of(read_head(objects, first), first), first)
    stem, _ = _layout.json_key(first)
    return Layout("json-objects", _layout.guess_document_key(doc, stem, key))


def read_head(objects: ObjectIO, name: str, size: int | None = None) -> bytes:
    """The first ``size`` bytes of object ``name`` (all of a smaller one): one ranged GET,
    so telling a layout never holds a whole object, however large."""
    from s3explore._stores._opendata import _json

    size = size or _json.HEAD_BYTES

    def fetch() -> bytes:
        download = objects.engine.get(objects.object_key(name), (0, size - 1))
        try:
            return download.read(size)
        finally:
            download.close()

    try:
        return objects.request(fetch, key=name)
    except S3RequestError as exc:
        if exc.code != "InvalidRange":  # an empty object has no first byte
            raise
        return b""


def _from_objects(objects: ObjectIO, detected: _layout.Found, key: str | None, common: dict,
                  folder: Any, *, fields: Any, build_manifest: bool, publish: Any,
                  progress: Any, cancel: Any, workers: int, url: str) -> ManifestStore:
    layout = _layout_from_objects(objects, detected, key)
    if not build_manifest:
        raise ConfigurationError(
            f"{url} holds {layout.describe()} but no manifest ({detected.listing.summary()}); "
            "open it with build_manifest=True to index it by reading every object once")
    folder.mkdir(parents=True, exist_ok=True)
    result = build(objects, layout, folder, fields=fields, workers=workers, progress=progress,
                   cancel=cancel)
    if result.cancelled or result.path is None:
        raise CancelledBuildError(
            f"building the manifest of {url} was cancelled after {result.entries} entries "
            f"from {result.objects} objects; call open() again to resume where it stopped",
            result)
    parsed = read_parquet(str(result.path), str(result.path))
    found = (f"{layout.describe()}; index from a manifest built from the objects "
             f"({result}), kept in {result.path}")
    if publish is True or (publish == "auto" and not objects.anonymous):
        found += "; " + _publish(objects, parsed.entries, layout, strict=publish is True)
    store = ManifestStore(objects.bucket, objects.sub_dir, layout,
                          manifest_path=result.path, found=found, _entries=parsed.entries,
                          **common)
    return _connected(store, url)


def _publish(objects: ObjectIO, entries: list[dict], layout: Layout, strict: bool) -> str:
    try:
        for name, body in manifest_bodies(entries, layout, ["parquet", "jsonl"]).items():
            objects.put(name, body, {})
    except (AccessDeniedError, CredentialsError) as exc:
        if strict:
            raise
        warn(f"the manifest was not published to {objects.name} (no write access: {exc}); "
             "it is kept locally")
        return "not published (no write access)"
    return f"published to {objects.name} (manifest.parquet, manifest.jsonl)"


