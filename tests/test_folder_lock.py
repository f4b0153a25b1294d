"""One run at a time writes into a folder: its lock is an OS lock that filelock's locks (the
ones FlowClass took before, and still takes where there is no flock) see, and the other way
round; a run that waits says so, and gives up with a clear error."""

from __future__ import annotations

import pytest
from filelock import FileLock, Timeout

from flowclass.userfiles.folder_lock import LockError, folder_lock, lock_path


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
