"""The canvas app's Python side, with NiceGUI's simulated user (no browser).

Each test builds the app for a temporary folder, opens the page and acts as a user
would: through canvas events (what the browser would send), the palette, the
inspector's widgets and the toolbar.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Callable

import pytest
from nicegui import ui
from nicegui.testing import User

from flowclass.library import ready_workflows_dir
from flowclass.ui.app import setup
from flowclass.ui.browse import Roots
from flowclass.ui.canvas import FlowCanvas
from flowclass.ui.page import AppConfig, EditorPage
from flowclass.workflow_file import dumps, load, save

CLUSTER_FOLDER = ready_workflows_dir() / "cluster_folder.json"
pytestmark = pytest.mark.anyio


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def make_app(registry, cache, workspace: Path, workflow: Path | None = None) -> AppConfig:
    config = AppConfig(registry=registry, cache=cache, roots=Roots([workspace]), workflow=workflow)
    setup(config)
    return config


def canvas_of(user: User) -> FlowCanvas:
    (canvas,) = user.find(FlowCanvas).elements
    return canvas


def page_of(user: User) -> EditorPage:
    """The tab's EditorPage, reached through the canvas's event handlers."""
    canvas = canvas_of(user)
    for listener in canvas._event_listeners.values():  # pylint: disable=protected-access
        owner = getattr(listener.handler, "__self__", None)
        if isinstance(owner, EditorPage):
            return owner
    raise AssertionError("no EditorPage behind the canvas")


def graph_nodes(user: User) -> dict[str, dict]:
    return {n["id"]: n for n in canvas_of(user).graph["nodes"]}


async def until(condition: Callable[[], object], timeout: float = 60.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")

        await asyncio.sleep(0.05)


def copy_workflow(source: Path, folder: Path, name: str = "flow.json") -> Path:
    target = folder / name
    shutil.copyfile(source, target)
    return target


async def test_palette_lists_every_registered_node_type_by_category(user: User, registry, cache,
                                                                    workspace: Path) -> None:
    make_app(registry, cache, workspace)
    await user.open("/")
    for category, node_types in registry.by_category():
        await user.should_see(category)
        for node_type in node_types:
            await user.should_see(node_type.title)
    assert canvas_of(user).catalogue == registry.describe()


async def test_build_connect_refuse_undo_redo(user: User, registry, cache, workspace: Path) -> None:
    make_app(registry, cache, workspace)
    await user.open("/")
    found = user.find(FlowCanvas)
    found.trigger("add_node", {"type": "sample_images", "position": {"x": 0, "y": 0}})
    found.trigger("add_node", {"type": "embed", "position": {"x": 300, "y": 0}})
    found.trigger("add_node", {"type": "distances", "position": {"x": 600, "y": 0}})
    assert set(graph_nodes(user)) == {"sample_images", "embed", "distances"}
    assert graph_nodes(user)["embed"]["status"]["state"] == "invalid"  # its input is not connected yet

    found.trigger("connect", {"from": {"node": "sample_images", "port": "images"},
                              "to": {"node": "embed", "port": "images"}})
    assert canvas_of(user).graph["edges"] == [{"from": {"node": "sample_images", "port": "images"},
                                               "to": {"node": "embed", "port": "images"}}]
    assert graph_nodes(user)["embed"]["status"]["state"] != "invalid"

    # images into an embeddings input: refused, with the reason, and no edge
    found.trigger("connect", {"from": {"node": "sample_images", "port": "images"},
                              "to": {"node": "distances", "port": "embeddings"}})
    await user.should_see("gives Images, but input 'Embeddings' takes Embeddings")
    assert len(canvas_of(user).graph["edges"]) == 1

    page = page_of(user)
    assert page.state.dirty
    page.undo()
    assert canvas_of(user).graph["edges"] == []
    page.undo()
    assert set(graph_nodes(user)) == {"sample_images", "embed"}
    page.redo()
    page.redo()
    assert set(graph_nodes(user)) == {"sample_images", "embed", "distances"}
    assert len(canvas_of(user).graph["edges"]) == 1

    found.trigger("select", {"id": "embed"})
    found.trigger("shortcut", {"key": "duplicate"})
    await until(lambda: "embed_2" in graph_nodes(user), what="the duplicate")
    assert {"from": {"node": "sample_images", "port": "images"}, "to": {"node": "embed_2", "port": "images"}} \
        in canvas_of(user).graph["edges"]
    found.trigger("delete", {"nodes": ["embed_2"], "edges": []})
    assert "embed_2" not in graph_nodes(user)


async def test_palette_click_adds_a_node(user: User, registry, cache, workspace: Path) -> None:
    make_app(registry, cache, workspace)
    await user.open("/")
    user.find(marker="palette-hierarchical_clustering").click()
    assert [n["type"] for n in canvas_of(user).graph["nodes"]] == ["hierarchical_clustering"]


async def test_inspector_edits_validate_on_the_field(user: User, registry, cache, workspace: Path) -> None:
    flow = copy_workflow(CLUSTER_FOLDER, workspace)
    make_app(registry, cache, workspace, flow)
    await user.open("/")
    user.find(FlowCanvas).trigger("select", {"id": "cluster"})
    await user.should_see("Number of clusters")
    number = next(e for e in user.find(ui.number).elements if e.props.get("label") == "N clusters")
    number.value = 0
    page = page_of(user)
    assert page.state.workflow.node("cluster").params["n_clusters"] == 0
    await user.should_see("expected an integer in [1, 100000]; got 0")
    assert graph_nodes(user)["cluster"]["status"]["state"] == "invalid"
    number.value = 4
    await user.should_not_see("expected an integer in [1, 100000]")
    assert graph_nodes(user)["cluster"]["status"]["state"] != "invalid"
    assert page.state.workflow.node("cluster").params["n_clusters"] == 4

    # shown_when: the distance threshold appears only once the cut is by distance
    distance_row = page.inspector.fields["distance"].row
    assert not distance_row.visible
    select = next(e for e in user.find(ui.select).elements if e.props.get("label") == "Cut")
    select.value = "distance"
    assert distance_row.visible
    page.undo()
    assert page.state.workflow.node("cluster").params["cut"] == "n_clusters"
    page.undo()  # the n_clusters edits (0 then 4) were one undo step
    assert page.state.workflow.node("cluster").params["n_clusters"] == 10


async def test_save_and_reopen_give_the_same_json(user: User, registry, cache, workspace: Path) -> None:
    flow = copy_workflow(CLUSTER_FOLDER, workspace)
    original = flow.read_bytes()
    make_app(registry, cache, workspace, flow)
    await user.open("/")
    page = page_of(user)
    assert not page.state.dirty
    await page.files.save()  # unchanged: byte for byte the same file
    assert flow.read_bytes() == original

    user.find(FlowCanvas).trigger("move", {"moves": [{"id": "embed", "position": {"x": 320, "y": 40}}]})
    await user.should_see("unsaved changes")
    user.find(FlowCanvas).trigger("shortcut", {"key": "save"})
    await user.should_not_see("unsaved changes")
    assert load(flow, registry).node("embed").position == (320.0, 40.0)
    assert flow.read_text() == dumps(page.state.workflow)

    page.files.open_path(flow)  # reopen: same workflow, clean, same bytes when saved again
    saved = flow.read_bytes()
    await page.files.save()
    assert flow.read_bytes() == saved
    assert not page.state.dirty


async def test_save_as_names_a_new_file_inside_the_roots(user: User, registry, cache, workspace: Path) -> None:
    make_app(registry, cache, workspace)
    await user.open("/")
    page = page_of(user)
    page.files.open_path(CLUSTER_FOLDER, as_copy=True)  # a ready workflow opens as an unsaved copy
    assert page.state.path is None and page.state.dirty
    (workspace / "sub").mkdir()
    user.find(marker="file-save-as").click()
    await user.should_see("Save the workflow as")
    user.find(marker="entry-sub").click()  # into the subfolder
    (name,) = user.find(marker="file-name").elements
    assert name.value == "cluster_a_folder_of_images.json"
    name.value = "mine"
    user.find(marker="dialog-ok").click()
    await until(lambda: not page.state.dirty, what="the save")
    target = workspace / "sub" / "mine.json"
    assert target.read_text() == CLUSTER_FOLDER.read_text()
    assert page.state.path == target and not page.state.dirty
    assert page.out_dir() == workspace / "sub" / "flowclass-out" / "mine"


async def test_unknown_node_type_opens_as_placeholder(user: User, registry, cache, workspace: Path) -> None:
    doc = json.loads(CLUSTER_FOLDER.read_text())
    doc["nodes"].append({"id": "classify", "type": "someone.classifier", "version": 3, "title": "",
                         "position": {"x": 1200, "y": 300}, "params": {"model": "m.skops", "k": 5}})
    doc["edges"].append({"from": {"node": "embed", "port": "embeddings"},
                         "to": {"node": "classify", "port": "features"}})
    flow = workspace / "with_plugin.json"
    flow.write_text(json.dumps(doc, indent=2) + "\n")
    make_app(registry, cache, workspace, flow)
    await user.open("/")
    node = graph_nodes(user)["classify"]
    assert node["placeholder"] is True
    assert "unknown node type 'someone.classifier'" in node["message"].lower()
    assert "install the plugin" in node["message"].lower()
    assert not graph_nodes(user)["cluster"]["placeholder"]
    user.find(FlowCanvas).trigger("select", {"id": "classify"})
    await user.should_see("model = 'm.skops'")

    page = page_of(user)  # the rest still edits and saves; the placeholder is kept as it was
    page.set_param("cluster", "n_clusters", 3)
    await page.files.save()
    saved = json.loads(flow.read_text())
    assert saved["nodes"][-1] == doc["nodes"][-1]
    assert saved["edges"][-1] == doc["edges"][-1]
    assert saved["nodes"][3]["params"]["n_clusters"] == 3


async def test_tabs_do_not_share_graphs(create_user: Callable[[], User], registry, cache, workspace: Path) -> None:
    flow = copy_workflow(CLUSTER_FOLDER, workspace)
    make_app(registry, cache, workspace, flow)
    first, second = create_user(), create_user()
    await first.open("/")
    await second.open("/")
    first.find(FlowCanvas).trigger("delete", {"nodes": ["export", "table"], "edges": []})
    second.find(FlowCanvas).trigger("add_node", {"type": "sample_images", "position": {"x": 0, "y": 300}})
    assert set(graph_nodes(first)) == {"import", "embed", "distances", "cluster"}
    assert set(graph_nodes(second)) == {"import", "embed", "distances", "cluster", "export", "table",
                                        "sample_images"}
    assert page_of(first).state is not page_of(second).state
    await first.should_see("unsaved changes")
    assert flow.read_text() == CLUSTER_FOLDER.read_text()  # nothing saved by either


@pytest.mark.slow
async def test_run_cluster_folder_shows_cluster_thumbnails(user: User, registry, shared_cache,
                                                           workspace: Path) -> None:
    workflow = load(CLUSTER_FOLDER, registry).with_params("import", max_per_label=3) \
        .with_params("cluster", n_clusters=4)
    flow = workspace / "cluster.json"
    save(workflow, flow)
    make_app(registry, shared_cache, workspace, flow)
    await user.open("/")
    page = page_of(user)
    user.find(marker="run-all").click()
    await until(lambda: page.summary.text.startswith("Last run"), what="the run to finish")
    assert "0 failed" in page.summary.text, {n: s.message for n, s in page.runner.statuses.items()}
    states = {n: graph_nodes(user)[n]["status"]["state"] for n in graph_nodes(user)}
    assert set(states.values()) <= {"done", "cached"}
    assert (workspace / "flowclass-out" / "cluster" / "run.json").is_file()
    assert (workspace / "flowclass-out" / "cluster" / "clusters" / "images.csv").is_file()

    user.find(FlowCanvas).trigger("select", {"id": "cluster"})
    await user.should_see("All groups (30 images)")
    (grid,) = [e for e in user.find(ui.html).elements if "fc-gallery" in e.classes]
    assert grid.content.count('<img loading="lazy"') == 30
    assert all(f">C{k}" in grid.content for k in range(1, 5))  # a heading per cluster
    url = grid.content.split('src="')[1].split('"')[0]
    response = await user.http_client.get(url)
    assert response.status_code == 200 and response.content[:2] == b"\xff\xd8"  # a JPEG thumbnail
    assert (await user.http_client.get(url.replace(url.split("/")[-2], "0" * 64))).status_code == 404

    # an edit makes the clustering stale (its results stay visible, marked)
    page.set_param("cluster", "n_clusters", 5)
    await until(lambda: graph_nodes(user)["cluster"]["status"]["state"] == "stale", what="stale badge")
    assert graph_nodes(user)["embed"]["status"]["state"] in ("done", "cached")
    await user.should_see("from before your last change")

    # run just the clustering and what it needs: upstream comes from the cache
    page.start_run(["cluster"])
    await until(lambda: not page.runner.running and page.summary.text.startswith("Last run"), what="rerun")
    assert "4 node(s), 3 from cache" in page.summary.text
    assert graph_nodes(user)["cluster"]["status"]["state"] == "done"
    assert graph_nodes(user)["export"]["status"]["state"] == "stale"
