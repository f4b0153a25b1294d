"""An unchanged re-run into a new --out is answered from the witnesses of the job's latest
record (flowclass/new_out.py) without the node library, numpy or the record's check, with
the files, run.json, pictures and journals the record's check gives such a folder; any
change to what a key or a check reads, and any folder that is not new, leaves the run to
that check and the engine.

Each run is a ``flowclass run`` process of its own (tests/test_up_to_date.py's Rerun), on
100 real digit images with pixel embeddings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowclass.reads import stamp_of
from flowclass.userfiles.owned_folder import JOURNAL
from tests.test_run_record import digits, outputs, without_times  # noqa: F401
from tests.test_up_to_date import CHANGES, SCRIPT, Rerun, job, job_of_its_own, manifest_without_times  # noqa: F401



def no_elsewhere(found: dict) -> None:
    """Witnesses as a record without them for a new folder: the record's check answers."""
    found["elsewhere"] = None


def journals(out: Path) -> dict[str, list[tuple]]:
    """Each journal in ``out``: what it says of each path (inode and time aside; a table's
    size too: it names the folder, and an XLSX holds the time it was made)."""
    found = {}
    for path in sorted(out.rglob(JOURNAL)):
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        found[str(path.relative_to(out))] = sorted(
            (r["path"], r["kind"], None if r["path"].endswith((".csv", ".xlsx")) else r["size"], r["sha256"])
            for r in lines)
    return found


def manifest(out: Path) -> str:
    """run.json less its times (skipped.csv's too), the folder's path written <out>."""
    found = manifest_without_times(out)
    del found["skipped"]["stamp"]
    return json.dumps(found).replace(str(out), "<out>")


def told(text: str, out: Path) -> str:
    return without_times(text).replace(str(out), "<out>").replace(out.name, "<name>")


@pytest.mark.slow
def test_a_new_out_is_answered_by_the_witnesses_as_the_record_answers_it(job, tmp_path):  # noqa: F811
    latest = job.out
    for quiet in (("-q",), ()):
        mine, theirs = tmp_path / f"by-witnesses{len(quiet)}", tmp_path / f"by-record{len(quiet)}"
        how, out, err = job.run(*quiet, out=mine)
        assert how == "witnesses" and job.loaded == [], job.loaded  # no node library, no numpy
        assert "saved in" in out and "dendrogram.png" in out
        witnessed = job.witnesses(latest)
        job.edit_witnesses(no_elsewhere, latest)
        how2, out2, err2 = job.run(*quiet, out=theirs)
        assert how2 == "record" and {"flowclass.library", "nodes.export", "numpy"} <= set(job.loaded)
        # the folder the record's check made is the latest now, with witnesses of its own:
        # the next new folder is answered from them, though the old latest's still fail
        assert job.run(*quiet, out=tmp_path / f"after-record{len(quiet)}")[0] == "witnesses"
        job.edit_witnesses(lambda found: found.update(witnessed), latest)
        latest = theirs
        assert (told(out, mine), told(err, mine)) == (told(out2, theirs), told(err2, theirs))
        assert outputs(mine) == outputs(theirs) == outputs(job.out)  # the cold run's files, paths moved
        assert journals(mine) == journals(theirs) == journals(job.out)
        assert manifest(mine) == manifest(theirs)
        copies = sorted((mine / "clusters").rglob("*.png"))
        assert len(copies) == 100 and all(os.stat(p).st_nlink == 1 for p in copies)  # real copies
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in mine.rglob("*.png")}
    assert job.run(out=mine)[0] == "record"  # its record keeps no witnesses: the record's check
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in mine.rglob("*.png")} == before  # copied nothing
    assert job.run(out=tmp_path / "third")[0] == "witnesses"  # the latest with witnesses answers on


def _users_file_there(job: Rerun, new: Path) -> None:
    """The new folder is there already, with a file of the user's."""
    new.mkdir()
    (new / "notes.txt").write_text("mine\n")


def _model_file_changed(job: Rerun, new: Path) -> None:
    """As if Embed stamped a file (pixels read none), which then reads otherwise."""
    stamped = Path(job.workflow)
    job.edit_witnesses(lambda found: found["reads"][1]["stamps"].append([str(stamped), stamp_of(str(stamped))]))
    assert job.run(out=new.parent / "unchanged-out")[0] == "witnesses"
    CHANGES["a file a fingerprint stamped changed"](job)


def _new_out_empty(job: Rerun, new: Path) -> None:
    new.mkdir()


