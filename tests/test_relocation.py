"""An unchanged re-run into a new --out copies what Export to Folders and Save Table wrote
(flowclass.relocation) instead of running them: the same files a cold run writes there,
real copies, and never over a file of the user's."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

import nodes.export
import nodes.lib.results.relocated
from flowclass.cache import Cache
from flowclass.cli import main
from flowclass.library import ready_workflows_dir
from flowclass.safe_tables import write_csv, write_xlsx
from flowclass.userfiles.owned_folder import JOURNAL, Collision, OwnedFolder, copy_new
from nodes.lib.results.relocated import rewrite_csv, rewrite_xlsx

WORKFLOW = ready_workflows_dir() / "cluster_folder.json"
SETTINGS = ["embed.backend=pixels", "import.max_per_label=8", "cluster.n_clusters=3"]


def run(cache: Cache, out: Path, *more: str) -> int:
    return main(["run", str(WORKFLOW), "--out", str(out), "--cache", str(cache.root), "-q",
                 *(f"--set={s}" for s in [*SETTINGS, *more])])


def states(out: Path) -> dict[str, str]:
    return {n: o["state"] for n, o in json.loads((out / "run.json").read_text())["nodes"].items()}


def files(out: Path) -> dict[str, bytes]:
    """Every file the export and the table wrote (journals aside), by path inside ``out``."""
    found = {p.relative_to(out).as_posix(): p.read_bytes() for p in (out / "clusters").rglob("*")
             if p.is_file() and p.name != JOURNAL}
    found["clusters.csv"] = (out / "clusters.csv").read_bytes()
    return found


def journal(folder: Path) -> list[tuple]:
    """What the journal says of each file; an XLSX's size aside (it holds the time it was
    first made, compressed: a second or two later can change its size by a byte)."""
    lines = [json.loads(line) for line in (folder / JOURNAL).read_text().splitlines()]
    return sorted((r["path"], r["kind"], None if r["path"].endswith(".xlsx") else r["size"], r["sha256"])
                  for r in lines)


def no_writing(*args, **kwargs):
    raise AssertionError("a table was written again")


@pytest.mark.slow
def test_a_new_out_gets_what_a_cold_run_writes_there_without_running_the_nodes(tmp_path, shared_cache,
                                                                                 monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    assert run(Cache(tmp_path / "fresh-cache"), second) == 0  # cold, straight into second
    cold, cold_journal = files(second), journal(second / "clusters")
    cold_xlsx = pd.read_excel(second / "clusters" / "images.xlsx")
    shutil.rmtree(second)
    assert run(shared_cache, first) == 0
    monkeypatch.setattr(nodes.export, "write_csv", no_writing)
    monkeypatch.setattr(nodes.export, "write_xlsx", no_writing)
    assert run(shared_cache, second) == 0
    assert states(second)["export"] == "cached" and states(second)["table"] == "cached"
    moved = files(second)
    assert moved.keys() == cold.keys()
    assert {k: v for k, v in moved.items() if not k.endswith(".xlsx")} == \
        {k: v for k, v in cold.items() if not k.endswith(".xlsx")}
    pd.testing.assert_frame_equal(pd.read_excel(second / "clusters" / "images.xlsx"), cold_xlsx)
    assert journal(second / "clusters") == cold_journal
    # real copies: neither the first run's files nor the originals share their inode
    table = pd.read_csv(second / "clusters" / "images.csv")
    for source, exported in zip(table["source"], table["exported"]):
        here = os.stat(exported)
        there = os.stat(str(exported).replace(str(second), str(first)))
        assert exported.startswith(str(second)) and here.st_ino not in (there.st_ino, os.stat(source).st_ino)


def test_the_same_new_out_again_copies_nothing_and_an_edited_copy_stays_the_users(tmp_path, shared_cache):
    first, second = tmp_path / "first", tmp_path / "second"
    assert run(shared_cache, first) == 0
    assert run(shared_cache, second) == 0
    assert states(second)["export"] == "cached"
    copies = sorted(p for p in (second / "clusters").rglob("*.png"))
    before = {p: os.stat(p) for p in copies}
    assert run(shared_cache, second) == 0
    assert all((os.stat(p).st_ino, os.stat(p).st_mtime_ns) == (s.st_ino, s.st_mtime_ns)
               for p, s in before.items())
    # the user edits a copy in the new folder: it is theirs now, and stays as they made it
    edited = copies[0]
    edited.write_bytes(b"my own picture")
    assert run(shared_cache, second) == 0
    assert edited.read_bytes() == b"my own picture"
    assert (first / edited.relative_to(second)).read_bytes() != b"my own picture"
    table = pd.read_csv(second / "clusters" / "images.csv")
    assert str(edited) not in set(table["exported"]) and all(Path(p).is_file() for p in table["exported"])


@pytest.mark.slow
def test_a_file_changed_in_the_first_folder_is_made_again_not_copied(tmp_path, shared_cache):
    first, second = tmp_path / "first", tmp_path / "second"
    assert run(shared_cache, first, "cluster.n_clusters=4") == 0
    made = (first / "clusters.csv").read_bytes()
    (first / "clusters.csv").write_text("changed by hand\n")
    assert run(shared_cache, second, "cluster.n_clusters=4") == 0
    assert states(second)["table"] == "done" and states(second)["export"] == "cached"
    assert (second / "clusters.csv").read_bytes() == made


def test_a_copy_that_fails_makes_the_node_run_as_usual(tmp_path, shared_cache, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    assert run(shared_cache, first) == 0

    def unreadable(column, paths):
        def make(there, tmp):
            raise ValueError("not a table FlowClass wrote")
        return make
    monkeypatch.setattr(nodes.lib.results.relocated, "rewrite_xlsx", unreadable)
    assert run(shared_cache, second) == 0
    assert states(second)["export"] == "done"
    table = pd.read_excel(second / "clusters" / "images.xlsx")
    assert all(str(p).startswith(str(second)) and Path(p).is_file() for p in table["exported"])
    assert not list((second / "clusters").rglob(".fc-*"))  # no temporary file left


def test_a_new_out_imports_no_table_library(tmp_path, shared_cache):
    """pandas and openpyxl take longer to import than the rest of such a run."""
    assert run(shared_cache, tmp_path / "first") == 0
    script = (
        "import sys, json\nfrom flowclass.cli import main\n"
        f"code = main(['run', {str(WORKFLOW)!r}, '--out', {str(tmp_path / 'second')!r}, '--cache', "
        f"{str(shared_cache.root)!r}, '-q', " + ", ".join(repr(f"--set={s}") for s in SETTINGS) + "])\n"
        "print(json.dumps({'code': code, 'modules': sorted(m for m in ('pandas', 'openpyxl', "
        "'matplotlib') if m in sys.modules)}))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"code": 0, "modules": []}
    assert states(tmp_path / "second")["export"] == "cached"


HOSTILE = ["/a/b, c.png", '/a/"quoted".png', "/a/=cmd.png", "/a/line\nbreak.png", "/a/ctl\x01.png",
           "/a/<tag> & more.png", "/a/ trailing .png"]


def table(paths: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"source": [f"=src{i}" for i in range(len(paths))], "exported": paths,
                         "cluster": ["-1", "+x", "@y", "C1", "C2", "C3", "C4"][:len(paths)],
                         "score": [0.5, float("nan"), 1e-9, -2.0, 3.0, 4.0, 5.0][:len(paths)]})


PLAIN = ["/a/b.png", "/a/=c.png", "/a/ d .png", "@/a/+1.png", "/a/C1/digit_0001.png"]


@pytest.mark.parametrize("paths, moved", [
    (HOSTILE, "/new place/"),  # quoted cells: read and written by the csv module
    (PLAIN, "/new place/"),  # none quoted: split at the commas
    (PLAIN, "/new, place/"),  # none quoted before, each new path quoted
], ids=["hostile", "plain", "plain-to-quoted"])
def test_a_tables_paths_are_rewritten_cell_by_cell(tmp_path, paths, moved):
    """Only the exported column changes, whatever the paths hold; every other cell as written."""
    old, new = table(paths), table([p.replace("/a/", moved) for p in paths])
    paths = dict(zip(old["exported"], new["exported"]))
    write_csv(old, tmp_path / "old.csv")
    write_csv(new, tmp_path / "want.csv")
    rewrite_csv("exported", paths)(str(tmp_path / "old.csv"), tmp_path / "got.csv")
    assert (tmp_path / "got.csv").read_bytes() == (tmp_path / "want.csv").read_bytes()
    write_xlsx(old, tmp_path / "old.xlsx")
    write_xlsx(new, tmp_path / "want.xlsx")
    rewrite_xlsx("exported", paths)(str(tmp_path / "old.xlsx"), tmp_path / "got.xlsx")
    pd.testing.assert_frame_equal(pd.read_excel(tmp_path / "got.xlsx"), pd.read_excel(tmp_path / "want.xlsx"))
    with pytest.raises(KeyError):  # a path it was not told about: no guess
        rewrite_csv("exported", {})(str(tmp_path / "old.csv"), tmp_path / "none.csv")



def test_a_journal_compacted_after_publishing_many_says_what_a_fresh_compaction_says(tmp_path):
    """compact() reuses the lines publish_many journaled: they are the entries' own records."""
    root = tmp_path / "folder"
    root.mkdir()
    owned = OwnedFolder(root)
    write = lambda text: (lambda tmp: Path(tmp).write_text(text))  # noqa: E731
    owned.publish_many([(f"C{i % 3}/{i}.txt", write(str(i)), "ab" * 32 if i % 2 else "") for i in range(9)])
    owned.publish_many([("C0/0.txt", write("again"), "")])  # replaced: a new identity, a new line
    owned.compact()
    owned.close()
    again = OwnedFolder(root)
    lines = [json.dumps(entry.record(rel)) + "\n" for rel, entry in sorted(again.entries.items())]
    assert (root / JOURNAL).read_text() == "".join(lines)
    assert len(lines) == 12 and again.entries["C0/0.txt"].size == len("again")  # 9 files, 3 folders

