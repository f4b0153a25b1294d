"""An unchanged re-run into the same --out is answered from its record's witnesses before the
node library loads (flowclass/up_to_date.py), exactly as the record's check answers it; any
change to what a key or a check reads, however small, leaves the run to that check and the
engine, whose files are then those of a fresh run.

Each run is a ``flowclass run`` process of its own (the check only answers a process
started for one run), on 100 real digit images with pixel embeddings (cheap); whether the
witnesses answered shows in what the process imported.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flowclass.reads import Reads, stamp_of, unchanged
from tests.conftest import REPO
from tests.test_run_record import CLUSTER, digits, outputs, without_times  # noqa: F401

SCRIPT = ("import json, sys\n"
          "from flowclass import cli\n"
          "sys.argv = ['flowclass', *json.loads(sys.argv[1])]\n"
          "code = cli.main()\n"
          "sys.stdout.flush()\n"
          "answered = 'flowclass.run_record' not in sys.modules\n"
          "engine = 'flowclass.engine' in sys.modules and 'nodes.embed' in sys.modules\n"
          "heavy = sorted(m for m in ('numpy', 'pandas', 'flowclass.library', 'flowclass.registry', 'nodes.export',\n"
          "                           'hashlib', 'platformdirs',  # OpenSSL; only for default folders\n"
          "                           'argparse')  # the command read by getopt (cli._typed_run)\n"
          "               if m in sys.modules)\n"
          "print('\\n' + json.dumps([code, answered, engine, heavy]))\n")


class Rerun:
    """One job run again and again into one output folder, each run a process of its own."""

    def __init__(self, root: Path, folder: Path, workflow: str = CLUSTER, env: dict | None = None):
        self.root, self.folder, self.workflow = root, folder, workflow
        self.loaded: list[str] = []  # what the last run imported of the node library, numpy, hashlib...
        self.out, self.cache = root / "out", root / "cache"
        self.cwd = root / "here"  # on sys.path (python -c): nothing is ever written there
        self.cwd.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}

    def args(self, *extra: str, out: Path | None = None, cache: Path | None = None) -> list[str]:
        return ["run", self.workflow, "--out", str(out or self.out), "--cache", str(cache or self.cache),
                "--set", f"import.folder={self.folder}", "--set", "embed.backend=pixels", *extra]

    def run(self, *extra: str, out: Path | None = None, cache: Path | None = None) -> tuple[str, str, str]:
        """How it was answered ("witnesses", "record" or "engine"), its stdout and stderr."""
        done = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(self.args(*extra, out=out, cache=cache))],
                              capture_output=True, text=True, env=self.env, cwd=self.cwd)
        said, _, last = done.stdout.rstrip("\n").rpartition("\n")
        code, answered, engine, self.loaded = json.loads(last)
        assert code == 0, done.stdout + done.stderr
        return ("witnesses" if answered else "engine" if engine else "record"), said, done.stderr

    def settled(self, *extra: str, out: Path | None = None) -> str:
        """How a re-run was answered, once witnesses are kept: a folder Python imports from
        that changed while the last run ran (on this shared machine, another engineer's
        checkout) leaves that run none, and the record's check that answers next keeps them."""
        how = self.run(*extra, out=out)[0]
        return self.run(*extra, out=out)[0] if how == "record" else how

    def record(self, out: Path | None = None) -> Path:
        from flowclass.up_to_date import record_path

        return Path(record_path(str(self.cache), str((out or self.out).resolve())))

    def witnesses(self, out: Path | None = None) -> dict:
        return json.loads(self.record(out).read_text())["up_to_date"]

    def edit_witnesses(self, edit, out: Path | None = None) -> None:
        record = json.loads(self.record(out).read_text())
        edit(record["up_to_date"])
        self.record(out).write_text(json.dumps(record))

    def fresh(self, *extra: str) -> dict[str, bytes]:
        """What a run of the same job on a new cache, into a new folder, writes."""
        other = Rerun(self.root / "fresh", self.folder, self.workflow, self.env)
        assert other.run(*extra)[0] == "engine"
        return outputs(other.out)


@pytest.fixture
def job(tmp_path, digits) -> Rerun:  # noqa: F811
    folder = tmp_path / "digits"
    shutil.copytree(digits, folder)
    made = Rerun(tmp_path, folder)
    assert made.run()[0] == "engine"
    assert made.settled() == "witnesses"
    return made


def manifest_without_times(out: Path) -> dict:
    manifest = json.loads((out / "run.json").read_text())
    del manifest["started"], manifest["seconds"], manifest["seal"], manifest["written"]  # times, file
    for node in manifest["nodes"].values():
        del node["seconds"]
    return manifest


