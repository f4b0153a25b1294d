"""The server's tabs: kept in memory while looked at or running, then only on disk."""

from __future__ import annotations

from flowclass.ui.drafts import DraftStore
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
