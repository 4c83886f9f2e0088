"""Keeping index and bucket in agreement: verify, repair and rebuilds (part of S3Store)."""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from s3explore import _codec as codec
from s3explore._errors import ObjectNotFoundError
from s3explore._stores._objects import ObjectIO
from s3explore._stores._results import VerifyReport
from s3explore._transfer import iter_batches, ordered_map

logger = logging.getLogger("s3explore")


class MaintenanceMixin:
    """S3Store's maintenance methods; they use its index, reads and worker pool."""

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
    _declared_compression: Callable[[bytes, Mapping[str, str]], str | None]

    def _entry_from_object(self, key: str, known: Mapping[str, Any]) -> dict:
        """Rebuild an object's index entry from its metadata, with types from its body."""
        raw, metadata, modified, _ = self.objects.read(key)
        compression = self._declared_compression(raw, metadata)
        doc = codec.decode_body(raw, compression, key)
        from_metadata = codec.entry_from_metadata(metadata)
        reserved = {"sub_dir", "compression", codec.KEYS_FIELD}
        fields = [f for f in from_metadata if f not in reserved] + self.searchable_fields
        source = {**from_metadata, **{f: doc[f] for f in fields if f in doc}}
        source.setdefault(self.key, key)
        entry = codec.index_document(source, self.key, fields, self.sub_dir, compression)
        previous = known.get(key)
        if previous is not None:
            entry[codec.LAST_UPDATED] = previous
        elif isinstance(modified, _dt.datetime):
            entry[codec.LAST_UPDATED] = modified.astimezone(_dt.UTC).replace(tzinfo=None)
        if self.store_hash:
            entry["obj_hash"] = codec.content_hash(raw)
        return entry

    def _known_last_updated(self) -> dict[str, Any]:
        field = codec.LAST_UPDATED
        return {str(e[self.key]): e[field] for e in self.index.query(properties=[self.key, field])
                if self.key in e and field in e}

    def _reindex(self, keys: Iterable[str], workers: int | None = None) -> list[str]:
        known = self._known_last_updated()
        done: list[str] = []
        batch: list[dict] = []
        work = ordered_map(lambda k: self._entry_from_object(k, known), keys,
                           self.objects.with_workers(workers))
        for outcome in work:
            if outcome.error is not None:
                if isinstance(outcome.error, ObjectNotFoundError):
                    continue  # deleted while we listed: nothing to index
                raise outcome.error
            batch.append(outcome.value)
            done.append(outcome.item)
            if len(batch) >= 500:
                self.index.update(batch, key=self.key)
                batch = []
        if batch:
            self.index.update(batch, key=self.key)
        return done

    def rebuild_index_from_s3_data(self, workers: int | None = None) -> int:
        """Re-create every index entry under the sub_dir from the objects themselves.

        Field types come from the object bodies where they hold the field; an entry that
        already exists keeps its ``last_updated``, a new one takes the object's LastModified.
        """
        return len(self._reindex((k for k, _ in self.objects.list()), workers))

    def rebuild_metadata_from_index(self, index_query: dict | None = None,
                                    workers: int | None = None) -> int:
        """Rewrite each object's metadata from its index entry (copy in place)."""
        def rewrite(entry: dict) -> None:
            key = codec.key_string(entry[self.key], self.key)
            metadata = codec.metadata_document(entry)
            codec.check_metadata(metadata, self.metadata_limit, key)
            object_key = codec.object_key(self.sub_dir, key)
            self.objects.call("copy_object", key, Key=object_key, Metadata=metadata,
                       CopySource={"Bucket": self.bucket, "Key": object_key},
                       MetadataDirective="REPLACE")

        count = 0
        for outcome in ordered_map(rewrite, self.index.query(index_query),
                                   self.objects.with_workers(workers)):
            if outcome.error is not None:
                raise outcome.error
            count += 1
        return count

    def verify(self, repair: bool = False, check_hashes: bool = True,
               workers: int | None = None) -> VerifyReport:
        """Compare the index with the bucket under the sub_dir; optionally repair.

        Reports objects without index entries, entries without objects, and (with
        ``check_hashes``, which downloads each object) ``obj_hash`` mismatches. ``repair``
        logs its plan, re-indexes orphans and mismatches from the objects and removes
        dangling entries.
        """
        objects = {k for k, _ in self.objects.list()}
        hashes = {str(e[self.key]): (e[self.key], e.get("obj_hash"))
                  for e in self.index.query(properties=[self.key, "obj_hash"]) if self.key in e}
        report = VerifyReport(objects=len(objects), entries=len(hashes),
                              hashes_checked=check_hashes)
        report.orphans = sorted(objects - hashes.keys())
        report.dangling = sorted(hashes.keys() - objects)
        if check_hashes:
            both = sorted(k for k in objects & hashes.keys() if hashes[k][1])

            def differs(key: str) -> bool:
                raw, *_ = self.objects.read(key)
                return codec.content_hash(raw) != hashes[key][1]

            for outcome in ordered_map(differs, both, self.objects.with_workers(workers)):
                if outcome.error is None:
                    if outcome.value:
                        report.mismatched.append(outcome.item)
                elif not isinstance(outcome.error, ObjectNotFoundError):
                    raise outcome.error  # unread is not unchanged; deleted since listing is
        if repair and not report.ok:
            for line in report.plan():
                logger.warning("verify(repair=True) on %s: %s", self.name, line)
            if report.dangling:
                originals = [hashes[k][0] for k in report.dangling]
                for batch in iter_batches(originals, 1000):
                    self.index.remove_docs({self.key: {"$in": batch}})
                report.removed = list(report.dangling)
            report.reindexed = self._reindex(report.orphans + report.mismatched, workers)
        return report
