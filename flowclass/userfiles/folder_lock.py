"""One FlowClass run at a time writing into a folder.

Two runs exporting into one folder at once would each take the other's new files for the
user's and write beside them. The folder is locked with an OS lock, released by the OS even
when the process is killed: ``flock`` where there is one (as :mod:`filelock` locks on such
systems, so the two see each other's locks; importing filelock costs more than a re-run's
copies into a new folder take), else filelock's. A second run waits, says so, and fails
with a clear error if the wait grows too long.

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


class Flock:
    """An exclusive ``flock`` on a lock file, taken without waiting."""

    def __init__(self, path: Path):
        self.path, self._fd = path, None

    def _open(self) -> int:
        return os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) |
                       getattr(os, "O_CLOEXEC", 0), 0o644)

    def try_acquire(self) -> bool:
        import fcntl

        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor releases the lock
            self._fd = None


class _FileLock:
    """filelock's lock, where there is no ``flock`` (Windows)."""

    def __init__(self, path: Path):
        from filelock import FileLock

        self._lock = FileLock(str(path))

    def try_acquire(self) -> bool:
        from filelock import Timeout

        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            return False
        return True

    def release(self) -> None:
        self._lock.release()


def os_lock(path: Path) -> Flock | _FileLock:
    try:
        import fcntl  # noqa: F401
    except ImportError:
        return _FileLock(path)
    return Flock(path)


@contextmanager
def folder_lock(folder: Path, *, say: Callable[[str], None] = lambda message: None,
                check_cancelled: Callable[[], None] = lambda: None,
                wait: float = WAIT_SECONDS) -> Iterator[None]:
    """Hold ``folder``'s lock for the block; waits (saying so) while another run holds it."""
    path = lock_path(Path(folder))
    _check_lock_file(path)
    lock = os_lock(path)
    try:
        if not lock.try_acquire():
            say(f"waiting for another FlowClass run that is writing into {folder} (it holds "
                f"the lock {path}); this run goes on when that one ends")
            deadline = time.monotonic() + wait
            while not lock.try_acquire():
                check_cancelled()
                if time.monotonic() >= deadline:
                    raise LockError(
                        f"another FlowClass run has been writing into {folder} for over "
                        f"{wait:.0f} s (it holds {path})",
                        "wait until that run ends, then run again") from None
                time.sleep(0.05)
    except OSError as exc:
        raise LockError(f"cannot lock {folder} for writing ({path}): {exc.strerror or exc}",
                        "check that the folder can be written, or choose another") from None
    try:
        yield
    finally:
        lock.release()
