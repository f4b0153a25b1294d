"""The server's tabs: kept in memory while looked at or running, then only on disk."""

from __future__ import annotations

import os
import time

from flowclass.ui.drafts import CLEAN_KEEP, FRESH_EVERY, Draft, DraftStore
from flowclass.ui.session import EditorSession
from flowclass.ui.tabs import DETACHED_KEEP, Tabs


class Clock:
    def __init__(self) -> None:
        self.now = 1e6  # as time.monotonic() is on a machine up for days

    def __call__(self) -> float:
        return self.now


class Page:
    """What a tab needs of a NiceGUI client."""

    def __init__(self) -> None:
        self.has_socket_connection = True
        self.deleted = []

    def on_delete(self, handler) -> None:
        self.deleted.append(handler)

    def close(self) -> None:
        self.has_socket_connection = False
        for handler in self.deleted:
            handler()


def test_a_closed_tab_leaves_memory_after_a_while_but_its_work_stays_on_disk(registry, cache, tmp_path):
    clock = Clock()
    tabs = Tabs(lambda: EditorSession(registry, cache), None, DraftStore(tmp_path / "drafts"), clock=clock)
    page = Page()
    tab = tabs.claim("closed-tab", page)
    tab.session.add_node("toy.number", (0, 0))
    page.close()  # its draft is written as the last page goes
    clock.now += DETACHED_KEEP / 2
    assert tabs.claim(None, Page()) is not tab and "closed-tab" in tabs.tabs  # still in memory
    clock.now += DETACHED_KEEP
    tabs.claim(None, Page())
    assert "closed-tab" not in tabs.tabs
    again = tabs.claim("closed-tab", Page())  # from its draft
    assert again is not tab and again.restored
    assert [n.type for n in again.session.workflow.nodes] == ["toy.number"]


def test_a_closed_tab_whose_draft_cannot_be_written_stays_in_memory(registry, cache, tmp_path):
    """A closed tab left memory after an hour whether or not its draft had been written: with
    the data folder full (here: a file where the drafts folder goes) the unsaved work went
    with it. It stays in memory until its draft is written, then goes as any other."""
    clock = Clock()
    drafts = tmp_path / "drafts"
    drafts.write_text("in the way", encoding="utf-8")
    tabs = Tabs(lambda: EditorSession(registry, cache), None, DraftStore(drafts), clock=clock)
    page = Page()
    tab = tabs.claim("unkept-tab", page)
    tab.session.add_node("toy.number", (0, 0))
    page.close()
    assert tab.write_failed
    clock.now += 2 * DETACHED_KEEP
    tabs.claim(None, Page())
    assert tabs.tabs.get("unkept-tab") is tab  # its work is nowhere else
    drafts.unlink()  # space again
    clock.now += 2 * DETACHED_KEEP
    tabs.claim(None, Page())
    assert "unkept-tab" not in tabs.tabs
    again = tabs.claim("unkept-tab", Page())
    assert [n.type for n in again.session.workflow.nodes] == ["toy.number"]


def test_a_tab_another_server_holds_is_not_offered_as_a_closed_tabs_work(registry, cache, tmp_path):
    """Two servers sharing the cache (two `flowclass ui`): each offered the other's open tabs
    as *closed tabs with unsaved work*; Open made a second live copy of that tab writing the
    same draft (the last writer's edits won, silently), Discard removed the draft under it.
    A tab held by a live server is not offered; once that server lets go of it (it left its
    memory) or dies, it is."""
    first = Tabs(lambda: EditorSession(registry, cache), None, DraftStore(tmp_path / "drafts"), clock=Clock())
    second = Tabs(lambda: EditorSession(registry, cache), None, DraftStore(tmp_path / "drafts"), clock=Clock())
    page = Page()
    tab = first.claim("open-elsewhere", page)
    tab.session.add_node("toy.number", (0, 0))  # unsaved, its draft written at once
    assert [item[0] for item in first.drafts.unsaved()] == ["open-elsewhere"]
    assert second.closed_with_unsaved_work() == []
    tab.lock.release()  # that server died (the OS drops its locks) or let go of the tab
    assert [item[0] for item in second.closed_with_unsaved_work()] == ["open-elsewhere"]
    second.discard("open-elsewhere")
    assert first.drafts.unsaved() == [] and not list((tmp_path / "drafts").iterdir())
    assert not list((tmp_path / "drafts_held").iterdir())  # its lock file went with it


