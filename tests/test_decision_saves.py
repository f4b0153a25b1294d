"""Saves of decisions beside a workflow, against real processes: a save killed with SIGKILL,
two processes deciding at once, a lock held for long, a decisions file that is a link.

- A writer killed mid-save leaves its temporary file; the next decision, workflow save or
  run into that folder removes it, and nothing else: not a live writer's temporary file,
  not an export's journaled one, not a link or a file merely named alike.
- A process clearing leftovers in a loop beside one writing all the time never takes the
  live writer's file for dead.
- Two processes recording decisions at once into one label file and one kept-copies file
  keep every decision of both (each edit reads, adds and rewrites the whole file).
- An edit lock held by a process that does not let go makes a save give up after the
  bounded wait with a message naming the file (the canvas says *Not saved*), and one held by
  a process that was killed is free at once.
- A decisions file that is a link is neither replaced nor written through.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nicegui import ui
from nicegui.testing import User

from flowclass import fsutil
from flowclass.errors import NodeError
from flowclass.fsutil import TEMP_SUFFIX, clear_dead_temps, is_held_temp_name, temp_name
from flowclass.userfiles import edit_lock
from flowclass.workflow import Workflow
from flowclass.workflow_file import save as save_workflow
from nodes.lib.classify.label_overrides import read_label_file, set_label
from nodes.lib.cleaning.kept_copies import read_keep_file, set_kept
from tests.conftest import REPO

ENV = {**os.environ, "PYTHONPATH": str(REPO)}

KILLED_SAVE = """
import sys, time
from flowclass.fsutil import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_bytes(b"sha256,path,label\\n,a/half")
    print(tmp.name, flush=True)
    time.sleep(120)
"""


def killed_mid_save(target: Path) -> str:
    """The name of the temporary file a save of ``target`` left when it was killed."""
    writer = subprocess.Popen([sys.executable, "-c", KILLED_SAVE, str(target)], stdout=subprocess.PIPE,
                              text=True, env=ENV)
    name = writer.stdout.readline().strip()
    assert is_held_temp_name(name) and (target.parent / name).exists()
    then = time.time() - fsutil.DEAD_AFTER_SECONDS - 1
    os.utime(target.parent / name, (then, then))  # a long save: old enough, but its writer is alive
    assert not clear_dead_temps(target.parent)  # its lock says so: the file stays
    writer.send_signal(signal.SIGKILL)
    writer.communicate(timeout=30)
    assert (target.parent / name).exists()  # what kill -9 leaves
    os.utime(target.parent / name)  # as if just made: a writer may be between making its file and locking it
    assert not clear_dead_temps(target.parent)
    os.utime(target.parent / name, (then, then))  # as the next save finds it, some seconds later
    return name


def decoys(folder: Path) -> list[Path]:
    """Files named like leftovers that are not provably dead ones of an atomic write."""
    (folder / "mine.txt").write_text("mine")
    journaled = folder / temp_name()  # an export's temporary name: its journal accounts for it
    journaled.write_text("export")
    odd = folder / f"{fsutil.HELD_PREFIX}not-hex-at-all{TEMP_SUFFIX}"
    odd.write_text("odd")
    link = folder / f"{fsutil.HELD_PREFIX}{'ab' * 6}{TEMP_SUFFIX}"
    link.symlink_to(folder / "mine.txt")
    return [folder / "mine.txt", journaled, odd, link]


def test_a_save_killed_midway_is_cleared_by_the_next_save_or_run_and_nothing_else(tmp_path):
    labels, keep, flow = tmp_path / "label-overrides.csv", tmp_path / "duplicates-keep.csv", tmp_path / "flow.json"
    kept = decoys(tmp_path)
    left = killed_mid_save(labels)
    set_label(labels, "", "a/i0.png", "b")  # the next decision
    assert not (tmp_path / left).exists()
    left = killed_mid_save(keep)
    set_kept(keep, "", "a/i0.png", [])
    assert not (tmp_path / left).exists()
    left = killed_mid_save(flow)
    save_workflow(Workflow(), flow)  # the next save of the workflow
    assert not (tmp_path / left).exists()
    left = killed_mid_save(tmp_path / "run.json")
    subprocess.run([sys.executable, "-c", "import sys; from flowclass.fsutil import atomic_write_text; "
                    "atomic_write_text(sys.argv[1], '{}')", str(tmp_path / "skipped.csv")], env=ENV, check=True)
    assert not (tmp_path / left).exists()  # a run's first write into the folder
    assert all(os.path.lexists(p) for p in kept) and (tmp_path / "mine.txt").read_text() == "mine"
    assert read_label_file(labels)["label"].tolist() == ["b"] and read_keep_file(keep)["path"].tolist() == ["a/i0.png"]
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "duplicates-keep.csv", "flow.json", "label-overrides.csv", "mine.txt", "skipped.csv"]


WRITES = """
import sys
from flowclass.fsutil import atomic_write_bytes
for k in range(int(sys.argv[2])):
    atomic_write_bytes(sys.argv[1] + f"/f{k % 5}.bin", b"%d" % k * 100, fsync=False)
