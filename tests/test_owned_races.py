"""What a user does to the results between runs, and while one writes, harms nothing of theirs.

A hard link of one of FlowClass's files (an exported picture, a table, run.json) is a name of
the user's: a re-run replaces FlowClass's name by a rename and leaves the other as it was.
A folder of the results swapped for a link to a folder of the user's after FlowClass looked
at it (a race with a script, or with a sync tool) is never written through, nor removed
from: each folder is written inside as it was opened. The swaps happen at the exact moment
between the look and the write (a hook), so each test fails the same way every time on code
that writes by path.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from flowclass.cache import Cache
from flowclass.cli import main
from flowclass.engine import Engine
from flowclass.errors import NodeError
from flowclass.userfiles.owned_folder import OwnedFolder
from tests.test_export_hardening import ctx, export, labelling, photos, snapshot
from tests.test_run_json_ownership import chain
from nodes.export import save_table


@pytest.fixture
def images(tmp_path):
    return photos(tmp_path / "source", 4)


def users_folder(tmp_path: Path, names: list[str]) -> Path:
    """A folder of the user's holding files named as FlowClass's exports are."""
    mine = tmp_path / "mine"
    mine.mkdir()
    for name in names:
        (mine / name).write_text(f"the user's {name}")
    return mine


def swap_for_link(folder: Path, to: Path) -> Path:
    """Move ``folder`` away and put a link to ``to`` in its place; where it went."""
    moved = folder.with_name(folder.name + "-moved")
    os.rename(folder, moved)
    folder.symlink_to(to, target_is_directory=True)
    return moved


def swap_on(monkeypatch, method: str, when, folder: Path, to: Path) -> None:
    """Swap ``folder`` for a link to ``to`` (once) as OwnedFolder's ``method`` is called with
    arguments that ``when`` accepts, before it runs: the moment a hostile script aims at."""
    real = getattr(OwnedFolder, method)

    def swapped_first(self, *args):
        if when(*args) and not folder.is_symlink():
            swap_for_link(folder, to)
        return real(self, *args)

    monkeypatch.setattr(OwnedFolder, method, swapped_first)


def redraw(images: list[Path]) -> None:
    """New pictures under the same names: a re-export replaces each of its copies."""
    for i, path in enumerate(images):
        fresh = photos(path.parent / f"fresh{i}", i + 2)[-1]
        os.replace(fresh, path)


# --- hard links --------------------------------------------------------------------------------

def test_a_hard_link_of_an_export_or_a_table_keeps_its_bytes_through_a_re_run(tmp_path, images):
    """The user's second name of an exported copy, images.csv and a saved table: each keeps
    what it had while the re-run writes FlowClass's names anew."""
    out, table = tmp_path / "out", tmp_path / "tables" / "t.csv"
    result, _ = export(tmp_path, labelling(images, ["C0"] * 4), out)
    save_table(ctx(tmp_path), data=result, embeddings=None, path=str(table))
    keep = tmp_path / "keep"
    keep.mkdir()
    ours = [out / "C0" / images[0].name, out / "images.csv", table]
    for i, path in enumerate(ours):
        os.link(path, keep / f"{i}{path.suffix}")
    kept = {path.name: path.read_bytes() for path in keep.iterdir()}
    redraw(images)
    again, _ = export(tmp_path, labelling(images, ["C0"] * 4), out)
    save_table(ctx(tmp_path), data=again.iloc[:2], embeddings=None, path=str(table))
    assert {path.name: path.read_bytes() for path in keep.iterdir()} == kept
    assert (out / "C0" / images[0].name).read_bytes() == images[0].read_bytes() != kept["0.png"]
    assert table.read_bytes() != kept["2.csv"] and os.stat(table).st_nlink == 1


