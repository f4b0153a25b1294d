"""One FlowClass run at a time writing into a folder.

Two runs exporting into one folder at once would each take the other's new files for the
user's and write beside them. The folder is locked with :mod:`filelock` (an OS lock,
released by the OS even when the process is killed); a second run waits, says so, and
fails with a clear error if the wait grows too long.

The lock file lives outside the folder, in a private folder of the user's in the system's
temporary folder, named by the folder's device and inode: every spelling of the folder's
path (relative, through a link) shares one lock, and nothing is left in the user's folder.
"""

from __future__ import annotations

import os
import stat
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

WAIT_SECONDS = 600.0


class LockError(Exception):
    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.message = message
        self.hint = hint


def _user() -> str:
    try:
        return str(os.getuid())
    except AttributeError:  # Windows
        import getpass

        return getpass.getuser()


def lock_path(folder: Path) -> Path:
    """The lock file of ``folder`` (which must exist)."""
    locks = Path(tempfile.gettempdir()) / f"flowclass-locks-{_user()}"
    try:
        locks.mkdir(mode=0o700, exist_ok=True)
        st, mine = os.lstat(locks), getattr(os, "getuid", lambda: None)()
        folder_st = os.stat(folder)
    except OSError as exc:
        raise LockError(f"cannot lock {folder} for writing: {exc}",
                        "check that the folder and the temporary folder can be written") from None
    if not stat.S_ISDIR(st.st_mode) or (mine is not None and st.st_uid != mine):
        raise LockError(f"{locks} is not a private folder of yours; FlowClass keeps its folder "
                        "locks there", f"move {locks} away")
    return locks / f"{folder_st.st_dev}-{folder_st.st_ino}.lock"


def _check_lock_file(path: Path) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode):
        what = "a link" if stat.S_ISLNK(st.st_mode) else "not a regular file"
        raise LockError(f"{path} is {what}; FlowClass uses that name to lock a folder while "
                        "it writes there, and does not open it through anything else",
                        f"move or rename {path}")


@contextmanager
def folder_lock(folder: Path, *, say: Callable[[str], None] = lambda message: None,
                check_cancelled: Callable[[], None] = lambda: None,
                wait: float = WAIT_SECONDS) -> Iterator[None]:
    """Hold ``folder``'s lock for the block; waits (saying so) while another run holds it."""
    from filelock import FileLock, Timeout

    path = lock_path(Path(folder))
    _check_lock_file(path)
    lock = FileLock(str(path))
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            say(f"waiting for another FlowClass run that is writing into {folder} (it holds "
                f"the lock {path}); this run goes on when that one ends")
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
