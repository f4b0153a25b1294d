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
(:func:`run_lock`, :class:`flowclass.fsutil.RunLock`) besides, other files named by the output
folder's path as its file system names it (:class:`flowclass.fsutil.FolderLocks`: it may not
exist yet; a bind mount's two paths read alike), from before it writes anything there until
its run.json and record are written: a second run into the folder, into a folder holding it
or into one inside it (their files would lie among each other's) waits for the first's end,
saying which folders, as long as that takes, so one run's export never lies beside another's
run.json. The two are different files, so a run's own writes never wait for its run lock. A
write into a folder other than its run's own output folder or one inside it (Save Table or
an export into a folder the user named) takes a share of that folder's run lock and of those
of the folders holding it (:func:`no_run_there`): it waits a moment while a run is writing
into one of them, then stops with an error that says so, and such writes never wait for one
another. A write into a folder that holds a running run's output folder goes on: it writes
its own files there (a run's Save Table into the folder above its own ``--out`` among them).

Where there is no ``flock`` (Windows), a run lock's files are filelock's reader/writer locks
(SQLite databases, kept: removing one another process may have open would break it), which
have the shared mode filelock's FileLock lacks; a write's folder lock is a FileLock.
"""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from ..errors import FolderError
from ..fsutil import (Blocked, Flock, FolderLocks, RemovedFlock, RunLock, flock_api, let_go, lock_holders, named,
                      run_lock_folder, take_folder_locks, waited_for, waiting_message)

WAIT_SECONDS = 600.0
# How long a write into another run's output folder waits for that run: a moment (it may be
# ending), not the run's minutes, and never long on a run that may be waiting for this one's
# (two runs, each writing into the other's folder)
OTHER_RUN_WAIT = 10.0


class LockError(FolderError):
    """A folder's lock cannot be taken (or not in time); ``message`` says why, ``hint`` what to do."""


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
        self._take = self._lock.acquire

    def try_acquire(self) -> bool:
        from filelock import Timeout

        try:
            self._take(timeout=0, blocking=False)
        except Timeout:
            return False
        return True

    def release(self) -> None:
        self._lock.release()


class _ReadWriteLock(_FileLock):
    """filelock's reader/writer lock (a SQLite database), where there is no ``flock``
    (Windows): the shared mode its FileLock lacks, which a run lock's holders need (runs into
    folders beside one another share the folder holding them). Its files stay in the private
    lock folder: removing one that another process may have open would break it."""

    def __init__(self, path: Path, shared: bool):
        from filelock import ReadWriteLock

        self._lock = ReadWriteLock(str(path), is_singleton=False)  # each taker its own, as flock's
        self._take = self._lock.acquire_read if shared else self._lock.acquire_write

    def release(self) -> None:
        self._lock.release()
        self._lock.close()


def os_lock(path: Path, shared: bool = False) -> Flock | _FileLock:
    """The lock on ``path``, a file of the private lock folder, removed by its holder as it lets
    go; ``shared``: a shared one (exclusive where there is no ``flock``)."""
    return RemovedFlock(path, shared) if flock_api() is not None else _FileLock(path)


def _run_lock_file(path: Path, shared: bool) -> Flock | _ReadWriteLock:
    """The lock on ``path``, one of a run lock's files (:func:`flowclass.fsutil.take_folder_locks`),
    checked first; ``shared``: a share of it."""
    _check_lock_file(path)
    return RemovedFlock(path, shared) if flock_api() is not None else _ReadWriteLock(path, shared)


@contextmanager
def _holding(take: Callable[[], Callable[[], None]], what: str, hint: str) -> Iterator[None]:
    """For the block, the locks ``take()`` takes (it returns how they are let go); an OSError
    taking them is a :class:`LockError`: "cannot lock ``what`` (the file): why", ``hint``."""
    try:
        release = take()
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise LockError(f"cannot lock {what}{where}: {exc.strerror or exc}", hint) from None
    try:
        yield
    finally:
        release()


@contextmanager
def folder_lock(folder: Path, *, say: Callable[[str], None] = lambda message: None,
                check_cancelled: Callable[[], None] = lambda: None,
                wait: float = WAIT_SECONDS) -> Iterator[None]:
    """Hold ``folder``'s lock for the block; waits (saying so) while another run holds it."""
    path = lock_path(Path(folder))

    def take() -> Callable[[], None]:
        _check_lock_file(path)
        lock = os_lock(path)
        if not waited_for(lock, lambda: say(waiting_message(folder, path)), check_cancelled, wait):
            raise LockError(f"another FlowClass run has been writing into {folder} for over "
                            f"{wait:.0f} s (it holds {path})", "wait until that run ends, then run again")
        return lock.release

    with _holding(take, f"{folder} for writing", "check that the folder can be written, or choose another"):
        yield


@contextmanager
def run_lock(out_dir: Path, *, say: Callable[[str], None] = lambda message: None,
             check_cancelled: Callable[[], None] = lambda: None,
             held: RunLock | None = None) -> Iterator[RunLock]:
    """Hold the run lock of the output folder ``out_dir`` (:class:`flowclass.fsutil.RunLock`)
    for the block, a run's whole writing there; waits (saying so) as long as another run into
    it, into a folder holding it or into one inside it holds one. ``held``: the lock this run's
    re-run check took already (kept, not taken again)."""
    folders = FolderLocks(os.path.realpath(out_dir))
    if held is not None and held.holds(folders):
        yield held
        return
    lock = RunLock(folders.out_dir, say, check_cancelled, folders=folders)

    def take() -> Callable[[], None]:
        lock.take(locks_folder(), _run_lock_file)
        return lock.release

    with _holding(take, f"{out_dir} for this run", "check that the temporary folder can be written"):
        yield lock


@contextmanager
def no_run_there(folder: Path, own_out: Path | None, *, say: Callable[[str], None] = lambda message: None,
                 check_cancelled: Callable[[], None] = lambda: None, wait: float | None = None) -> Iterator[None]:
    """For the block, no run into ``folder`` or into a folder holding it other than this one,
    whose output folder is ``own_out`` (None: the caller holds ``folder``'s run lock, or writes
    in no run; a folder inside its own, as an export's, is its run's): a share of their run
    locks (:func:`flowclass.fsutil.take_folder_locks`), taken when no run holds them, waiting
    :data:`OTHER_RUN_WAIT` seconds at most (saying so). Shares do not wait for one another; a
    run into the folder, or into one holding it, waits for them."""
    if own_out is None:
        yield
        return
    folders = FolderLocks(os.path.realpath(folder))
    if folders.key_of(os.path.realpath(own_out)) in folders.keys:  # its run's own folder holds it
        yield
        return
    wait = OTHER_RUN_WAIT if wait is None else wait

    def theirs(blocked: Blocked, verb: str) -> str:
        holds = f", which holds {folder}" if blocked.holder is not None else ""
        return (f"another FlowClass run {verb} writing into {blocked.holder or folder} (its output "
                f"folder{holds}; {named(lock_holders(blocked.path))}it holds {blocked.path})")

    def take() -> Callable[[], None]:
        held, blocked = take_folder_locks(
            folders, locks_folder(), _run_lock_file, shared=True, check_cancelled=check_cancelled, wait=wait,
            waiting=lambda blocked: say(f"waiting up to {wait:g} s for {theirs(blocked, 'that is')} to end"))
        if blocked is not None:
            raise LockError(f"{theirs(blocked, 'is')}, so this run does not write there while it runs",
                            "wait until that run ends and run again, or choose another folder")
        return lambda: let_go(held)

    with _holding(take, f"{folder} for writing", "check that the temporary folder can be written"):
        yield