def test_a_workbook_with_a_part_named_otherwise_than_in_ascii_is_not_rewritten(tmp_path):
    """FlowClass's workbooks name their parts in ASCII; one named in the old zip encoding
    (cp437, no UTF-8 mark) is not FlowClass's: its rewrite fails, so the node makes the table
    again, rather than write that part back under another name."""
    old = table(PLAIN)
    write_xlsx(old, tmp_path / "old.xlsx")
    with zipfile.ZipFile(tmp_path / "old.xlsx") as book, zipfile.ZipFile(tmp_path / "odd.xlsx", "w") as odd:
        for info in book.infolist():
            odd.writestr(info, book.read(info))
        odd.writestr("xl/media/xx.bin", b"data")
    raw = (tmp_path / "odd.xlsx").read_bytes()
    assert raw.count(b"xl/media/xx.bin") == 2  # its local header and the central directory
    (tmp_path / "odd.xlsx").write_bytes(raw.replace(b"xl/media/xx.bin", b"xl/media/\x81x.bin"))
    paths = {path: path.replace("/a/", "/new/") for path in PLAIN}
    rewrite_xlsx("exported", paths)(str(tmp_path / "old.xlsx"), tmp_path / "got.xlsx")  # FlowClass's: rewritten
    with pytest.raises(UnicodeDecodeError):
        rewrite_xlsx("exported", paths)(str(tmp_path / "odd.xlsx"), tmp_path / "odd-got.xlsx")