@pytest.mark.slow
def test_an_unchanged_rerun_is_answered_by_its_witnesses_as_the_record_answers_it(job):
    before = {p: p.stat().st_mtime_ns for p in job.out.rglob("*") if p.name != "run.json"}
    for quiet in (("-q",), ()):
        how, out, err = job.run(*quiet)
        assert how == "witnesses"
        by_witnesses = manifest_without_times(job.out)
        assert {p: p.stat().st_mtime_ns for p in job.out.rglob("*") if p.name != "run.json"} == before

        job.edit_witnesses(lambda found: found.update(flowclass="0.0"))  # now the record's check
        how2, out2, err2 = job.run(*quiet)
        assert how2 == "record"
        assert (without_times(out), without_times(err)) == (without_times(out2), without_times(err2))
        assert by_witnesses == manifest_without_times(job.out)
    assert "ok: 6 node(s), 6 from cache" in out and "distances: made from its inputs" in err
    assert job.settled() == "witnesses"  # the record's check kept the witnesses again


def _image_swapped(job: Rerun) -> None:
    """One image's content becomes another digit's: the same count, the same names."""
    shutil.copyfile(job.folder / "7" / sorted(os.listdir(job.folder / "7"))[0],
                    job.folder / "1" / sorted(os.listdir(job.folder / "1"))[0])


def _image_touched(job: Rerun) -> None:
    """The same bytes, written again: its time changes (the engine's key takes the time)."""
    path = job.folder / "4" / sorted(os.listdir(job.folder / "4"))[0]
    path.write_bytes(path.read_bytes())
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))


def _image_added_and_removed(job: Rerun) -> None:
    first = job.folder / "3" / sorted(os.listdir(job.folder / "3"))[0]
    shutil.copyfile(first, job.folder / "8" / "new_digit.png")
    first.unlink()


def _label_folder_added(job: Rerun) -> None:
    (job.folder / "x").mkdir()
    shutil.copyfile(job.folder / "2" / sorted(os.listdir(job.folder / "2"))[0], job.folder / "x" / "a.png")


def _not_an_image_added(job: Rerun) -> None:
    """A file the import passes over: its count is in the fingerprint, its name in skipped.csv."""
    (job.folder / "5" / "notes.txt").write_text("mine")


def _exported_image_deleted(job: Rerun) -> None:
    cluster = next(p for p in sorted((job.out / "clusters").iterdir()) if p.is_dir())
    next(cluster.iterdir()).unlink()


def _picture_deleted(job: Rerun) -> None:
    (job.out / "dendrogram.png").unlink()


def _result_pruned(job: Rerun) -> None:
    from flowclass.cli import main

    assert main(["cache", "prune", "--cache", str(job.cache), "--cache-size", "1"]) == 0


def _source_changed(job: Rerun) -> None:
    """A FlowClass source edited (a developer's checkout: the version stays): its stamp differs."""
    job.edit_witnesses(lambda found: found["sources"][0][1].__setitem__(1, 0))


def _flowclass_upgraded(job: Rerun) -> None:
    job.edit_witnesses(lambda found: found.update(flowclass="0.0.9"))


def _model_file_changed(job: Rerun) -> None:
    """A file a fingerprint stamped (Embed's weights, with EfficientNet) reads otherwise now."""
    job.edit_witnesses(lambda found: found["reads"][1]["stamps"][0][1].__setitem__(1, 0))


def _workflow_edited(job: Rerun) -> None:
    """Its description only: no key changes, but what ran is not what the file says."""
    workflow = json.loads(Path(job.workflow).read_text())
    workflow["description"] += " Edited."
    Path(job.workflow).write_text(json.dumps(workflow))


CHANGES = {"an image's content changed": _image_swapped,
           "an image written again": _image_touched,
           "an image added and another removed": _image_added_and_removed,
           "a label folder added": _label_folder_added,
           "a file that is no image added": _not_an_image_added,
           "an exported image deleted": _exported_image_deleted,
           "the saved table deleted": lambda job: (job.out / "clusters.csv").unlink(),
           "a picture deleted": _picture_deleted,
           "every cached result pruned": _result_pruned,
           "a source of FlowClass changed": _source_changed,
           "FlowClass upgraded": _flowclass_upgraded,
           "a file a fingerprint stamped changed": _model_file_changed,
           "the workflow file edited": _workflow_edited}


