"""Keeping index and bucket in agreement: S3Store's hooks behind ``verify`` (and repair)
and the rebuilds, whose public entry points are ``ObjectBackedStore``'s."""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from s3explore import _codec as codec
from s3explore._errors import (
    ConfigurationError,
    CorruptObjectError,
    InvalidDocumentError,
    ObjectNotFoundError,
)
from s3explore._stores._objects import AUTO, MANIFEST_NAMES, ObjectIO
from s3explore._stores._results import VerifyReport
from s3explore._transfer import iter_batches, ordered_map

# The repair plan is logged here for those who configure logging; the NullHandler keeps
# Python's last-resort handler from printing it to stderr, which notebooks show as an error.
# The plan is in the report (``report.plan()``, ``print(report)``) either way.
logger = logging.getLogger("s3explore.maintenance")
logger.addHandler(logging.NullHandler())


class MaintenanceMixin:
    """S3Store's maintenance hooks (``_verify``, ``_rebuild_index``, ``_rebuild_metadata``);
    they use its index, reads and worker pool."""

    # Everything it uses of its host, S3Store:
    index: Any
    objects: ObjectIO
    key: str
    bucket: str
    sub_dir: str
    name: str
    store_hash: bool
    metadata_limit: int | None
    searchable_fields: list[str]

    def _entry_and_etag(self, key: str, known: Mapping[str, Any]) -> tuple[dict, str | None]:
        """An object's index entry rebuilt from its metadata, with types from its body, and
        the ETag of the object it describes."""
        fetched = self.objects.read_doc(key, AUTO, hash_body=True)
        doc, metadata = fetched.doc, fetched.metadata
        try:
            from_metadata = codec.entry_from_metadata(metadata)
        except (ValueError, TypeError, AttributeError, RecursionError) as exc:
            raise CorruptObjectError(
                f"object {key!r} has metadata s3explore cannot read ({type(exc).__name__}: "
                f"{str(exc)[:120]}); rewrite it with update() or quarantine it", key=key
            ) from None
        reserved = {"sub_dir", "compression", codec.KEYS_FIELD}
        fields = [f for f in from_metadata if f not in reserved] + self.searchable_fields
        source = {**from_metadata, **{f: doc[f] for f in fields if f in doc}}
        # The object's own name is its key: whatever its body or metadata claim (another
        # key's value, a hijack of that key's entry), it is indexed where it is. A claim
        # naming this very object keeps its type (1 and "1" name one object).
        if str(source.get(self.key)) != key:
            source[self.key] = key
        try:
            entry = codec.index_document(source, self.key, fields, self.sub_dir,
                                         fetched.compression)
        except InvalidDocumentError as exc:
            raise CorruptObjectError(f"object {key!r} cannot be indexed: {exc}",
                                     key=key) from None
        previous = known.get(key)
        modified = fetched.last_modified
        if previous is not None:
            entry[codec.LAST_UPDATED] = previous
        elif isinstance(modified, _dt.datetime):
            entry[codec.LAST_UPDATED] = modified.astimezone(_dt.UTC).replace(tzinfo=None)
        if self.store_hash:
            entry["obj_hash"] = fetched.sha1
            if fetched.etag is not None:
                entry[codec.ETAG_FIELD] = codec.bare_etag(fetched.etag)
        if fetched.etag is not None and fetched.sha1 is not None:
            self.objects.remember_hash(key, fetched.etag, fetched.sha1)
        return entry, fetched.etag

    def _entry_from_object(self, key: str, known: Mapping[str, Any]) -> dict:
        return self._entry_and_etag(key, known)[0]

    def _known_last_updated(self) -> dict[str, Any]:
        field = codec.LAST_UPDATED
        return {str(e[self.key]): e[field] for e in self.index.query(properties=[self.key, field])
                if self.key in e and field in e}

    def _reindex(self, keys: Iterable[str], workers: int | None = None,
                 unreadable: list[str] | None = None,
                 replace: Mapping[str, list] | None = None) -> list[str]:
        """Index entries for ``keys`` from their objects; the keys done. Objects that cannot
        be decoded are skipped and added to ``unreadable`` (raised when it is None).
        ``replace``: key -> entry key values to remove first (duplicates), done per batch
        right before the new entries are written, so an unreadable object keeps its entries."""
        known = self._known_last_updated()
        done: list[str] = []
        batch: list[dict] = []
        batch_keys: list[str] = []

        def write() -> None:
            old = [v for k in batch_keys for v in (replace or {}).get(k, ())]
            if old:
                self.index.remove_docs({self.key: {"$in": old}})
            self.index.update(batch, key=self.key)
            batch.clear()
            batch_keys.clear()

        work = ordered_map(lambda k: self._entry_from_object(k, known), keys,
                           self.objects.with_workers(workers))
        for outcome in work:
            if outcome.error is not None:
                if isinstance(outcome.error, ObjectNotFoundError):
                    continue  # deleted while we listed: nothing to index
                if isinstance(outcome.error, CorruptObjectError) and unreadable is not None:
                    unreadable.append(outcome.item)
                    continue
                raise outcome.error
            batch.append(outcome.value)
            batch_keys.append(outcome.item)
            done.append(outcome.item)
            if len(batch) >= 500:
                write()
        if batch:
            write()
        return done

    def _rebuild_index(self, workers: int | None) -> int:
        """``rebuild_index_from_s3_data``: every index entry under the sub_dir from the
        objects themselves."""
        return len(self._reindex((k for k, _ in self.objects.list() if k not in MANIFEST_NAMES),
                                 workers))

    def _rebuild_metadata(self, criteria: dict, workers: int | None) -> int:
        """``rebuild_metadata_from_index``: each object's metadata from its index entry (copy
        in place). The body's digest is kept when it still describes the body: it is the
        object's, not the entry's."""
        def rewrite(entry: dict) -> None:
            key = codec.key_string(entry[self.key], self.key)
            metadata = codec.metadata_document(entry, rename=True)
            codec.check_metadata(metadata, self.metadata_limit, key)
            head = self.objects.stat(key)
            old, etag = head.metadata or {}, head.etag
            digest = {k: old[k] for k in codec.DIGEST_FIELDS if k in old}
            limit = self.metadata_limit
            if codec.described_hash(old, etag) is not None and (
                    limit is None or codec.metadata_size({**metadata, **digest}) <= limit):
                metadata.update(digest)
            self.objects.copy(key, metadata)

        count = 0
        for outcome in ordered_map(rewrite, self.index.query(criteria),
                                   self.objects.with_workers(workers)):
            if outcome.error is not None:
                raise outcome.error
            count += 1
        return count

    def _verify(self, repair: bool, check_hashes: bool, workers: int | None, *,
                deep: bool, quarantine: str | None) -> VerifyReport:
        """``verify`` (see ``ObjectBackedStore.verify``): compare the index with the bucket
        under the sub_dir; with ``repair``, fix the index from the objects."""
        target = self._quarantine_prefix(quarantine)
        workers = self.objects.with_workers(workers)
        etags = {k: etag for k, etag, _ in self.objects.listing() if k not in MANIFEST_NAMES}
        groups: dict[str, list[tuple[Any, Any]]] = {}
        recorded: dict[str, dict[str, str]] = {}  # key -> {ETag an entry names: its hash}
        for e in self.index.query(properties=[self.key, "obj_hash", codec.ETAG_FIELD]):
            if self.key in e:
                key = str(e[self.key])
                groups.setdefault(key, []).append((e[self.key], e.get("obj_hash")))
                if e.get("obj_hash") and e.get(codec.ETAG_FIELD):
                    recorded.setdefault(key, {})[e[codec.ETAG_FIELD]] = e["obj_hash"]
        report = VerifyReport(objects=len(etags), entries=sum(map(len, groups.values())),
                              hashes_checked=check_hashes, deep=deep)
        report.orphans = sorted(etags.keys() - groups.keys())
        report.dangling = sorted(groups.keys() - etags.keys())
        report.duplicates = sorted(k for k, g in groups.items() if len(g) > 1 and k in etags)
        if check_hashes or deep:
            self._check_bodies(report, etags, groups, recorded, check_hashes, deep, workers)
        if repair and not report.ok:
            report.repaired = True
            for line in report.plan(quarantine=target):
                logger.warning("verify(repair=True) on %s: %s", self.name, line)
            self._repair(report, groups, target, workers)
        return report

    def _check_bodies(self, report: VerifyReport, etags: Mapping[str, str | None],
                      groups: Mapping[str, list], recorded: Mapping[str, dict],
                      check_hashes: bool, deep: bool, workers: int) -> None:
        both = sorted(etags.keys() & groups.keys())
        if not deep:
            both = [k for k in both if any(h for _, h in groups[k])]
            # An entry written with the ETag the listing shows describes that object: its
            # hash is the body's, and no request is needed.
            listed = {k: codec.bare_etag(etags[k]) for k in both}
            from_index = [k for k in both if listed[k] in recorded.get(k, {})]
            for key in from_index:
                self.objects.remember_hash(key, etags[key], recorded[key][listed[key]])
            report.hashes_from_index = len(from_index)
        for outcome in ordered_map(lambda k: self._body_hash(k, etags[k], deep), both, workers):
            key = outcome.item
            if outcome.error is None:
                sha1, source = outcome.value
                report.bodies_read += source == "body"
                report.hashes_from_metadata += source == "metadata"
                if sha1 is None:
                    report.unchecked.append(key)
                elif check_hashes and any(h != sha1 for _, h in groups[key] if h):
                    report.mismatched.append(key)
            elif isinstance(outcome.error, CorruptObjectError):
                report.bodies_read += 1  # downloaded, then found undecodable
                report.unreadable.append(key)
            elif not isinstance(outcome.error, ObjectNotFoundError):
                raise outcome.error  # unread is not unchanged; deleted since listing is

    def _body_hash(self, key: str, etag: str | None, deep: bool) -> tuple[str | None, str]:
        """``(SHA-1 of the body under key, where it came from)``: "memory" (known at this
        ETag, from an entry or an earlier read), "metadata" (its digest describes the bytes
        S3 reports), "body" (downloaded: ``deep``, or a digest that describes other bytes),
        or ``(None, "none")`` for an object that carries no digest (maggma's), left to
        ``deep=True``."""
        if deep:
            fetched = self.objects.read_doc(key, AUTO, hash_body=True)
            etag, sha1, source = fetched.etag, fetched.sha1, "body"
        else:
            known = self.objects.known_hash(key, etag)
            if known is not None:
                return known, "memory"
            head = self.objects.stat(key)
            metadata, etag = head.metadata or {}, head.etag
            sha1, source = codec.described_hash(metadata, etag), "metadata"
            if sha1 is None:
                if codec.claimed_hash(metadata) is None:
                    return None, "none"
                # Its digest describes other bytes: rewritten by another tool, metadata
                # copied (or an endpoint whose ETags are not MD5s): read what is there.
                etag, sha1 = self.objects.hash_body(key)
                source = "body"
        if etag is not None and sha1 is not None:
            self.objects.remember_hash(key, etag, sha1)
        return sha1, source

    def _repair(self, report: VerifyReport, groups: Mapping[str, list], target: str | None,
                workers: int) -> None:
        if report.dangling:
            originals = [v for k in report.dangling for v, _ in groups[k]]
            for batch in iter_batches(originals, 1000):
                self.index.remove_docs({self.key: {"$in": batch}})
            report.removed = list(report.dangling)
        found_unreadable = set(report.unreadable)
        redo = [k for k in dict.fromkeys(report.orphans + report.mismatched + report.duplicates)
                if k not in found_unreadable]
        replace = {k: [v for v, _ in groups[k]] for k in report.duplicates}
        report.reindexed = self._reindex(redo, workers, report.unreadable, replace)
        if target is not None and report.unreadable:
            report.quarantined = self._move_aside(report.unreadable, groups, target)

    def _quarantine_prefix(self, quarantine: str | None) -> str | None:
        if quarantine is None:
            return None
        if not isinstance(quarantine, str) or not quarantine.strip("/"):
            raise ConfigurationError(f"quarantine must be a key prefix such as 'quarantine/', "
                                     f"got {quarantine!r}")
        prefix = codec.normalize_sub_dir(quarantine)
        if not self.sub_dir:
            raise ConfigurationError(
                "quarantine needs a store with a sub_dir: without one the store is the whole "
                "bucket, and the moved objects would be listed again as orphans; move them "
                "yourself (report.unreadable lists them)")
        if prefix.startswith(self.sub_dir) or self.sub_dir.startswith(prefix):
            raise ConfigurationError(
                f"quarantine prefix {prefix!r} overlaps the store's sub_dir "
                f"{self.sub_dir!r}: pick a prefix outside it, or verify would find the moved "
                "objects again")
        return prefix

    def _move_aside(self, keys: list[str], groups: Mapping[str, list], prefix: str) -> list[str]:
        """Copy each object under ``prefix`` (its sub_dir path kept), then delete it and its
        entries; the keys moved."""
        moved = []
        for key in keys:
            self.objects.copy(key, to=prefix + self.objects.object_key(key))
            self.objects.delete([key])
            originals = [v for v, _ in groups.get(key, ())]
            if originals:
                self.index.remove_docs({self.key: {"$in": originals}})
            moved.append(key)
        return moved