def test_a_hard_link_of_run_json_keeps_its_bytes_through_a_re_run(registry, cache, tmp_path):
    """run.json and skipped.csv linked elsewhere by the user (a record of a good run): the
    re-run into the folder replaces its own names, not the file they share."""
    engine, out = Engine(registry, cache), tmp_path / "results"
    engine.run(chain(registry), out_dir=out)
    keep = tmp_path / "keep"
    keep.mkdir()
    for name in ("run.json", "skipped.csv"):
        os.link(out / name, keep / name)
    kept = {name: (keep / name).read_bytes() for name in ("run.json", "skipped.csv")}
    engine.run(chain(registry), out_dir=out)
    assert {name: (keep / name).read_bytes() for name in kept} == kept
    assert (out / "run.json").read_bytes() != kept["run.json"]
    assert os.stat(keep / "run.json").st_ino != os.stat(out / "run.json").st_ino


# --- a folder swapped for a link while a run writes ----------------------------------------------

def test_a_label_folder_swapped_for_a_link_after_the_look_is_not_written_through(tmp_path, images, monkeypatch):
    """The re-export looks at out/C0 (a real folder), then the user's script puts a link to
    their own folder there: FlowClass's copy went through the link and replaced their file of
    the same name."""
    out = tmp_path / "out"
    export(tmp_path, labelling(images, ["C0"] * 4), out)
    mine = users_folder(tmp_path, [path.name for path in images])
    before = snapshot(mine)
    redraw(images)
    # the moment after the last look at the folder, before a copy is made in it
    swap_on(monkeypatch, "_new_temp", lambda rel_dir, make: rel_dir == "C0", out / "C0", mine)
    with pytest.raises(NodeError, match="link"):
        export(tmp_path, labelling(images, ["C0"] * 4), out)
    assert snapshot(mine) == before


def test_a_label_folder_swapped_once_being_written_takes_the_writes_with_it(tmp_path, images, monkeypatch):
    """Swapped after FlowClass opened it: what is written lands in the folder it opened (now
    moved away), never in the user's folder behind the link."""
    out = tmp_path / "out"
    export(tmp_path, labelling(images, ["C0"] * 4), out)
    mine = users_folder(tmp_path, [path.name for path in images])
    before = snapshot(mine)
    redraw(images)
    swap_on(monkeypatch, "_append", lambda *records: any(str(r.get("temp", "")).startswith("C0/") for r in records),
            out / "C0", mine)  # as the first copy's temporary name is journaled
    with pytest.raises(NodeError, match="link"):  # the next file's look finds the link: it stops
        export(tmp_path, labelling(images, ["C0"] * 4), out)
    assert snapshot(mine) == before
    assert (out / "C0-moved" / images[0].name).read_bytes() == images[0].read_bytes()


def test_a_folder_swapped_for_a_link_before_a_stale_file_is_removed_removes_nothing(tmp_path, images, monkeypatch):
    """A re-export with other labels tidies the old label folder's copies; the folder swapped
    for a link between the ownership check and the removal: the user's same-named files went."""
    out = tmp_path / "out"
    export(tmp_path, labelling(images, ["C0"] * 4), out)
    mine = users_folder(tmp_path, [path.name for path in images])
    before = snapshot(mine)
    remove = OwnedFolder.remove_if_owned

    def removal(self, rel):  # its own look at the file, then the swap, then its removal
        def looked_then_swapped(rel):
            owned = OwnedFolder.owns(self, rel)
            if rel.startswith("C0/") and not (out / "C0").is_symlink():
                swap_for_link(out / "C0", mine)
            return owned

        self.owns = looked_then_swapped
        try:
            return remove(self, rel)
        finally:
            del self.owns

    monkeypatch.setattr(OwnedFolder, "remove_if_owned", removal)
    export(tmp_path, labelling(images, ["C1"] * 4), out)
    assert snapshot(mine) == before
    assert len(list((out / "C1").glob("*.png"))) == 4