def test_a_fresh_copy_is_not_forgotten_before_its_page_comes(registry, cache, tmp_path):
    tabs = Tabs(lambda: EditorSession(registry, cache), None, DraftStore(tmp_path / "drafts"), clock=Clock())
    tab = tabs.claim("shown-tab", Page())
    copy = tabs._new("copied-tab", copy_of=None)  # pylint: disable=protected-access
    tabs.claim("another-tab", Page())
    assert tabs.tabs["copied-tab"] is copy and tabs.tabs["shown-tab"] is tab


def test_a_draft_from_a_server_with_other_roots_writes_nothing_outside_these(registry, cache, tmp_path):
    """Restarted with another --root, a tab's draft still names its old file and output
    folder: Save must not write that file, nor a run that folder (they are outside now)."""
    from flowclass.ui.browse import Roots
    from flowclass.ui.drafts import Draft
    from flowclass.workflow_file import dumps
    from flowclass.workflow import Workflow

    old, new = tmp_path / "projA", tmp_path / "projB"
    old.mkdir()
    new.mkdir()
    text = dumps(Workflow(name="Mine"))
    drafts = DraftStore(tmp_path / "drafts")
    drafts.write("old-roots-tab", Draft(workflow=text, path=str(old / "mine.json"), saved_text="",
                                        untitled_out=str(old / "flowclass-out" / "untitled-x")))
    roots = Roots([new])
    tabs = Tabs(lambda: EditorSession(registry, cache, roots=roots), roots, drafts, clock=Clock())
    tab = tabs.claim("old-roots-tab", Page())
    assert tab.restored and tab.session.workflow.name == "Mine"  # the work is kept...
    assert tab.session.state.path is None and tab.session.state.dirty  # ...as an unsaved copy
    assert roots.allows(tab.session.out_dir())  # its runs write inside these roots
    assert not any(p.code == "outside_roots" for p in tab.session.problems)


WORKFLOW = '{"schema_version": 1, "name": "Mine", "nodes": [], "edges": []}\n'


def aged(store: DraftStore, tab_id: str, days: float) -> None:
    then = time.time() - days * 86400
    os.utime(store.file(tab_id), (then, then))


def test_drafts_of_closed_tabs_with_nothing_unsaved_go_after_a_while_and_unsaved_work_never(
        registry, cache, tmp_path):
    """Every tab ever opened left its draft in the cache for good (hundreds after a few weeks
    of use). A draft with nothing unsaved that no server wrote or held for CLEAN_KEEP now goes;
    one with unsaved work, one that cannot be read, a recent one and one of a tab this
    server holds stay."""
    store = DraftStore(tmp_path / "drafts")
    old_days = CLEAN_KEEP / 86400 + 1
    for tab_id, saved in [("clean-old", WORKFLOW), ("unsaved-old", ""), ("clean-new", WORKFLOW),
                          ("held-clean", WORKFLOW)]:
        store.write(tab_id, Draft(workflow=WORKFLOW, saved_text=saved))
    store.file("broken-old").write_text('{"workflow": ', encoding="utf-8")
    for tab_id in ("clean-old", "unsaved-old", "held-clean", "broken-old"):
        aged(store, tab_id, old_days)
    aged(store, "clean-new", old_days - 2)
    tabs = Tabs(lambda: EditorSession(registry, cache), None, store, clock=Clock())
    held = tabs._new("held-clean")  # pylint: disable=protected-access  (restored by a restarted server)
    tabs.claim(None, Page())
    tabs.pruning.join(timeout=30)
    assert sorted(p.stem for p in store.folder.glob("*.json")) == [
        "broken-old", "clean-new", "held-clean", "unsaved-old"]
    assert [p.name for p in store.folder.iterdir() if p.suffix not in (".json", ".undo")] == []
    assert held.restored and [tab for tab, _, _ in store.unsaved()] == ["unsaved-old"]


