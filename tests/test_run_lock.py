"""Two runs into one output folder never mix: a run holds the folder's run lock from before it
writes anything there until its run.json and record are written (flowclass.fsutil.RunLock,
flowclass/userfiles/folder_lock.py), on every path: the engine's run, the record's replay, the
witnesses' unchanged re-run (into the same folder or a new one) and the canvas's Run. A second
run into the folder, by any path to it, waits, says so, and runs whole once the first ends; a
killed holder's lock is free; a run into another folder never waits. A write from elsewhere
into a run's folder (Save Table into a folder the user named) waits a moment for that run,
then stops saying so.

Each ``flowclass run`` is a process of its own, on 100 real digit images with pixel
embeddings (tests/test_up_to_date.py's job).
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from flowclass import fsutil
from flowclass.fsutil import FolderLocks, RunLock
from flowclass.userfiles import folder_lock as folder_locks
from flowclass.userfiles.folder_lock import locks_folder, run_lock
from tests.test_folder_lock import HOLD  # a process holding a folder's run lock until its stdin ends
from tests.test_run_record import digits  # noqa: F401
from tests.test_up_to_date import SCRIPT, Rerun

WAITING = "waiting for another FlowClass run that is writing into"
REPO = Path(__file__).resolve().parents[1]


def start(job: Rerun, *extra: str, out: Path | None = None) -> subprocess.Popen:
    """A ``flowclass run`` of ``job`` (``--set`` ``extra``), a process of its own."""
    return subprocess.Popen([sys.executable, "-c", SCRIPT, json.dumps(job.args(*extra, out=out))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=job.env,
                            cwd=job.cwd)


def finished(process: subprocess.Popen) -> tuple[str, str]:
    """How the run was answered ("witnesses", "record" or "engine") and its stderr."""
    out, err = process.communicate(timeout=300)
    said, _, last = out.rstrip("\n").rpartition("\n")
    code, answered, engine, _ = json.loads(last)
    assert code == 0, out + err
    return ("witnesses" if answered else "engine" if engine else "record"), err


def waiting_line(process: subprocess.Popen, seconds: float = 120) -> str:
    """The line in which a run says it waits (its stderr's first lines)."""
    deadline = time.monotonic() + seconds
    lines = []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
        if WAITING in line:
            return line
    raise AssertionError(f"the run did not say it waited: {lines}")


def lock_file(out: Path) -> Path:
    return locks_folder() / FolderLocks(os.path.realpath(out)).name


def held_elsewhere(out: Path) -> bool:
    """Whether another process holds ``out``'s run lock."""
    try:
        fd = os.open(lock_file(out), os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@contextmanager
def another_process_runs_into(out: Path | str) -> Iterator[subprocess.Popen]:
    """``out``'s run lock held for the block by another process, as a run there holds it."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert holder.stdout.readline() == "held\n"
        yield holder
    finally:
        if holder.poll() is None:
            holder.stdin.close()
        holder.wait(60)


@contextmanager
def another_run_into(out: Path) -> Iterator[None]:
    """``out``'s run lock held by someone else for the block, as another run holds it."""
    with run_lock(out):
        yield


def one_runs(out: Path) -> int:
    """The number of clusters of the run whose files ``out`` holds, after checking that every
    one of them is that run's: run.json's parameter, Save Table's clusters.csv, the export's
    label folders and its table of what went where."""
    k = json.loads((out / "run.json").read_text())["nodes"]["cluster"]["params"]["n_clusters"]
    with open(out / "clusters.csv", newline="") as file:
        table = {row["cluster"] for row in csv.DictReader(file)}
    with open(out / "clusters" / "images.csv", newline="") as file:
        exported = list(csv.DictReader(file))
    folders = {p.name: sorted(q.name for q in p.iterdir()) for p in (out / "clusters").iterdir() if p.is_dir()}
    assert len(table) == k and {row["cluster"] for row in exported} == table, (k, table)
    assert sorted(folders) == sorted(table) and all(folders.values()), (k, folders)
    assert sorted(os.path.relpath(row["exported"], out / "clusters") for row in exported) == \
        sorted(f"{name}/{file}" for name, files in folders.items() for file in files)
    return k


@pytest.fixture
def job(tmp_path, digits) -> Rerun:  # noqa: F811
    folder = tmp_path / "digits"
    shutil.copytree(digits, folder)
    return Rerun(tmp_path, folder)


@pytest.mark.slow
def test_two_runs_started_together_into_one_folder_leave_it_one_runs(job):
    """Started at once with other parameters: one waits for the other's end, says so, then
    runs whole, so the folder ends as its run left it (on main each locked the folder only
    while it wrote: one's export could stay beside the other's run.json and table)."""
    runs = {k: start(job, "--set", f"cluster.n_clusters={k}") for k in (3, 5)}
    said = {k: finished(process)[1] for k, process in runs.items()}
    waited = [k for k, err in said.items() if WAITING in err]
    assert len(waited) == 1, said
    (k,) = waited
    line = next(line for line in said[k].splitlines() if WAITING in line)
    assert str(job.out.resolve()) in line and lock_file(job.out).name in line
    assert one_runs(job.out) == k  # the one that waited ran last, whole


@pytest.mark.slow
def test_a_killed_run_does_not_hold_up_the_next(job):
    first = start(job, "--set", "cluster.n_clusters=3")
    deadline = time.monotonic() + 120
    while not held_elsewhere(job.out):
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.005)
    first.kill()  # kill -9, lock held
    first.wait()
    how, err = finished(start(job, "--set", "cluster.n_clusters=5"))
    assert how == "engine" and WAITING not in err
    assert one_runs(job.out) == 5


@pytest.mark.slow
def test_a_run_waits_for_its_folder_by_any_path_and_never_for_another_folder(job, tmp_path):
    """A link to the folder, before the folder exists, names the same lock: the run waits,
    writes nothing meanwhile, and runs once the lock is free. A run into another folder goes
    on at once."""
    link = tmp_path / "link"
    link.symlink_to(job.out, target_is_directory=True)  # job.out does not exist yet
    with another_run_into(job.out):
        how, err = finished(start(job, out=tmp_path / "elsewhere"))
        assert how == "engine" and WAITING not in err
        waiter = start(job, out=link)
        assert str(job.out) in waiting_line(waiter)
        time.sleep(1)
        assert waiter.poll() is None and not job.out.exists()
    finished(waiter)  # by the engine, or copied from "elsewhere" by its witnesses: the same files
    assert one_runs(job.out) == 10


@pytest.mark.slow
def test_an_unchanged_rerun_answered_before_the_imports_waits_too(job, tmp_path):
    """The witnesses' re-run into the same folder, and into a new one, takes the lock before
    it reads them: while another run writes there, it waits, and then answers."""
    assert finished(start(job))[0] == "engine"
    assert job.settled() == "witnesses"
    new = tmp_path / "new-out"
    for out in (job.out, new):
        before = (job.out / "run.json").stat().st_mtime_ns
        with another_run_into(out):
            waiter = start(job, out=out)
            assert str(out) in waiting_line(waiter)
            time.sleep(0.5)
            assert waiter.poll() is None and (job.out / "run.json").stat().st_mtime_ns == before
            assert not new.exists()
        assert finished(waiter)[0] == "witnesses"
    assert one_runs(new) == one_runs(job.out) == 10


def test_a_run_holds_its_lock_once_and_its_writes_lock_the_folder_apart(tmp_path):
    """The run lock taken by the witnesses' check is the run's (kept, not taken again, which
    would wait for itself); a write's own folder lock is another file."""
    from flowclass.userfiles.folder_lock import folder_lock

    out = tmp_path / "out"
    lock = RunLock(os.path.realpath(out))
    assert lock.take(str(locks_folder()))
    try:
        with run_lock(tmp_path / "." / "out", held=lock) as same:
            assert same is lock
            out.mkdir()
            with folder_lock(out, wait=0.5):  # not the run lock's file: taken at once
                pass
        said: list[str] = []
        other = RunLock(os.path.realpath(out), said.append, check_cancelled=_stop)
        with pytest.raises(_Stopped):  # another run (another descriptor) waits for it
            other.take(str(locks_folder()))
        assert len(said) == 1 and said[0].startswith(WAITING) and str(out) in said[0]
    finally:
        lock.release()
    assert other.take(str(locks_folder()))
    other.release()


class _Stopped(Exception):
    pass


def test_a_writes_folder_lock_goes_where_the_processes_run_lock_went(tmp_path, monkeypatch):
    """A run's folder locks are taken in the lock folder its run lock was taken in (a re-run
    answered from its witnesses takes that where its witnessed run did, and finds the folder
    without tempfile), while the variables naming the temporary folder are as they were."""
    import tempfile

    from flowclass import fsutil

    monkeypatch.setattr(fsutil, "_RUN_LOCK_FOLDERS", {})
    found = locks_folder()  # none taken in this process yet: tempfile finds it
    assert found == Path(tempfile.gettempdir()) / f"flowclass-locks-{os.getuid()}"
    elsewhere = tmp_path / "locks"  # a private folder of the user's, as a witnessed run's may be
    elsewhere.mkdir(mode=0o700)
    lock = RunLock(os.path.realpath(tmp_path / "out"))
    assert lock.take(str(elsewhere))
    try:
        assert fsutil.run_lock_folder() == str(elsewhere) and locks_folder() == elsewhere
        monkeypatch.setenv("TMPDIR", str(tmp_path))  # another temporary folder named: not that one
        assert fsutil.run_lock_folder() is None and locks_folder() == found
    finally:
        lock.release()


def _stop() -> None:
    raise _Stopped


@pytest.mark.anyio
async def test_the_canvas_run_waits_for_its_folder_says_so_and_can_be_cancelled(user, registry, cache, tmp_path):
    """Run in a tab while another run (a terminal, another tab) writes into the output folder:
    the footer says it waits, Cancel ends the wait with nothing written, and a Run once the
    folder is free runs."""
    from ui_helpers import toy_chain, until

    page = await toy_chain(user, registry, cache, tmp_path, steps=30)
    out = page.out_dir()
    with another_run_into(out):
        page.start_run(None)
        await user.should_see("Waiting for another FlowClass run that is writing into")
        assert page.summary.text.startswith(f"Waiting for another FlowClass run that is writing into {out}")
        page.cancel_run()
        await until(lambda: not page.runner.running, what="the end of the wait")
        await user.should_see("Cancelled before it started")
        assert not (out / "run.json").exists()
        page.start_run(None)
        await user.should_see("Waiting for another FlowClass run")
    await until(lambda: not page.runner.running, what="the run")
    await until(lambda: page.summary.text.startswith("Last run"), what="the run's line")
    assert page.status("toy_wait").state.value == "done" and (out / "run.json").exists()


def _spellings(root: Path) -> list[str]:
    """Other spellings of ``root / "Results"``: another case (one folder on macOS's and
    Windows's file systems), a link and ``..`` (a trailing slash on each)."""
    (root / "elsewhere").mkdir()
    (root / "link").symlink_to(root / "Results", target_is_directory=True)
    return [str(root / "results"), str(root / "RESULTS") + "/", str(root / "link"), str(root / "link") + "/",
            str(root / "elsewhere" / ".." / "Results"), str(root / "Results") + "/"]


@pytest.mark.parametrize("made", [False, True], ids=["before it is made", "once it exists"])
def test_every_spelling_of_a_folder_waits_for_the_process_running_into_it(tmp_path, made):
    """Another process holds the run lock of ``Results``: a run into it by any other spelling
    waits and says so; a run into another folder does not. The case is folded on every file
    system (the folder's inode cannot name a folder not made yet, and changes as it is made),
    so this is the lock that ``--out Results`` and ``--out results`` share on macOS."""
    spellings = _spellings(tmp_path)
    if made:
        (tmp_path / "Results").mkdir()
    with another_process_runs_into(tmp_path / "Results"):
        for spelling in spellings:
            said: list[str] = []
            with pytest.raises(_Stopped):
                with run_lock(spelling, say=said.append, check_cancelled=_stop):
                    pytest.fail(f"{spelling} took the lock another process holds")
            assert len(said) == 1 and said[0].startswith(WAITING), (spelling, said)
        with run_lock(tmp_path / "Results-2", check_cancelled=_stop):  # another folder: at once
            pass
    for spelling in spellings:  # free once that process ends
        with run_lock(spelling, check_cancelled=_stop):
            pass


@pytest.mark.slow
def test_a_run_into_another_case_of_the_folder_waits(job):
    """``flowclass run --out OUT`` while another process runs into ``out``: it waits (on macOS
    and Windows the two are one folder), writing nothing meanwhile, and runs once that ends."""
    other_case = job.out.with_name(job.out.name.upper())
    with another_process_runs_into(job.out):
        waiter = start(job, out=other_case)
        assert str(other_case) in waiting_line(waiter)
        time.sleep(1)
        assert waiter.poll() is None and not other_case.exists()
    assert finished(waiter)[0] == "engine"
    assert one_runs(other_case) == 10


def _table_workflow(root: Path) -> Path:
    """Import Images (two pictures) -> Save Table."""
    from PIL import Image

    (root / "images" / "a").mkdir(parents=True)
    for name, colour in (("one.png", "red"), ("two.png", "blue")):
        Image.new("RGB", (8, 8), colour).save(root / "images" / "a" / name)
    doc = {"schema_version": 1,
           "nodes": [{"id": "import", "type": "import_images", "params": {"folder": "images"}},
                     {"id": "table", "type": "save_table", "params": {"path": "table.csv"}}],
           "edges": [{"from": {"node": "import", "port": "images"}, "to": {"node": "table", "port": "data"}}]}
    (root / "workflow.json").write_text(json.dumps(doc))
    return root / "workflow.json"


@pytest.mark.anyio
async def test_save_table_into_a_folder_another_run_writes_into_waits_then_says_so(
        user, registry, cache, tmp_path, monkeypatch):
    """A canvas run whose Save Table writes into a folder the user named, while another process
    runs into that folder: the node waits a moment, then stops with an error that names the
    folder and says a run is writing there, and writes nothing; once that run ends, it writes.
    (Before, it took only the folder's lock of one write, between two of the other run's.)"""
    from ui_helpers import make_app, page_of, until

    from flowclass.states import NodeState

    monkeypatch.setattr(folder_locks, "OTHER_RUN_WAIT", 1.0)
    root = tmp_path / "root"
    root.mkdir()
    make_app(registry, cache, root, _table_workflow(root))
    await user.open("/")
    page = page_of(user)
    theirs = root / "their-out"
    page.set_param("table", "path", str(theirs / "mine.csv"))
    with another_process_runs_into(theirs) as holder:
        page.start_run(None)
        await until(lambda: not page.runner.running, what="the run")
        status = page.status("table")
        assert status.state == NodeState.FAILED, status
        assert f"another FlowClass run is writing into {theirs}" in status.message, status.message
        assert os.path.exists("/proc/locks") <= (f"process {holder.pid}: " in status.message), status.message
        assert not theirs.exists()
        assert page.status("import").state in (NodeState.DONE, NodeState.CACHED)
    page.start_run(None)
    await until(lambda: not page.runner.running, what="the second run")
    assert page.status("table").state == NodeState.DONE, page.status("table")
    assert "one.png" in (theirs / "mine.csv").read_text()


def test_writes_from_elsewhere_share_a_folder_and_a_run_there_waits_for_them(tmp_path):
    """Two writes into a folder from runs into other folders go on together (a share each); a
    run into that folder waits until both are done; and a run's writes into its own folder
    take no share (which would wait for the run itself)."""
    folder = tmp_path / "shared"
    with folder_locks.no_run_there(folder, tmp_path / "a", wait=0), \
            folder_locks.no_run_there(folder, tmp_path / "b", wait=0):
        with pytest.raises(_Stopped):
            with run_lock(folder, check_cancelled=_stop):
                pytest.fail("a run took the folder while others wrote there")
    with run_lock(folder) as held:
        with folder_locks.no_run_there(folder / ".", folder, wait=0):  # its own: nothing taken
            assert held.holds(FolderLocks(os.path.realpath(folder)))
        said: list[str] = []
        with pytest.raises(folder_locks.LockError, match=f"another FlowClass run is writing into {folder}"):
            with folder_locks.no_run_there(folder, tmp_path / "a", say=said.append, wait=0):
                pytest.fail("a write from elsewhere went on while a run writes there")
        shown = "this process (another of its runs); " if os.path.exists("/proc/locks") else ""
        assert said == [f"waiting up to 0 s for another FlowClass run that is writing into {folder} (its output "
                        f"folder; {shown}it holds {lock_file(folder)}) to end"]


# --- folders inside one another ---------------------------------------------------------------

def _waits(out: Path | str) -> str:
    """What a run into ``out`` says as it waits (it is stopped there)."""
    said: list[str] = []
    with pytest.raises(_Stopped):
        with run_lock(out, say=said.append, check_cancelled=_stop):
            pytest.fail(f"a run into {out} went on")
    assert len(said) == 1 and said[0].startswith(WAITING), said
    return said[0]


def test_runs_into_folders_inside_one_another_take_turns_naming_both(tmp_path):
    """While a run writes into OUT, a run into OUT/sub (its files would lie among OUT's run's)
    waits, naming both folders, as a run into OUT itself does; while a run writes into OUT/sub,
    a run into OUT waits too. Runs into folders beside one another, or into the folder that
    holds both, do not wait for each other's neighbours."""
    out = tmp_path / "out"
    with another_run_into(out):
        said = _waits(out / "sub" / "deeper")
        assert f"into {out}, which holds this run's output folder {out / 'sub' / 'deeper'}" in said
        with run_lock(tmp_path / "out-2", check_cancelled=_stop):  # beside it: at once
            pass
    with another_run_into(out / "sub"):
        said = _waits(out)
        assert f"into a folder inside {out} (this run's output folder" in said
        assert f"into a folder inside {tmp_path} (" in _waits(tmp_path)  # deeper inside
        with run_lock(out / "sub-2", check_cancelled=_stop), run_lock(tmp_path / "elsewhere" / "x"):
            pass  # beside it, or inside a neighbour: at once


def test_the_holders_of_a_lock_are_named_by_process_and_command_line(tmp_path):
    """Linux's list of locks names each holder of a flock (shared ones too, which the lock file
    cannot); the waiting message names each by its command line, escaped and shortened."""
    lock, elsewhere = tmp_path / "run.lock", tmp_path / "other.lock"
    lock.touch()
    elsewhere.touch()
    st = os.stat(lock)
    file = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    parent = os.getppid()
    listed = tmp_path / "locks"
    listed.write_text(f"1: FLOCK  ADVISORY  READ  {parent} {file} 0 EOF\n"
                      f"1: -> FLOCK  ADVISORY  WRITE {os.getpid()} {file} 0 EOF\n"  # a waiter
                      f"2: POSIX  ADVISORY  WRITE {os.getpid()} {file} 0 EOF\n"
                      f"3: FLOCK  ADVISORY  READ  {parent} 00:00:1 0 EOF\n")
    first = Path(f"/proc/{parent}/cmdline").read_bytes().split(b"\0")[0].decode()  # pytest's parent
    shown = fsutil.lock_holders(lock, str(listed))
    assert len(shown) == 1 and shown[0].startswith(f"process {parent}: {first}"[:fsutil.SHOWN_COMMAND])
    assert "\n" not in shown[0] and len(shown[0]) <= len(f"process {parent}: ") + fsutil.SHOWN_COMMAND
    fd = os.open(lock, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        assert fsutil.lock_holders(lock) == ["this process (another of its runs)"]
        assert fsutil.lock_holders(elsewhere) == []
        said = fsutil.waiting_message(tmp_path / "out", lock, inside=True)
        assert f"(this run's output folder; this process (another of its runs) holds a share of the lock {lock})" in said
    finally:
        os.close(fd)
    assert fsutil.lock_holders(lock) == [] and fsutil.lock_holders(tmp_path / "gone") == []


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/locks"), reason="Linux tells who holds a flock")
def test_a_run_waiting_names_the_processes_of_the_runs_it_waits_for(tmp_path):
    """A run into OUT/sub waiting for a run into OUT, a run into OUT waiting for runs into
    folders inside it (each holds a share of OUT's lock, which names no holder) and a run
    into OUT waiting for one there name each other run's process and command line."""
    out = tmp_path / "out"
    with another_process_runs_into(out) as holder:
        said = _waits(out / "sub")
        assert f"(process {holder.pid}: {sys.executable} -c " in said and f"{out}; it holds the lock" in said
        assert "\n" not in said  # the script's line breaks, escaped
        assert f"(process {holder.pid}: " in _waits(out)
    with another_process_runs_into(out / "a") as first, another_process_runs_into(out / "b") as second:
        said = _waits(out)
        assert f"process {first.pid}: " in said and f"process {second.pid}: " in said and \
            "hold shares of the lock" in said, said


def test_a_write_into_a_folder_inside_another_runs_waits_then_says_so(tmp_path):
    """Save Table into OUT/tables while another run writes into OUT: it stops as a write into
    OUT itself does, naming both folders; the run's own writes into folders inside its
    output folder (an export's clusters) take nothing; a write into the folder holding a
    run's output folder writes its own files there and goes on (a run's own Save Table
    into the folder above its --out among them)."""
    out = tmp_path / "out"
    with another_run_into(out):
        with pytest.raises(folder_locks.LockError) as caught:
            with folder_locks.no_run_there(out / "tables", tmp_path / "a", wait=0):
                pytest.fail("a write went on inside another run's output folder")
        assert (f"another FlowClass run is writing into {out} (its output folder, which holds "
                f"{out / 'tables'}") in caught.value.message
    with run_lock(out):
        with folder_locks.no_run_there(out / "clusters" / "a", out, wait=0):  # its own
            pass
        with folder_locks.no_run_there(tmp_path, tmp_path / "other", wait=0), \
                folder_locks.no_run_there(tmp_path, out, wait=0):
            pass


# --- one folder under two paths (a bind mount) ---------------------------------------------------

def _bound(source: Path, shown: Path) -> bool:
    """``source`` shown at ``shown`` too, by a bind mount (as root); False where none can be made."""
    shown.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", "--bind", str(source), str(shown)], capture_output=True).returncode == 0


def test_a_folder_under_a_bind_mount_has_one_run_lock_by_either_path(tmp_path):
    """``mount --bind DATA MNT``: MNT/x/out is DATA/x/out, which realpath keeps apart. A run into
    it by the other path waits (before the folder exists), a write into a folder inside it by
    the other path stops, and a run into DATA (which holds it, seen from MNT only through the
    mount) waits too."""
    source, shown = tmp_path / "data", tmp_path / "mnt"
    (source / "x").mkdir(parents=True)
    if not _bound(source, shown):
        pytest.skip("no bind mount can be made here (it takes root)")
    try:
        assert os.path.realpath(shown / "x") != os.path.realpath(source / "x")
        with another_run_into(source / "x" / "out"):
            assert str(shown / "x" / "out") in _waits(shown / "x" / "out")
            with pytest.raises(folder_locks.LockError, match="another FlowClass run is writing into"):
                with folder_locks.no_run_there(shown / "x" / "out" / "tables", tmp_path / "a", wait=0):
                    pytest.fail("a write went on inside another run's output folder")
        with another_run_into(shown / "x" / "out"):
            assert "inside" in _waits(source)
    finally:
        subprocess.run(["umount", str(shown)], check=True)


def _escaped(path: Path) -> str:
    return str(path).replace("\\", "\\134").replace(" ", "\\040")


def test_the_folders_file_system_names_it_through_the_mounts_listed(tmp_path, monkeypatch):
    """The identity behind the test above, from a mount table that shows ``my data`` at ``mnt``
    too (a space, escaped as Linux writes it): one name by either path, and the folders holding
    it by either; without that mount, two names."""
    from flowclass import fsutil

    source, shown = tmp_path / "deep" / "my data", tmp_path / "mnt"
    table = tmp_path / "mountinfo"
    table.write_text("27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
                     f"45 27 254:0 {_escaped(source)} {_escaped(shown)} rw,relatime - ext4 /dev/vda rw\n")
    monkeypatch.setattr(fsutil, "MOUNTINFO", str(table))
    here, there = fsutil.FolderLocks(str(source / "out")), fsutil.FolderLocks(str(shown / "out"))
    assert here.name == there.name
    assert here.key_of(str(source)) in there.keys and there.key_of(str(shown)) in here.keys
    assert fsutil.FolderLocks(str(shown / "out" / "tables")).key_of(str(source / "out")) in \
        fsutil.FolderLocks(str(shown / "out" / "tables")).keys
    # the folder above the mount's source holds it too, named as a path shows it
    assert (fsutil.run_lock_name(here.key_of(str(source.parent))), str(source.parent)) in there.holders
    monkeypatch.setattr(fsutil, "MOUNTINFO", str(tmp_path / "none"))  # no mount table (macOS, Windows)
    assert fsutil.FolderLocks(str(source / "out")).name != fsutil.FolderLocks(str(shown / "out")).name


# --- where there is no flock (Windows) -----------------------------------------------------------

def test_without_flock_run_locks_are_filelocks_reader_writer_locks_and_nothing_overlaps(tmp_path, monkeypatch):
    """Forced here as on Windows: a run into a folder waits for a run into it or into a folder
    holding it; writes from elsewhere share a folder (filelock's ReadWriteLock has the shared
    mode its FileLock lacks) and a run there waits for them; a write into a running run's
    folder stops; a write's own folder lock is filelock's FileLock."""
    import tempfile

    from filelock import FileLock, Timeout

    from flowclass import fsutil

    monkeypatch.setattr(folder_locks, "flock_api", lambda: None)
    monkeypatch.setattr(fsutil, "_RUN_LOCK_FOLDERS", {})  # its lock files (kept) in a folder of its own
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temp"))
    (tmp_path / "temp").mkdir()
    out = tmp_path / "out"
    with run_lock(out):
        _waits(out)
        _waits(out / "sub")
        with pytest.raises(folder_locks.LockError, match="another FlowClass run is writing into"):
            with folder_locks.no_run_there(out / "tables", tmp_path / "a", wait=0):
                pytest.fail("a write went on inside another run's output folder")
    with folder_locks.no_run_there(out, tmp_path / "a", wait=0), folder_locks.no_run_there(out, tmp_path / "b", wait=0):
        _waits(out)
    with run_lock(out):
        pass
    out.mkdir()
    with folder_locks.folder_lock(out):
        with pytest.raises(Timeout):
            FileLock(str(folder_locks.lock_path(out))).acquire(timeout=0.1)
    assert locks_folder().parent == tmp_path / "temp"
