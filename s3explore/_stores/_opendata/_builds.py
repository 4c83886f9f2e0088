"""One folder per manifest build, locked while the build runs.

Two processes building one prefix at once never share a file: each writes its parts to
``builds/<id>/``, holding an exclusive lock on ``builds/<id>/lock`` for as long as it
runs. A folder whose lock can be taken belongs to a build that died (crash, kill,
interrupt): the next build adopts its parts (each renamed into its own folder, so two
adopters never both get one) and resumes from them. Whoever finishes last replaces the
manifest, whole (``_build.Builder.finish``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import IO, Any

BUILDS = "builds"
LEGACY_PARTS = "build"
LOCK = "lock"
STALE_SCRATCH_SECONDS = 3600  # a folder that never got its final name: its build died

if sys.platform == "win32":  # pragma: no cover - the tests run on Linux
    import msvcrt

    def _try_lock(handle: IO[bytes]) -> bool:
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
else:
    import fcntl

    def _try_lock(handle: IO[bytes]) -> bool:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


class BuildFolder:
    """``folder/builds/<id>/`` of one build, locked until ``release()``."""

    def __init__(self, folder: Path) -> None:
        self.root = folder / BUILDS
        self.root.mkdir(parents=True, exist_ok=True)
        name = uuid.uuid4().hex
        # Made under a scratch name and renamed once locked: a folder with a final name
        # always has a lock file, so an unlocked one is certainly abandoned.
        scratch = self.root / f".{name}.new"
        scratch.mkdir()
        self._handle: IO[bytes] | None = (scratch / LOCK).open("a+b")
        if not _try_lock(self._handle):  # nobody else knows this name
            raise RuntimeError(f"cannot lock the new build folder {scratch}")
        self.path = self.root / name
        os.rename(scratch, self.path)

    def adopt_abandoned(self) -> int:
        """Move the parts of builds that died into this folder; the number moved."""
        moved = 0
        # Parts of earlier versions, shared by every build and naming no ETags: not trusted
        shutil.rmtree(self.root.parent / LEGACY_PARTS, ignore_errors=True)
        for other in self.root.iterdir():
            if other == self.path or not other.is_dir():
                continue
            if other.name.startswith("."):
                _remove_old_scratch(other)
                continue
            handle = _open_lock(other)
            if handle is None:
                continue
            try:
                if not _try_lock(handle):
                    continue  # a live twin: its parts are its own
                for part in sorted(other.glob("part-*.parquet")):
                    with contextlib.suppress(FileNotFoundError):  # another adopter was first
                        os.rename(part, self.path / part.name)
                        moved += 1
                shutil.rmtree(other, ignore_errors=True)
            finally:
                handle.close()
        return moved

    def release(self, remove: bool) -> None:
        """Unlock; ``remove``: delete the parts too (the build finished)."""
        if remove:
            shutil.rmtree(self.path, ignore_errors=True)
            with contextlib.suppress(OSError):
                self.root.rmdir()  # only when no other build is left
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __del__(self) -> None:  # an abandoned builder must not keep its folder locked
        with contextlib.suppress(Exception):
            self.release(remove=False)


def _open_lock(folder: Path) -> Any:
    try:
        return (folder / LOCK).open("rb")
    except OSError:  # removed meanwhile, or not ours
        return None


def _remove_old_scratch(folder: Path) -> None:
    try:
        if time.time() - folder.stat().st_mtime > STALE_SCRATCH_SECONDS:
            shutil.rmtree(folder, ignore_errors=True)
    except OSError:
        pass
