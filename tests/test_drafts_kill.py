"""A tab's draft and its undo history are two files: a server killed at any point between
or during their writes must come back with the newest state the user had and an Undo
that leads to it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from flowclass.ui import drafts
from flowclass.ui.drafts import DraftStore, capture
from flowclass.workflow_file import dumps


class Killed(BaseException):
    """The server killed mid-write (not an OSError: nothing handles it)."""


def kill_at(monkeypatch, store: DraftStore, tab_id: str, which: str) -> None:
    """The next write of the tab's ``which`` file ("draft" or "history") never happens."""
    target = store.file(tab_id) if which == "draft" else store.history_file(tab_id)
    written = drafts.atomic_write_text

    def write(path, text, **options):
        if path == target:
            raise Killed()
        written(path, text, **options)

    monkeypatch.setattr(drafts, "atomic_write_text", write)


def history(session) -> tuple[list[str], list[str]]:
    return [dumps(w) for w in session.state.undo_stack], [dumps(w) for w in session.state.redo_stack]


def edited(registry, cache, store: DraftStore, tab_id: str):
    """A session with three nodes added one by one, its draft written after each."""
    from flowclass.ui.session import EditorSession

    session = EditorSession(registry, cache)
    for i in range(3):
        session.add_node("toy.number", (0, 200 * i))
        store.write(tab_id, capture(session, False))
    return session


def restarted(registry, cache, folder, tab_id: str):
    """The tab as a restarted server (a new store: nothing in memory) brings it back."""
    from flowclass.ui.session import EditorSession

    again = EditorSession(registry, cache)
    assert DraftStore(folder).restore_into(tab_id, again) is not None
    return again


@pytest.mark.parametrize("edit", ["add", "undo", "redo"])
def test_killed_between_the_history_and_the_draft_the_newest_edit_and_its_history_come_back(
        registry, cache, tmp_path, monkeypatch, edit):
    """The history is written first: a kill before the draft left the history a step ahead of
    it, and the restarted tab came back one edit behind with no Undo at all."""
    store = DraftStore(tmp_path / "drafts")
    session = edited(registry, cache, store, "killed-1234")
    if edit == "redo":
        session.undo()
        store.write("killed-1234", capture(session, False))
    {"add": lambda: session.add_node("toy.number", (0, 900)), "undo": session.undo, "redo": session.redo}[edit]()
    kill_at(monkeypatch, store, "killed-1234", "draft")
    with pytest.raises(Killed):
        store.write("killed-1234", capture(session, False))

    listed = {tab: draft for tab, draft, _ in DraftStore(store.folder).unsaved()}
    assert listed["killed-1234"].workflow == dumps(session.workflow)  # closed tabs' list: the newest
    again = restarted(registry, cache, store.folder, "killed-1234")
    assert dumps(again.workflow) == dumps(session.workflow)
    assert history(again) == history(session)
    assert again.undo() and session.undo() and dumps(again.workflow) == dumps(session.workflow)


def test_killed_before_a_tabs_first_draft_its_work_comes_back(registry, cache, tmp_path, monkeypatch):
    from flowclass.ui.session import EditorSession

    store = DraftStore(tmp_path / "drafts")
    session = EditorSession(registry, cache)
    session.add_node("toy.number", (0, 0))
    kill_at(monkeypatch, store, "first-1234", "draft")
    with pytest.raises(Killed):
        store.write("first-1234", capture(session, False))
    assert not store.file("first-1234").exists()
    again = restarted(registry, cache, store.folder, "first-1234")
    assert dumps(again.workflow) == dumps(session.workflow)


def test_killed_before_the_history_the_draft_and_its_history_are_as_before(registry, cache, tmp_path, monkeypatch):
    """A kill before either file is written leaves the previous pair, whole."""
    store = DraftStore(tmp_path / "drafts")
    session = edited(registry, cache, store, "before-1234")
    before = dumps(session.workflow), history(session)
    session.add_node("toy.number", (0, 900))
    kill_at(monkeypatch, store, "before-1234", "history")
    with pytest.raises(Killed):
        store.write("before-1234", capture(session, False))
    again = restarted(registry, cache, store.folder, "before-1234")
    assert (dumps(again.workflow), history(again)) == before


def test_a_history_that_cannot_be_written_keeps_neither_the_draft_nor_undo_from_being_kept(
        registry, cache, tmp_path, monkeypatch):
    """A full disk refusing the (ten times bigger) history also kept the draft from being
    written. The draft is written all the same, and a restart leads Undo from it to the
    history's workflow, then on back."""
    store = DraftStore(tmp_path / "drafts")
    session = edited(registry, cache, store, "full-1234")
    written = drafts.atomic_write_text

    def history_refused(path, text, **options):
        if path == store.history_file("full-1234"):
            raise OSError(28, "No space left on device")
        written(path, text, **options)

    monkeypatch.setattr(drafts, "atomic_write_text", history_refused)
    session.add_node("toy.number", (0, 900))
    with pytest.raises(OSError, match="No space"):
        store.write("full-1234", capture(session, False))
    again = restarted(registry, cache, store.folder, "full-1234")
    assert dumps(again.workflow) == dumps(session.workflow)
    assert history(again) == history(session)  # the history's workflow is the step just before
    for left in (3, 2, 1, 0):
        assert again.undo() and len(again.workflow.nodes) == left


CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from flowclass.cache import Cache
    from flowclass.library import default_registry
    from flowclass.ui.drafts import DraftStore, capture
    from flowclass.ui.session import EditorSession

    folder, plugins = Path(sys.argv[1]), Path(sys.argv[2])
    session = EditorSession(default_registry([plugins]), Cache(folder / "cache"))
    store = DraftStore(folder / "drafts")
    session.add_node("toy.number", (0, 0))
    node = session.workflow.nodes[0].id
    for moves in range(1, 100000):
        session.move({node: (moves, 0)})
        store.write("killed-1234", capture(session, False))
        print(moves, flush=True)
""")


@pytest.mark.slow
def test_a_server_killed_with_sigkill_while_writing_comes_back_with_its_newest_edit_and_undo(
        registry, cache, tmp_path):
    """A real process writing a draft per edit, killed with SIGKILL at moments that fall
    anywhere in its writes (three times): the tab comes back with at least the last edit it
    said was kept, and Undo walks back one edit at a time from there to the first."""
    from conftest import PLUGINS
    from flowclass.ui.editor import HISTORY_LIMIT

    for wait in (40, 170, 330):  # edits kept before the kill
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), str(PLUGINS)],
                                 stdout=subprocess.PIPE, text=True)
        kept = 0
        while kept < wait:
            kept = int(child.stdout.readline())
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        again = restarted(registry, cache, tmp_path / "drafts", "killed-1234")
        newest = moves = int(again.workflow.nodes[0].position[0])
        assert moves >= kept
        while again.undo() and again.workflow.nodes:
            moves -= 1
            assert int(again.workflow.nodes[0].position[0]) == moves
        assert moves == max(0, newest - HISTORY_LIMIT)  # as far back as memory went
        for file in (tmp_path / "drafts").iterdir():
            file.unlink()


def test_a_discard_killed_halfway_never_brings_the_work_back_by_itself(registry, cache, tmp_path, monkeypatch):
    """The history file holds a copy of the draft: a discard killed after removing the
    draft but before the history left that copy, which the tab's address then brought back
    although it was not listed anywhere. The history goes first: a kill between leaves the
    draft, listed as before, to be discarded again."""
    from pathlib import Path

    store = DraftStore(tmp_path / "drafts")
    edited(registry, cache, store, "dropped-1234")
    removed = Path.unlink

    def killed_after_one(path, *args, **kwargs):
        removed(path, *args, **kwargs)
        raise Killed()

    monkeypatch.setattr(Path, "unlink", killed_after_one)
    with pytest.raises(Killed):
        store.discard("dropped-1234")
    monkeypatch.setattr(Path, "unlink", removed)
    again = DraftStore(store.folder)
    listed = [tab for tab, _, _ in again.unsaved()]
    assert (again.read("dropped-1234", history=True) is None) == (listed == [])


def test_killed_between_a_save_and_the_next_draft_the_tab_comes_back_saved(registry, cache, tmp_path):
    """Save writes the file, then the draft: a kill between brought the tab back marked
    unsaved, saying its file had changed on disk meanwhile, and Save then asked before
    replacing its own save. The file holding the tab's workflow is the tab's own save."""
    from flowclass.ui.file_guard import changed_on_disk

    store = DraftStore(tmp_path / "drafts")
    session = edited(registry, cache, store, "saved-1234")
    session.state.save(tmp_path / "mine.json")
    store.write("saved-1234", capture(session, False))
    session.add_node("toy.number", (0, 900))
    store.write("saved-1234", capture(session, False))
    session.state.save(tmp_path / "mine.json")  # killed before its draft
    again = restarted(registry, cache, store.folder, "saved-1234")
    assert not again.state.dirty and not changed_on_disk(again.state.path, again.state.disk_sha)
    assert again.undo() and again.state.dirty  # the history is there, and says what is unsaved


def test_a_file_changed_elsewhere_still_says_so_after_a_restart(registry, cache, tmp_path):
    from flowclass.ui.file_guard import changed_on_disk

    store = DraftStore(tmp_path / "drafts")
    session = edited(registry, cache, store, "elsewhere-1234")
    session.state.save(tmp_path / "mine.json")
    session.add_node("toy.number", (0, 900))
    store.write("elsewhere-1234", capture(session, False))
    (tmp_path / "mine.json").write_text((tmp_path / "mine.json").read_text().replace("200", "300"))
    again = restarted(registry, cache, store.folder, "elsewhere-1234")
    assert again.state.dirty and changed_on_disk(again.state.path, again.state.disk_sha)


def test_typing_into_a_field_rewrites_the_draft_not_the_history(registry, cache, tmp_path):
    """Each key typed into a field changed the workflow the history named, so the whole
    history (up to 1 MB) was written again per key, though typing makes one undo step.
    It is written when that step begins; the keys after rewrite only the draft, which names
    the history it goes with, and Undo after a restart still goes back to before the typing."""
    from flowclass.ui.session import EditorSession

    store = DraftStore(tmp_path / "drafts")
    session = edited(registry, cache, store, "typed-1234")
    node = session.workflow.nodes[0].id
    session.set_param(node, "value", 5)  # the typing begins: one undo step
    store.write("typed-1234", capture(session, False))
    history_file = store.history_file("typed-1234").stat()
    for value in (56, 567):
        session.set_param(node, "value", value)
        store.write("typed-1234", capture(session, False))
    assert store.history_file("typed-1234").stat() == history_file
    again = EditorSession(registry, cache)
    DraftStore(store.folder).restore_into("typed-1234", again)
    assert again.workflow.node(node).params["value"] == 567 and history(again) == history(session)
    assert again.undo() and again.workflow.node(node).params["value"] not in (5, 56, 567) and len(again.workflow.nodes) == 3
