"""One FlowClass run at a time writing into a folder.

Two runs exporting into one folder at once would each take the other's new files for the
user's and write beside them. The folder is locked with :mod:`filelock` (an OS lock on
``.flowclass-owned.lock``, released by the OS even when the process is killed); a second
run waits, says so, and fails with a clear error if the wait grows too long.
"""

from __future__ import annotations

import os
import stat
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

LOCK = ".flowclass-owned.lock"
WAIT_SECONDS = 600.0


class LockError(Exception):
    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.message = message
        self.hint = hint


def _check_lock_file(path: Path) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode):
        what = "a link" if stat.S_ISLNK(st.st_mode) else "not a regular file"
        raise LockError(f"{path} is {what}; FlowClass uses that name to lock {path.parent} "
                        "while it writes there, and does not open it through anything else",
                        f"move or rename {path}")


@contextmanager
def folder_lock(folder: Path, *, say: Callable[[str], None] = lambda message: None,
                check_cancelled: Callable[[], None] = lambda: None,
                wait: float = WAIT_SECONDS) -> Iterator[None]:
    """Hold ``folder``'s lock for the block; waits (saying so) while another run holds it."""
    from filelock import FileLock, Timeout

    path = Path(folder) / LOCK
    _check_lock_file(path)
    lock = FileLock(str(path))
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            say(f"waiting for another FlowClass run that is writing into {folder} (it holds "
                f"{path}); this run goes on when that one ends")
            deadline = time.monotonic() + wait
            while True:
                check_cancelled()
                try:
                    lock.acquire(timeout=min(0.5, max(0.0, deadline - time.monotonic())))
                    break
                except Timeout:
                    if time.monotonic() >= deadline:
                        raise LockError(
                            f"another FlowClass run has been writing into {folder} for over "
                            f"{wait:.0f} s (it holds {path})",
                            "wait until that run ends, then run again") from None
    except OSError as exc:
        raise LockError(f"cannot lock {folder} for writing ({path}): {exc.strerror or exc}",
                        "check that the folder can be written, or choose another") from None
    try:
        yield
    finally:
        lock.release()