def test_a_journal_line_is_the_text_json_dumps_makes_of_its_record():
    """Entry.line formats the line itself: the same text for any names (quotes, backslashes,
    control and non-ASCII characters, lone surrogates), any whole numbers, and, as json.dumps
    writes them, values that are not text or whole numbers."""
    import random

    from flowclass.userfiles.journal import Entry

    rng = random.Random(7)
    letters = ["a", "é", '"', "\\", "\n", "\x00", "\x1f", "\x7f", "\u2028", "\ud800", "😀", "/", " "]

    def text() -> str:
        return "".join(rng.choice(letters) for _ in range(rng.randint(0, 6)))

    numbers = [0, 1, 1297, 2**63, 2**80, -5, True, 3.5]
    for _ in range(20_000):
        entry = Entry(text(), rng.choice(numbers), rng.choice(numbers), rng.choice(numbers), text(), text())
        rel = rng.choice([text(), text(), None, 5])
        assert entry.line(rel) == json.dumps(entry.record(rel))


@pytest.mark.slow  # over a second; the quick loop keeps its 90 s budget
def test_an_xlsx_cell_keeps_every_printable_character_and_marks_each_control_one():
    """_printable's look at the whole text first gives what the pattern alone gives, for
    every character alone and between others."""
    import re

    from flowclass.safe_tables import _printable

    control = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
    for code in range(0x110000):
        for text in (chr(code), f"a{chr(code)}b"):
            assert _printable(text) == control.sub("\ufffd", text)
    assert _printable("C1/\x01é\t.png") == "C1/\ufffdé\t.png"


