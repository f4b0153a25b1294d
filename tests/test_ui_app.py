"""The canvas app's Python side, with NiceGUI's simulated user (no browser).

Each test builds the app for a temporary folder, opens the page and acts as a user
would: through canvas events (what the browser would send), the palette, the
inspector's widgets and the toolbar.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import pytest
from nicegui import ui
from nicegui.testing import User
from ui_helpers import (CLUSTER_FOLDER, LOADS, canvas_of, drop, graph_nodes, make_app, page_of,
                        small_cluster_workflow, until, wire)

from flowclass.ui.canvas import FlowCanvas
from flowclass.ui.files import ready_workflows
from flowclass.workflow_file import dumps, load

pytestmark = pytest.mark.anyio


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def copy_workflow(source: Path, folder: Path, name: str = "flow.json") -> Path:
    target = folder / name
    shutil.copyfile(source, target)
    return target


@pytest.mark.slow
async def test_palette_lists_every_registered_node_type_by_category(user: User, registry, cache,
                                                                    workspace: Path) -> None:
    make_app(registry, cache, workspace)
    await user.open("/")
    for category, node_types in registry.by_category():
        await user.should_see(category)
        for node_type in node_types:
            await user.should_see(node_type.title)
    assert canvas_of(user).catalogue == registry.describe()


@pytest.mark.slow
async def test_build_connect_refuse_undo_redo(user: User, registry, cache, workspace: Path) -> None:
    make_app(registry, cache, workspace)
    await user.open("/")
    found = user.find(FlowCanvas)
    drop(user, "sample_images")
    drop(user, "embed", 300)
    drop(user, "distances", 600)
    assert set(graph_nodes(user)) == {"sample_images", "embed", "distances"}
    assert graph_nodes(user)["embed"]["status"]["state"] == "invalid"  # its input is not connected yet

    wire(user, "sample_images.images", "embed.images")
    assert canvas_of(user).graph["edges"] == [{"from": {"node": "sample_images", "port": "images"},
                                               "to": {"node": "embed", "port": "images"}}]
    assert graph_nodes(user)["embed"]["status"]["state"] != "invalid"

    # images into an embeddings input: refused, with the reason, and no edge
    wire(user, "sample_images.images", "distances.embeddings")
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
async def test_tabs_do_not_share_graphs(create_user: Callable[[], User], registry, cache, workspace: Path) -> None:
    flow = copy_workflow(CLUSTER_FOLDER, workspace)
    make_app(registry, cache, workspace, flow)
    first, second = create_user(), create_user()
    await first.open("/")
    await second.open("/")
    first.find(FlowCanvas).trigger("delete", {"nodes": ["export", "table"], "edges": []})
    drop(second, "sample_images", 0, 300)
    assert set(graph_nodes(first)) == {"import", "embed", "distances", "cluster"}
    assert set(graph_nodes(second)) == {"import", "embed", "distances", "cluster", "export", "table",
                                        "sample_images"}
    assert page_of(first).state is not page_of(second).state
    await first.should_see("unsaved changes")
    assert flow.read_text() == CLUSTER_FOLDER.read_text()  # nothing saved by either


@pytest.mark.slow
async def test_run_cluster_folder_shows_cluster_thumbnails(user: User, registry, shared_cache,
                                                           workspace: Path) -> None:
    make_app(registry, shared_cache, workspace, small_cluster_workflow(registry, workspace))
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
    await user.should_see("All groups (30 images)", retries=LOADS)
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
    await user.should_see("Out of date since your last change", retries=LOADS)

    # run just the clustering and what it needs: upstream comes from the cache
    page.start_run(["cluster"])
    await until(lambda: not page.runner.running and page.summary.text.startswith("Last run"), what="rerun")
    # import and embed from the cache; Distances (never stored) is made again from the embeddings
    assert "4 node(s), 2 from cache" in page.summary.text
    assert graph_nodes(user)["distances"]["status"]["state"] == "done"
    assert graph_nodes(user)["cluster"]["status"]["state"] == "done"
    assert graph_nodes(user)["export"]["status"]["state"] == "stale"


@pytest.mark.slow
async def test_new_asks_before_discarding_and_open_uses_the_dialog(user: User, registry, cache,
                                                                     workspace: Path) -> None:
    (workspace / "sub").mkdir()
    flow = copy_workflow(CLUSTER_FOLDER, workspace / "sub")
    make_app(registry, cache, workspace)
    await user.open("/")
    page = page_of(user)
    drop(user, "distances")
    user.find(marker="file-new").click()
    await user.should_see("has unsaved changes. Discard them?")
    user.find(marker="confirm-ok").click()
    await until(lambda: not graph_nodes(user), what="an empty workflow")
    assert not page.state.dirty

    user.find(marker="file-open").click()
    await user.should_see("Open a workflow")
    user.find(marker="entry-sub").click()
    user.find(marker=f"entry-{flow.name}").click()
    user.find(marker="dialog-ok").click()
    await until(lambda: len(graph_nodes(user)) == 6, what="the opened workflow")
    assert page.state.path == flow.resolve() and not page.state.dirty
    await user.should_see(flow.name)


@pytest.mark.slow
async def test_a_broken_file_is_named_and_changes_nothing(user: User, registry, cache, workspace: Path) -> None:
    flow = copy_workflow(CLUSTER_FOLDER, workspace)
    broken = workspace / "broken.json"
    broken.write_text('{"schema_version": 1, "nodes": [{"id": "a", "type": "embed", "params": 3}]')
    make_app(registry, cache, workspace, flow)
    await user.open("/")
    page = page_of(user)
    assert not page.files.open_path(broken)
    await user.should_see("Cannot open broken.json")
    await user.should_see("not valid JSON")
    assert page.state.path == flow.resolve() and len(graph_nodes(user)) == 6


@pytest.mark.slow
async def test_every_ready_workflow_opens_as_an_unsaved_copy(user: User, registry, cache, workspace: Path) -> None:
    make_app(registry, cache, workspace)
    await user.open("/")
    page = page_of(user)
    shipped = ready_workflows()
    assert "Cluster a folder of images" in [r.name for r in shipped]
    for ready in shipped:
        assert page.files.open_path(ready.path, as_copy=True)
        nodes = graph_nodes(user)
        assert len(nodes) == len(json.loads(ready.path.read_text())["nodes"]), ready.name
        assert not any(n["placeholder"] for n in nodes.values()), ready.name
        assert page.state.path is None and page.base_dir() == ready.path.parent.resolve()
        assert page.problems == [], (ready.name, page.problems)


@pytest.mark.slow
async def test_a_folder_of_countless_subfolders_lists_its_first_thousand(user: User, registry, cache,
                                                                         workspace: Path) -> None:
    """A shared bundle's folder of 200,000 subfolders: the file dialog made a row (and an
    image count) for each, and the server froze for minutes. It lists the first 1,000 and says
    how many more there are."""
    from flowclass.ui.dialogs import DIALOG_ENTRY_LIMIT

    for i in range(DIALOG_ENTRY_LIMIT + 5):
        (workspace / f"d{i:05d}").mkdir()
    make_app(registry, cache, workspace)
    await user.open("/")
    user.find(marker="file-save-as").click()
    await user.should_see("Save the workflow as")
    await user.should_see(marker=f"entry-d{DIALOG_ENTRY_LIMIT - 1:05d}")
    await user.should_not_see(marker=f"entry-d{DIALOG_ENTRY_LIMIT:05d}")
    await user.should_see("… and 5 more, not listed")