def job_of_its_own(tmp_path: Path, digits: Path) -> Rerun:  # noqa: F811
    """A job on its own copies of the images and the workflow file (a change may edit them),
    run once, its witnesses kept."""
    folder = tmp_path / "digits"
    shutil.copytree(digits, folder)
    workflow = tmp_path / "cluster.json"
    shutil.copyfile(CLUSTER, workflow)
    job = Rerun(tmp_path, folder, str(workflow))
    assert job.run()[0] == "engine"
    assert job.settled() == "witnesses"
    return job


@pytest.mark.slow
@pytest.mark.parametrize("change", CHANGES)
def test_a_change_leaves_the_rerun_to_the_full_check_and_gives_a_fresh_runs_files(tmp_path, digits, change):  # noqa: F811
    job = job_of_its_own(tmp_path, digits)
    workflow = job.workflow
    if change == "a file a fingerprint stamped changed":  # pixels read no file: as if Embed stamped one
        job.edit_witnesses(lambda found: found["reads"][1]["stamps"].append([str(workflow), stamp_of(str(workflow))]))
        assert job.run()[0] == "witnesses"
    CHANGES[change](job)
    how, _, err = job.run()
    assert how in ("record", "engine"), err
    assert outputs(job.out) == job.fresh()
    assert job.settled() == "witnesses"  # and kept new witnesses for the next re-run


@pytest.mark.slow
def test_a_set_value_a_new_package_or_a_config_file_leaves_the_rerun_to_the_full_check(tmp_path, digits):  # noqa: F811
    packages, config = tmp_path / "packages", tmp_path / "config"
    packages.mkdir()
    job = Rerun(tmp_path, digits, env={"PYTHONPATH": f"{REPO}{os.pathsep}{packages}",
                                       "XDG_CONFIG_HOME": str(config)})
    assert job.run()[0] == "engine"
    assert job.settled() == "witnesses"
    assert job.run("--set", "cluster.n_clusters=4")[0] == "engine"
    assert job.settled("--set", "cluster.n_clusters=4") == "witnesses"
    assert job.run()[0] == "engine"  # the record of the other value is gone: no witnesses either
    assert job.settled() == "witnesses"

    (packages / "installed.pth").write_text("")  # a package installed where Python looks
    assert job.run()[0] == "record"
    assert job.settled() == "witnesses"

    (config / "flowclass").mkdir(parents=True)
    (config / "flowclass" / "config.toml").write_text(f'plugins = ["{tmp_path / "none"}"]\n')
    how, _, err = job.run()
    assert how == "engine", err  # a plugin folder named: neither the witnesses nor the record


@pytest.mark.slow
def test_named_nodes_or_a_plugin_folder_are_never_answered_by_witnesses(job, tmp_path):
    assert job.run("--node", "cluster")[0] == "engine"
    assert job.run()[0] == "engine" and job.settled() == "witnesses"
    (tmp_path / "plugins").mkdir()
    assert job.run("--plugins", str(tmp_path / "plugins"))[0] == "engine"


@pytest.mark.slow
def test_a_new_out_is_answered_by_the_witnesses_then_by_its_own(job, tmp_path):
    new = tmp_path / "new-out"
    assert job.run(out=new)[0] == "witnesses"  # its files copied from the first folder (flowclass/new_out.py)
    assert job.settled(out=new) == "witnesses"  # the record's check kept them (the copying run took none)
    assert outputs(new) == outputs(job.out)
    copied = next(p for p in sorted((new / "clusters").iterdir()) if p.is_dir())
    next(copied.iterdir()).unlink()  # a copy gone: copied again
    assert job.run(out=new)[0] == "record"
    assert outputs(new) == outputs(job.out)


# --- what a fingerprint tells it read ----------------------------------------------------

def test_the_import_folder_scan_tells_every_folder_and_file_it_read(tmp_path, digits):  # noqa: F811
    from nodes.images import fingerprint_folder

    folder = tmp_path / "digits"
    shutil.copytree(digits, folder)
    reads = Reads()
    fingerprint_folder(folder, True, ("png",), reads=reads)
    told = reads.document()
    assert told is not None and len(told["stamps"]) == 100 and len(told["folders"]) == 11
    assert unchanged(told)
    (folder / "3" / ".hidden").mkdir()  # a hidden folder: listed as passed over
    assert not unchanged(told)
    (folder / "3" / ".hidden").rmdir()
    assert unchanged(told)
    link = folder / "3" / "elsewhere"
    link.symlink_to(tmp_path)  # a link to a folder: listed, not followed
    assert not unchanged(told)


