"""A real, tiny, full file system for disk-full tests (a tmpfs, when this process may mount one)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def tiny_filesystem(parent: Path, size: str = "256k") -> Iterator[Path]:
    """A freshly mounted tmpfs of ``size`` under ``parent``; skips the test where mounting is not allowed."""
    folder = parent / f"tiny-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    if os.name != "posix" or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tiny file system needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path, leave: int = 0) -> None:
    """Fill the file system of ``folder`` until fewer than ``leave`` bytes are free."""
    chunk = b"\0" * 4096
    with open(folder / "filler.bin", "wb", buffering=0) as handle:
        try:
            while shutil.disk_usage(folder).free > leave:
                handle.write(chunk)
        except OSError:
            pass


def listing(folder: Path) -> list[str]:
    """Every name under ``folder`` (hidden ones too), relative and sorted."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def sample_digits() -> Path:
    """The 1,797 sample digits as FlowClass writes them, written once for the whole test run
    (in conftest's ``prepared_once`` folder, where the Sample Images node finds them too):
    copy from it, never write into it."""
    from flowclass.cache import PREPARED_VARIABLE
    from nodes.lib.images.sample_images import sample_folder

    store = Path(os.environ[PREPARED_VARIABLE]) / "samples"
    store.mkdir(parents=True, exist_ok=True)
    return sample_folder("digits", store)


def digits_folder(root: Path, per_label: int = 10, labels: tuple[str, ...] = ("0", "1")) -> Path:
    """A user's folder ``root/digits`` of real sample digits, one subfolder per label."""
    full = sample_digits()
    folder = root / "digits"
    for label in labels:
        (folder / label).mkdir(parents=True)
        for image in sorted((full / label).iterdir())[:per_label]:
            (folder / label / image.name).write_bytes(image.read_bytes())
    return folder
