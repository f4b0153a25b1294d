"""Runs and results in the canvas (simulated user): folders, progress, Cancel, viewers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from nicegui import ui
from nicegui.testing import User
from ui_helpers import LOADS, drop, graph_nodes, make_app, page_of, run_slow_chain, small_cluster_workflow, until, wire

from flowclass.ui.canvas import FlowCanvas
from nodes.viewers.clustering import CUT_EVENT

pytestmark = pytest.mark.anyio


@pytest.fixture
def photos(tmp_path: Path, photos_dir: Path) -> Path:
    """The labelled photos plus one file that only looks like a JPEG."""
    folder = tmp_path / "work" / "photos"
    shutil.copytree(photos_dir, folder)
    (folder / "things" / "broken.jpg").write_bytes(b"not really a jpeg")
    return folder


@pytest.mark.slow
async def test_folder_browser_counts_images_and_import_reports_skipped(user: User, registry, cache,
                                                                       photos: Path) -> None:
    workspace = photos.parent
    make_app(registry, cache, workspace)
    await user.open("/")
    drop(user, "import_images")
    await user.should_see("Folder")
    user.find(marker="browse-folder").click()
    await user.should_see("Choose: Folder")
    user.find(marker="entry-photos").click()
    await user.should_see("This folder: 0 images here, 6 in all", retries=LOADS)  # image files, by their extension
    await user.should_see("2 images", retries=LOADS)  # animals
    await user.should_see("4 images", retries=LOADS)  # things, the broken file included
    user.find(marker="dialog-ok").click()
    page = page_of(user)
    await until(lambda: page.state.workflow.node("import_images").params["folder"] == str(photos.resolve()),
                what="the chosen folder in the parameter")

    page.start_run(["import_images"])
    await until(lambda: page.summary.text.startswith("Last run"), what="the import")
    await user.should_see("All groups (5 images)", retries=LOADS)
    user.find(marker="output-skipped").click()
    await user.should_see("1 file(s) were not used:", retries=LOADS)
    await user.should_see("1 × not an image in a format FlowClass reads", retries=LOADS)
    (table,) = user.find(ui.table).elements
    assert [Path(row["path"]).name for row in table.rows] == ["broken.jpg"]


@pytest.mark.slow
async def test_progress_then_cancel(user: User, registry, cache, tmp_path: Path) -> None:
    page = await run_slow_chain(user, registry, cache, tmp_path, 200_000)
    assert graph_nodes(user)["toy_wait"]["status"]["state"] == "running"
    assert graph_nodes(user)["toy_number"]["status"]["state"] == "done"
    # the footer says where the run is; the running node's panel its counts and time left
    await until(lambda: page.summary.text.startswith("Running node 2 of 2, Wait: ") and "/ 200,000" in
                page.summary.text, what="the run's place in the footer")
    user.find(FlowCanvas).trigger("select", {"id": "toy_wait"})
    await user.should_see("Wait: running")
    await user.should_not_see("no results yet")
    detail = lambda: next(e.text for e in user.find(ui.label).elements  # noqa: E731
                          if "fc-node-progress-detail" in e.classes)
    first = detail()
    assert "/ 200,000" in first
    await until(lambda: detail() != first, what="the counts to move on in the panel")
    await until(lambda: "s left" in detail() or "min left" in detail(), what="the time left")
    await user.should_see(marker="cancel-run")
    user.find(marker="cancel-run").click()
    await until(lambda: not page.runner.running, timeout=20, what="the run to stop")
    assert graph_nodes(user)["toy_wait"]["status"]["state"] == "cancelled"
    assert "(cancelled)" in page.summary.text
    await user.should_not_see(marker="cancel-run")


@pytest.mark.slow
async def test_map_and_dendrogram_of_a_clustering(user: User, registry, shared_cache, tmp_path: Path) -> None:
    make_app(registry, shared_cache, tmp_path, small_cluster_workflow(registry, tmp_path))
    await user.open("/")
    page = page_of(user)
    page.start_run(["cluster"])
    await until(lambda: page.summary.text.startswith("Last run"), timeout=120, what="the run")
    user.find(FlowCanvas).trigger("select", {"id": "cluster"})
    await user.should_see("All groups (30 images)", retries=LOADS)

    user.find(marker="viewer-Map").click()
    await user.should_see("PCA of 30 images", retries=LOADS)
    (chart,) = [e for e in user.find(ui.echart).elements if "fc-map" in e.classes]
    series = chart.options["series"]
    assert [s["name"] for s in series] == ["C1", "C2", "C3", "C4"]
    assert sum(len(s["data"]) for s in series) == 30
    assert all(point[2].startswith("/flowclass/image/") for s in series for point in s["data"])

    user.find(marker="output-dendrogram").click()
    await user.should_see("30 images, ward linkage", retries=LOADS)
    heights = sorted(load_tree_heights(page))
    # the chart reports where the dragged cut line was let go: between the top merges, 3 clusters
    user.find(ui.echart).trigger(CUT_EVENT, {"height": (heights[-3] + heights[-2]) / 2})
    await user.should_see("3 clusters")
    before = page.store.key("cluster")
    user.find("Apply this cut").click()
    params = page.state.workflow.node("cluster").params
    assert params["cut"] == "n_clusters" and params["n_clusters"] == 3  # the user's mode, kept
    await until(lambda: page.store.key("cluster") != before and not page.runner.running, timeout=60,
                what="the re-run")
    assert graph_nodes(user)["cluster"]["status"]["state"] == "done"
    clusters = page.store.value("cluster", "clusters")
    assert len(set(clusters.labels.tolist())) == 3
    await user.should_see("into 3 clusters", retries=LOADS)  # still on the dendrogram


def test_a_cut_in_distance_or_ratio_mode_is_rounded_and_keeps_the_clusters() -> None:
    from scipy.cluster.hierarchy import fcluster, linkage
    from sklearn.datasets import load_digits

    from nodes.viewers.clustering import clusters_at, cut_params

    z = linkage(load_digits().data[:80], "ward")
    height = float(z[-5, 2] * 0.37 + z[-4, 2] * 0.63)  # 5 clusters, an unround height
    distance = cut_params(z, height, "distance")["distance"]
    assert len(f"{distance}") <= 6 and clusters_at(z, distance) == 5
    assert len(set(fcluster(z, distance, "distance"))) == 5
    ratio = cut_params(z, height, "height_ratio")["height_ratio"]
    assert len(f"{ratio}") <= 6 and clusters_at(z, ratio * z[-1, 2]) == 5
    assert cut_params(z, height, "n_clusters") == {"n_clusters": 5}


def load_tree_heights(page) -> list[float]:
    return page.store.value("cluster", "dendrogram").linkage[:, 2].tolist()


@pytest.mark.slow
async def test_the_rest_runs_beside_a_placeholder(user: User, registry, cache, tmp_path: Path) -> None:
    flow = tmp_path / "with_missing.json"
    flow.write_text(json.dumps({
        "schema_version": 1, "name": "", "description": "",
        "nodes": [{"id": "n", "type": "toy.number", "params": {"value": 4}},
                  {"id": "say", "type": "toy.describe", "params": {}},
                  {"id": "gone", "type": "someone.gone", "params": {"x": 1}}],
        "edges": [{"from": {"node": "n", "port": "number"}, "to": {"node": "say", "port": "number"}},
                  {"from": {"node": "n", "port": "number"}, "to": {"node": "gone", "port": "value"}}]}))
    make_app(registry, cache, tmp_path, flow)
    await user.open("/")
    page = page_of(user)
    user.find(marker="run-all").click()
    await user.should_see("Running all but 1 node:")
    await until(lambda: page.summary.text.startswith("Last run"), what="the run")
    assert page.store.value("say", "words") == "the number is 4"
    assert graph_nodes(user)["gone"]["placeholder"] and not page.store.has("gone")

    page.start_run(["gone"])
    await user.should_see("Node 'gone' cannot run until these are fixed:")


@pytest.mark.slow
async def test_a_failing_node_shows_its_error_on_the_field(user: User, registry, cache, tmp_path: Path) -> None:
    make_app(registry, cache, tmp_path)
    await user.open("/")
    drop(user, "toy.number")
    drop(user, "toy.fail", 300)
    wire(user, "toy_number.number", "toy_fail.number")
    page = page_of(user)
    page.start_run(["toy_fail"])
    await until(lambda: page.summary.text.startswith("Last run"), what="the run")
    node = graph_nodes(user)["toy_fail"]
    assert node["status"]["state"] == "failed"
    assert node["status"]["message"] == "failed because it had to — change 'why'"
    user.find(FlowCanvas).trigger("select", {"id": "toy_fail"})
    assert page.inspector.fields["why"].error.text == "failed because it had to — change 'why'"
    assert page.inspector.fields["why"].error.visible
    # the notice says which node and why (it said "1 node(s) failed; see the red badges.")
    await user.should_see("Fail did not finish: failed because it had to — change 'why'")


@pytest.mark.slow
async def test_opening_another_workflow_abandons_the_run(user: User, registry, cache, tmp_path: Path) -> None:
    make_app(registry, cache, tmp_path)
    await user.open("/")
    drop(user, "toy.number")
    drop(user, "toy.wait", 300)
    wire(user, "toy_number.number", "toy_wait.number")
    page = page_of(user)
    page.set_param("toy_wait", "steps", 200_000)
    page.start_run(None)
    await until(lambda: graph_nodes(user)["toy_wait"]["status"]["state"] == "running", what="the run")
    user.find(marker="file-new").click()  # the old run must not leak into the new workflow's badges
    await user.should_see("has unsaved changes, and a run of it is going on")
    user.find(marker="confirm-ok").click()
    await until(lambda: not graph_nodes(user), what="the new workflow")
    assert not page.runner.running and page.runner.statuses == {}
    drop(user, "toy.number")  # the same node id as in the abandoned run
    page.start_run(None)  # waits for the abandoned run to stop, then runs
    await until(lambda: graph_nodes(user)["toy_number"]["status"]["state"] in ("done", "cached")
                and not page.runner.running, timeout=30, what="the new run")  # its run.json is written last
    assert set(page.runner.statuses) == {"toy_number"}
    assert page.summary.text.startswith("Last run: 1 node(s)")


@pytest.mark.slow
async def test_opening_a_workflow_shows_its_cached_results_and_its_own_footer(user: User, registry, shared_cache,
                                                                             tmp_path: Path) -> None:
    """A node marked "cached" shows its results at once (it said "no results yet" until run
    again), and the footer never shows the last run of the workflow open before."""
    from flowclass.workflow_file import load, save

    flow = small_cluster_workflow(registry, tmp_path)
    save(load(flow, registry).with_params("embed", backend="pixels"), flow)
    other = tmp_path / "other.json"
    save(load(flow, registry).with_params("cluster", n_clusters=3), other)
    make_app(registry, shared_cache, tmp_path, flow)
    await user.open("/")
    page = page_of(user)
    page.start_run(None)
    await until(lambda: page.summary.text.startswith("Last run"), timeout=120, what="the run")
    page.files.open_path(other)
    assert page.summary.text == ""  # the other workflow's last run is not this one's
    page.files.open_path(flow)
    await until(lambda: page.status("cluster").state == "cached", what="the cached badge")
    user.find(FlowCanvas).trigger("select", {"id": "cluster"})
    await user.should_see("Results of Hierarchical Clustering (cluster)")
    await user.should_not_see("no results yet")
    assert not page.runner.running and page.summary.text == ""