def test_a_draft_another_server_holds_or_writes_meanwhile_is_never_pruned(registry, cache, tmp_path, monkeypatch):
    """Two servers share one cache: one prunes while the other holds a tab that has not
    changed for weeks (its page open all along), or writes a tab's draft again just as it is
    looked at."""
    store = DraftStore(tmp_path / "drafts")
    clock = Clock()
    first = Tabs(lambda: EditorSession(registry, cache), None, store, clock=clock)
    tab = first.claim("open-for-weeks", Page())
    first.pruning.join(timeout=30)
    first.keep(tab)
    aged(store, "open-for-weeks", CLEAN_KEEP / 86400 + 1)
    clock.now += FRESH_EVERY + 1
    first.keep(tab)  # as its page's timer does: unchanged, marked as held
    second = Tabs(lambda: EditorSession(registry, cache), None, DraftStore(store.folder), clock=Clock())
    second.claim(None, Page())
    second.pruning.join(timeout=30)
    assert store.read("open-for-weeks") is not None

    store.write("taken-up-again", Draft(workflow=WORKFLOW, saved_text=WORKFLOW))
    aged(store, "taken-up-again", CLEAN_KEEP / 86400 + 1)
    looked = DraftStore._forgotten  # pylint: disable=protected-access

    def written_as_looked_at(self, file, now):
        forgotten = looked(self, file, now)
        if file.name == "taken-up-again.json":  # another server writes unsaved work into it now
            store.write("taken-up-again", Draft(workflow=WORKFLOW.replace("Mine", "Edited"), saved_text=WORKFLOW))
        return forgotten

    monkeypatch.setattr(DraftStore, "_forgotten", written_as_looked_at)
    assert store.prune(set()) == []
    assert store.read("taken-up-again").title == "Edited"
    assert [p.name for p in store.folder.iterdir() if p.suffix not in (".json", ".undo")] == []

    # a pruning process killed with a draft moved aside: the next one puts it back
    store.file("taken-up-again").rename(store.folder / ".taken-up-again.0a1b2c3d.pruned")
    monkeypatch.undo()
    assert store.prune(set()) == []  # back, and not old
    assert store.read("taken-up-again").title == "Edited"
    assert [p.name for p in store.folder.iterdir() if p.suffix not in (".json", ".undo")] == []


def test_a_tab_another_server_holds_opened_by_its_address_is_a_copy(registry, cache, tmp_path):
    """Two servers share the cache. A tab the first holds was opened on the second by its
    address (typed, or from the history): the second restored it from its draft, and two live
    copies wrote one draft (the last writer's edits won, silently). The second now shows a
    copy of its own, with the work so far, and says so; the first's draft is the first's."""
    first = Tabs(lambda: EditorSession(registry, cache), None, DraftStore(tmp_path / "drafts"), clock=Clock())
    second = Tabs(lambda: EditorSession(registry, cache), None, DraftStore(tmp_path / "drafts"), clock=Clock())
    tab = first.claim("open-elsewhere", Page())
    tab.session.add_node("toy.number", (0, 0))
    shown = second.claim("open-elsewhere", Page())
    assert shown.id != "open-elsewhere" and "open-elsewhere" not in second.tabs
    assert [n.type for n in shown.session.workflow.nodes] == ["toy.number"] and shown.session.unsaved
    assert "another FlowClass server" in shown.notice
    shown.session.add_node("toy.number", (0, 200))
    tab.session.add_node("toy.add", (200, 0))
    kept = first.drafts.restore_into("open-elsewhere", EditorSession(registry, cache))
    assert kept is not None and "toy.add" in kept.workflow and kept.workflow.count("toy.number") == 1
    assert second.drafts.read(shown.id).workflow.count("toy.number") == 2
    tab.lock.release()  # the first server let go of it (or died): the address is that tab again
    assert second.claim("open-elsewhere", Page()).id == "open-elsewhere"


def start_a_wait(session: EditorSession, out, steps: int) -> None:
    """Number -> Wait (``steps`` milliseconds or more), run into ``out``."""
    from flowclass.workflow import PortRef

    session.out_choice = out
    session.add_node("toy.number", (0, 0))
    session.add_node("toy.wait", (300, 0))
    session.connect(PortRef("toy_number", "number"), PortRef("toy_wait", "number"))
    session.set_param("toy_wait", "steps", steps)
    session.start_run(None)

def test_discarding_a_closed_tab_whose_run_goes_on_drops_it_from_memory_too(registry, cache, tmp_path):
    """File > Unsaved work of closed tabs > Discard, on a closed tab whose run still went on:
    the draft went but the tab stayed in memory (not idle), so its address showed the
    discarded work again, and its next write brought the draft back. The run stops (what it
    finished is kept) and the tab goes."""
    tabs = Tabs(lambda: EditorSession(registry, cache), None, DraftStore(tmp_path / "drafts"), clock=Clock())
    page = Page()
    tab = tabs.claim("closed-running", page)
    session = tab.session
    start_a_wait(session, tmp_path / "out", steps=100_000)
    assert session.runner.running
    page.close()
    assert [item[0] for item in tabs.closed_with_unsaved_work()] == ["closed-running"]
    thread = session.runner.thread
    tabs.discard("closed-running")
    assert "closed-running" not in tabs.tabs and tabs.drafts.read("closed-running") is None
    assert session.runner.cancel_event.is_set()
    thread.join(timeout=30)
    assert not thread.is_alive()
    tabs.keep(tab)  # a timer of the gone tab, late: writes nothing back
    again = tabs.claim("closed-running", Page())
    assert not again.session.workflow.nodes and not again.restored