def test_a_scan_that_reads_a_journal_of_earlier_outputs_cannot_tell_all(tmp_path, digits):  # noqa: F811
    from flowclass.userfiles.owned_folder import OwnedFolder
    from nodes.images import fingerprint_folder

    folder = tmp_path / "digits"
    shutil.copytree(digits, folder)
    owned = OwnedFolder(folder / "3")
    owned.write_new("made.png", lambda path: path.write_bytes(b"x"))
    owned.close()
    reads = Reads()
    fingerprint_folder(folder, True, ("png",), reads=reads)
    assert reads.document() is None


def test_embed_tells_the_weights_file_it_stamps_and_pixels_read_nothing(tmp_path):
    from flowclass.context import RunContext
    from nodes.embed import _embed_fingerprint
    from nodes.lib.embedders.efficientnet import weights_path

    ctx = RunContext("embed", tmp_path, tmp_path, lambda name: tmp_path)
    _embed_fingerprint(ctx, {"backend": "efficientnet_lite0"})
    assert ctx.reads.document() == {"folders": [], "stamps": [[weights_path(), stamp_of(weights_path())]]}
    ctx = RunContext("embed", tmp_path, tmp_path, lambda name: tmp_path)
    _embed_fingerprint(ctx, {"backend": "pixels"})
    assert ctx.reads.document() == {"folders": [], "stamps": []}
    ctx = RunContext("embed", tmp_path, tmp_path, lambda name: tmp_path)
    _embed_fingerprint(ctx, {"backend": "open_clip", "clip_weights": "laion2b_s34b_b79k"})
    assert ctx.reads.document() is None  # what open_clip reads of its own store is not told


def test_a_fingerprint_that_does_not_say_it_told_all_leaves_nothing_to_check(tmp_path):
    reads = Reads()
    reads.stamped(str(tmp_path), [0, 0])
    assert reads.document() is None
    reads.all_told()
    assert reads.document() == {"folders": [], "stamps": [[str(tmp_path), [0, 0]]]}
    assert not unchanged(reads.document())
    reads.cannot_tell()
    assert reads.document() is None


def test_the_sha256_a_rerun_uses_without_hashlib_is_hashlibs():
    """flowclass.digests: Python's built-in SHA-256, so a re-run loads no OpenSSL."""
    import hashlib

    from flowclass.digests import sha256

    for data in (b"", b"flowclass", bytes(range(256)) * 1000):
        assert sha256(data).hexdigest() == hashlib.sha256(data).hexdigest()


# --- the command, read before anything else is imported -------------------------------

READ_PLAINLY = [["wf.json"], ["wf.json", "-q"], ["-qq", "wf.json"],
                ["--quiet", "wf.json", "--out", "o", "--set", "a.b=1", "--set", "c.d=x=y", "--cache", "c"],
                ["wf.json", "--out=o", "--set=a.b=1", "--cache="], ["wf.json", "--out", "", "--out", "last"],
                ["wf.json", "--set", "import.folder=my photos"], ["-", "--out", "o"]]
LEFT_TO_ARGPARSE = [["wf.json", "--node", "cluster"], ["wf.json", "--plugins", "p"], ["wf.json", "--cache-size", "1GB"],
                    ["wf.json", "--scheduler", "local:2"], ["wf.json", "--qu"], ["wf.json", "--ou", "o"],
                    ["wf.json", "--out", "-o"], ["wf.json", "--out=-o"], ["wf.json", "--out", "--quiet"],
                    ["wf.json", "--out"], ["a.json", "b.json"], [], ["--", "wf.json"], ["wf.json", "-h"],
                    ["wf.json", "--help"], ["wf.json", "--bogus"], ["wf.json", "--quiet=1"], ["-1.json"]]


def test_a_rerun_reads_its_command_as_argparse_does_or_leaves_it_to_argparse():
    """cli._typed_run: the command of a re-run answered from the witnesses, read without
    argparse; whatever it reads, argparse reads the same; the rest it leaves to argparse."""
    import argparse

    from flowclass import cli
    from flowclass.up_to_date import Command

    parser = cli._run_parser(argparse.ArgumentParser(parents=[cli._common_arguments()], add_help=False))
    for argv in READ_PLAINLY:
        args = parser.parse_args(argv)
        assert cli._typed_run(argv) == (Command(args.workflow, args.set or [], args.out, args.cache), args.quiet), argv
    for argv in LEFT_TO_ARGPARSE:
        assert cli._typed_run(argv) is None, argv


def test_the_command_line_imports_no_argparse_until_it_builds_its_parser():
    script = ("import sys\nfrom flowclass import cli\nbefore = 'argparse' in sys.modules\n"
              "cli.build_parser()\nprint(before, 'argparse' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.stdout.split() == ["False", "True"]
