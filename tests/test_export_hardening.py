"""Hostile folders, races and kills: exports stay in their folder and end like a clean run.

Processes that race or are killed are real ``python tests/export_worker.py`` processes.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from flowclass.context import RunContext
from flowclass.errors import NodeError
from nodes.datatypes import ImageSet, Labelling
from nodes.export import export_folders, save_table
from flowclass.userfiles.owned_folder import JOURNAL

WORKER = Path(__file__).with_name("export_worker.py")
NAME_MAX = 255


def ctx(tmp_path):
    return RunContext("export", tmp_path, tmp_path, lambda name: tmp_path / name)


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def labelling(paths, labels, root=""):
    sizes = np.full(len(paths), 64, dtype=np.int32)
    images = ImageSet(np.array([str(p) for p in paths]), np.array([""] * len(paths)),
                      np.array([sha(p) for p in paths]), sizes, sizes, str(root))
    return Labelling(images, np.array(labels), np.linspace(0, 1, len(paths)), kind="cluster")


def export(tmp_path, labels, out, **options):
    context = ctx(tmp_path)
    options = {"mode": "copy", "table": "csv", **options}
    result = export_folders(context, labels=labels, folder=str(out), **options)["exported"]
    return result, context.warnings


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` (but the journal): kind and content, to compare trees."""
    found = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if path.name == JOURNAL:
            continue
        if path.is_symlink():
            found[rel] = "link -> " + os.readlink(path)
        elif path.is_dir():
            found[rel] = "dir"
        elif path.suffix == ".csv":  # tables name the exported files: compare them relative
            found[rel] = path.read_text().replace(str(folder), "<out>")
        else:
            found[rel] = sha(path)
    return found


def photos(folder: Path, n: int, size: int = 64) -> list[Path]:
    """``n`` distinct real photo crops, saved as PNG."""
    import skimage.data

    photo = skimage.data.astronaut()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        y, x = (i * 7) % (512 - size), (i * 13) % (512 - size)
        path = folder / f"img{i:03d}.png"
        Image.fromarray(photo[y:y + size, x:x + size]).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def images(tmp_path):
    return photos(tmp_path / "source", 6)


# --- item 2: the journal is confined to its folder ---------------------------------------------

def _identity(path: Path) -> dict:
    st = os.lstat(path)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}


def test_journal_entries_outside_the_folder_are_ignored_with_a_warning(tmp_path, images):
    victims = tmp_path / "victims"
    victims.mkdir()
    for name in ("a.txt", "b.txt", "c.txt", "d.txt", "e.txt"):
        (victims / name).write_text(f"the user's {name}")
    (victims / "empty").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "link").symlink_to(victims, target_is_directory=True)
    entries = {"../victims/a.txt": victims / "a.txt", str(victims / "b.txt"): victims / "b.txt",
               "C0/../../victims/c.txt": victims / "c.txt", "link/d.txt": victims / "d.txt",
               "./../victims/e.txt": victims / "e.txt"}
    lines = [{"path": rel, "kind": "file", "target": "", "sha256": "", **_identity(path)}
             for rel, path in entries.items()]
    lines += [{"path": "../victims/empty", "kind": "dir", **_identity(victims / "empty")},
              {"path": "link", "kind": "symlink", "target": str(victims), **_identity(out / "link")}]
    (out / JOURNAL).write_text("".join(json.dumps(line) + "\n" for line in lines))
    before = snapshot(victims)

    _, warnings = export(tmp_path, labelling(images, ["C0"] * 6), out)

    assert snapshot(victims) == before  # nothing outside was deleted or written
    assert (out / "link").is_symlink()  # nor the user's link, which the journal claimed
    assert any(str(out / JOURNAL) in w for w in warnings), warnings
    assert len(list((out / "C0").glob("*.png"))) == 6


# --- item 3: never write through a link FlowClass did not create ---------------------------------

def test_a_users_symlinks_are_never_written_through(tmp_path, images):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    precious = tmp_path / "precious.png"
    precious.write_bytes(b"not an image, and not FlowClass's")
    out = tmp_path / "out"
    (out / "C1").mkdir(parents=True)
    (out / "C0").symlink_to(elsewhere, target_is_directory=True)  # a link where a label folder goes
    (out / "C1" / images[1].name).symlink_to(precious)  # a link where an image goes
    (out / "C1" / images[4].name).symlink_to(tmp_path / "dangling.png")  # a link to nothing
    (out / "images.csv").symlink_to(tmp_path / "table-elsewhere.csv")

    result, _ = export(tmp_path, labelling(images, ["C0", "C1"] * 3), out)

    assert list(elsewhere.iterdir()) == []
    assert precious.read_bytes() == b"not an image, and not FlowClass's"
    assert not (tmp_path / "dangling.png").exists() and not (tmp_path / "table-elsewhere.csv").exists()
    assert (out / "C0").is_symlink() and (out / "C1" / images[1].name).is_symlink()
    for src, dst in zip(result["source"], result["exported"]):
        assert Path(dst).resolve().is_relative_to(out.resolve()) and not Path(dst).is_symlink()
        assert sha(dst) == sha(src)
    assert len(list((out / "C0 (2)").glob("*.png"))) == 3
    # a re-run converges and still leaves the links alone
    before = snapshot(out)
    export(tmp_path, labelling(images, ["C0", "C1"] * 3), out)
    assert snapshot(out) == before


