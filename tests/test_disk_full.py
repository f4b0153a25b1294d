"""A full disk, for real (a tiny tmpfs): clear errors that name the path, no partial files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from disk_helpers import digits_folder, fill, listing, tiny_filesystem


@pytest.fixture(scope="module")
def small_workflow(tmp_path_factory):
    """Import 20 digit images from a user's folder and save their table into --out."""
    root = tmp_path_factory.mktemp("wf")
    folder = digits_folder(root)
    doc = {"schema_version": 1, "name": "small", "nodes": [
        {"id": "import", "type": "import_images", "params": {"folder": str(folder)}},
        {"id": "table", "type": "save_table", "params": {"path": "images.csv"}}],
        "edges": [{"from": {"node": "import", "port": "skipped"}, "to": {"node": "table", "port": "data"}}]}
    path = root / "small.json"
    path.write_text(json.dumps(doc))
    return path


def _run(workflow, out, cache):
    return subprocess.run([sys.executable, "-m", "flowclass.cli", "run", str(workflow), "-q",
                           "--out", str(out), "--cache", str(cache)],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_a_full_output_disk_is_a_clear_error_and_leaves_no_partial_files(small_workflow, tmp_path):
    with tiny_filesystem(tmp_path) as disk:
        out = disk / "out"
        out.mkdir()
        fill(disk)
        before = listing(disk)
        for _ in range(2):  # each attempt used to leave another 0-byte .run.*.json
            done = _run(small_workflow, out, tmp_path / "cache")
            assert done.returncode != 0
            assert "Traceback" not in done.stderr, done.stderr
            assert "disk full" in done.stderr and str(out) in done.stderr, done.stderr
            assert "--out" in done.stderr
        assert listing(disk) == before


@pytest.mark.slow
def test_a_full_cache_disk_is_a_clear_error_naming_the_cache(small_workflow, tmp_path):
    with tiny_filesystem(tmp_path) as disk:
        cache = disk / "cache"
        cache.mkdir()
        fill(disk)
        done = _run(small_workflow, tmp_path / "out", cache)
        output = done.stdout + done.stderr
        assert "Traceback" not in output and "[Errno 28]" not in output, output
        assert "disk full" in output and str(cache) in output, output
        assert "--cache" in output and "prune" in output, output
        assert not [name for name in listing(disk) if "tmp" in name], listing(disk)
