"""The canvas never loses work: two tabs saving one file, unsaved outputs, reloads.

NiceGUI's simulated users (no browser); the real-browser journeys are in
test_keep_work_browser.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import pytest
from nicegui.testing import User
from ui_helpers import CLUSTER_FOLDER, make_app, page_of, until

pytestmark = pytest.mark.anyio


def clusters_in(flow: Path) -> int:
    doc = json.loads(flow.read_text(encoding="utf-8"))
    return next(n for n in doc["nodes"] if n["id"] == "cluster")["params"]["n_clusters"]


def batch_size_in(flow: Path) -> int:
    doc = json.loads(flow.read_text(encoding="utf-8"))
    return next(n for n in doc["nodes"] if n["id"] == "embed")["params"]["batch_size"]


async def two_tabs_saving(create_user: Callable[[], User], registry, cache, tmp_path: Path
                          ) -> tuple[User, Path]:
    """Tabs A and B open one workflow; B sets 4 clusters and saves; A sets the batch size and
    presses Save. Returns A, asked what to do, and the file."""
    flow = tmp_path / "flow.json"
    shutil.copyfile(CLUSTER_FOLDER, flow)
    make_app(registry, cache, tmp_path, flow)
    a, b = create_user(), create_user()
    await a.open("/")
    await b.open("/")
    page_of(b).set_param("cluster", "n_clusters", 4)
    b.find(marker="file-save").click()
    await until(lambda: clusters_in(flow) == 4, what="B's save")
    page_of(a).set_param("embed", "batch_size", 16)
    a.find(marker="file-save").click()
    await a.should_see("changed on disk since this tab opened or saved it")
    return a, flow


async def test_save_over_a_file_changed_in_another_tab_asks_first(create_user, registry, cache,
                                                                  tmp_path: Path) -> None:
    a, flow = await two_tabs_saving(create_user, registry, cache, tmp_path)
    assert (clusters_in(flow), batch_size_in(flow)) == (4, 8)  # nothing written while it asks
    a.find(marker="conflict-overwrite").click()
    await until(lambda: batch_size_in(flow) == 16, what="the overwrite")
    assert clusters_in(flow) != 4  # the user chose to: A's version, whole
    page_of(a).set_param("embed", "batch_size", 32)  # A's own file now: saved without asking
    a.find(marker="file-save").click()
    await until(lambda: batch_size_in(flow) == 32, what="the second save")


async def test_reload_takes_the_other_tabs_version(create_user, registry, cache, tmp_path: Path) -> None:
    a, flow = await two_tabs_saving(create_user, registry, cache, tmp_path)
    a.find(marker="conflict-reload").click()
    page = page_of(a)
    await until(lambda: page.workflow.node("cluster").params["n_clusters"] == 4, what="the reload")
    assert page.workflow.node("embed").params["batch_size"] == 8 and not page.state.dirty
    assert (clusters_in(flow), batch_size_in(flow)) == (4, 8)


async def test_save_as_a_copy_keeps_both(create_user, registry, cache, tmp_path: Path) -> None:
    a, flow = await two_tabs_saving(create_user, registry, cache, tmp_path)
    a.find(marker="conflict-copy").click()
    await a.should_see("Save the workflow as")
    (name,) = a.find(marker="file-name").elements
    name.value = "mine"
    a.find(marker="dialog-ok").click()
    copy = tmp_path / "mine.json"
    await until(copy.is_file, what="the copy")
    assert (clusters_in(flow), batch_size_in(flow)) == (4, 8)
    assert batch_size_in(copy) == 16 and page_of(a).state.path == copy


async def test_an_editor_changing_the_file_is_noticed_too(user: User, registry, cache, tmp_path: Path) -> None:
    flow = tmp_path / "flow.json"
    shutil.copyfile(CLUSTER_FOLDER, flow)
    make_app(registry, cache, tmp_path, flow)
    await user.open("/")
    page = page_of(user)
    flow.write_text(flow.read_text(encoding="utf-8").replace('"batch_size": 8', '"batch_size": 9'),
                    encoding="utf-8")  # an editor, or `sed -i`
    page.set_param("cluster", "n_clusters", 3)
    user.find(marker="file-save").click()
    await user.should_see("changed on disk")
    user.find(marker="conflict-cancel").click()
    await user.should_not_see("changed on disk")
    assert batch_size_in(flow) == 9 and page.state.dirty
