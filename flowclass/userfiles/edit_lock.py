"""One read-modify-write of a file at a time, across processes.

Two canvases (or a canvas and a script) deciding at once on one decisions file would each
read it, add their row and write it back whole: the second write would drop the first's
row. An edit therefore holds an OS lock (``flock``, dropped by the OS when its process dies,
however it dies) on a lock file beside the file, ``.NAME.flowclass-lock``: beside it, so
that every process that can reach the file sees the lock, whichever user or computer runs
it. The lock file is empty, never written or followed if it is a link, and removed by its
holder when the edit ends (unless it holds something: a file of someone else's by that name
is only locked) (a waiter that locked the removed file sees it is gone and takes
the new one), so only an edit killed midway leaves it, to be reused. A wait is short and
bounded (the canvas waits inside a click): past it, an :class:`EditLockError` names the
file and the lock.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..fsutil import RemovedFlock, flock_api
from .folder_lock import os_lock

WAIT_SECONDS = 5.0  # an edit of a decisions file takes milliseconds; a longer hold is stuck


class EditLockError(OSError):
    """The file is being edited by another process for longer than the wait, or its lock
    cannot be taken; the message names both."""

    def __str__(self) -> str:
        return str(self.args[0])


def edit_lock_path(path: Path) -> Path:
    """``.NAME.flowclass-lock`` beside ``path``; a fixed-length name where that would not fit
    the file system's 255 bytes."""
    name = f".{path.name}.flowclass-lock"
    if len(os.fsencode(name)) > 255:
        name = f".fc-{hashlib.sha256(os.fsencode(path.name)).hexdigest()[:12]}.flowclass-lock"
    return path.parent / name


class _RemovedAfter(RemovedFlock):
    """An exclusive ``flock`` on a lock file that its holder removes on release (safely:
    :class:`flowclass.fsutil.RemovedFlock`).

    The file is shared by every user who reaches the folder: made readable by all (whatever
    the maker's umask), and locked through a read-only descriptor where it cannot be opened
    for writing (another user's), since ``flock`` needs no write access. A lock file left by
    another user's killed edit is then as free as one's own."""

    def _open(self) -> int:
        flags = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | flags, 0o644)
        except PermissionError as refused:  # someone else's (no O_CREAT: a sticky folder refuses it on that alone)
            try:
                return os.open(self.path, os.O_RDONLY | flags)
            except FileNotFoundError:  # none there, and the folder refuses a new one: say that
                raise refused from None
        st = os.fstat(fd)
        if st.st_size == 0 and st.st_uid == os.getuid() and st.st_mode & 0o444 != 0o444:
            os.fchmod(fd, 0o644)  # ours, empty: readable by the other users of the folder
        return fd


@contextmanager
def edit_lock(path: Path, *, wait: float | None = None) -> Iterator[None]:
    """Hold ``path``'s edit lock for the block; waits at most ``wait`` seconds for it."""
    wait = WAIT_SECONDS if wait is None else wait
    lock_file = edit_lock_path(path)
    try:
        st = os.lstat(lock_file)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise EditLockError(f"cannot change {path}: {lock_file} is not a plain file (FlowClass locks that "
                            f"name while it changes {path.name}); move or rename it")
    lock = _RemovedAfter(lock_file) if flock_api() is not None else os_lock(lock_file)  # else filelock's
    try:
        deadline = time.monotonic() + wait
        while not lock.try_acquire():
            if time.monotonic() >= deadline:
                raise EditLockError(f"{path} is being changed by another FlowClass process (it has held "
                                    f"{lock_file} for over {wait:g} s); try again when it is done")
            time.sleep(0.02)
    except EditLockError:
        raise
    except PermissionError as exc:
        raise EditLockError(_refused(path, lock_file, exc)) from None
    except OSError as exc:
        raise EditLockError(f"cannot change {path}: its lock {lock_file} cannot be taken "
                            f"({exc.strerror or exc})") from None
    try:
        yield
    finally:
        lock.release()


def _refused(path: Path, lock_file: Path, exc: OSError) -> str:
    """What to do when the lock file cannot even be opened for reading: an older FlowClass
    made them private to their maker (0600), so another user's left one blocks every save."""
    try:
        st = os.lstat(lock_file)
    except OSError:
        st = None
    if st is None or st.st_uid == os.getuid():
        return f"cannot change {path}: its lock {lock_file} cannot be taken ({exc.strerror or exc})"
    owner = _user_name(st.st_uid)
    return (f"cannot change {path}: its lock file {lock_file} was left by {owner} (an older FlowClass made "
            f"it readable by its maker only), so no one else can take it. It holds nothing: once no "
            f"FlowClass of {owner} is saving there, delete it (or ask {owner} to), then save again")


def _user_name(uid: int) -> str:
    try:
        import pwd

        return f"user {pwd.getpwuid(uid).pw_name}"
    except (ImportError, KeyError):
        return f"user {uid}"