"""


@pytest.mark.slow
def test_clearing_beside_a_live_writer_never_removes_its_file(tmp_path, monkeypatch):
    """Another process writes 1,000 files atomically while this one clears the folder as fast
    as it can, with no age required (the lock alone decides): every write lands. A file
    taken from under its writer would fail its rename (FileNotFoundError)."""
    monkeypatch.setattr(fsutil, "DEAD_AFTER_SECONDS", 0.0)
    writer = subprocess.Popen([sys.executable, "-c", WRITES, str(tmp_path), "1000"], env=ENV)
    rounds = 0
    while writer.poll() is None:
        clear_dead_temps(tmp_path)
        rounds += 1
    assert writer.returncode == 0 and rounds > 50
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"f{k}.bin" for k in range(5)]
    assert (tmp_path / "f4.bin").read_bytes() == b"999" * 100


DECIDES = """
import sys
from pathlib import Path
from nodes.lib.classify.label_overrides import set_label
from nodes.lib.cleaning.kept_copies import set_kept
folder, who, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
print("ready", flush=True)
sys.stdin.readline()
for k in range(count):
    set_label(folder / "label-overrides.csv", f"{who}{k:063x}", f"{who}/{k}.png", f"{who}{k}")
    set_kept(folder / "duplicates-keep.csv", "", f"{who}/{k}.png", [])
"""


@pytest.mark.slow
def test_two_processes_deciding_at_once_keep_every_decision(tmp_path):
    deciders = [subprocess.Popen([sys.executable, "-c", DECIDES, str(tmp_path), who, "150"], env=ENV, text=True,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE) for who in ("x", "y")]
    for decider in deciders:
        assert decider.stdout.readline() == "ready\n"  # pandas loaded: the two start together
    for decider in deciders:
        decider.stdin.write("go\n")
        decider.stdin.flush()
    for decider in deciders:
        decider.communicate(timeout=300)
        assert decider.returncode == 0
    expected = {f"{who}/{k}.png" for who in "xy" for k in range(150)}
    labels = read_label_file(tmp_path / "label-overrides.csv")
    assert len(labels) == 300 and set(labels["path"]) == expected
    assert all(label == path[0] + path[2:-4] for path, label in zip(labels["path"], labels["label"]))
    assert set(read_keep_file(tmp_path / "duplicates-keep.csv")["path"]) == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["duplicates-keep.csv", "label-overrides.csv"]


HOLDS = """
import sys, time
from pathlib import Path
from flowclass.userfiles.edit_lock import edit_lock
with edit_lock(Path(sys.argv[1])):
    print("holding", flush=True)
    time.sleep(120)
