"""Atomic writes and file stamps: whole files or none, names that fit, the umask honoured, clear errors."""

from __future__ import annotations

import errno
import os
import stat
import time

import pytest

from disk_helpers import fill, listing, tiny_filesystem
from flowclass.fsutil import (TEMP_SUFFIX, WriteError, atomic_path, atomic_write_bytes,
                              atomic_write_text, file_stamp, is_temp_name, temp_name)


def test_replaces_whole_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old\n")
    atomic_write_text(target, "a,b\n1,2\n")
    assert target.read_text() == "a,b\n1,2\n"
    assert listing(tmp_path) == ["table.csv"]


def test_a_failing_writer_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "model.fcmodel"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("writer crashed")
    assert target.read_bytes() == b"old"
    assert listing(tmp_path) == ["model.fcmodel"]


def test_a_255_byte_name_is_written(tmp_path):
    name = "é" * 125 + ".png"  # 254 bytes in UTF-8
    assert len(os.fsencode(name)) >= 254
    atomic_write_bytes(tmp_path / name, b"png")
    assert (tmp_path / name).read_bytes() == b"png"
    assert listing(tmp_path) == [name]


def test_temporary_names_are_short_hidden_and_recognisable():
    names = {temp_name() for _ in range(100)}
    assert len(names) == 100
    assert all(n.startswith(".") and n.endswith(TEMP_SUFFIX) and len(n) <= 40 and is_temp_name(n)
               for n in names)
    assert not is_temp_name("photo.png") and not is_temp_name(".photo.png" + TEMP_SUFFIX)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_new_files_honour_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "run.json", "{}")
        with atomic_path(tmp_path / "copy.png") as tmp:  # a writer that opens the path itself
            with open(tmp, "wb") as handle:
                handle.write(b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "run.json").stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "copy.png").stat().st_mode) == mode


def test_no_overwrite_refuses_an_existing_file(tmp_path):
    target = tmp_path / "photo.png"
    target.write_bytes(b"theirs")
    with pytest.raises(FileExistsError):
        atomic_write_bytes(target, b"ours", overwrite=False)
    assert target.read_bytes() == b"theirs"
    assert listing(tmp_path) == ["photo.png"]
    atomic_write_bytes(tmp_path / "new.png", b"ours", overwrite=False)
    assert (tmp_path / "new.png").read_bytes() == b"ours"


def test_an_os_error_names_the_target_not_the_temporary(tmp_path, monkeypatch):
    def no_space(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    target = tmp_path / "run.json"
    with pytest.raises(WriteError) as caught:
        atomic_write_text(target, "{}", hint="choose another --out")
    message = str(caught.value)
    assert caught.value.errno == errno.ENOSPC and isinstance(caught.value, OSError)
    assert str(target) in message and "disk full" in message and "--out" in message
    assert TEMP_SUFFIX not in message
    assert listing(tmp_path) == []


def test_a_missing_folder_is_an_error_that_names_the_target(tmp_path):
    with pytest.raises(WriteError, match="gone"):
        atomic_write_text(tmp_path / "gone" / "x.txt", "x")


def test_a_real_full_disk_leaves_nothing_behind(tmp_path):
    with tiny_filesystem(tmp_path) as disk:
        (disk / "keep.txt").write_text("old")
        fill(disk)
        with pytest.raises(WriteError) as caught:
            atomic_write_bytes(disk / "keep.txt", os.urandom(200_000))
        assert caught.value.errno == errno.ENOSPC
        assert f"disk full while writing {disk / 'keep.txt'}" in str(caught.value)
        assert (disk / "keep.txt").read_text() == "old"
        assert listing(disk) == ["filler.bin", "keep.txt"]


def test_file_stamp_changes_when_the_file_is_rewritten(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(b"1234")
    first = file_stamp(path)
    assert first.size == 4 and first == (4, path.stat().st_mtime_ns)
    assert str(first) == f"4:{first.mtime_ns}"
    time.sleep(0.01)
    path.write_bytes(b"5678")
    os.utime(path, ns=(first.mtime_ns + 10**9, first.mtime_ns + 10**9))
    assert file_stamp(path) != first
    link = tmp_path / "link"
    link.symlink_to(path)
    assert file_stamp(link) == file_stamp(path)
    assert file_stamp(link, follow_symlinks=False) != file_stamp(path)
    with pytest.raises(FileNotFoundError):
        file_stamp(tmp_path / "missing")
