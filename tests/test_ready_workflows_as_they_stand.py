"""README's first promises, as a user meets them: every ready workflow in workflows/ runs as it
stands (no ``--set``) on the built-in sample images, and the same file re-run headlessly in a
cache of its own gives the same files, bit for bit (only the output folder's own path in the
tables differs, and run.json's times).

The headless journeys (tests/test_headless_journeys.py) run each workflow on the user's folders
with ``--set``; this runs them untouched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowclass.library import ready_workflows_dir
from tests.conftest import REPO

pytestmark = pytest.mark.slow  # 14 whole runs, clean_collection's embeds 1,797 digits twice
READY = sorted(path.stem for path in ready_workflows_dir().glob("*.json"))
NOT_COMPARED = {"run.json", ".flowclass-owned.jsonl"}  # times and inode numbers


def run_as_it_stands(name: str, out: Path, cache: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "flowclass.cli", "run", str(ready_workflows_dir() / f"{name}.json"),
                           "--out", str(out), "--cache", str(cache), "-q"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


def files_of(out: Path) -> dict[str, bytes]:
    """Every file the run wrote under ``out`` by its relative path, with its bytes; the output
    folder's own path in a table is written as ``OUT``."""
    found = {}
    for path in sorted(out.rglob("*")):
        if not path.is_file() or path.name in NOT_COMPARED:
            continue
        data = path.read_bytes()
        if path.suffix == ".xlsx":
            data = xlsx_cells(path).encode()
        found[path.relative_to(out).as_posix()] = data.replace(os.fsencode(out), b"OUT")
    return found


def xlsx_cells(path: Path) -> str:
    """The cells of a workbook, as text (a zip's entries are dated, so its bytes say little)."""
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True)
    return json.dumps([[list(row) for row in sheet.iter_rows(values_only=True)] for sheet in book.worksheets],
                      default=str)


def keys_of(out: Path) -> dict[str, str]:
    """Each node's cache key, but those of nodes that write into ``out`` (their key holds the
    path they write to)."""
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    return {node: record["key"] for node, record in manifest["nodes"].items()
            if str(out) not in json.dumps(record["params"])}


@pytest.mark.parametrize("name", READY)
def test_a_ready_workflow_runs_as_it_stands_and_again_in_a_new_cache_bit_for_bit(name, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    run_as_it_stands(name, first, tmp_path / "cache-1")
    run_as_it_stands(name, second, tmp_path / "cache-2")

    assert (first / "skipped.csv").read_text(encoding="utf-8").splitlines() == ["node,path,reason"]
    made = files_of(first)
    assert len(made) > 2, sorted(made)  # more than skipped.csv: a table, a picture, a model
    again = files_of(second)
    assert sorted(again) == sorted(made)
    assert [path for path in made if again[path] != made[path]] == []
    keys = keys_of(first)
    assert keys_of(second) == keys and len(keys) >= 3