def test_a_draft_this_flowclass_cannot_read_is_left_as_it_was(registry, cache, tmp_path):
    """A tab's draft written by a newer FlowClass (two installs sharing the data folder, or one
    taken back to an older version) does not load here: the tab started afresh under the same
    id, and its first write replaced the draft, and the unsaved work in it, with an empty
    workflow. The page now gets a new tab, says why, and the draft stays for the FlowClass
    that wrote it (and in the list of closed tabs' work, where Discard can remove it)."""
    store = DraftStore(tmp_path / "drafts")
    newer = WORKFLOW.replace('"schema_version": 1', '"schema_version": 99')
    store.write("from-newer", Draft(workflow=newer, saved_text=""))
    tabs = Tabs(lambda: EditorSession(registry, cache), None, store, clock=Clock())
    tab = tabs.claim("from-newer", Page())
    assert tab.id != "from-newer" and not tab.session.workflow.nodes
    assert "newer FlowClass" in tab.notice and "from-newer.json" in tab.notice
    tab.session.add_node("toy.number", (0, 0))
    tabs.keep(tab)
    assert store.read("from-newer").workflow == newer
    assert "from-newer" in [item[0] for item in tabs.closed_with_unsaved_work()]


def test_a_run_that_ends_after_its_page_left_lets_the_tab_go_and_is_not_said_interrupted(registry, cache,
                                                                                         tmp_path):
    """A run's end is taken in by the page's timer; a tab whose page had gone never took it in,
    so the tab stayed 'running' for good: never leaving memory, its draft saying a run went on,
    and a restarted server said *The last run was interrupted ...* of a run that had finished."""
    clock, store = Clock(), DraftStore(tmp_path / "drafts")
    tabs = Tabs(lambda: EditorSession(registry, cache), None, store, clock=clock)
    page = Page()
    tab = tabs.claim("ran-alone", page)
    session = tab.session
    start_a_wait(session, tmp_path / "out", steps=20)
    page.close()  # the tab is closed while its run goes on
    assert store.read("ran-alone").run_going
    session.runner.thread.join(timeout=60)  # the run ends, nobody looking
    clock.now += DETACHED_KEEP + 1
    tabs.claim(None, Page())
    assert "ran-alone" not in tabs.tabs
    assert not store.read("ran-alone").run_going
    restarted = Tabs(lambda: EditorSession(registry, cache), None, store, clock=Clock())
    again = restarted.claim("ran-alone", Page())
    assert again.id == "ran-alone" and "interrupted" not in again.session.summary


def test_a_closed_tab_whose_work_could_not_be_written_is_offered_from_memory(registry, cache, tmp_path, monkeypatch):
    """A tab whose newest work could not be written (too big, a full disk) stays in memory,
    but the list of closed tabs' work read only the drafts on disk: where the last draft
    written was clean (the first edit made it too big), a new tab never said the work
    existed, and only the old address found it. Such a tab is listed from memory, with
    its work as it is now, until its draft is written."""
    from flowclass.ui import drafts as drafts_module

    store = DraftStore(tmp_path / "drafts")
    tabs = Tabs(lambda: EditorSession(registry, cache), None, store, clock=Clock())
    page = Page()
    tab = tabs.claim("too-big-tab", page)
    tabs.keep(tab)
    assert not store.read("too-big-tab").dirty
    monkeypatch.setattr(drafts_module, "DRAFT_BYTES", len(store.file("too-big-tab").read_text()) + 100)
    for i in range(4):
        tab.session.add_node("toy.number", (0, 200 * i))
    assert tab.write_failed and not store.read("too-big-tab").dirty
    assert tabs.closed_with_unsaved_work() == []  # its page still shows it
    page.close()
    (listed,) = tabs.closed_with_unsaved_work()
    assert listed[0] == "too-big-tab" and len(listed[1]._node_ids()) == 4  # pylint: disable=protected-access
    assert tabs.claim("too-big-tab", Page()) is tab  # Open goes to it
    tabs.discard("too-big-tab")  # reopened: not a closed tab's any more
    assert "too-big-tab" in tabs.tabs
