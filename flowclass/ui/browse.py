"""What the server-side file browser may show: folders under the allowed roots only.

The canvas never lets a browser name a path it likes: every listing and every chosen
path is resolved (symlinks included) and checked to lie inside one of the roots the
user allowed (``flowclass ui --root DIR``; default: the home folder). Protected places
(FlowClass's own folders, the home folder's dot-folders) are left out of every root,
unless a root the user named lies inside one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from ..fsutil import expand_user, is_text
from ..scanning import walk
from ..userfiles.pictures import IMAGE_SUFFIXES
from ..protected import Protected

COUNT_LIMIT = 100_000  # stop counting images below a folder after this many entries


class OutsideRoots(PermissionError):
    """A path that is not inside any allowed root."""


@dataclass(frozen=True)
class Entry:
    name: str
    path: Path
    is_dir: bool


@dataclass(frozen=True)
class ImageCount:
    """Images directly in a folder and in the whole tree below it (``complete`` if fully counted)."""

    here: int
    below: int
    complete: bool = True

    def __str__(self) -> str:
        more = "" if self.complete else "+"
        if self.below == self.here:
            return f"{self.here:,}{more} images"
        return f"{self.here:,} images here, {self.below:,}{more} in all"


class Roots:
    def __init__(self, roots: Iterable[str | os.PathLike[str]], protected: Protected | None = None):
        self.roots: tuple[Path, ...] = tuple(expand_user(r).resolve() for r in roots)
        self.protected = protected
        if not self.roots:
            raise ValueError("at least one root folder is needed")

    def with_roots(self, more: Iterable[str | os.PathLike[str]]) -> "Roots":
        """These roots and ``more``, with the same protected places left out."""
        return Roots([*self.roots, *more], self.protected)

    def allows(self, path: str | os.PathLike[str]) -> bool:
        resolved = expand_user(path).resolve()
        return any((resolved == root or root in resolved.parents) and self._open_in(root, resolved)
                   for root in self.roots)

    def _open_in(self, root: Path, resolved: Path) -> bool:
        """Whether ``resolved`` (below ``root``) is not in a protected place, or ``root`` is."""
        return self.protected is None or self.protected.why(resolved) is None \
            or self.protected.why(root) is not None

    def check(self, path: str | os.PathLike[str]) -> Path:
        """The resolved path, or :class:`OutsideRoots` naming the allowed roots."""
        resolved = expand_user(path).resolve()
        if not self.allows(resolved):
            allowed = ", ".join(str(r) for r in self.roots)
            raise OutsideRoots(f"{resolved} is outside the folders this canvas may use ({allowed})")
        return resolved

    def root_of(self, path: Path) -> Path:
        return next(r for r in self.roots if path == r or r in path.parents)

    def start(self, hint: str | os.PathLike[str] | None = None) -> Path:
        """Where a browser opens: the hint's folder when allowed, else the first root."""
        if hint:
            candidate = expand_user(hint)
            for folder in (candidate, *candidate.parents):
                if folder.is_dir() and self.allows(folder):
                    return folder.resolve()
        return self.roots[0]

    def listing(self, folder: str | os.PathLike[str], suffixes: Sequence[str] = ()) -> list[Entry]:
        """Subfolders (and files ending in ``suffixes``) of an allowed folder, sorted, no hidden ones."""
        folder = self.check(folder)
        entries = []
        with os.scandir(folder) as found:
            for item in found:
                if item.name.startswith(".") or not is_text(item.name):  # Import passes both over
                    continue
                try:
                    is_dir = item.is_dir()
                except OSError:
                    continue
                wanted = is_dir or (suffixes and item.name.lower().endswith(tuple(suffixes)))
                if wanted and self.allows(item.path):  # a link may lead out of the roots
                    entries.append(Entry(item.name, folder / item.name, is_dir))
        return sorted(entries, key=lambda e: (not e.is_dir, e.name.lower()))


def count_images(folder: str | os.PathLike[str], limit: int = COUNT_LIMIT) -> ImageCount:
    """How many image files a folder holds, directly and below (hidden folders skipped)."""
    here = below = seen = 0
    top, suffixes = os.fspath(folder), IMAGE_SUFFIXES
    for dirpath, dirnames, filenames in walk(top):  # os.walk recurses once a level (Python 3.11)
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        images = sum(1 for f in filenames if os.path.splitext(f)[1].lower() in suffixes)
        below += images
        if dirpath == top:
            here = images
        seen += len(filenames) + len(dirnames)
        if seen > limit:
            return ImageCount(here, below, complete=False)
    return ImageCount(here, below)
