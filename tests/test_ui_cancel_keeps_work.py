"""Cancel, at any step of File ▸ Open and Save As, leaves the tab's unsaved work as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
from nicegui.testing import User
from ui_helpers import make_app, page_of, until

from flowclass.workflow_file import dumps

pytestmark = pytest.mark.anyio


@pytest.mark.slow  # held already: a guard (0.8 s)
async def test_cancel_anywhere_in_open_or_save_as_keeps_the_unsaved_work(user: User, registry, cache,
                                                                          tmp_path: Path) -> None:
    """Open asks *Discard them?* before its file dialog: Cancel there, or Discard and then
    Cancel in the file dialog, and Cancel in Save As's dialog must each leave the edits, the
    unsaved mark, Undo, the file and the draft as they were (a discard confirmed for an Open
    that never happened must not happen either)."""
    config = make_app(registry, cache, tmp_path)
    await user.open("/")
    page = page_of(user)
    page.add_node("toy.number", (0, 0))
    flow = tmp_path / "mine.json"
    page.state.save(flow)
    on_disk = flow.read_bytes()
    page.set_param("toy_number", "value", 7)  # unsaved
    edited = dumps(page.state.workflow)

    def as_it_was() -> None:
        assert dumps(page.state.workflow) == edited and page.state.dirty and page.state.path == flow
        assert flow.read_bytes() == on_disk and sorted(p.name for p in tmp_path.glob("*.json")) == ["mine.json"]

    for clicks in ([("file-open", "has unsaved changes. Discard them?"), ("confirm-cancel", None)],
                   [("file-open", "Discard them?"), ("confirm-ok", "Open a workflow"), ("dialog-cancel", None)],
                   [("file-save-as", "Save the workflow as"), ("dialog-cancel", None)]):
        for marker, shown in clicks:
            user.find(marker=marker).click()
            if shown:
                await user.should_see(shown)
        for _, shown in clicks:
            if shown:
                await user.should_not_see(shown)
        as_it_was()

    await until(lambda: config.tabs.drafts.read(page.tab.id).workflow == edited, what="the draft")
    assert config.tabs.drafts.read(page.tab.id).dirty
    assert page.session.undo() and page.state.workflow.node("toy_number").params["value"] != 7