"""


@pytest.mark.anyio
async def test_a_lock_held_long_is_a_clear_refusal_and_a_killed_holders_is_free(user: User, tmp_path, monkeypatch):
    from test_ui_cleaning import queue_context, synthetic_issues

    from nodes.viewers.cleaning_labels import label_queue

    monkeypatch.setattr(edit_lock, "WAIT_SECONDS", 0.2)
    labels = tmp_path / "label-overrides.csv"
    holder = subprocess.Popen([sys.executable, "-c", HOLDS, str(labels)], stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert holder.stdout.readline() == "holding\n"
        began = time.monotonic()
        with pytest.raises(NodeError, match=f"{labels} is being changed by another FlowClass process") as refused:
            set_label(labels, "", "a/i0.png", "b")
        assert time.monotonic() - began < 3 and "label file was not changed" in str(refused.value)
        issues = synthetic_issues(tmp_path, [True, True], [0.9, 0.8])

        @ui.page("/")
        def page() -> None:
            label_queue.show(issues, queue_context(tmp_path, []))

        await user.open("/")
        user.find(marker="accept-0").click()
        await user.should_see(f"Not saved: the label file was not changed: {labels} is being changed", retries=50)
        await user.should_see("0 decided · 2 flagged left")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate(timeout=30)
    assert not labels.exists()
    set_label(labels, "", "a/i0.png", "b")  # the killed holder's lock is free at once
    assert read_label_file(labels)["label"].tolist() == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["label-overrides.csv"]  # its lock file reused, removed


def both_decision_views(folder: Path) -> None:
    """The label queue and the kept-copies groups, two images each, on one page at "/"."""
    from test_ui_cleaning import context, queue_context, synthetic_groups, synthetic_issues

    from nodes.viewers.cleaning_duplicates import duplicate_groups
    from nodes.viewers.cleaning_labels import label_queue

    issues, groups = synthetic_issues(folder, [True, True], [0.9, 0.8]), synthetic_groups(folder, 2)

    @ui.page("/")
    def page() -> None:
        label_queue.show(issues, queue_context(folder, []))
        duplicate_groups.show(groups, context(folder, []))


@pytest.mark.anyio
async def test_a_save_waiting_for_the_lock_leaves_every_tab_of_the_server_going(user: User, tmp_path, monkeypatch):
    """The wait for another holder's edit lock ran on the server's event loop: every tab froze
    for up to its 5 s, and a lock let go meanwhile by another tab of the same server could not
    be let go before the wait gave up (*Not saved*). Here another holder (another tab's
    descriptor) lets go from the event loop 0.3 s after the clicks: only a wait off the loop
    lets that happen, and then both decisions are saved."""
    import asyncio

    monkeypatch.setattr(edit_lock, "WAIT_SECONDS", 3.0)
    labels, keep = tmp_path / "label-overrides.csv", tmp_path / "duplicates-keep.csv"
    both_decision_views(tmp_path)

    await user.open("/")
    holds = [edit_lock.edit_lock(labels, wait=0), edit_lock.edit_lock(keep, wait=0)]
    for held in holds:
        held.__enter__()
    written_while_held: list[bool] = []

    def let_go() -> None:
        written_while_held.append(labels.exists() or keep.exists())
        for held in holds:
            held.__exit__(None, None, None)

    asyncio.get_running_loop().call_later(0.3, let_go)
    user.find(marker="accept-0").click()
    user.find(marker="keep-1").click()
    await user.should_see("1 decided · 1 flagged left", retries=50)
    await user.should_see(marker="kept-1", retries=50)
    assert written_while_held == [False]  # both waited, and the loop went on meanwhile
    assert read_label_file(labels)["label"].tolist() == ["b"]
    assert read_keep_file(keep)["path"].tolist() == ["g000_1.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["duplicates-keep.csv", "label-overrides.csv"]


AS_NOBODY = """
import os, sys, tempfile
from pathlib import Path
from flowclass.userfiles import edit_lock
from nodes.lib.classify.label_overrides import read_label_file, set_label
with tempfile.TemporaryDirectory() as warm:  # every module imported while Python's own files can be read
    set_label(Path(warm) / "x.csv", "", "x", "x")
    read_label_file(Path(warm) / "x.csv")
os.setgid(65534)
os.setuid(65534)  # another user of a shared folder
edit_lock.WAIT_SECONDS = 0.3
try:
    set_label(Path(sys.argv[1]), "", sys.argv[2], "b")
except Exception as exc:
    print(exc)
else:
    print("saved")
