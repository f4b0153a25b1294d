"""One run at a time writes into a folder: its lock is an OS lock that filelock's locks (the
ones FlowClass took before, and still takes where there is no flock) see, and the other way
round; a run that waits says so, and gives up with a clear error. Its files are removed as the
locks are let go, without breaking them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock, Timeout

from flowclass.fsutil import FolderLocks
from flowclass.userfiles.folder_lock import LockError, folder_lock, lock_path, locks_folder, run_lock


def test_a_folder_held_by_a_filelock_makes_a_run_wait_say_so_and_give_up(tmp_path):
    said: list[str] = []
    with FileLock(str(lock_path(tmp_path))):
        with pytest.raises(LockError, match="for over 0 s"):
            with folder_lock(tmp_path, say=said.append, wait=0.2):
                pytest.fail("the lock was taken twice")
    assert len(said) == 1 and "waiting for another FlowClass run" in said[0] and str(tmp_path) in said[0]
    with folder_lock(tmp_path, say=said.append):  # free again
        pass
    assert len(said) == 1


def test_a_folder_held_by_a_run_keeps_a_filelock_out_until_the_run_ends(tmp_path):
    other = FileLock(str(lock_path(tmp_path)))
    with folder_lock(tmp_path):
        with pytest.raises(Timeout):
            other.acquire(timeout=0.1)
    other.acquire(timeout=0)
    other.release()


def test_a_run_waiting_for_the_lock_can_be_cancelled(tmp_path):
    class Stop(Exception):
        pass

    def cancel() -> None:
        raise Stop

    with FileLock(str(lock_path(tmp_path))):
        with pytest.raises(Stop):
            with folder_lock(tmp_path, check_cancelled=cancel):
                pytest.fail("the lock was taken twice")


# --- lock files do not pile up, and removing them keeps the lock whole ------------------------

REPO = Path(__file__).resolve().parents[1]
# A process taking the lock ``rounds`` times as fast as it can (exclusive or shared), each time
# leaving its mark in ``marks`` while it holds it and looking for the marks of those it excludes
RACE = ("import os, sys\n"
        "from pathlib import Path\n"
        "from flowclass.fsutil import RemovedFlock\n"
        "path, marks, rounds, shared = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4] == 'shared'\n"
        "mark = os.path.join(marks, ('shared-' if shared else 'alone-') + str(os.getpid()))\n"
        "clashes = taken = 0\n"
        "while taken < rounds:\n"
        "    lock = RemovedFlock(path, shared)\n"
        "    if not lock.try_acquire():\n"
        "        continue\n"
        "    taken += 1\n"
        "    open(mark, 'w').close()\n"
        "    os.sched_yield()\n"
        "    others = [n for n in os.listdir(marks) if os.path.join(marks, n) != mark]\n"
        "    clashes += any(not shared or n.startswith('alone-') for n in others)\n"
        "    os.unlink(mark)\n"
        "    lock.release()\n"
        "print(clashes)\n")


@pytest.mark.slow  # over a second; the quick loop keeps its 90 s budget
def test_racing_processes_exclude_each_other_while_lock_files_are_removed(tmp_path):
    """Five processes (three exclusive, two shared) take one lock 400 times each, as fast as
    they can, while each holder removes the lock file as it lets go: no holder ever sees the
    mark of one it excludes (a taker that locked a file just removed takes the new one), and
    no lock file is left. Without that check, locking the removed file beside a new one's
    holder shows up here as clashes."""
    path, marks = tmp_path / "locks" / "run-x.lock", tmp_path / "marks"
    path.parent.mkdir()
    marks.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    racers = [subprocess.Popen([sys.executable, "-c", RACE, str(path), str(marks), "400", kind],
                               stdout=subprocess.PIPE, text=True, env=env)
              for kind in ("alone", "shared", "alone", "shared", "alone")]
    clashes = [int(racer.communicate(timeout=300)[0]) for racer in racers]
    assert [racer.returncode for racer in racers] == [0] * 5
    assert clashes == [0] * 5
    assert list(path.parent.iterdir()) == [] and list(marks.iterdir()) == []


def test_lock_files_are_removed_when_free_and_a_killed_holders_is_reused(tmp_path):
    """A run's lock and a write's lock leave no file once let go (they were one per folder
    ever written into, kept for ever); a killed holder's file stays, free, and the next holder
    takes it and removes it. A file by a lock's name that holds something is locked, never
    removed (the lock folder is private, but a lock file is never taken for anything else)."""
    out = tmp_path / "out"
    out.mkdir()
    run_file, write_file = locks_folder() / FolderLocks(os.path.realpath(out)).name, lock_path(out)
    with run_lock(out), folder_lock(out):
        assert run_file.is_file() and write_file.is_file()
    assert not run_file.exists() and not write_file.exists()

    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True,
                              stdin=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert holder.stdout.readline() == "held\n"
    holder.kill()  # kill -9: its lock is free, its file stays
    holder.wait()
    assert run_file.is_file()
    with run_lock(out, check_cancelled=_cannot_wait):
        pass
    assert not run_file.exists()

    run_file.write_bytes(b"not a lock's")
    with run_lock(out, check_cancelled=_cannot_wait):
        pass
    assert run_file.read_bytes() == b"not a lock's"
    run_file.unlink()


HOLD = ("import sys\n"
        "from flowclass.userfiles.folder_lock import run_lock\n"
        "with run_lock(sys.argv[1]):\n"
        "    print('held', flush=True)\n"
        "    sys.stdin.read()\n")


def _cannot_wait() -> None:
    raise AssertionError("the lock was not free")