def test_publishing_many_files_never_replaces_the_users(tmp_path):
    root = tmp_path / "folder"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "mine.txt").write_text("mine")
    owned = OwnedFolder(root)
    write = lambda text: (lambda tmp: Path(tmp).write_text(text))  # noqa: E731
    with pytest.raises(Collision):
        owned.publish_many([("sub/a.txt", write("a"), ""), ("sub/mine.txt", write("x"), "")])
    assert sorted(p.name for p in (root / "sub").iterdir()) == ["mine.txt"]
    owned.publish_many([("sub/a.txt", write("a"), ""), ("b/c.txt", write("c"), "")])
    owned.publish_many([("sub/a.txt", write("new a"), "")])  # its own file: replaced
    assert (root / "sub" / "a.txt").read_text() == "new a" and (root / "b" / "c.txt").read_text() == "c"
    assert owned.owns("sub/a.txt") and owned.owns("b/c.txt") and not owned.owns("sub/mine.txt")
    owned.close()
    assert not [p for p in root.rglob(".fc-*")]  # no temporary file left


def test_a_copy_is_exact_where_the_kernel_cannot_copy(tmp_path, monkeypatch):
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(300_000))
    copy_new(source, tmp_path / "fast.bin")

    def refused(*args):
        raise OSError(errno.EXDEV, "cross-device")
    monkeypatch.setattr(os, "copy_file_range", refused, raising=False)
    copy_new(source, tmp_path / "slow.bin")
    assert (tmp_path / "fast.bin").read_bytes() == (tmp_path / "slow.bin").read_bytes() == source.read_bytes()
    with pytest.raises(FileExistsError):  # never over something already there
        copy_new(source, tmp_path / "fast.bin")


def test_the_xml_text_of_a_relocated_workbook_is_escaped_and_read_as_the_standard_library_does():
    from xml.sax.saxutils import escape as sax_escape, unescape as sax_unescape

    from nodes.lib.results.relocated import escape, unescape

    for text in ("/data/a&b <c>.png", "&amp; already", "plain", "<<&&>>", "&lt;&gt;&amp;"):
        assert escape(text) == sax_escape(text)
        assert unescape(text) == sax_unescape(text)
        assert unescape(escape(text)) == text


@pytest.mark.parametrize("how", ["unnamed", "temporary-names", "link-refused"])
def test_publishing_copies_puts_each_whole_copy_in_place_however_it_is_made(tmp_path, monkeypatch, how):
    """Copies are made unnamed and linked into place where the system can; with no unnamed
    files, or where a sandbox refuses to link one, under journaled temporary names: the
    same files, journal and no leftover either way."""
    from flowclass.userfiles import owned_folder

    sources = tmp_path / "sources"
    sources.mkdir()
    for i in range(5):
        (sources / f"{i}.png").write_bytes(bytes([i]) * (1000 + i))
    monkeypatch.setattr(owned_folder, "_unnamed", [False] if how == "temporary-names" else [])
    if how == "link-refused":
        real = os.link

        def link(src, dst, **options):
            if str(src).startswith("/proc/self/fd/"):
                raise PermissionError(errno.EPERM, "not in this sandbox")
            return real(src, dst, **options)
        monkeypatch.setattr(os, "link", link)
    root = tmp_path / "folder"
    root.mkdir()
    owned = OwnedFolder(root)
    copies = [(f"C{i % 2}/{i}.png", str(sources / f"{i}.png"), f"{i:064}") for i in range(5)]
    owned.publish_many(copies + [("table.txt", lambda tmp: Path(tmp).write_text("made"), "")])
    owned.compact()
    owned.close()
    # what it put in place, as it put it: what a stat of each says (the placements keep these)
    assert owned.stamps() == {str(path): (path.stat().st_size, path.stat().st_mtime_ns)
                              for path in root.rglob("*") if path.is_file() and path.name != JOURNAL}
    names = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    assert names == [JOURNAL, "C0", "C0/0.png", "C0/2.png", "C0/4.png", "C1", "C1/1.png", "C1/3.png", "table.txt"]
    assert all((root / rel).read_bytes() == Path(source).read_bytes() and (root / rel).stat().st_nlink == 1
               for rel, source, _ in copies)
    again = OwnedFolder(root)
    assert {rel: entry.sha256 for rel, entry in again.entries.items() if entry.kind == "file"} == \
        {**{rel: sha256 for rel, _, sha256 in copies}, "table.txt": ""}
    assert owned_folder._unnamed == [how == "unnamed"]


