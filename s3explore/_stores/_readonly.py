"""ReadOnly: the one piece that makes a store read-only (ManifestStore composes it).

Every public write of ``Store`` and ``ObjectBackedStore`` asks ``_check_writable(what)`` before it
looks at its arguments; ``ReadOnly`` answers with ReadOnlyStoreError, and refuses the write
hooks too, so no path writes. A store composes it in front of its base
(``class ManifestStore(ReadOnly, ObjectBackedStore)``) and overrides no public method.
"""

from __future__ import annotations

from typing import Any, ClassVar, NoReturn

from s3explore._errors import ReadOnlyStoreError


class ReadOnly:
    """Refuses every write of the store it is composed into with one error class,
    ReadOnlyStoreError, naming the store, why it is read-only and what to do instead."""

    read_only: ClassVar[bool] = True
    # Why the store is read-only, and what to do instead; a store may say it better.
    read_only_reason: ClassVar[str] = "read-only"
    read_only_advice: ClassVar[str] = (
        "copy its documents into a store you can write (other.update(store.query(...)))")

    name: str

    def _check_writable(self, what: str) -> NoReturn:
        raise ReadOnlyStoreError(
            f"{what}: {self.name} is {self.read_only_reason}; its documents cannot be "
            f"changed here. {self.read_only_advice}")

    # The write hooks: only reachable past _check_writable by a bug, refused all the same.
    def _upsert(self, docs: list[dict], keys: list[str]) -> None:
        self._check_writable("update")

    def _write(self, docs: Any, fields: list[str], **settings: Any) -> Any:
        self._check_writable("update")

    def _delete(self, criteria: dict) -> None:
        self._check_writable("remove_docs")

    def _remove(self, criteria: dict, remove_s3_object: bool) -> None:
        self._check_writable("remove_docs")

    def _swap(self, entries: list[dict], seen: list[str | None], key: str,
              field: str) -> list[bool]:
        self._check_writable("swap_entries")

    def _rebuild_index(self, workers: int | None) -> int:
        self._check_writable("rebuild_index_from_s3_data")

    def _rebuild_metadata(self, criteria: dict, workers: int | None) -> int:
        self._check_writable("rebuild_metadata_from_index")
