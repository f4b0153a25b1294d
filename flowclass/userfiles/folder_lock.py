"""One FlowClass run at a time writing into a folder.

Two runs exporting into one folder at once would each take the other's new files for the
user's and write beside them. The folder is locked with an OS lock, released by the OS even
when the process is killed: ``flock`` where there is one (as :mod:`filelock` locks on such
systems, so the two see each other's locks; importing filelock costs more than a re-run's
copies into a new folder take), else filelock's. A second run waits, says so, and fails
with a clear error if the wait grows too long.

The lock file lives outside the folder, in a private folder of the user's in the system's
temporary folder, named by the folder's device and inode: every spelling of the folder's
path (relative, through a link, in another case) shares one lock, and nothing is left in the
user's folder. Its holder removes it as it lets go (:class:`flowclass.fsutil.RemovedFlock`,
safely: a process waiting on it takes the next one), so lock files do not pile up.

That lock is held while one write goes on. A whole run holds its output folder's *run lock*
(:func:`run_lock`, :class:`flowclass.fsutil.RunLock`) besides, another file of the same
folder named by the output folder's resolved path (it may not exist yet), from before it
writes anything there until its run.json and record are written: a second run into the
folder waits for the first's end, saying so, as long as that takes, so one run's export
never lies beside another's run.json. The two are different files, so a run's own writes
never wait for its run lock. A write into a folder other than its run's own output folder
(Save Table or an export into a folder the user named) also takes that folder's run lock,
shared (:func:`no_run_there`): it waits a moment while a run is writing there, then stops
with an error that says so, and such writes never wait for one another.
"""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from ..fsutil import (Flock, RemovedFlock, RunLock, flock_api, run_lock_folder, run_lock_name, waited_for,
                      waiting_message)

WAIT_SECONDS = 600.0
# How long a write into another run's output folder waits for that run: a moment (it may be
# ending), not the run's minutes, and never long on a run that may be waiting for this one's
# (two runs, each writing into the other's folder)
OTHER_RUN_WAIT = 10.0


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


def locks_folder() -> Path:
    """FlowClass's private lock folder in the system's temporary folder, made where missing:
    the one this process took a run lock in (under the same variables naming the temporary
    folder), else found by tempfile. (A re-run answered from its witnesses took its run lock
    in the folder its witnessed run did: importing tempfile, and its look into the temporary
    folder by writing a file there, would cost such a re-run more than its folder locks.)"""
    taken = run_lock_folder()
    if taken is None:
        import tempfile

        locks = Path(tempfile.gettempdir()) / f"flowclass-locks-{_user()}"
    else:
        locks = Path(taken)
    try:
        locks.mkdir(mode=0o700, exist_ok=True)
        st, mine = os.lstat(locks), getattr(os, "getuid", lambda: None)()
    except OSError as exc:
        raise LockError(f"cannot make the lock folder {locks}: {exc}",
                        "check that the temporary folder can be written") from None
    if not stat.S_ISDIR(st.st_mode) or (mine is not None and st.st_uid != mine):
        raise LockError(f"{locks} is not a private folder of yours; FlowClass keeps its folder "
                        "locks there", f"move {locks} away")
    return locks


def lock_path(folder: Path) -> Path:
    """The lock file of ``folder`` (which must exist)."""
    locks = locks_folder()
    try:
        folder_st = os.stat(folder)
    except OSError as exc:
        raise LockError(f"cannot lock {folder} for writing: {exc}",
                        "check that the folder and the temporary folder can be written") from None
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


def os_lock(path: Path, shared: bool = False) -> Flock | _FileLock:
    """The lock on ``path``, a file of the private lock folder, removed by its holder as it lets
    go; ``shared``: a shared one (exclusive where there is no ``flock``)."""
    return RemovedFlock(path, shared) if flock_api() is not None else _FileLock(path)


@contextmanager
def folder_lock(folder: Path, *, say: Callable[[str], None] = lambda message: None,
                check_cancelled: Callable[[], None] = lambda: None,
                wait: float = WAIT_SECONDS) -> Iterator[None]:
    """Hold ``folder``'s lock for the block; waits (saying so) while another run holds it."""
    path = lock_path(Path(folder))
    _check_lock_file(path)
    lock = os_lock(path)
    try:
        if not waited_for(lock, lambda: say(waiting_message(folder, path)), check_cancelled, wait):
            raise LockError(f"another FlowClass run has been writing into {folder} for over "
                            f"{wait:.0f} s (it holds {path})", "wait until that run ends, then run again")
    except OSError as exc:
        raise LockError(f"cannot lock {folder} for writing ({path}): {exc.strerror or exc}",
                        "check that the folder can be written, or choose another") from None
    try:
        yield
    finally:
        lock.release()


@contextmanager
def run_lock(out_dir: Path, *, say: Callable[[str], None] = lambda message: None,
             check_cancelled: Callable[[], None] = lambda: None,
             held: RunLock | None = None) -> Iterator[RunLock]:
    """Hold the run lock of the output folder ``out_dir`` (:class:`flowclass.fsutil.RunLock`)
    for the block, a run's whole writing there; waits (saying so) as long as another run holds
    it. ``held``: the lock this run's re-run check took already (kept, not taken again)."""
    resolved = os.path.realpath(out_dir)
    if held is not None and held.holds(resolved):
        yield held
        return
    locks = locks_folder()
    lock = RunLock(resolved, say, check_cancelled)
    path = locks / run_lock_name(resolved)
    _check_lock_file(path)
    try:
        lock.take(locks, os_lock(path))
    except OSError as exc:
        raise LockError(f"cannot lock {out_dir} for this run ({path}): {exc.strerror or exc}",
                        "check that the temporary folder can be written") from None
    try:
        yield lock
    finally:
        lock.release()


@contextmanager
def no_run_there(folder: Path, own_out: Path | None, *, say: Callable[[str], None] = lambda message: None,
                 check_cancelled: Callable[[], None] = lambda: None, wait: float | None = None) -> Iterator[None]:
    """For the block, no run into ``folder`` other than this one, whose output folder is
    ``own_out`` (None: the caller holds ``folder``'s run lock, or writes in no run): a share of
    ``folder``'s run lock, taken when no run holds it, waiting :data:`OTHER_RUN_WAIT` seconds at
    most (saying so). Shares do not wait for one another; a run into the folder waits for them."""
    resolved = os.path.realpath(folder)
    if own_out is None or run_lock_name(resolved) == run_lock_name(os.path.realpath(own_out)):
        yield
        return
    wait = OTHER_RUN_WAIT if wait is None else wait
    path = locks_folder() / run_lock_name(resolved)
    _check_lock_file(path)
    lock = os_lock(path, shared=True)
    try:
        said = (f"waiting up to {wait:g} s for another FlowClass run that is writing into {folder} (its "
                f"output folder; it holds {path}) to end")
        if not waited_for(lock, lambda: say(said), check_cancelled, wait):
            raise LockError(f"another FlowClass run is writing into {folder} (its output folder; it holds "
                            f"{path}), so this run does not write there while it runs",
                            "wait until that run ends and run again, or choose another folder")
    except OSError as exc:
        raise LockError(f"cannot lock {folder} for writing ({path}): {exc.strerror or exc}",
                        "check that the temporary folder can be written") from None
    try:
        yield
    finally:
        lock.release()
