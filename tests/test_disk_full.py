"""A full disk, for real (a tiny tmpfs): clear errors that name the path, no partial files."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
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
def test_a_full_cache_disk_makes_the_run_go_on_without_it_with_one_warning(small_workflow, tmp_path):
    with tiny_filesystem(tmp_path) as disk:
        cache = disk / "cache"
        cache.mkdir()
        fill(disk)
        done = _run(small_workflow, tmp_path / "out", cache)
        output = done.stdout + done.stderr
        assert done.returncode == 0, output
        assert "Traceback" not in output and "[Errno 28]" not in output, output
        assert output.count("goes on without it") == 1, output
        assert "disk full" in output and str(cache) in output, output
        assert "--cache" in output and "prune" in output, output
        assert listing(disk) == ["cache", "filler.bin"], listing(disk)  # nothing partial
        assert (tmp_path / "out" / "images.csv").exists()


@pytest.fixture(scope="module")
def embed_workflow(small_workflow):
    doc = json.loads(small_workflow.read_text())
    doc["nodes"].append({"id": "embed", "type": "embed",
                         "params": {"backend": "pixels", "pixel_size": 8, "grayscale": True}})
    doc["edges"].append({"from": {"node": "import", "port": "images"}, "to": {"node": "embed", "port": "images"}})
    path = small_workflow.with_name("embed.json")
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.slow
def test_embed_on_a_cache_disk_that_fills_up_leaves_no_empty_database(small_workflow, embed_workflow,
                                                                       tmp_path):
    """A cache that worked, then a full disk: Embed used to fail and leave a 0-byte
    embeddings.sqlite; now the run goes on without the cache, with one warning."""
    with tiny_filesystem(tmp_path, size="5m") as disk:
        cache = disk / "cache"
        assert _run(small_workflow, tmp_path / "out", cache).returncode == 0  # the cache is made
        fill(disk)
        before = [name for name in listing(disk) if name != "filler.bin"]
        done = _run(embed_workflow, tmp_path / "out2", cache)
        output = done.stdout + done.stderr
        assert done.returncode == 0, output
        assert output.count("goes on without it") == 1 and str(cache) in output, output
        assert "Traceback" not in output, output
        after = [name for name in listing(disk) if name != "filler.bin"]
        assert after == before, sorted(set(after) ^ set(before))  # no empty database, no leftovers


def test_a_report_that_finds_the_output_disk_full_is_told_as_a_full_disk(tmp_path):
    """dendrogram.png and map.png on a full --out were "not saved: [Errno 28] No space left
    on device: '.../.flowclass-owned.jsonl'": now the warning says it as every other write
    does, naming the file and what to do."""
    from flowclass.report_store import Saved, copy_made
    from flowclass.userfiles.owned_folder import owned_folder

    made = tmp_path / "dendrogram.png"
    made.write_bytes(np.random.default_rng(0).bytes(64 * 1024))
    with tiny_filesystem(tmp_path) as disk:
        out = disk / "out"
        out.mkdir()
        fill(disk)
        before = listing(disk)
        saved = copy_made([("cluster", "dendrogram.png", made)], out, owned_folder, Saved())
        assert saved.written == [] and len(saved.problems) == 1, saved
        (problem,) = saved.problems
        assert "[Errno" not in problem and "disk full while writing" in problem, problem
        assert str(out) in problem and "free some space" in problem, problem
        assert listing(disk) == before  # nothing partial


def _read_only(disk):
    done = subprocess.run(["mount", "-o", "remount,ro", str(disk)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot make a file system read-only here: {done.stderr.strip()}")


@pytest.mark.slow  # two runs on a tmpfs made read-only: 1 s
def test_a_read_only_cache_given_with_cache_is_read_and_the_run_goes_on_without_it(
        small_workflow, embed_workflow, tmp_path, capsys):
    """README: a cache that cannot be written (a read-only folder) makes the run go on without
    it, with one warning, as $FLOWCLASS_CACHE and the default cache did; `--cache` refused it
    before anything ran, and even `cache info`, which only reads, with 'no permission'."""
    from flowclass.cli import main

    with tiny_filesystem(tmp_path, size="5m") as disk:
        cache = disk / "cache"
        assert main(["run", str(small_workflow), "--out", str(tmp_path / "first"), "--cache", str(cache), "-q"]) == 0
        _read_only(disk)
        capsys.readouterr()
        assert main(["cache", "info", "--cache", str(cache)]) == 0
        assert "2 node result(s)" in capsys.readouterr().out
        assert main(["run", str(embed_workflow), "--out", str(tmp_path / "second"), "--cache", str(cache), "-q"]) == 0
        said = capsys.readouterr()
        output = said.out + said.err
        assert output.count("goes on without it") == 1 and "read-only" in output and str(cache) in output, output
        assert "2 from cache" in said.out, output  # what the cache held is still read
        assert (tmp_path / "second" / "images.csv").is_file()


READ_ONLY_CACHE = {  # what each command said (exit 0) while every file stayed
    "clear": ([], "not cleared", "removed store"),  # 'cleared CACHE: removed store 'files', ...'
    "prune": (["--cache-size", "1"], "not pruned", "a run is using"),  # '...; kept 2 that a run is using'
}


@pytest.mark.slow  # a run, then a tmpfs made read-only: 0.5 s
@pytest.mark.parametrize("action", READ_ONLY_CACHE)
def test_cache_clear_and_prune_on_a_read_only_cache_say_it_stayed_as_it_was(small_workflow, tmp_path, capsys, action):
    from flowclass.cli import main

    options, says, said_before = READ_ONLY_CACHE[action]
    with tiny_filesystem(tmp_path, size="5m") as disk:
        cache = disk / "cache"
        assert main(["run", str(small_workflow), "--out", str(tmp_path / "out"), "--cache", str(cache), "-q"]) == 0
        _read_only(disk)
        before = listing(cache)
        capsys.readouterr()
        assert main(["cache", action, "--cache", str(cache), *options]) == 1
        said = capsys.readouterr()
        assert said_before not in said.out + said.err and "read-only" in said.err and str(cache) in said.err, said
        assert says in said.err and "Traceback" not in said.err, said
        assert listing(cache) == before


def test_an_output_folder_on_a_read_only_file_system_is_said_to_be_read_only(small_workflow, tmp_path, capsys):
    """Before anything runs; it said '(no permission)', which sent a user to chmod."""
    from flowclass.cli import main

    with tiny_filesystem(tmp_path) as disk:
        _read_only(disk)
        assert main(["validate", str(small_workflow), "--out", str(disk / "out")]) == 2
        err = capsys.readouterr().err
        assert f"cannot write into {disk}: the file system is read-only" in err and "permission" not in err, err
