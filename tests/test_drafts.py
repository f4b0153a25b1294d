"""Drafts: a tab's work on disk, read back whole or not at all."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from flowclass.ui.drafts import Draft, DraftStore


def test_a_draft_reads_back_as_written_and_a_broken_one_is_no_draft(tmp_path):
    store = DraftStore(tmp_path / "drafts")
    draft = Draft(workflow='{"schema_version": 1, "name": "Mine", "nodes": [], "edges": []}\n', saved_text="",
                  selected="embed", viewport={"x": 1.0, "y": 2.0, "zoom": 0.5}, offered=True)
    store.write("tab-12345", draft)
    assert store.read("tab-12345") == draft
    assert [(tab, kept.title) for tab, kept, _ in store.unsaved()] == [("tab-12345", "Mine")]
    assert sorted(p.name for p in store.folder.iterdir()) == ["tab-12345.json", "tab-12345.undo"]  # no temporary file

    store.file("tab-12345").write_text('{"workflow": ', encoding="utf-8")  # cut short (not by FlowClass)
    assert store.read("tab-12345") == draft  # the copy beside the undo history
    store.history_file("tab-12345").unlink()
    assert store.read("tab-12345") is None and store.unsaved() == []
    store.file("tab-12345").write_text('{"workflow": 3}', encoding="utf-8")
    assert store.read("tab-12345") is None
    assert store.read("no-such-tab") is None


def test_keeping_a_draft_fresh_never_touches_what_a_link_in_its_place_points_to(tmp_path):
    """A link planted where a tab's draft goes, to a file of the user's: keep_fresh set the
    user's file's modification time to now."""
    mine = tmp_path / "notes.txt"
    mine.write_text("mine")
    os.utime(mine, (1_000_000_000, 1_000_000_000))
    store = DraftStore(tmp_path / "drafts")
    store.folder.mkdir()
    store.file("tab-12345").symlink_to(mine)
    store.keep_fresh("tab-12345")
    assert os.stat(mine).st_mtime == 1_000_000_000 and mine.read_text() == "mine"


@pytest.mark.parametrize("tab_id", ["../../etc/passwd", "short", "a/b-cdefgh", ""])
def test_a_tab_id_never_names_a_file_outside_the_drafts(tmp_path, tab_id):
    with pytest.raises(ValueError, match="not a tab id"):
        DraftStore(tmp_path).file(tab_id)


def test_a_deleted_nodes_strokes_count_as_unsaved_only_while_an_undo_can_bring_them_back(registry, cache):
    """Painted strokes (Draw labels) of a node then deleted: the toolbar said nothing unsaved,
    but the draft did, so the closed tab was listed in *Unsaved work of closed tabs* (with a
    reload, the *Leave site?* question) for work nobody could see. The draft agrees with the
    toolbar, and still keeps the strokes: Undo brings the node back, with them."""
    from flowclass.ui.drafts import capture, restore
    from flowclass.ui.session import EditorSession
    from flowclass.workflow_file import dumps

    session = EditorSession(registry, cache)
    session.add_node("toy.number", (0, 0))
    session.state.saved_text = dumps(session.state.workflow)  # as if saved
    assert not session.unsaved and not capture(session, False).dirty
    session.keep_view_work("toy_number", "strokes", [[1, 2, 3]])
    assert session.unsaved and capture(session, False).dirty
    session.delete(["toy_number"])
    session.state.saved_text = dumps(session.state.workflow)  # the deletion saved
    draft = capture(session, False)
    assert not session.unsaved and not draft.dirty
    assert draft.view_work == {"toy_number": {"strokes": [[1, 2, 3]]}}  # kept for an undo
    session.undo()
    again = EditorSession(registry, cache)
    restore(again, capture(session, False))
    assert again.unsaved and capture(again, False).dirty
    assert again.kept_view_work("toy_number", "strokes") == [[1, 2, 3]]


def test_a_new_node_never_takes_the_strokes_of_a_deleted_one(registry, cache):
    """A node deleted with strokes not saved keeps them for an Undo, under its id; a node added
    (or duplicated) next took that free id, and with it the deleted node's strokes: its view
    showed *2 stroke(s) not saved* it never had, and its Save would write them into its own
    label file. A new node takes an id no kept work names; Undo still brings the old one back."""
    from flowclass.ui.session import EditorSession

    session = EditorSession(registry, cache)
    session.add_node("toy.number", (0, 0))
    session.add_node("toy.number", (0, 200))
    session.keep_view_work("toy_number", "strokes", [[1, 2, 3]])
    session.delete(["toy_number"])
    session.add_node("toy.number", (0, 400))
    session.duplicate()  # of the node just added
    ids = {n.id for n in session.workflow.nodes}
    assert "toy_number" not in ids and len(ids) == 3
    assert not session.unsaved_view_work
    for _ in range(3):
        session.undo()
    assert session.workflow.node("toy_number") is not None and session.unsaved_view_work
    assert session.kept_view_work("toy_number", "strokes") == [[1, 2, 3]]


def test_clearing_the_cache_keeps_the_unsaved_work_of_closed_tabs(cache, capsys):
    """`flowclass cache clear` frees what FlowClass can make again; a tab's unsaved edits and
    strokes exist nowhere else, and clearing the cache deleted them unasked (the canvas's
    Discard asks first)."""
    from flowclass.cli import main

    drafts = DraftStore(cache.store_dir("drafts"))
    drafts.write("tab-unsaved", Draft(workflow='{"nodes": []}', saved_text=""))
    cache.store_dir("timings")
    cache.put("ab" * 32, {"x": 1}, {})
    assert main(["cache", "clear", "--cache", str(cache.root)]) == 0
    said = capsys.readouterr().out
    assert [tab for tab, _, _ in drafts.unsaved()] == ["tab-unsaved"]
    assert "kept" in said and "drafts" in said and "1 node result(s)" in said
    assert not (cache.root / "stores" / "timings").exists() and cache.get("ab" * 32) is None


def edited_session(registry, cache, edits: int):
    """A session with ``edits`` Number nodes added one by one (one undo step each)."""
    from flowclass.ui.session import EditorSession

    session = EditorSession(registry, cache)
    for i in range(edits):
        session.add_node("toy.number", (0, 200 * i))
    return session


def test_undo_and_redo_survive_a_restarted_server(registry, cache, tmp_path):
    """Undo survived a reload (the tab stays in memory) but not a restarted server: the tab
    came back from its draft with an empty history. The draft keeps it, and Undo and Redo go
    on as before, step by step."""
    from flowclass.ui.drafts import restore
    from flowclass.ui.session import EditorSession
    from flowclass.workflow_file import dumps
    from flowclass.ui.drafts import capture

    session = edited_session(registry, cache, 3)
    session.undo()  # one step to redo
    before = [dumps(w) for w in session.state.undo_stack], [dumps(w) for w in session.state.redo_stack]
    store = DraftStore(tmp_path / "drafts")
    store.write("restarted-1", capture(session, False))

    again = EditorSession(registry, cache)
    restore(again, store.read("restarted-1", history=True))
    assert ([dumps(w) for w in again.state.undo_stack], [dumps(w) for w in again.state.redo_stack]) == before
    assert again.redo() and len(again.workflow.nodes) == 3
    for left in (2, 1, 0):
        assert again.undo() and len(again.workflow.nodes) == left
    assert not again.undo()


def moved_session(registry, cache, moves: int):
    """A session with one Number node moved ``moves`` times (one small undo step each)."""
    from flowclass.ui.session import EditorSession

    session = EditorSession(registry, cache)
    session.add_node("toy.number", (0, 0))
    node = session.workflow.nodes[0].id
    for i in range(moves):
        session.move({node: (10 * (i + 1), 0)})
    return session


def test_undo_goes_as_far_back_after_a_restart_as_before_it(registry, cache, tmp_path):
    """Undo went 200 steps back in a tab kept in memory but 50 after a restarted server
    read it from its draft. The draft keeps as many steps as memory does, each way."""
    from flowclass.ui.drafts import capture
    from flowclass.ui.editor import HISTORY_LIMIT
    from flowclass.ui.session import EditorSession
    from flowclass.workflow_file import dumps

    session = moved_session(registry, cache, HISTORY_LIMIT + 5)
    for _ in range(3):
        session.undo()
    store = DraftStore(tmp_path / "drafts")
    store.write("deep-1234", capture(session, False))
    again = EditorSession(registry, cache)
    store.restore_into("deep-1234", again)
    assert len(again.state.undo_stack) == len(session.state.undo_stack) == HISTORY_LIMIT - 3
    assert [dumps(w) for w in again.state.undo_stack] == [dumps(w) for w in session.state.undo_stack]
    assert [dumps(w) for w in again.state.redo_stack] == [dumps(w) for w in session.state.redo_stack]
    while session.undo():
        assert again.undo() and dumps(again.workflow) == dumps(session.workflow)
    assert not again.undo()


def test_a_ready_workflows_whole_history_fits_the_cap(registry, cache, tmp_path):
    """The 1 MB cap held only 165 steps of the largest ready workflow (its steps kept as the
    file's indented text): Undo still went less far after a restart than before it. The
    steps are kept as compact JSON, and all 200 of it fit."""
    from flowclass.library import ready_workflows_dir
    from flowclass.ui import drafts
    from flowclass.ui.drafts import capture
    from flowclass.ui.editor import HISTORY_LIMIT
    from flowclass.ui.session import EditorSession
    from flowclass.workflow_file import dumps, load

    session = EditorSession(registry, cache)
    workflow = load(ready_workflows_dir() / "lobe_train_predict.json", registry)
    session.state.reset(workflow, None)
    node = workflow.nodes[0].id
    for i in range(HISTORY_LIMIT + 5):
        session.move({node: (i + 1.5, 0)})
    assert HISTORY_LIMIT * len(dumps(workflow)) > drafts.HISTORY_CHARS  # as file text, it did not fit
    draft = capture(session, False)
    assert len(draft.undo) == HISTORY_LIMIT and sum(map(len, draft.undo)) <= drafts.HISTORY_CHARS
    store = DraftStore(tmp_path / "drafts")
    store.write("ready-1234", draft)
    again = EditorSession(registry, cache)
    store.restore_into("ready-1234", again)
    assert [dumps(w) for w in again.state.undo_stack] == [dumps(w) for w in session.state.undo_stack]


def test_a_drafts_history_is_bounded(registry, cache, monkeypatch):
    """At most 1 MB of workflow text: the nearest steps that fit, the oldest left out."""
    from flowclass.ui import drafts
    from flowclass.ui.drafts import capture
    from flowclass.workflow_file import loads

    session = moved_session(registry, cache, drafts.HISTORY_STEPS + 5)
    draft = capture(session, False)
    assert len(draft.undo) == drafts.HISTORY_STEPS and draft.redo is None
    assert loads(draft.undo[-1]) == loads(capture(moved_session(registry, cache, drafts.HISTORY_STEPS + 4),
                                                  False).workflow)
    monkeypatch.setattr(drafts, "HISTORY_CHARS", sum(map(len, draft.undo[-3:])))
    assert capture(session, False).undo == draft.undo[-3:]  # the nearest steps that fit


@pytest.mark.parametrize("history", [
    "not a list", [3], ["{not json"], ['{"schema_version": 99, "nodes": [], "edges": []}'],
    [{"nodes": []}], ["[1, 2]"], ['{"schema_version": 1, "nodes": [{"id": 3}], "edges": []}'],
    ['{"schema_version": 1, "nodes": "x", "edges": {}}'], ["[" * 5000 + "]" * 5000]])
def test_a_broken_or_strangers_history_ends_there_and_breaks_nothing(registry, cache, tmp_path, history):
    """A draft's history read back as data: a step that is not a workflow this FlowClass
    reads (cut short, a newer one's, hand-edited) ends the history there; the tab opens with
    its workflow and the steps after it, and nothing else happens."""
    from flowclass.ui.drafts import capture, restore
    from flowclass.ui.session import EditorSession

    draft = capture(edited_session(registry, cache, 2), False)
    store = DraftStore(tmp_path / "drafts")
    store.write("stranger-1", replace(draft, undo=history if not isinstance(history, list) else
                                      [draft.undo[0]] + history + [draft.undo[1]]))
    again = EditorSession(registry, cache)
    restore(again, store.read("stranger-1", history=True))
    assert len(again.workflow.nodes) == 2
    steps = 0 if not isinstance(history, list) else 1  # the step after the broken one
    assert len(again.state.undo_stack) == steps
    assert again.undo() == bool(steps) and len(again.workflow.nodes) == 2 - steps


@pytest.mark.parametrize("field,value", [
    ("path", 5), ("saved_text", None), ("disk_sha", ["x"]), ("origin", {"a": 1}), ("selected", 7),
    ("viewport", "far"), ("viewport", {"x": "1", "y": 2, "zoom": 1}), ("viewport", {"x": 1}),
    ("out_choice", 3.5), ("untitled_out", True), ("offered", "yes"), ("run_going", "no"), ("run_node", 1),
    ("run_kept", "all"), ("typed", {"a": 1}), ("typed", [[1]]), ("view_work", ["strokes"]),
    ("view_work", {"toy_number": [1, 2]})])
def test_a_drafts_field_of_the_wrong_kind_is_left_out_and_the_tab_opens(registry, cache, tmp_path, field, value):
    """A draft hand-edited (or written by another program) with a field of the wrong kind:
    Path(5) broke the tab's page as it opened. Such a field reads as if absent; the rest of
    the tab's work comes back."""
    import json

    from flowclass.ui.drafts import capture
    from flowclass.ui.session import EditorSession

    session = edited_session(registry, cache, 2)
    store = DraftStore(tmp_path / "drafts")
    store.write("strange-1", capture(session, False))
    doc = json.loads(store.file("strange-1").read_text(encoding="utf-8"))
    doc[field] = value
    store.file("strange-1").write_text(json.dumps(doc), encoding="utf-8")
    again = EditorSession(registry, cache)
    draft = store.restore_into("strange-1", again)
    assert getattr(draft, field) == getattr(Draft(workflow=""), field)  # as if absent
    assert len(again.workflow.nodes) == 2 and again.undo() and len(again.workflow.nodes) == 1
    assert again.out_dir().is_absolute()


def test_the_history_lives_beside_the_draft_and_goes_with_it(registry, cache, tmp_path, monkeypatch):
    """Listing closed tabs' work reads every draft, so the history (ten times a draft) has a
    file of its own, used only when it leads to the draft's workflow (a server killed
    between the two writes leaves it a step ahead), and discarded or pruned with the draft."""
    import json
    import os

    from flowclass.ui import drafts
    from flowclass.ui.drafts import CLEAN_KEEP, capture
    from flowclass.ui.file_guard import text_sha
    from flowclass.workflow_file import dumps

    session = edited_session(registry, cache, 2)
    store = DraftStore(tmp_path / "drafts")
    store.write("beside-1", capture(session, False))
    assert json.loads(store.file("beside-1").read_text())["undo"] is None
    assert store.read("beside-1").undo is None and len(store.read("beside-1", history=True).undo) == 2
    assert [tab for tab, _, _ in store.unsaved()] == ["beside-1"]

    session.add_node("toy.number", (0, 900))  # the history written, then the server killed
    ahead = capture(session, False)
    store.history_file("beside-1").write_text(json.dumps(
        {"workflow": text_sha(ahead.workflow), "undo": ahead.undo}))
    assert store.read("beside-1", history=True).undo is None  # not the draft's own: none
    store.history_file("beside-1").write_text(json.dumps(  # its own, but bigger than any FlowClass writes
        {"workflow": text_sha(store.read("beside-1").workflow), "undo": ["x" * 2000]}))
    monkeypatch.setattr(drafts, "HISTORY_BYTES", 1000)
    assert store.read("beside-1", history=True).undo is None
    store.discard("beside-1")
    assert list(store.folder.iterdir()) == []

    session.state.saved_text = dumps(session.workflow)  # nothing unsaved: pruned when forgotten
    store.write("beside-2", capture(session, False))
    old = store.file("beside-2").stat().st_mtime - CLEAN_KEEP - 10
    os.utime(store.file("beside-2"), (old, old))
    assert store.prune(held=()) == ["beside-2"]
    assert list(store.folder.iterdir()) == []

    for tab in ("lone-1234", "held-1234", "fresh-1234"):  # a draft pruned by an older FlowClass leaves its history
        store.history_file(tab).write_text("{}")
    for tab in ("lone-1234", "held-1234"):
        os.utime(store.history_file(tab), (old, old))
    store.prune(held={"held-1234"})
    assert sorted(p.name for p in store.folder.iterdir()) == ["fresh-1234.undo", "held-1234.undo"]


def test_a_history_another_server_wrote_meanwhile_is_written_over_when_this_one_takes_the_tab_again(
        registry, cache, tmp_path):
    """A server lets go of a tab, another takes it and writes its own history; the first takes
    the tab back from disk: its next draft must write its history again, not take the file
    for the one it wrote before."""
    from flowclass.ui.drafts import capture, restore
    from flowclass.ui.session import EditorSession

    first, second = DraftStore(tmp_path / "drafts"), DraftStore(tmp_path / "drafts")
    session = edited_session(registry, cache, 2)
    first.write("taken-1234", capture(session, False))
    other = EditorSession(registry, cache)
    restore(other, second.read("taken-1234", history=True))
    other.undo()  # one step to redo: another history
    second.write("taken-1234", capture(other, False))
    again = EditorSession(registry, cache)
    first.restore_into("taken-1234", again)
    assert again.state.redo_stack  # the second server's history, read
    first.write("taken-1234", capture(session, False))  # this server's own history again
    assert first.read("taken-1234", history=True).undo == capture(session, False).undo
    assert first.read("taken-1234", history=True).redo is None