"""


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "setuid") or os.geteuid() != 0, reason="acting as another user needs root")
def test_a_lock_file_another_user_left_in_a_shared_folder_never_blocks_a_save(tmp_path):
    """The lock file of a colleague's decision killed midway (their umask 077, as many set it)
    stayed in the shared folder, and every save of anyone else was *Not saved: ... its lock
    cannot be taken (Permission denied)* until somebody deleted it: the lock was taken by
    opening the file for writing, which only its owner may. A lock file is now open to every
    user who can reach it, and locked through a read-only descriptor where it cannot be
    written: a lock held by nobody blocks nobody, and one held by a live process of another
    user still makes a save wait for it and give up."""
    import tempfile

    shared = Path(tempfile.mkdtemp(dir="/tmp", prefix="flowclass-shared-"))
    try:
        shared.chmod(0o777)
        labels = shared / "label-overrides.csv"
        colleague = subprocess.Popen([sys.executable, "-c", HOLDS, str(labels)], stdout=subprocess.PIPE, text=True,
                                     env=ENV, preexec_fn=lambda: os.umask(0o077))
        try:
            assert colleague.stdout.readline() == "holding\n"
            held = subprocess.run([sys.executable, "-c", AS_NOBODY, str(labels), "a/i0.png"], env=ENV, text=True,
                                  capture_output=True, timeout=120)
            assert f"{labels} is being changed by another FlowClass process" in held.stdout, held.stderr
        finally:
            colleague.send_signal(signal.SIGKILL)
            colleague.communicate(timeout=30)
        assert edit_lock.edit_lock_path(labels).exists()  # left by the killed decision
        free = subprocess.run([sys.executable, "-c", AS_NOBODY, str(labels), "a/i1.png"], env=ENV, text=True,
                              capture_output=True, timeout=120)
        assert free.stdout == "saved\n", free.stdout + free.stderr
        assert read_label_file(labels)["path"].tolist() == ["a/i1.png"]
        assert [p.name for p in shared.iterdir()] == ["label-overrides.csv"]
    finally:
        import shutil

        shutil.rmtree(shared)


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "setuid") or os.geteuid() != 0, reason="acting as another user needs root")
def test_a_private_lock_file_an_older_flowclass_left_says_whose_it_is_and_what_to_do(tmp_path):
    """An older FlowClass made its lock files 0600: one another user's edit left in a shared
    folder cannot be opened at all, even to read, so every other user's save failed with *its
    lock cannot be taken (Permission denied)*, no word of whose it is or what to do. The save
    now names the file and its owner and says to delete it; deleted, the save goes through."""
    import tempfile

    shared = Path(tempfile.mkdtemp(dir="/tmp", prefix="flowclass-shared-"))
    try:
        shared.chmod(0o777)
        labels = shared / "label-overrides.csv"
        stale = edit_lock.edit_lock_path(labels)
        stale.touch(mode=0o600)  # root's, as an older FlowClass under root's umask left it
        stale.chmod(0o600)
        refused = subprocess.run([sys.executable, "-c", AS_NOBODY, str(labels), "a/i0.png"], env=ENV, text=True,
                                 capture_output=True, timeout=120)
        told = refused.stdout.replace("\n", " ")
        assert f"its lock file {stale} was left by user root" in told, refused.stdout + refused.stderr
        assert "delete it (or ask user root to), then save again" in told
        assert stale.exists() and not labels.exists()  # nothing of root's removed
        stale.unlink()  # as told
        saved = subprocess.run([sys.executable, "-c", AS_NOBODY, str(labels), "a/i0.png"], env=ENV, text=True,
                               capture_output=True, timeout=120)
        assert saved.stdout == "saved\n", saved.stdout + saved.stderr
    finally:
        import shutil

        shutil.rmtree(shared)


def test_a_decisions_file_that_is_a_link_is_neither_replaced_nor_written_through(tmp_path):
    shared = tmp_path / "elsewhere" / "labels.csv"
    shared.parent.mkdir()
    shared.write_text("sha256,path,label\n,a/i9.png,c\n")
    (tmp_path / "label-overrides.csv").symlink_to(shared)
    (tmp_path / "duplicates-keep.csv").symlink_to(shared)
    with pytest.raises(NodeError, match="label-overrides.csv is a link .* neither writes through a link nor"):
        set_label(tmp_path / "label-overrides.csv", "", "a/i0.png", "b")
    with pytest.raises(NodeError, match="duplicates-keep.csv is a link"):
        set_kept(tmp_path / "duplicates-keep.csv", "", "a/i0.png", [])
    assert (tmp_path / "label-overrides.csv").readlink() == shared and (tmp_path / "duplicates-keep.csv").is_symlink()
    assert shared.read_text() == "sha256,path,label\n,a/i9.png,c\n"
    assert read_label_file(tmp_path / "label-overrides.csv")["label"].tolist() == ["c"]  # read as before


def test_a_decision_by_path_alone_replaces_only_that_paths_row(tmp_path):
    """A row naming its image by path only (a hand-made file, a byte copy told apart by its
    path) replaced every other path-only row of the file."""
    labels = tmp_path / "labels.csv"
    labels.write_text("path,label\na/i1.png,x\na/i2.png,y\n")
    set_label(labels, "", "a/i1.png", "z")
    assert read_label_file(labels)[["path", "label"]].values.tolist() == [["a/i2.png", "y"], ["a/i1.png", "z"]]


def test_a_file_of_the_lock_files_name_is_locked_never_removed_written_or_followed(tmp_path):
    labels = tmp_path / "label-overrides.csv"
    planted = tmp_path / ".label-overrides.csv.flowclass-lock"
    planted.write_text("someone's")
    set_label(labels, "", "a/i0.png", "b")
    assert planted.read_text() == "someone's"  # locked for the edit, left as it was
    planted.unlink()
    planted.symlink_to(tmp_path / "target")
    with pytest.raises(NodeError, match="flowclass-lock is not a plain file"):
        set_label(labels, "", "a/i1.png", "b")
    assert planted.is_symlink() and not (tmp_path / "target").exists()
    assert read_label_file(labels)["path"].tolist() == ["a/i0.png"]


@pytest.mark.anyio
async def test_a_decisions_file_that_cannot_be_read_is_said_and_never_written_over(user: User, tmp_path):
    """A label file saved as a spreadsheet's 'Unicode text' (UTF-16) and a kept-copies file in
    Latin-1 took the queue and the groups down ('This view failed'); they now show, say which
    file cannot be read and how to fix it, and offer no decision that would rewrite it."""
    labels, keep = tmp_path / "label-overrides.csv", tmp_path / "duplicates-keep.csv"
    labels.write_bytes("sha256,path,label\n,a/i0.png,café\n".encode("utf-16"))
    keep.write_bytes("sha256,path\n,g000_1 é.png\n".encode("latin-1"))
    before = labels.read_bytes(), keep.read_bytes()
    both_decision_views(tmp_path)

    await user.open("/")
    await user.should_see(f"cannot read the label file {labels}: it is not UTF-8 text (byte 1) "
                          "(save it as CSV UTF-8). Nothing is saved into it until it can be read.")
    await user.should_see(f"cannot read the kept-copies file {keep}: it is not UTF-8 text")
    await user.should_see("0 decided · 2 flagged left")
    await user.should_see(marker="group-2")
    assert not any(b.enabled for m in ("accept-0", "keep-label-0", "keep-1", "keep-3")
                   for b in user.find(marker=m).elements)
    assert (labels.read_bytes(), keep.read_bytes()) == before


def test_a_private_file_stays_private_and_a_read_only_one_is_not_replaced(tmp_path):
    """A decision or a workflow save replaced a 0600 file with a 0644 one (readable by every
    user of the computer), and replaced a file its owner had made read-only."""
    labels, flow, keep = tmp_path / "label-overrides.csv", tmp_path / "flow.json", tmp_path / "duplicates-keep.csv"
    labels.write_text("sha256,path,label\n")
    save_workflow(Workflow(), flow)
    labels.chmod(0o600)
    flow.chmod(0o640)
    set_label(labels, "", "a/i0.png", "b")
    save_workflow(Workflow(), flow)
    assert (labels.stat().st_mode & 0o777, flow.stat().st_mode & 0o777) == (0o600, 0o640)
    keep.write_text("sha256,path\n,a/i1.png\n")
    keep.chmod(0o444)
    with pytest.raises(NodeError, match="duplicates-keep.csv is read-only; FlowClass does not replace it"):
        set_kept(keep, "", "a/i0.png", [])
    assert keep.read_text() == "sha256,path\n,a/i1.png\n" and keep.stat().st_mode & 0o777 == 0o444


def test_decisions_on_names_with_white_space_at_the_ends_keep_them(tmp_path):
    """Folders named ' cats' and 'dogs ' (a stray space when they were made): Keep wrote the
    label back trimmed, so the image moved to a class 'cats' of its own, and a kept copy
    named by its path alone matched no image."""
    import numpy as np

    from nodes.datatypes import ImageSet
    from nodes.lib.classify.label_overrides import apply_labels
    from nodes.lib.cleaning.kept_copies import chosen

    rel = [" cats/a.png", "dogs /b.png", "dogs /b copy.png"]
    images = ImageSet(np.array([str(tmp_path / r) for r in rel]), np.array([" cats", "dogs ", "dogs "]),
                      np.array(["1" * 64, "2" * 64, "2" * 64]), np.full(3, 8), np.full(3, 8), str(tmp_path))
    set_label(tmp_path / "labels.csv", "1" * 64, rel[0], " cats")  # Keep
    set_label(tmp_path / "labels.csv", "", rel[1], "dogs ")
    relabelled, changed, unmatched, _ = apply_labels(images, read_label_file(tmp_path / "labels.csv"), True)
    assert relabelled.labels.tolist() == [" cats", "dogs ", "dogs "] and changed == 0 and not unmatched
    set_kept(tmp_path / "keep.csv", "", rel[2], [("", rel[1])])  # byte copies: named by path
    assert chosen(images, read_keep_file(tmp_path / "keep.csv")) == ({2: 0}, [])


def test_a_spreadsheets_csv_utf8_file_keeps_its_byte_order_mark(tmp_path):
    """A label file saved by a spreadsheet as "CSV UTF-8" starts with a byte-order mark, by
    which the spreadsheet knows it is UTF-8 when it opens it again; a decision wrote it back
    without, so the spreadsheet showed 'cafÃ©'. A file without one is still written without."""
    import codecs

    excel, plain = tmp_path / "label-overrides.csv", tmp_path / "plain.csv"
    excel.write_bytes(codecs.BOM_UTF8 + "sha256,path,label\r\n,a/i0.png,café\r\n".encode("utf-8"))
    set_label(excel, "", "a/i1.png", "thé")
    assert excel.read_bytes().startswith(codecs.BOM_UTF8)
    assert excel.read_text(encoding="utf-8-sig").splitlines() == ["sha256,path,label", ",a/i0.png,café", ",a/i1.png,thé"]
    set_label(plain, "", "a/i1.png", "thé")
    assert plain.read_bytes().startswith(b"sha256,path,label\n")


KILLED_SAMPLE = """
import sys, time
from pathlib import Path
from nodes.lib.images import sample_images