def test_the_export_folder_swapped_for_a_link_while_it_is_written_leaves_the_users_alone(tmp_path, images, monkeypatch):
    """The whole export folder moved away and a link to the user's folder put in its place
    as the first copy is made: the rest of the export goes where it started (FlowClass's own
    copies, seen through the link as the user's, are left and written beside)."""
    out = tmp_path / "out"
    export(tmp_path, labelling(images, ["C0"] * 4), out)
    mine = tmp_path / "mine"
    (mine / "C0").mkdir(parents=True)
    for path in images:
        (mine / "C0" / path.name).write_text("the user's")
    (mine / "images.csv").write_text("the user's table")
    before = snapshot(mine)
    redraw(images)
    swap_on(monkeypatch, "_new_temp", lambda rel_dir, make: True, out, mine)  # as the first copy is made
    export(tmp_path, labelling(images, ["C0"] * 4), out)
    assert snapshot(mine) == before
    written = {p.read_bytes() for p in (tmp_path / "out-moved" / "C0").glob("*.png")}
    assert written >= {p.read_bytes() for p in images}  # numbered where the link hid its own


@pytest.mark.slow  # a thread racing 30 exports: about 2 s
def test_a_thread_swapping_a_label_folder_for_a_link_never_gets_a_write_through(tmp_path, images):
    """The same race with nothing timed: a thread swaps out/C0 and a link to the user's folder
    back and forth while exports run; whatever each export ends with, the user's files stay."""
    out = tmp_path / "out"
    export(tmp_path, labelling(images, ["C0"] * 4), out)
    mine = users_folder(tmp_path, [path.name for path in images])
    before = snapshot(mine)
    stop = threading.Event()

    def swap_back_and_forth():
        aside = tmp_path / "aside"
        while not stop.is_set():
            try:
                os.rename(out / "C0", aside)
                (out / "C0").symlink_to(mine, target_is_directory=True)
                os.unlink(out / "C0")
                os.rename(aside, out / "C0")
            except OSError:
                pass

    swapper = threading.Thread(target=swap_back_and_forth, daemon=True)
    swapper.start()
    try:
        for round in range(30):
            redraw(images[round % 4:round % 4 + 1])
            try:
                export(tmp_path, labelling(images, ["C0"] * 4), out)
            except (NodeError, OSError):
                pass  # the folder was a link, or gone, at that moment: said, and nothing harmed
    finally:
        stop.set()
        swapper.join()
    assert snapshot(mine) == before


# --- the cache removes only what it made -------------------------------------------------------

def test_links_planted_in_the_cache_to_a_folder_of_the_users_are_never_followed(tmp_path, capsys):
    """A link to the user's folder at each place the cache removes from (a store, inside a
    store, a result, a shard, a leftover's name): clear and prune remove at most the link."""
    mine = users_folder(tmp_path, ["a.txt", "meta.json"])
    (mine / "sub").mkdir()
    (mine / "sub" / "b.txt").write_text("the user's b.txt")
    before = snapshot(mine)
    root = tmp_path / "cache"
    cache = Cache(root)
    cache.put("ab" * 32, {"x": 1}, {})
    store = cache.store_dir("family")
    planted = [store / "link", root / "stores" / "linked_store", root / "results" / "cd",
               root / "results" / "ab" / ("ab" * 31 + "cd"), root / "results" / "ab" / ".tmp-abababababab-x",
               root / "results" / "ab" / (".stale-" + "ab" * 32)]
    for link in planted:
        link.symlink_to(mine, target_is_directory=True)
    old = 1_000_000_000
    for link in planted:
        os.utime(link, (old, old), follow_symlinks=False)
    assert main(["cache", "prune", "--cache", str(root), "--cache-size", "0"]) == 0
    assert main(["cache", "clear", "--cache", str(root)]) == 0
    capsys.readouterr()
    assert snapshot(mine) == before
    assert all(link.is_symlink() for link in planted if link.parent.exists())
