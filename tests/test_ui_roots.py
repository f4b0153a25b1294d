"""The canvas reads and writes inside its --root folders only: paths typed into the inspector
(absolute, relative with '..', through a symlink) and the run's output folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from nicegui import ui
from nicegui.testing import User
from ui_helpers import CLUSTER_FOLDER, graph_nodes, make_app, page_of, until

from flowclass.ui.canvas import FlowCanvas

pytestmark = pytest.mark.anyio


def path_input(user: User, label: str) -> ui.input:
    return next(e for e in user.find(ui.input).elements if e.props.get("label") == label)


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    """A root folder with a workflow, and a folder of images beside it (outside the root)."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "images").mkdir(parents=True)
    (outside / "secret").mkdir(parents=True)
    shutil.copyfile(CLUSTER_FOLDER, root / "flow.json")
    return root, outside


@pytest.mark.slow
async def test_inspector_paths_outside_the_roots_are_refused(user: User, registry, cache, layout) -> None:
    root, outside = layout
    os.symlink(outside / "secret", root / "link")
    make_app(registry, cache, root, root / "flow.json")
    await user.open("/")
    page = page_of(user)
    user.find(FlowCanvas).trigger("select", {"id": "import"})
    folder = path_input(user, "Folder")

    for typed in (str(outside / "secret"), "../outside/secret", "link", "~"):
        folder.value = typed
        await user.should_see("is outside the folders this canvas may read")
        assert graph_nodes(user)["import"]["status"]["state"] == "invalid", typed
        problem = next(p for p in page.session.problems if p.node == "import")
        assert problem.field == "folder" and str(root) in problem.message, typed

    folder.value = "images"  # inside the root: fine
    await user.should_not_see("is outside the folders")
    assert not [p for p in page.session.problems if p.code == "outside_roots"]

    # an output path: the export folder written outside
    user.find(FlowCanvas).trigger("select", {"id": "export"})
    path_input(user, "Folder").value = str(outside / "written")
    await user.should_see("is outside the folders this canvas may write")
    problem = next(p for p in page.session.problems if p.node == "export")
    assert problem.field == "folder"

    # Run: the export node is left out and nothing is written outside
    page.session.start_run(["export"])
    await user.should_see("cannot run until these are fixed")
    assert not (outside / "written").exists()


@pytest.mark.slow
async def test_an_output_folder_outside_the_roots_stops_the_run(user: User, registry, cache, layout) -> None:
    root, outside = layout
    make_app(registry, cache, root, root / "flow.json")
    await user.open("/")
    page = page_of(user)
    page.session.out_choice = outside / "out"
    page.session.start_run(None)
    await user.should_see("Cannot run: the output folder")
    assert not page.session.runner.running
    assert not (outside / "out").exists()


@pytest.mark.slow
async def test_ready_workflows_read_their_shipped_data(user: User, registry, cache, layout) -> None:
    """A ready workflow opened as a copy reads its own data folder, which lies outside the roots."""
    root, _ = layout
    make_app(registry, cache, root)
    await user.open("/")
    page = page_of(user)
    ready = next(p for p in (CLUSTER_FOLDER.parent).glob("clashifier*.json"))
    assert page.files.open_path(ready, as_copy=True)
    await until(lambda: graph_nodes(user), what="the workflow")
    assert not [p for p in page.session.problems if p.code == "outside_roots"]
