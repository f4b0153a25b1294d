"""Save never silently overwrites a workflow file that changed since it was opened.

Two tabs (or a tab and an editor, or another FlowClass) may hold the same file. The tab
remembers the hash of the bytes it loaded or last wrote; before Save writes, the file on
disk is hashed again, and when they differ the user chooses: reload the file, overwrite
it, or save this version as a copy (:func:`flowclass.ui.dialogs.ask_about_changed_file`).
Plain Python: the editor state uses it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..workflow_file import MAX_FILE_BYTES


def file_sha(path: Path | None) -> str | None:
    """sha256 of the file's bytes; None when there is no file to read (nothing, a folder, a
    pipe). A file larger than any workflow is not read but told by its size: hashing a shared
    'workflow' of gigabytes held the server and its memory before opening it refused it."""
    if path is None:
        return None
    try:
        if not Path(path).is_file():  # a pipe would be waited on for ever, the server with it
            return None
        size = Path(path).stat().st_size
        if size > MAX_FILE_BYTES:
            return f"{size} bytes"
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def file_stamp(path: Path | None) -> tuple | None:
    """What a stat tells of the file (None: none there): read again only when this changes."""
    try:
        found = Path(path).stat() if path is not None else None
    except OSError:
        return None
    return found and (path, found.st_ino, found.st_size, found.st_mtime_ns)


def text_sha(text: str) -> str:
    """The hash :func:`file_sha` gives for a file holding ``text`` (as FlowClass writes it)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def changed_on_disk(path: Path | None, known_sha: str | None) -> bool:
    """Whether the file at ``path`` is no longer what the tab loaded or wrote (a file that
    is gone is not a conflict: Save makes it again)."""
    now = file_sha(path)
    return now is not None and now != known_sha