def _journal_changed(job: Rerun, new: Path) -> None:
    """The earlier folder's journals, whose content hashes the witnesses keep, changed."""
    for journal in job.out.rglob(JOURNAL):
        with open(journal, "a", encoding="utf-8") as file:
            file.write(json.dumps({"forget": "nothing-there.png"}) + "\n")


NEW_OUT_CHANGES = {**{name: (lambda job, new, change=change: change(job)) for name, change in CHANGES.items()},
                   "the new folder is there, empty": _new_out_empty,
                   "the earlier folder's journal changed": _journal_changed,
                   "a file a fingerprint stamped changed": _model_file_changed,
                   "the new folder holds a file of the user's": _users_file_there}


@pytest.mark.slow
@pytest.mark.parametrize("change", NEW_OUT_CHANGES)
def test_a_change_leaves_a_new_out_to_the_full_check(tmp_path, digits, change):  # noqa: F811
    job = job_of_its_own(tmp_path, digits)
    new = tmp_path / "new-out"
    NEW_OUT_CHANGES[change](job, new)
    how, _, err = job.run(out=new)
    assert how in ("record", "engine"), err
    if change == "the new folder holds a file of the user's":
        assert (new / "notes.txt").read_text() == "mine\n"  # left as it was
        (new / "notes.txt").unlink()
    assert outputs(new) == job.fresh()


@pytest.mark.slow
def test_a_new_out_inside_a_protected_place_is_left_to_the_engine(job):  # noqa: F811
    """The cache is a place no workflow writes into: the witnesses never answer there."""
    inside = job.cache / "stores" / "out"
    done = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(job.args(out=inside))],
                          capture_output=True, text=True, env=job.env, cwd=job.cwd)
    code, answered, _, _ = json.loads(done.stdout.strip().splitlines()[-1])
    assert code != 0 and not answered and "the cache FlowClass uses" in done.stderr, done.stdout + done.stderr
    assert not (inside / "clusters").exists()


# SCRIPT's run (tests/test_up_to_date.py) with its 40th copy killed (kill -9) halfway through
# writing its bytes; it prints where the half copy is and which heavy modules were imported.
# UNNAMED is False: as where the system has no unnamed files (O_TMPFILE), temporary names.
KILLED = ("import json, os, signal, sys\n"
          "from flowclass.userfiles import owned_folder\n"
          "if not UNNAMED:\n"
          "    owned_folder._unnamed[:] = [False]\n"
          "copies, real = [], owned_folder.copy_bytes\n"
          "def copy_bytes(src, dst):\n"
          "    copies.append(src)\n"
          "    if len(copies) == 40:\n"
          "        data = os.pread(src, 1 << 20, 0)\n"
          "        os.write(dst, data[:len(data) // 2])\n"
          "        heavy = sorted(m for m in ('numpy', 'flowclass.run_record') if m in sys.modules)\n"
          "        print(json.dumps([os.readlink(f'/proc/self/fd/{dst}'), len(data) // 2, heavy]), flush=True)\n"
          "        os.kill(os.getpid(), signal.SIGKILL)\n"
          "    real(src, dst)\n"
          "owned_folder.copy_bytes = copy_bytes\n") + SCRIPT


@pytest.mark.slow
@pytest.mark.parametrize("unnamed", [True, False], ids=["unnamed-copies", "temporary-names"])
def test_a_new_out_killed_while_copying_leaves_no_half_file_and_the_next_run_completes(job, tmp_path, unnamed):  # noqa: F811
    new = tmp_path / "killed-out"
    done = subprocess.run([sys.executable, "-c", f"UNNAMED = {unnamed}\n" + KILLED, json.dumps(job.args(out=new))],
                          capture_output=True, text=True, env=job.env, cwd=job.cwd)
    assert done.returncode == -9, done.stdout + done.stderr
    half, size, heavy = json.loads(done.stdout.strip().splitlines()[-1])
    assert heavy == []  # killed in the witnesses' answer, not in the record's check or the engine
    if unnamed:  # the half copy had no name: it went with the process
        assert half.endswith("(deleted)") and not list(new.rglob("*.flowclass-tmp")), half
    else:  # left half written under its temporary name, which the journal knows
        assert Path(half).stat().st_size == size and Path(half).name.endswith(".flowclass-tmp")
    finals = list(new.rglob("*.png"))
    assert all(p.read_bytes() == (job.out / p.relative_to(new)).read_bytes() for p in finals)  # none half written
    how, _, err = job.run(out=new)  # the folder is there now: the record's check or the engine
    assert how in ("record", "engine"), err
    assert outputs(new) == outputs(job.out)  # the cold run's files, no temporary one left
    assert journals(new) == journals(job.out)