def test_a_symlinked_journal_is_refused_and_not_written_through(tmp_path, images):
    out = tmp_path / "out"
    out.mkdir()
    elsewhere = tmp_path / "notes.txt"
    elsewhere.write_text("the user's notes\n")
    (out / JOURNAL).symlink_to(elsewhere)
    with pytest.raises(NodeError) as info:
        export(tmp_path, labelling(images, ["C0"] * 6), out)
    assert str(out / JOURNAL) in info.value.message and info.value.hint
    assert elsewhere.read_text() == "the user's notes\n"
    assert not (out / "C0").exists()


# --- item 10: 255-byte names -----------------------------------------------------------------

def test_names_of_255_bytes_export_and_collide_within_the_limit(tmp_path):
    source = photos(tmp_path / "source", 4)
    long_ascii = "a" * (NAME_MAX - 4) + ".png"
    long_accents = "é" * ((NAME_MAX - 4) // 2) + ".png"  # 2-byte characters: cut on a boundary
    paths = []
    for i, name in enumerate([long_ascii, long_ascii, long_accents, long_accents]):
        folder = tmp_path / "source" / f"d{i}"
        folder.mkdir()
        paths.append(folder / name)
        os.replace(source[i], paths[-1])
    out = tmp_path / "out"
    label = "ü" * 200  # a label of 400 bytes
    result, _ = export(tmp_path, labelling(paths, [label, label, "C1", "C1"]), out)
    exported = list(result["exported"])
    assert len(set(exported)) == 4
    for src, dst in zip(result["source"], exported):
        assert sha(dst) == sha(src)
    for path in out.rglob("*"):
        assert len(os.fsencode(path.name)) <= NAME_MAX, path.name
    names = sorted(os.path.basename(e) for e in exported)
    assert long_ascii in names and long_accents in names
    assert [n for n in names if n.endswith(" (2).png")] and all(n.endswith(".png") for n in names)



def test_a_journal_path_is_held_to_255_bytes_a_name_whether_ascii_or_not():
    """A name's bytes count, not its characters (an ASCII name's are its characters)."""
    from flowclass.userfiles.journal import confined

    assert confined("a" * NAME_MAX) is None and confined(f"C0/{'a' * NAME_MAX}") is None
    assert "longer than 255 bytes" in confined("a" * (NAME_MAX + 1))
    assert confined("é" * (NAME_MAX // 2)) is None  # 254 bytes
    assert "longer than 255 bytes" in confined("é" * (NAME_MAX // 2 + 1))  # 256 bytes, 128 characters
    assert "longer than 255 bytes" in confined(f"C0/{'€' * 86}")  # 258 bytes, 86 characters
    assert "is absolute" in confined("C:/x") and "is absolute" in confined("/x")


def test_a_journal_path_with_an_empty_dot_or_dot_dot_part_is_refused_and_names_like_them_are_not():
    from flowclass.userfiles.journal import confined

    for rel in (".", "..", "a/", "a//b", "./a", "../a", "a/./b", "a/../b", "a/.", "a/..", "C0/../../x"):
        assert "leaves the folder or is not in plain form" in confined(rel), rel
    for rel in ("a", "a/b", ".a", "a/.b", "...", "a/.../b", "..a/b..", "a/..\n", "a/.\n", "\n"):
        assert confined(rel) is None, rel

# --- item 11: something already where a label folder goes --------------------------------------

def test_a_label_folder_path_taken_by_a_file_or_the_table_is_a_collision(tmp_path, images):
    out = tmp_path / "out"
    out.mkdir()
    (out / "C1").write_text("the user's file named C1")
    (out / "images.xlsx").mkdir()  # the user's folder where a table goes
    (out / "images.xlsx" / "keep.txt").write_text("theirs")
    labels = labelling(images, ["C1", "images.csv", "C1", "images.csv", "C2", "images.xlsx"])

    result, warnings = export(tmp_path, labels, out, table="csv+xlsx")

    assert (out / "C1").read_text() == "the user's file named C1"
    assert (out / "images.xlsx" / "keep.txt").read_text() == "theirs"
    assert sorted(os.listdir(out / "images.xlsx")) == ["keep.txt"]
    table = pd.read_csv(out / "images.csv")  # the table, not a label folder
    assert sorted(table["cluster"]) == sorted(labels.labels.tolist())
    for src, dst in zip(result["source"], result["exported"]):
        assert sha(dst) == sha(src) and Path(dst).parent.name not in ("C1", "images.csv")
    assert any("images.xlsx" in w for w in warnings)  # the table went elsewhere, and it says so
    tables = [p for p in out.iterdir() if p.suffix == ".xlsx" and p.is_file()]
    assert len(tables) == 1 and len(pd.read_excel(tables[0])) == 6
    before = snapshot(out)
    export(tmp_path, labels, out, table="csv+xlsx")
    assert snapshot(out).keys() == before.keys()


# --- item 13: a corrupt journal -----------------------------------------------------------------

def test_unreadable_journal_lines_are_ignored_and_their_files_kept(tmp_path, images):
    out = tmp_path / "out"
    export(tmp_path, labelling(images, ["C0"] * 6), out)
    lines = (out / JOURNAL).read_bytes().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if images[0].name.encode() in line)
    lines[first] = lines[first].replace(b'"', b"\xff\"", 1)  # not UTF-8 any more
    lines += [b'"C0/img001.png"\n', b"[1, 2]\n", b'{"path": 5, "kind": "file"}\n',
              b'{"path": "C0/img002.png", "kind": "file", "size": "big"}\n']
    (out / JOURNAL).write_bytes(b"".join(lines))

    _, warnings = export(tmp_path, labelling(images, ["C9"] * 6), out)

    assert any(str(out / JOURNAL) in w for w in warnings), warnings
    assert sorted(os.listdir(out / "C0")) == [images[0].name]  # unreadable: treated as the user's
    assert len(list((out / "C9").glob("*.png"))) == 6
    export(tmp_path, labelling(images, ["C9"] * 6), out)  # the journal works again afterwards


@pytest.mark.parametrize("kind", ["folder", "fifo", "unreadable"])
def test_a_journal_that_cannot_be_read_stops_with_an_error_naming_it(tmp_path, images, kind):
    out = tmp_path / "out"
    out.mkdir()
    if kind == "folder":
        (out / JOURNAL).mkdir()
    elif kind == "fifo":
        os.mkfifo(out / JOURNAL)  # reading it would wait forever for a writer
    else:
        if os.geteuid() == 0:
            pytest.skip("root reads every file")
        (out / JOURNAL).write_text("{}\n")
        (out / JOURNAL).chmod(0)
    with pytest.raises(NodeError) as info:
        export(tmp_path, labelling(images, ["C0"] * 6), out)
    assert str(out / JOURNAL) in info.value.message
    assert info.value.field == "folder" and info.value.hint
    assert not (out / "C0").exists()


# --- item 14: permissions follow the umask ------------------------------------------------------

@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_written_files_follow_the_umask(tmp_path, images, umask):
    old = os.umask(umask)
    try:
        out = tmp_path / "out"
        result, _ = export(tmp_path, labelling(images, ["C0"] * 6), out, table="csv+xlsx")
        save_table(ctx(tmp_path), data=result, embeddings=None, path=str(tmp_path / "t" / "x.parquet"))
    finally:
        os.umask(old)
    written = [*result["exported"], out / "images.csv", out / "images.xlsx", tmp_path / "t" / "x.parquet"]
    for path in written:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask, path


# --- item 8: two runs at once --------------------------------------------------------------------

def _worker(source, out, labels=3):
    return subprocess.Popen([sys.executable, str(WORKER), str(source), str(out), str(labels)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def big_source(tmp_path_factory):
    """40 incompressible PNGs of ~0.8 MB each: an export takes long enough to race or kill."""
    folder = tmp_path_factory.mktemp("big")
    rng = np.random.default_rng(0)
    for i in range(40):
        Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)).save(
            folder / f"noise{i:02d}.png", compress_level=0)
    clean = tmp_path_factory.mktemp("clean") / "out"
    done = _worker(folder, clean)
    assert done.wait(120) == 0, done.stderr.read()
    return folder, snapshot(clean)


@pytest.mark.slow
def test_concurrent_runs_into_one_folder_end_like_a_clean_run(tmp_path, big_source):
    source, clean = big_source
    out = tmp_path / "out"
    workers = [_worker(source, out) for _ in range(4)]
    results = [(w.wait(300), w.stderr.read()) for w in workers]
    assert [rc for rc, _ in results] == [0] * 4, results
    assert snapshot(out) == clean
    assert not [p for p in out.rglob("*flowclass-tmp*")]


@pytest.mark.slow
def test_a_second_run_waits_for_the_first_and_says_so(tmp_path, big_source):
    from filelock import FileLock

    from flowclass.userfiles.folder_lock import lock_path

    source, clean = big_source
    out = tmp_path / "out"
    out.mkdir()
    with FileLock(str(lock_path(out))):  # another run is exporting there
        worker = _worker(source, out)
        deadline = time.monotonic() + 60
        lines = []
        while time.monotonic() < deadline and not any("waiting" in line for line in lines):
            lines.append(worker.stderr.readline())
        assert any("waiting" in line and str(out) in line for line in lines), lines
        time.sleep(0.5)
        assert worker.poll() is None and not (out / "C0").exists()  # it has not started writing
    assert worker.wait(120) == 0
    assert snapshot(out) == clean


# --- item 9: kill -9 during an export -------------------------------------------------------------

@pytest.mark.parametrize("after", [1, 5, 20, 38])
@pytest.mark.slow
def test_a_rerun_after_kill_9_ends_like_a_clean_run(tmp_path, big_source, after):
    source, clean = big_source
    out = tmp_path / "out"
    worker = _worker(source, out)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and worker.poll() is None:
        if sum(1 for _ in out.rglob("noise*")) >= after:
            break
        time.sleep(0.002)
    worker.send_signal(signal.SIGKILL)
    worker.wait(30)
    rerun = _worker(source, out)
    assert rerun.wait(120) == 0, rerun.stderr.read()
    assert snapshot(out) == clean
    assert not [p for p in out.rglob("*") if "flowclass-tmp" in p.name]


def test_no_write_under_any_target_goes_through_a_users_link_or_leaves_the_folder(tmp_path):
    from flowclass.userfiles.owned_folder import Collision, new_file, owned_folder

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").symlink_to(elsewhere, target_is_directory=True)
    (out / "sub (2)").write_text("the user's file")
    (out / "a").mkdir()
    (out / "a" / "b").symlink_to(elsewhere, target_is_directory=True)
    write = new_file(lambda tmp: tmp.write_text("FlowClass's"))
    with owned_folder(out) as owned:
        assert owned.put("sub/deep/x.png", write, set()) == "sub (3)/deep/x.png"
        assert owned.put("a/b/y.png", write, set()) == "a/b (2)/y.png"
        for bad in ("../x.png", str(elsewhere / "x.png"), "a/../../x.png", "a/./x.png"):
            with pytest.raises(Collision):
                owned.put(bad, write, set())
        with pytest.raises(Collision):
            owned.write_file("sub/z.png", lambda tmp: tmp.write_text("x"))
    assert list(elsewhere.iterdir()) == [] and not (tmp_path / "x.png").exists()
    assert (out / "sub (3)" / "deep" / "x.png").read_text() == "FlowClass's"


# --- a file its owner made read-only is theirs ---------------------------------------------------

def test_a_written_file_made_read_only_is_neither_replaced_nor_removed(tmp_path, images):
    """An exported copy and a saved table that their owner made read-only (to keep them) were
    replaced by the next run, and the copy removed by the export's tidy; a hard link of a
    read-only original stays FlowClass's to tidy (the original keeps its name)."""
    out, table = tmp_path / "out", tmp_path / "t" / "x.csv"
    result, _ = export(tmp_path, labelling(images, ["C0"] * 6), out)
    save_table(ctx(tmp_path), data=result, embeddings=None, path=str(table))
    kept, first = out / "C0" / images[0].name, table.read_bytes()
    kept.chmod(0o444)
    table.chmod(0o444)
    again, _ = export(tmp_path, labelling(images[1:], ["C1"] * 5), out)  # img000 no longer wanted
    assert kept.read_bytes() == images[0].read_bytes() and (out / "C0" / images[1].name).exists() is False
    with pytest.raises(NodeError, match="x.csv exists and was not written by FlowClass"):
        save_table(ctx(tmp_path), data=again, embeddings=None, path=str(table))
    assert table.read_bytes() == first
    images[2].chmod(0o444)
    linked, _ = export(tmp_path, labelling(images[2:3], ["C2"]), tmp_path / "links", mode="hardlink")
    assert os.stat(images[2]).st_nlink == 2
    export(tmp_path, labelling(images[3:4], ["C3"]), tmp_path / "links", mode="hardlink")
    assert not (tmp_path / "links" / "C2").exists() and images[2].exists()
