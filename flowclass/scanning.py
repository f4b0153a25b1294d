"""Folder walks with a budget, so a status check never walks a huge tree.

The canvas asks, while the user edits, which nodes' results still hold; that takes the
fingerprint of every input folder, and a folder typed key by key passes through "/" and
the home folder on its way. A :class:`ScanBudget` caps how many directory entries one
check looks at and for how long; past either, :class:`ScanLimitReached` stops the walk
and the node is shown as not checked yet. A run has no budget: it reads every file.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable, Iterator

from .reads import listed

CHECK_FILES = 20_000  # directory entries one status check looks at, at most
CHECK_SECONDS = 2.0  # and seconds it spends looking


class ScanLimitReached(Exception):
    """A walk stopped: there is more to look at than its budget allows."""


@dataclass
class ScanBudget:
    """How much one status check may look at: ``files`` entries, ``seconds`` of walking."""

    files: int = CHECK_FILES
    seconds: float = CHECK_SECONDS
    clock: Callable[[], float] = time.monotonic
    visited: int = 0
    started: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.files, int) or self.files < 0:
            raise ValueError(f"files must be an integer >= 0, got {self.files!r}")
        if not self.seconds >= 0:
            raise ValueError(f"seconds must be a number >= 0, got {self.seconds!r}")

    def visit(self) -> None:
        """Count one entry; raises :class:`ScanLimitReached` past the budget."""
        now = self.clock()
        if self.started is None:
            self.started = now
        self.visited += 1
        if self.visited > self.files:
            raise ScanLimitReached(f"more than {self.files:,} files to look at")
        if now - self.started > self.seconds:
            raise ScanLimitReached(f"more files than it can look at in {self.seconds:g} s")


def walk(top: str | os.PathLike, onerror: Callable[[OSError], None] | None = None,
         budget: ScanBudget | None = None) -> Iterator[tuple[str, list[str], list[str]]]:
    """:func:`os.walk` (top-down, links to folders listed but not followed, ``dirnames``
    pruned in place by the caller), counting each entry against ``budget``."""
    stack = [os.fspath(top)]
    while stack:
        folder = stack.pop()
        try:
            dirnames, filenames = listed(folder, budget)
        except OSError as error:
            if onerror is not None:
                onerror(error)
            continue
        yield folder, dirnames, filenames
        for name in reversed(dirnames):  # depth first, in the order listed, as os.walk
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                stack.append(path)

