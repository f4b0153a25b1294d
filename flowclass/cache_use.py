"""One run's use of the cache, which goes on without it once the cache cannot be written.

A full disk, a read-only or foreign cache folder must not stop a run: the first write that
fails there (a result, a node family's store, the cache's marker) turns the cache off for
the rest of the run, with ONE warning that says why and what to do. The node that hit it
runs again with its store in a temporary folder (removed when the process ends), later
nodes use that folder from the start, and results are no longer stored. Reading cached
results goes on.
"""

from __future__ import annotations

from pathlib import Path

from .cache import Cache, NotACache, cache_hint
from .fsutil import WriteError, write_error


class RunCache:
    def __init__(self, cache: Cache):
        self.cache = cache
        self.unwritable: str | None = None  # why this run goes on without the cache
        self._made: list[Path] = []  # stores this run created (removed again if left empty)

    def store_dir(self, name: str) -> Path:
        """A node family's store: the cache's, or a temporary one once it cannot be written."""
        if self.unwritable is not None:
            return self.cache.scratch_dir(name)
        folder = self.cache.root / "stores" / name
        new = not folder.exists()
        found = self.cache.store_dir(name)
        if new and found == folder:
            self._made.append(folder)
        return found

    def is_trouble(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the cache failing to be written (not a node's own problem)."""
        if isinstance(exc, NotACache):
            return True
        if not isinstance(exc, OSError) or not exc.filename:
            return False
        try:
            return Path(exc.filename).resolve().is_relative_to(self.cache.root.resolve())
        except (OSError, ValueError):
            return False

    def give_up(self, exc: BaseException) -> str | None:
        """Go on without the cache; the warning to give, the first time only."""
        if self.unwritable is not None:
            return None
        if isinstance(exc, NotACache):
            why = str(exc)
        else:
            cause = exc.__cause__ if isinstance(exc, WriteError) and isinstance(exc.__cause__, OSError) \
                else exc
            why = str(write_error(cause, exc.filename, cache_hint(cause)))  # type: ignore[arg-type]
        self.unwritable = (f"the cache cannot be written, so this run goes on without it (results "
                           f"are not kept for the next run): {why}")
        for folder in self._made:  # made on a disk that then filled up: no empty folder left
            try:
                folder.rmdir()
            except OSError:
                pass
        return self.unwritable
