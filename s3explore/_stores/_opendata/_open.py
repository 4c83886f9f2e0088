"""``s3explore.open(url)``: a read-only store for any recognisable bucket prefix."""

from __future__ import annotations

import datetime as _dt
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from s3explore import _codec as codec
from s3explore._checks import DEFAULT_WORKERS
from s3explore._errors import (
    AccessDeniedError,
    CancelledBuildError,
    ConfigurationError,
    CredentialsError,
    S3ExploreError,
    S3RequestError,
    StoreConnectionError,
    warn,
)
from s3explore._stores._objects import ObjectIO
from s3explore._stores._opendata import _fresh, _index, _layout
from s3explore._stores._opendata._build import BuildResult, build
from s3explore._stores._opendata._manifest import (
    GROUPED_SUFFIX,
    MANIFEST_PARQUET,
    Layout,
    cache_folder,
    cache_root,
    read_layout,
    read_meta,
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
         workers: int = DEFAULT_WORKERS, progress: bool | Callback | Callable | None = None,
         cancel: threading.Event | None = None, cache_bytes: int = DEFAULT_CACHE_BYTES,
         s3_resource_kwargs: dict | None = None,
         max_decoded_bytes: int | None = None, offline: bool = False) -> ManifestStore:
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

    Reopening checks the cache against the bucket first: a published manifest by its ETag
    and size (a new version is loaded again), a manifest built here by listing the prefix
    and comparing each object's name, ETag and size with those it was built from; changed
    and new objects are read again, deleted ones leave the index, the rest is kept (with
    ``build_manifest=False`` a stale cache is an error instead). A bucket that cannot be
    reached is an error; ``offline=True`` then uses the cache as it is, unchecked, with a
    warning (an error when there is no cache). An object found changed at read time is a
    ``StaleObjectError`` for its rows, never a body that does not match its entry.
    """
    bucket, prefix = parse_url(url)
    if publish not in PUBLISH:
        raise ConfigurationError(f"publish must be True, False or 'auto', got {publish!r}")
    if not isinstance(offline, bool):
        raise ConfigurationError(f"offline must be True or False, got {offline!r}")
    if offline and (refresh or not cache):
        raise ConfigurationError("offline=True uses the local cache as it is: it cannot be "
                                 "combined with refresh=True or cache=False")
    limit = None if max_decoded_bytes is None else codec.max_decoded_bytes(max_decoded_bytes)
    if anonymous is None:
        anonymous = not _has_credentials(s3_profile)
    objects = ObjectIO(bucket, prefix, s3_profile=None if anonymous else s3_profile,
                       endpoint_url=endpoint_url, anonymous=bool(anonymous),
                       client_kwargs=s3_resource_kwargs, workers=workers)
    objects.max_decoded_bytes = limit
    folder = cache_folder(cache_root(cache_dir), objects.endpoint_url, bucket, objects.sub_dir)
    common = dict(s3_profile=None if anonymous else s3_profile,
                  endpoint_url=objects.endpoint_url,
                  anonymous=bool(anonymous), s3_workers=workers,
                  s3_resource_kwargs=s3_resource_kwargs, cache_dir=cache_dir, cache=cache,
                  cache_bytes=cache_bytes, max_decoded_bytes=objects.max_decoded_bytes,
                  _objects=objects)
    try:
        if offline:
            return _offline(objects, url, key, common, folder)
        return _open(objects, url, key, common, folder, build_manifest, fields, publish,
                     refresh, cache, workers, progress, cancel)
    except (AccessDeniedError, CredentialsError) as exc:
        objects.close()
        hint = (" The bucket may not be public: sign in (s3_profile=, anonymous=False)."
                if anonymous else " For a public bucket pass anonymous=True.")
        raise type(exc)(f"cannot open {url}: {exc}.{hint}") from exc
    except BaseException:
        objects.close()
        raise


def _cached(folder: Path) -> bool:
    return (folder / MANIFEST_PARQUET).exists() or _fresh.published(folder) is not None


def _checking(folder: Path, url: str, request: Callable[[], Any]) -> Any:
    """``request()``; when the bucket cannot be reached and a cache exists, the error says
    how to use the cache anyway."""
    try:
        return request()
    except StoreConnectionError as exc:
        if not _cached(folder):
            raise
        raise StoreConnectionError(
            f"cannot reach the bucket of {url} to check the index cached in {folder} "
            f"({exc}); to use that cache as it is (possibly out of date) pass "
            "offline=True") from exc


def _open(objects: ObjectIO, url: str, key: Any, common: dict, folder: Path,
          build_manifest: bool, fields: Any, publish: Any, refresh: bool, cache: bool,
          workers: int, progress: Any, cancel: Any) -> ManifestStore:
    _checking(folder, url, objects.connect)
    local = folder / MANIFEST_PARQUET
    if local.exists() and not refresh:  # built in an earlier session
        layout = read_layout(local)
        if layout is not None and (key is None or key == layout.key):
            return _reopen_built(objects, url, layout, common, folder, fields=fields,
                                 build_manifest=build_manifest, publish=publish,
                                 progress=progress, cancel=cancel, workers=workers)
    detected = _layout.detect(objects)
    if detected.kind == "manifest":
        return _from_manifest(objects, detected, key, common, url, folder if cache else None)
    return _from_objects(objects, detected, key, common, folder, fields=fields,
                         build_manifest=build_manifest, publish=publish, progress=progress,
                         cancel=cancel, workers=workers, url=url)


def _offline(objects: ObjectIO, url: str, key: Any, common: dict, folder: Path
             ) -> ManifestStore:
    """The cached index as it is, without a request; a warning says it may be stale."""
    local = folder / MANIFEST_PARQUET
    layout = read_layout(local) if local.exists() else None
    if layout is not None and key in (None, layout.key):
        when = _dt.datetime.fromtimestamp(local.stat().st_mtime).isoformat(" ", "seconds")
        store = ManifestStore(objects.bucket, objects.sub_dir, layout, manifest_path=local,
                              offline=True, found=f"{layout.describe()}; index from the "
                              f"manifest built on {when}, {local}, offline (not checked "
                              "against the bucket)", **common)
        _warn_offline(url, f"the manifest built on {when}, kept in {folder}")
        return _connected(store, url)
    note = _fresh.published(folder)
    known = _index.remembered_layout(folder, note["fingerprint"]) if note else None
    if note is not None and known is not None and key in (None, known.key):
        when = _dt.datetime.fromtimestamp(note.get("saved") or 0).isoformat(" ", "seconds")
        store = ManifestStore(objects.bucket, objects.sub_dir, known, note["manifest"],
                              offline=True, _fingerprint=note["fingerprint"],
                              found=f"{known.describe()}; index from manifest "
                                    f"{note['manifest']} as loaded on {when}, offline (not "
                                    "checked against the bucket)", **common)
        _warn_offline(url, f"its published manifest as loaded on {when}, cached in {folder}")
        return _connected(store, url)
    wanted = f" with key {key!r}" if key is not None else ""
    raise ConfigurationError(
        f"offline=True: there is no cached index of {url}{wanted} in {folder.parent.parent}; "
        "open it once without offline=True, with the bucket reachable, to make one")


def _warn_offline(url: str, what: str) -> None:
    warn(f"{url} is opened offline from {what}, without checking the bucket: the cache may "
         "be out of date (objects changed, added or deleted since are not seen; a document "
         "whose object changed is an error, not served). Open it without offline=True to "
         "check and update it")


def _reopen_built(objects: ObjectIO, url: str, layout: Layout, common: dict, folder: Path, *,
                  fields: Any, build_manifest: bool, publish: Any, progress: Any, cancel: Any,
                  workers: int) -> ManifestStore:
    """A manifest built here before: the prefix is listed and compared with the objects
    it was built from; what changed is read again (see ``_fresh``)."""
    local = folder / MANIFEST_PARQUET
    raw = local.read_bytes()  # one version: a twin may replace the file meanwhile
    fingerprint = _index.fingerprint_bytes(raw)
    built_fields = read_meta(raw, str(local)).get("fields")
    recorded = _fresh.read_listing(folder, fingerprint)
    listed = _checking(folder, url, lambda: _fresh.list_data_objects(objects, layout))
    if recorded is not None and (fields is None or fields == built_fields):
        staleness = _fresh.compare(recorded, listed)
        if staleness.fresh:
            unread = sorted(r.name for r in recorded.values() if r.failed)
            note = (f"; {len(unread)} object(s) could not be read when it was built and are "
                    f"not indexed ({', '.join(unread[:3])}{' ...' if len(unread) > 3 else ''})"
                    if unread else "")
            store = ManifestStore(objects.bucket, objects.sub_dir, layout, manifest_path=local,
                                  found=f"{layout.describe()}; index from the manifest built "
                                        f"earlier, {local}, checked against the bucket: "
                                        f"{staleness.describe()}{note}", **common)
            return _connected(store, url)
        why = f"the bucket changed since it was built: {staleness.describe()}"
        reuse, quiet = _fresh.reusable(read_parquet(raw, str(local)).entries, layout,
                                       recorded, staleness.unchanged)
        fields = built_fields if fields is None else fields
    else:
        why = ("it was built by an earlier version of s3explore, which kept no record of "
               "the objects it read" if recorded is None else
               f"fields={fields!r} differ from those it was built with ({built_fields!r})")
        reuse, quiet = {}, []
    if not build_manifest:
        raise ConfigurationError(
            f"the manifest of {url} cached in {folder} is out of date ({why}); open it with "
            "build_manifest=True to update it (only changed and new objects are read), or "
            "with offline=True to use it as it is")
    logger.info("updating the manifest of %s: %s", url, why)
    result = build(objects, layout, folder, fields=fields, workers=workers, progress=progress,
                   cancel=cancel, listed=listed, reuse=reuse, quiet=quiet)
    return _built_store(objects, layout, result, common, url, publish,
                        f"index from the manifest built earlier, updated because {why} "
                        f"({sum(map(len, reuse.values()))} entries kept)")


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
        _connected(store, url)
        _fresh.remember_published(folder, name, fingerprint)
        return store
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
        _fresh.remember_published(folder, name, fingerprint)
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
    return _built_store(objects, layout, result, common, url, publish,
                        "index from a manifest built from the objects")


def _built_store(objects: ObjectIO, layout: Layout, result: BuildResult, common: dict,
                 url: str, publish: Any, how: str) -> ManifestStore:
    if result.cancelled or result.path is None:
        raise CancelledBuildError(
            f"building the manifest of {url} was cancelled after {result.entries} entries "
            f"from {result.objects} objects; call open() again to resume where it stopped",
            result)
    raw = result.path.read_bytes()  # one version, whichever twin's build put it last
    parsed = read_parquet(raw, str(result.path))
    found = f"{layout.describe()}; {how} ({result}), kept in {result.path}"
    if publish is True or (publish == "auto" and not objects.anonymous):
        found += "; " + _publish(objects, parsed.entries, layout, strict=publish is True)
    store = ManifestStore(objects.bucket, objects.sub_dir, layout,
                          manifest_path=result.path, found=found, _entries=parsed.entries,
                          _fingerprint=_index.fingerprint_bytes(raw), **common)
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


