"""The quick loop keeps its temporary folders in memory (README, Development): on this
machine's disk removing a run's 14,000 files took half a minute under load."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.conftest import MEMORY_FOLDER, temporary_root

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


def test_the_test_folders_lie_under_the_root_of_the_run(tmp_path: Path, pytestconfig) -> None:
    if pytestconfig.option.basetemp is not None:
        pytest.skip("--basetemp chose the folder")
    chosen = os.environ.get("PYTEST_DEBUG_TEMPROOT")
    root = Path(chosen) if chosen else Path(tempfile.gettempdir())
    assert tmp_path.resolve().is_relative_to(root.resolve())