def slow(folder):
    (folder / "0.png").write_bytes(b"half a set")
    print(folder.name, flush=True)
    time.sleep(120)

sample_images.WRITERS["digits"] = slow
sample_images.sample_folder("digits", Path(sys.argv[1]))
"""


def test_a_sample_set_killed_while_written_leaves_a_folder_the_next_one_removes(tmp_path, monkeypatch):
    """The built-in sample sets are written into FlowClass's store through a temporary folder;
    a kill -9 left it there for ever (``.digits-v1.xxxxxxxx``)."""
    from nodes.lib.images import sample_images

    store = tmp_path / "samples"
    writers = [subprocess.Popen([sys.executable, "-c", KILLED_SAMPLE, str(store)], stdout=subprocess.PIPE,
                                text=True, env=ENV) for _ in range(2)]
    dead, alive = (store / w.stdout.readline().strip() for w in writers)
    writers[0].send_signal(signal.SIGKILL)
    writers[0].communicate(timeout=30)
    then = time.time() - fsutil.DEAD_AFTER_SECONDS - 1
    for folder in (dead, alive):
        os.utime(folder, (then, then))
    monkeypatch.setitem(sample_images.WRITERS, "faces", lambda folder: (folder / "f.png").write_bytes(b"png"))
    try:
        assert sample_images.sample_folder("faces", store) == store / f"faces-v{sample_images.SAMPLES_VERSION}"
        assert not dead.exists() and (alive / "0.png").exists()  # the killed writer's gone, the live one's kept
    finally:
        writers[1].send_signal(signal.SIGKILL)
        writers[1].communicate(timeout=30)
    assert sorted(p.name for p in store.iterdir()) == [alive.name, f"faces-v{sample_images.SAMPLES_VERSION}"]