def test_placements_keep_the_stamps_of_copies_just_made_without_reading_them_again(tmp_path, monkeypatch):
    """flowclass.placements: a copy put in place by an owned folder is remembered as it was
    put (RunContext.placed); only a file not known so is read, and the next check finds all
    intact."""
    from flowclass.placements import Placements

    out = tmp_path / "out"
    out.mkdir()
    made, other = out / "made.png", out / "other.png"
    made.write_bytes(b"copy")
    other.write_bytes(b"found there")
    known = {str(made): (made.stat().st_size, made.stat().st_mtime_ns)}
    read, real = [], os.stat
    monkeypatch.setattr(os, "stat", lambda path, **options: read.append(str(path)) or real(path, **options))
    kept = Placements(tmp_path / "placed")
    kept.remember(out, [str(made), str(other)], known)
    assert [path for path in read if path.startswith(str(out))] == [str(other)]  # the copy's not read
    monkeypatch.setattr(os, "stat", real)
    assert kept.intact(out, [str(made), str(other)])
    made.write_bytes(b"edited")
    assert not kept.intact(out, [str(made), str(other)])


def test_a_new_out_inside_the_imported_folder_is_refused_as_a_cold_run_refuses_it(tmp_path, shared_cache, capsys):
    """Export refuses a folder inside the folder it imported from (a re-import would meet the
    copies). An unchanged re-run into a new --out inside the user's photo folder copied the
    earlier export there all the same, and the same command run again then failed on it."""
    from disk_helpers import digits_folder

    photos = digits_folder(tmp_path, per_label=4)
    mine = {p: p.read_bytes() for p in photos.rglob("*") if p.is_file()}
    settings = [f"import.folder={photos}", "import.max_per_label=0"]
    assert run(shared_cache, tmp_path / "first", *settings) == 0
    inside = photos / "sorted"
    assert run(shared_cache, inside, *settings) == 1
    said = capsys.readouterr()
    assert f"the export folder {inside / 'clusters'} is inside the imported folder {photos}" in said.out + said.err
    assert not (inside / "clusters").exists()
    assert states(inside)["export"] == "failed"
    assert {p: p.read_bytes() for p in photos.rglob("*") if p.is_file() and inside not in p.parents} == mine


@pytest.mark.slow
def test_a_new_out_inside_the_imported_folder_is_refused_by_a_command_of_its_own(tmp_path):
    """The same as a `flowclass run` process, which the witnesses of the job's latest record
    answer (flowclass/new_out.py) when nothing changed: they copied the export there too."""
    from disk_helpers import digits_folder

    photos = digits_folder(tmp_path, per_label=4)
    command = [sys.executable, "-m", "flowclass.cli", "run", str(WORKFLOW), "-q", "--cache", str(tmp_path / "cache"),
               *(f"--set={s}" for s in [*SETTINGS, f"import.folder={photos}", "import.max_per_label=0"])]
    for out in (tmp_path / "first", tmp_path / "second"):  # the second is answered by the witnesses
        done = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    assert states(tmp_path / "second")["export"] == "cached"
    inside = photos / "sorted"
    done = subprocess.run([*command, "--out", str(inside)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "is inside the imported folder" in done.stdout + done.stderr
    assert not (inside / "clusters").exists()
