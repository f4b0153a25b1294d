"""A tab's draft too big to keep: never written half, never dropped in silence."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
from nicegui.testing import User
from test_ui_keep_work import leave
from ui_helpers import make_app, page_of

from flowclass.ui import drafts, tabs as tabs_module
from flowclass.workflow_file import dumps

pytestmark = pytest.mark.anyio


async def test_a_draft_over_the_cap_is_not_written_and_the_page_says_to_save_the_workflow(
        create_user: Callable[[], User], registry, cache, tmp_path: Path, monkeypatch) -> None:
    """Drafts other than the undo history had no cap: each change wrote a huge draft whole,
    filling the disk a change at a time. Over the cap the draft is not written (the last one
    that fitted stays), the page says so and what to do, once, and an unchanged too-big draft
    is not serialised again every half second, a reload says it again (the work is still only
    in memory); the tab keeps its work in memory (it does not leave it with its page), and is
    written again once it fits."""
    config = make_app(registry, cache, tmp_path)
    user = create_user()
    await user.open("/?tab=too-big-tab")
    page = page_of(user)
    tab = page.tab
    page.add_node("toy.number", (0, 0))
    store = config.tabs.drafts
    fitted = store.read(tab.id)
    monkeypatch.setattr(drafts, "DRAFT_BYTES", len(store.file(tab.id).read_text(encoding="utf-8")) + 500)
    writes = []
    monkeypatch.setattr(store, "write", lambda *a, written=store.write: writes.append(a) or written(*a))
    for i in range(1, 6):
        page.add_node("toy.number", (0, 200 * i))
    await user.should_see("Save the workflow to a file")
    assert store.read(tab.id).workflow != fitted.workflow  # the ones that fitted were written
    kept_on_disk = store.read(tab.id)
    assert len(kept_on_disk.workflow) < len(dumps(page.session.workflow))
    tried = len(writes)
    config.tabs.keep(tab)
    config.tabs.keep(tab)
    assert len(writes) == tried  # unchanged: not tried again
    assert tab.write_failed
    leave(user)
    reloaded = create_user()  # F5
    await reloaded.open("/?tab=too-big-tab")
    assert page_of(reloaded).tab is tab
    await reloaded.should_see("Save the workflow to a file")
    monkeypatch.setattr(tabs_module, "DETACHED_KEEP", 0.0)
    tab.pages.clear()
    config.tabs._forget_idle()  # pylint: disable=protected-access
    assert config.tabs.tabs.get(tab.id) is tab  # its newest work is nowhere else: kept in memory

    session = page.session
    for _ in range(5):
        session.undo()  # back to what fitted: written at once
    assert not tab.write_failed and store.read(tab.id).workflow == dumps(session.workflow)
