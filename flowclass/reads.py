"""What a node's fingerprint read on disk, told by the fingerprint itself, so that a re-run
can see that nothing it read changed without asking the node again (and so without
importing the node's family: :mod:`flowclass.up_to_date`).

A fingerprint tells each folder it listed (:meth:`Reads.listed`) and each file it stamped
(:meth:`Reads.stamped`), then that this was all (:meth:`Reads.all_told`). One that never
says so, or says it read something it cannot describe (:meth:`Reads.cannot_tell`), leaves
nothing to check: such a node's re-runs are always asked of the node. The engine gives
every node a fresh :class:`Reads` before taking its fingerprint
(:func:`flowclass.node_cache.node_key`); a node without a fingerprint reads nothing.
"""

from __future__ import annotations

import os
from typing import Any

Stamp = list  # [size, mtime_ns] of a file (following links), or None when it cannot be read


def stamp_of(path: str, *, follow_symlinks: bool = True) -> list[int] | None:
    """[size, mtime_ns] of ``path`` (following links unless told not to, as
    :func:`flowclass.fsutil.file_stamp`); None when it cannot be read."""
    try:
        st = os.stat(path, follow_symlinks=follow_symlinks)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def listed(folder: str, budget: Any = None) -> tuple[list[str], list[str]]:
    """(folders, other entries) of ``folder`` as :func:`flowclass.scanning.walk` tells them
    apart (a link to a folder is a folder), in the order listed, each counted against
    ``budget`` (a :class:`flowclass.scanning.ScanBudget`); raises :class:`OSError`."""
    dirnames: list[str] = []
    filenames: list[str] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if budget is not None:
                budget.visit()
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            (dirnames if is_dir else filenames).append(entry.name)
    return dirnames, filenames


def _links(folder: str, dirnames: list[str]) -> list[str]:
    """The folders of ``dirnames`` that are links (a walk does not follow them)."""
    return sorted(name for name in dirnames if os.path.islink(os.path.join(folder, name)))


class Reads:
    """The folders and files one fingerprint read."""

    def __init__(self) -> None:
        self.folders: list[list[Any]] = []  # [folder, sorted folders, sorted other entries, links]
        self.stamps: list[list[Any]] = []  # [path, stamp]
        self._told = False
        self._untold = False

    def listed(self, folder: str, dirnames: list[str], filenames: list[str]) -> None:
        """``folder`` listed as :func:`listed` lists it."""
        self.folders.append([folder, sorted(dirnames), sorted(filenames), _links(folder, dirnames)])

    def stamped(self, path: str, stamp: Stamp | tuple[int, int] | None) -> None:
        """``path``'s stamp read as :func:`stamp_of` reads it."""
        self.stamps.append([path, None if stamp is None else list(stamp)])

    def all_told(self) -> None:
        """The fingerprint read nothing else."""
        self._told = True

    def cannot_tell(self) -> None:
        """The fingerprint read something it cannot describe here (a journal's entries, the
        canvas's roots): nothing may be decided without it."""
        self._untold = True

    def document(self) -> dict[str, Any] | None:
        """What was read, as JSON; None unless the fingerprint told all of it."""
        if not self._told or self._untold:
            return None
        return {"folders": self.folders, "stamps": self.stamps}


def unchanged(document: Any) -> bool:
    """Whether everything a :meth:`Reads.document` lists reads the same now (anything not
    sound is a change)."""
    try:
        for folder, dirnames, filenames, links in document["folders"]:
            now_dirs, now_files = listed(folder)
            if sorted(now_dirs) != dirnames or sorted(now_files) != filenames or \
                    _links(folder, now_dirs) != links:
                return False
        return all(stamp_of(path) == stamp for path, stamp in document["stamps"])
    except (OSError, TypeError, ValueError, KeyError):
        return False
