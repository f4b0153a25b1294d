"""Around one change of a decisions file beside a workflow (labels, kept copies).

The canvas changes such a file by reading it, adding a row and writing it back whole. Here
that is made safe against what the user's folder may hold and against other processes:
a link is refused (replacing it would undo the user's link, writing through it would write
where a stranger's bundle points), and so is a read-only file (its owner said no); leftovers of a killed save are cleared; and the change
holds the file's edit lock, so two canvases deciding at once keep both decisions.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import NodeError
from ..fsutil import clear_dead_temps, is_read_only
from .edit_lock import EditLockError, edit_lock


@contextmanager
def changing(path: Path, what: str, field: str) -> Iterator[None]:
    """Hold ``path``'s edit lock for one read-modify-write; errors are NodeErrors naming it."""
    if path.is_symlink():
        raise NodeError(f"the {what} {path} is a link (to {os.readlink(path)}); FlowClass neither writes "
                        "through a link nor replaces it", field=field,
                        hint="name the file itself, or move the link away")
    if is_read_only(path):
        raise NodeError(f"the {what} {path} is read-only; FlowClass does not replace it", field=field,
                        hint="make it writable to save decisions in it, or name another file")
    path.parent.mkdir(parents=True, exist_ok=True)
    clear_dead_temps(path.parent)  # a save killed before this one left its temporary file
    try:
        with edit_lock(path):
            yield
    except EditLockError as exc:
        raise NodeError(f"the {what} was not changed: {exc}", field=field) from None
