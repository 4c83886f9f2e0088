"""ManifestStore: a read-only store over a bucket prefix, its index loaded from a manifest.

Paging, filtering, sorting, ``distinct`` and ``query_df`` run on the local index (DuckDB);
documents are fetched lazily, in parallel, one GET per object however many documents of a
batch it holds. Writes are refused: the bucket belongs to someone else (or is public).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from s3explore import _codec as codec
from s3explore._checks import DEFAULT_WORKERS, one_of, whole_number
from s3explore._errors import (
    ConfigurationError,
    CorruptObjectError,
    NotConnectedError,
    ObjectNotFoundError,
    StoreConnectionError,
)
from s3explore._query import Query, has_path, project
from s3explore._s3engine import DEFAULT_ENGINE
from s3explore._stores._documents import ObjectBackedStore
from s3explore._stores._duckdb import DuckDBStore
from s3explore._stores._objects import DEFAULT_TIMEOUT, ObjectIO
from s3explore._stores._opendata import _fresh, _index
from s3explore._stores._opendata._manifest import (
    MANIFEST_JSONL,
    MANIFEST_NAMES,
    MANIFEST_PARQUET,
    Layout,
    cache_folder,
    cache_root,
)
from s3explore._stores._opendata._reader import DEFAULT_CACHE_BYTES, DocumentReader
from s3explore._stores._readonly import ReadOnly
from s3explore._stores._results import StoredObject, VerifyReport
from s3explore._transfer import Outcome, iter_batches, ordered_map


class ManifestStore(ReadOnly, ObjectBackedStore):
    """Documents under ``s3://bucket/prefix``, indexed by a manifest; read-only.

    ``layout``: a ``Layout`` (or its dict) saying where each entry's document lives.
    ``manifest``: the manifest's name under the prefix (``manifest.parquet`` or
    ``manifest.jsonl``), or ``manifest_path``: a local Parquet manifest (one built by
    ``s3explore.open``). ``cache_dir``: where the loaded index is kept between sessions
    (default ``~/.cache/s3explore``, or ``$S3EXPLORE_CACHE``); ``cache=False`` keeps it in
    memory only. ``cache_bytes``: memory for fetched objects kept for later reads.
    ``offline``: use the cached index without asking the bucket (connecting only when a
    document is fetched). Usually made by ``s3explore.open(url)``.

    An entry naming its object's ETag (``obj_etag``) is served only from that version of
    the object: a body with another ETag is a ``StaleObjectError`` (a CorruptObjectError,
    so ``on_error`` can skip the row) telling to reopen.

    The public API is ``ObjectBackedStore``'s (``s3explore._stores._documents``), the same as
    S3Store's; this class implements its read hooks over a ``DocumentReader`` and
    ``ReadOnly`` refuses every write.
    """

    _transient: ClassVar[tuple[str, ...]] = ("_reader", "_entries")
    read_only_reason = "opened read-only from its manifest (s3explore.open)"
    read_only_advice = (
        "To build your own collection from them, copy documents into an S3Store on a "
        "bucket you can write (S3Store(...).update(store.query(...)))")

    def __init__(self, bucket: str, prefix: str | None = None, layout: Layout | Mapping | None
                 = None, manifest: str | None = MANIFEST_PARQUET, *,
                 manifest_path: str | os.PathLike | None = None,
                 s3_profile: str | dict | None = None, endpoint_url: str | None = None,
                 anonymous: bool = False, s3_workers: int = DEFAULT_WORKERS,
                 s3_resource_kwargs: dict | None = None, retries: int = 5,
                 cache_dir: str | os.PathLike | None = None, cache: bool = True,
                 cache_bytes: int = DEFAULT_CACHE_BYTES, found: str = "",
                 max_decoded_bytes: int | None = None, offline: bool = False,
                 _entries: list[dict] | None = None, _objects: Any = None,
                 _fingerprint: str | None = None) -> None:
        if layout is None:
            raise ConfigurationError("layout is required; use s3explore.open(url), which "
                                     "detects it")
        layout = layout if isinstance(layout, Layout) else Layout.from_dict(layout)
        if manifest_path is None:
            one_of(manifest, "manifest", MANIFEST_NAMES, hint=" (a name under the prefix)")
        whole_number(cache_bytes, "cache_bytes", 0)
        # open()'s connected ObjectIO (same settings) spares a new client
        objects = _objects if _objects is not None else ObjectIO(
            bucket, prefix, s3_profile=s3_profile, endpoint_url=endpoint_url,
            anonymous=anonymous, client_kwargs=s3_resource_kwargs, workers=s3_workers,
            retries=retries, timeout=DEFAULT_TIMEOUT, engine=DEFAULT_ENGINE)
        super().__init__(DuckDBStore(_index.COLLECTION, key=layout.key), objects)
        self._retries = retries
        self.max_decoded_bytes = (None if max_decoded_bytes is None
                                  else codec.max_decoded_bytes(max_decoded_bytes))
        self.objects.max_decoded_bytes = self.max_decoded_bytes
        self.layout = layout
        self.manifest = None if manifest_path is not None else manifest
        self.manifest_path = os.fspath(manifest_path) if manifest_path is not None else None
        self.cache_dir = os.fspath(cache_dir) if cache_dir is not None else None
        self.cache = bool(cache)
        self.cache_bytes = cache_bytes
        self.found = found
        self.offline = bool(offline)
        self._entries = _entries
        self._fingerprint = _fingerprint  # of _entries, or of the cached index offline
        self._reader = self._make_reader()
        self._loaded = False

    def _make_reader(self) -> DocumentReader:
        reader = DocumentReader(self.objects, self.layout, self.cache_bytes, reopen_hint=(
            f"reopen it with s3explore.open({self.name!r}) (refresh=True to rebuild it all)"))
        if self.offline:
            reader.ensure_connected = self._online
        return reader

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._reader = self._make_reader()  # runtime state, not copied to other processes
        self._loaded = False  # the copy loads its own index on connect()

    def _config(self) -> dict[str, Any]:
        profile, client_kwargs = self.objects.sealed_settings()
        return {"bucket": self.bucket, "prefix": self.sub_dir or None,
                "layout": self.layout.to_dict(), "manifest": self.manifest,
                "manifest_path": self.manifest_path, "s3_profile": profile,
                "endpoint_url": self.endpoint_url, "anonymous": self.anonymous,
                "s3_workers": self.s3_workers, "s3_resource_kwargs": client_kwargs,
                "retries": self._retries, "cache_dir": self.cache_dir, "cache": self.cache,
                "cache_bytes": self.cache_bytes, "found": self.found,
                "max_decoded_bytes": self.max_decoded_bytes, "offline": self.offline}

    def __repr__(self) -> str:
        where = self.manifest_path or f"{self.name}{self.manifest}"
        return (f"ManifestStore({self.name!r}, {self.layout.kind}, key={self.key!r}, "
                f"manifest={where!r}{', anonymous' if self.anonymous else ''})")

    @property
    def read_stats(self) -> Any:
        """GETs sent, bytes received, documents served and cache hits so far."""
        return self._reader.stats

    @property
    def cache_folder(self) -> Path:
        return cache_folder(cache_root(self.cache_dir), self.endpoint_url, self.bucket,
                            self.sub_dir)

    # ------------------------------------------------------------ connection

    def _connect(self, force_reset: bool) -> None:
        if not self.offline:
            self.objects.connect(force_reset)
        if self._loaded and not force_reset:
            return
        self.index.close()
        folder = self.cache_folder if self.cache else None
        fingerprint, read = self._manifest_source(folder)
        self.index = _index.load(self._entries, self.layout, fingerprint, folder, read)
        # the documents' own date, or the objects' upload time when they have none (maggma's
        # Builders read the field's name from the store)
        self.last_updated_field = self.index.last_updated_field
        self._entries = None  # in the index now
        if not self.offline:
            self._fingerprint = None
        self._reader.clear()
        self._loaded = True

    def _manifest_source(self, folder: Path | None) -> tuple[str | None, Any]:
        """The manifest's fingerprint and how to read its entries, from one version of it."""
        if self.manifest_path is not None:
            if self._entries is not None and self._fingerprint is not None:
                return self._fingerprint, None
            # One read for both: a manifest replaced meanwhile (a twin's build, a refresh)
            # can never have its entries cached under the other version's fingerprint.
            with open(self.manifest_path, "rb") as handle:
                raw = handle.read()
            path = self.manifest_path
            return _index.fingerprint_bytes(raw), lambda: _index.parse(raw, path)[0]
        name = self.manifest
        if self.offline:
            note = _fresh.published(self.cache_folder) if self._fingerprint is None else None
            if note is not None and note["manifest"] == name:
                self._fingerprint = note["fingerprint"]
            if self._fingerprint is None:
                raise StoreConnectionError(
                    f"{self.name} was opened offline, but {self.cache_folder} holds no "
                    f"index of its {name}; open it once without offline=True")

            def unavailable() -> list[dict]:
                raise StoreConnectionError(
                    f"{self.name} was opened offline and the cached index of its manifest "
                    f"is gone from {self.cache_folder}; open it again without offline=True "
                    "once the bucket can be reached")
            return self._fingerprint, unavailable
        fingerprint = _index.remote_fingerprint(self.objects, name) if folder else None
        return fingerprint, lambda: _index.read_remote(self.objects, name)[0]

    def _online(self) -> None:
        """Connect to the bucket when first needed (offline stores only)."""
        try:
            self.objects.engine  # noqa: B018
            return
        except NotConnectedError:
            pass
        try:
            self.objects.connect()
        except StoreConnectionError as exc:
            raise StoreConnectionError(
                f"{self.name} was opened offline and its bucket cannot be reached, so no "
                f"document can be fetched ({exc}); the index still answers count(), "
                "distinct() and queries of the manifest's fields") from exc

    def _ready_to_read(self) -> None:
        if not self.offline:
            self.objects.client  # noqa: B018
        elif not self._loaded:  # offline: the bucket is asked only when a document is fetched
            raise NotConnectedError(f"{self.name} is not connected; call connect() or use "
                                    "`with`")

    def _close(self) -> None:
        self.objects.close()
        self.index.close()
        self._loaded = False

    # ------------------------------------------------------------ read hooks
    # ObjectBackedStore's public reads call these with checked arguments.

    def _read_entries(self, q: Query, entries: Iterator[dict], workers: int,
                      prefixes: tuple[str, ...]) -> Iterator[Outcome]:
        """Through the layout, in batches: documents sharing an object share a GET; a batch
        whose entries hold every requested property is answered from the manifest."""
        names = q.properties
        for batch in iter_batches(entries, 512):
            if names is not None and all(all(has_path(e, n) for n in names) for e in batch):
                yield from (Outcome(e, value=project(e, names)) for e in batch)
                continue
            for outcome in self._reader.outcomes(batch, workers, last_updated=True):
                if outcome.error is None:
                    doc = project(outcome.value, names) if names is not None else outcome.value
                    outcome = self._rebuilt(outcome, doc, prefixes)
                yield outcome

    def _read_keys(self, keys: Iterable[Any], workers: int,
                   prefixes: tuple[str, ...]) -> Iterator[Outcome]:
        for batch in iter_batches(keys, 512):
            looked = list(self._entries_for(batch))
            docs = self._reader.outcomes([o.value for o in looked if o.error is None], workers)
            for item in looked:
                if item.error is not None:
                    yield item
                    continue
                outcome = next(docs)
                yield (outcome if outcome.error is not None
                       else self._rebuilt(outcome, outcome.value, prefixes))

    def _read_object(self, key: Any, prefixes: tuple[str, ...]) -> StoredObject:
        """One document with what it took to get it (sizes are those of its whole object)."""
        outcome = next(self._entries_for([key]))
        if outcome.error is not None:
            raise outcome.error
        entry = outcome.value
        name = self.layout.object_name(entry)
        bodies = self._reader.bodies([entry], 1)
        body = bodies[name]
        if isinstance(body, BaseException):
            raise body
        key_text = codec.key_string(entry[self.key], self.key)
        doc = codec.rebuild_objects(self._reader.decode(body, entry), prefixes, key_text)
        return StoredObject(key_text, doc, body.stored_size, body.decoded_size,
                            body.compression, body.seconds, {"object": name})

    def _object_size(self, key: str) -> int:
        """The stored size of the object that holds ``key``'s document (one HEAD), whatever
        the layout (a grouped object holds many)."""
        outcome = next(self._entries_for([key]))
        if outcome.error is not None:
            raise outcome.error
        if self.offline:
            self._online()
        return self.objects.stat(self.layout.object_name(outcome.value)).size

    def _rebuilt(self, outcome: Outcome, doc: dict, prefixes: tuple[str, ...]) -> Outcome:
        """``outcome`` with ``doc``, its monty objects of ``prefixes`` rebuilt (an object that
        cannot be rebuilt is the outcome's error)."""
        try:
            doc = codec.rebuild_objects(doc, prefixes, self._key_of(outcome.item))
        except CorruptObjectError as exc:
            return Outcome(outcome.item, error=exc)
        return Outcome(outcome.item, value=doc)

    def _entries_for(self, keys: list) -> Iterator[Outcome]:
        """``Outcome(key, entry | ObjectNotFoundError)`` for each key, in order."""
        wanted = []
        for k in keys:
            wanted += [k, *codec.key_aliases(k, self.key)]
        found = {str(e[self.key]): e for e in self.index.query({self.key: {"$in": wanted}})}
        for k in keys:
            entry = found.get(codec.key_string(k, self.key))
            if entry is None:
                yield Outcome(k, error=ObjectNotFoundError(
                    f"the manifest of {self.name} has no entry with {self.key} = {k!r}",
                    key=str(k)))
            else:
                yield Outcome(k, value=entry)

    # ------------------------------------------------------------ checks

    def _verify(self, repair: bool, check_hashes: bool, workers: int | None, *,
                deep: bool, quarantine: str | None) -> VerifyReport:
        """``verify``: the manifest against the objects under the prefix (``repair`` and
        ``quarantine`` are refused before this, by ``ReadOnly``).

        ``orphans``: objects no entry points at; ``dangling``: keys whose object is missing;
        ``mismatched`` (s3store layout, with ``check_hashes``): ``obj_hash`` differs.
        ``deep=True`` also downloads and decodes every object an entry points at: those that
        cannot be decoded are listed in ``unreadable``.
        """
        self._online()
        listed = {name for name, _ in self.objects.list()
                  if name not in (MANIFEST_JSONL, MANIFEST_PARQUET)}
        by_object: dict[str, list] = {}
        hashes: dict[str, str] = {}
        entries = 0
        for entry in self.index.query():
            entries += 1
            name = self.layout.object_name(entry)
            by_object.setdefault(name, []).append(entry[self.key])
            if entry.get("obj_hash"):
                hashes[name] = entry["obj_hash"]
        data_objects = {n for n in listed if self._is_data(n)}
        report = VerifyReport(objects=len(data_objects), entries=entries)
        report.orphans = sorted(data_objects - by_object.keys())
        report.dangling = sorted(str(k) for n in by_object.keys() - listed for k in by_object[n])
        if check_hashes and hashes:
            report.hashes_checked = True
            both = sorted(n for n in hashes if n in listed)

            def differs(name: str) -> bool:
                raw, *_ = self.objects.read(name)
                return codec.content_hash(raw) != hashes[name]

            for outcome in ordered_map(differs, both, self.objects.with_workers(workers)):
                if outcome.error is not None and not isinstance(outcome.error,
                                                                ObjectNotFoundError):
                    raise outcome.error
                if outcome.value:
                    report.mismatched.append(outcome.item)
        if deep:
            self._decode_all(report, listed, self.objects.with_workers(workers))
        return report

    def _decode_all(self, report: VerifyReport, listed: set[str], workers: int) -> None:
        """``verify(deep=True)``: every listed object an entry points at, decoded."""
        unreadable: dict[str, None] = {}
        fetched: set[str] = set()
        present = (e for e in self.index.query() if self.layout.object_name(e) in listed)
        for outcome in self._reader.outcomes(present, workers):
            name = self.layout.object_name(outcome.item)
            fetched.add(name)
            if isinstance(outcome.error, CorruptObjectError):
                unreadable.setdefault(name)
            elif outcome.error is not None and not isinstance(outcome.error,
                                                              ObjectNotFoundError):
                raise outcome.error
        report.bodies_read += len(fetched)
        report.unreadable = sorted(unreadable)

    def _is_data(self, name: str) -> bool:
        if self.layout.kind == "grouped-jsonl":
            return name.endswith(self.layout.suffix or ".jsonl.gz")
        if self.layout.kind == "json-objects":
            return codec.strip_compression_suffix(name)[0].endswith(".json")
        return not name.startswith(".")
