"""The quick loop keeps its temporary folders in memory (README, Development): on this
machine's disk removing a run's 14,000 files took half a minute under load."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.conftest import MEMORY_FOLDER, MEMORY_NEEDED, free_bytes, temporary_root

needs_memory = pytest.mark.skipif(temporary_root("not slow", None, {}) is None,
                                  reason=f"no writable {MEMORY_FOLDER} here")


@needs_memory
def test_only_a_quick_loop_that_chose_no_folder_of_its_own_goes_to_memory() -> None:
    assert temporary_root("not slow", None, {}) == MEMORY_FOLDER
    assert temporary_root("not slow and not browser", None, {}) == MEMORY_FOLDER
    assert temporary_root(None, None, {}) is None  # the full loop
    assert temporary_root("browser", None, {}) is None
    assert temporary_root("not slow", "/tmp/mine", {}) is None  # --basetemp
    assert temporary_root("not slow", None, {"PYTEST_DEBUG_TEMPROOT": "/tmp"}) is None


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/bin/mount").exists(), reason="mounting a tmpfs needs root")
def test_a_memory_folder_too_small_for_a_run_is_not_chosen(tmp_path: Path) -> None:
    """A container's /dev/shm is often 64 MB, and a quick run writes 118 MB: the run's files
    stay on disk there, not fail for want of room."""
    small, roomy = tmp_path / "small", tmp_path / "roomy"
    for folder, size in ((small, "64m"), (roomy, "2g")):
        folder.mkdir()
        if os.system(f"mount -t tmpfs -o size={size} tmpfs {folder}") != 0:
            pytest.skip("no tmpfs can be mounted here")
    try:
        assert free_bytes(small) < MEMORY_NEEDED <= free_bytes(roomy)
        assert temporary_root("not slow", None, {}, folder=small) is None
        assert temporary_root("not slow", None, {}, folder=roomy) == roomy
    finally:
        os.system(f"umount {small}; umount {roomy}")


def test_the_test_folders_lie_under_the_root_of_the_run(tmp_path: Path, pytestconfig) -> None:
    if pytestconfig.option.basetemp is not None:
        pytest.skip("--basetemp chose the folder")
    chosen = os.environ.get("PYTEST_DEBUG_TEMPROOT")
    root = Path(chosen) if chosen else Path(tempfile.gettempdir())
    assert tmp_path.resolve().is_relative_to(root.resolve())
