"""Small result objects returned by stores (``UpdateResult`` by every store's ``update``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Failure:
    """A document that was not stored: its key (when it had one), why, and the exception."""

    key: str | None
    reason: str
    error: BaseException | None = field(default=None, repr=False, compare=False)


@dataclass
class UpdateResult:
    """What an ``update`` did: on an index store, ``written`` and ``seconds`` (its documents
    are checked before any is written, so it has no failures); on an object store, also
    bytes, failures, cancellation and entries overtaken by another writer."""

    written: int = 0
    bytes: int = 0
    failures: list[Failure] = field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0
    # Objects another writer replaced between our put and our index check: their entries
    # were rewritten from the object found there (see the write path's confirm_entries).
    overtaken: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures and not self.cancelled

    @property
    def failed_keys(self) -> list[str | None]:
        return [f.key for f in self.failures]

    def __str__(self) -> str:
        state = "cancelled, " if self.cancelled else ""
        return (f"{state}{self.written} written ({self.bytes / 1e6:.2f} MB) in "
                f"{self.seconds:.1f} s, {len(self.failures)} failed")


@dataclass(frozen=True)
class StoredObject:
    """One fetched object: the decoded document and what it took to get it."""

    key: str
    doc: Any
    stored_size: int
    decoded_size: int
    compression: str | None
    seconds: float
    metadata: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass
class VerifyReport:
    """Differences between an S3Store's index and its bucket (under its sub_dir).

    ``print(report)`` (or the report as a notebook cell's value) shows the findings, the
    repair plan and what a repair did; ``plan()`` gives the plan as lines.
    """

    objects: int = 0
    entries: int = 0
    orphans: list[str] = field(default_factory=list)  # objects without an index entry
    dangling: list[str] = field(default_factory=list)  # index entries without an object
    mismatched: list[str] = field(default_factory=list)  # obj_hash differs from the object
    reindexed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    hashes_checked: bool = False
    duplicates: list[str] = field(default_factory=list)  # more than one entry for the object
    unreadable: list[str] = field(default_factory=list)  # objects that cannot be decoded
    quarantined: list[str] = field(default_factory=list)  # unreadable objects moved aside
    bodies_read: int = 0  # bodies downloaded (hashes known from metadata or memory are not)
    hashes_from_index: int = 0  # entries naming the ETag the listing shows: no request
    hashes_from_metadata: int = 0  # hashes read from the objects' metadata (one HEAD each)
    unchecked: list[str] = field(default_factory=list)  # no digest in metadata: deep=True
    deep: bool = False
    repaired: bool = False

    @property
    def ok(self) -> bool:
        return not (self.orphans or self.dangling or self.mismatched or self.duplicates
                    or self.unreadable)

    def plan(self, quarantine: str | None = None) -> list[str]:
        """What ``repair=True`` does about these differences, one line each."""
        lines = []
        if self.orphans:
            lines.append(f"re-index {len(self.orphans)} object(s) without an index entry "
                         "from their metadata and bodies")
        if self.dangling:
            lines.append(f"remove {len(self.dangling)} index entr(y/ies) whose object is missing")
        if self.mismatched:
            lines.append(f"re-index {len(self.mismatched)} object(s) whose obj_hash differs")
        if self.duplicates:
            lines.append(f"replace the entries of {len(self.duplicates)} object(s) indexed more "
                         "than once by one entry each, from the object")
        if self.unreadable:
            where = (f"move them under {quarantine!r} and remove their entries" if quarantine
                     else "leave them as they are (pass quarantine='prefix/' to move them "
                     "aside)")
            lines.append(f"{len(self.unreadable)} object(s) cannot be decoded: {where}")
        return lines

    def __str__(self) -> str:
        checked = (" (bodies decoded)" if self.deep else " (hashes checked: "
                   f"{self.hashes_from_index} by ETag, {self.hashes_from_metadata} from "
                   f"metadata, {self.bodies_read} bodies read)" if self.hashes_checked else "")
        lines = [f"{self.objects} objects, {self.entries} index entries{checked}"]
        for label, keys in (("objects without index entry", self.orphans),
                            ("index entries without object", self.dangling),
                            ("hash mismatches", self.mismatched),
                            ("objects with more than one entry", self.duplicates),
                            ("objects that cannot be decoded", self.unreadable),
                            ("re-indexed", self.reindexed), ("removed from index", self.removed),
                            ("moved to quarantine", self.quarantined)):
            if keys:
                shown = ", ".join(map(str, keys[:10])) + (" ..." if len(keys) > 10 else "")
                lines.append(f"{label}: {len(keys)} ({shown})")
        if self.unchecked:
            shown = ", ".join(map(str, self.unchecked[:10]))
            lines.append(f"hashes not checked: {len(self.unchecked)} object(s) carry no digest "
                         f"in their metadata (written by maggma?) ({shown}"
                         f"{' ...' if len(self.unchecked) > 10 else ''}); verify(deep=True) "
                         "reads and checks them")
        if self.ok and not (self.reindexed or self.removed):
            lines.append("index and bucket agree" + (" where checked" if self.unchecked else ""))
        elif not self.repaired:
            lines += ["verify(repair=True) would:"] + [f"  {line}" for line in self.plan()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(str(self))}</pre>"
