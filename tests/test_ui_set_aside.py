"""Work the user let go of (Discard clicked through, *Reload the file*) can still be brought
back, painted strokes included; and a tab learns when its file was saved elsewhere.

NiceGUI's simulated users (no browser). Strokes are kept as the Draw labels view keeps them
(``keep_view_work``): painting them for real needs a run (test_pixel_viewers.py).
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from test_ui_keep_work import clusters_in, two_tabs_saving
from ui_helpers import CLUSTER_FOLDER, LOADS, make_app, page_of, until

from flowclass.ui.drafts import DraftStore

pytestmark = pytest.mark.anyio

STROKES = [["sky", 4, [[1, 2], [30, 40]]]]  # what the view keeps: not read by the tab


def set_aside(cache, title: str) -> list:
    """The closed tabs' drafts (this server holds none of them) named ``title``."""
    return [draft for _, draft, _ in DraftStore(cache.store_dir("drafts")).unsaved() if draft.title == title]


async def open_flow(user, registry, cache, tmp_path: Path) -> Path:
    """The user opens the canvas on a copy of cluster_folder.json (flow.json)."""
    flow = tmp_path / "flow.json"
    shutil.copyfile(CLUSTER_FOLDER, flow)
    make_app(registry, cache, tmp_path, flow)
    await user.open("/")
    return flow


async def test_new_after_discard_sets_the_work_and_strokes_aside_to_bring_back(create_user, registry, cache,
                                                                            tmp_path: Path) -> None:
    """File ▸ New's *Discard* dropped the edits and the strokes not saved for good, one
    clicked-through question away. The question says where they go; they are listed under
    File ▸ Unsaved work of closed tabs, and opening them there brings back both."""
    user = create_user()
    flow = await open_flow(user, registry, cache, tmp_path)
    page = page_of(user)
    page.set_param("cluster", "n_clusters", 4)
    page.session.keep_view_work("cluster", "strokes", STROKES)
    user.find(marker="file-new").click()
    await user.should_see("you can bring them back from File ▸ Unsaved work of closed tabs")
    user.find(marker="confirm-ok").click()
    await until(lambda: not page.workflow.nodes, what="the new workflow")
    (kept,) = set_aside(cache, "flow.json")
    assert kept.view_work == {"cluster": {"strokes": STROKES}} and kept.dirty
    assert clusters_in(flow) != 4  # the file as it was: nothing saved on the way

    user.find(marker="file-closed-work").click()
    await user.should_see("flow.json")
    (tab_id,) = [tab_id for tab_id, draft, _ in page.config.tabs.closed_with_unsaved_work()]
    back = create_user()
    await back.open(f"/?tab={tab_id}")  # where Open in that list goes
    again = page_of(back)
    assert again.workflow.node("cluster").params["n_clusters"] == 4
    assert again.session.kept_view_work("cluster", "strokes") == STROKES and again.session.unsaved


async def test_reload_the_file_sets_unsaved_strokes_aside(create_user, registry, cache, tmp_path: Path) -> None:
    """*Reload the file* keeps the tab's workflow one Undo away, but its strokes not saved went
    with the reload. They are set aside with the tab's version, to be opened again."""
    a, flow = await two_tabs_saving(create_user, registry, cache, tmp_path)
    page = page_of(a)
    page.session.keep_view_work("embed", "strokes", STROKES)
    a.find(marker="conflict-reload").click()
    await until(lambda: page.workflow.node("cluster").params["n_clusters"] == 4, what="the reload")
    (kept,) = set_aside(cache, "flow.json")
    assert kept.view_work == {"embed": {"strokes": STROKES}}


async def test_nothing_unsaved_sets_nothing_aside(user, registry, cache, tmp_path: Path) -> None:
    await open_flow(user, registry, cache, tmp_path)
    user.find(marker="file-new").click()
    await until(lambda: not page_of(user).workflow.nodes, what="the new workflow")
    assert set_aside(cache, "flow.json") == []


@pytest.mark.slow  # waits for the page's half-second timer
async def test_a_tab_is_told_when_its_file_is_saved_in_another(create_user, registry, cache,
                                                             tmp_path: Path) -> None:
    """Tab A learned that tab B had saved the same file only at its own Save. It is told
    while it goes on editing, once, and keeps its own version."""
    a, flow = await two_tabs_saving(create_user, registry, cache, tmp_path, asked=False)
    await a.should_see("flow.json was just saved by another tab or program. This tab shows its own version",
                       retries=LOADS)
    page = page_of(a)
    assert page.workflow.node("embed").params["batch_size"] == 16  # A's edit, kept
    assert page.workflow.node("cluster").params["n_clusters"] != 4
    await asyncio.sleep(1.5)  # three more looks of the page's timer: told once for that version
    assert sum("was just saved by another" in message for message in a.notify.messages) == 1
    a.find(marker="file-save").click()  # Save still asks
    await a.should_see("changed on disk since this tab opened or saved it")


@pytest.mark.slow  # waits for the page's half-second timer
async def test_a_tabs_own_save_is_not_told_as_anothers(user, registry, cache, tmp_path: Path) -> None:
    flow = await open_flow(user, registry, cache, tmp_path)
    page_of(user).set_param("cluster", "n_clusters", 4)
    user.find(marker="file-save").click()
    await until(lambda: clusters_in(flow) == 4, what="the save")
    await asyncio.sleep(1.5)  # three looks of the page's timer
    assert not any("was just saved by another" in message for message in user.notify.messages)
