"""Issue 9's small things in the canvas (simulated user): unique result tab names, previous/next
in the enlarged image, clamped values said out loud, ready workflows saved before they run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from nicegui import ui
from nicegui.testing import User

from flowclass.ui.results import tab_labels
from flowclass.viewers import ViewerContext
from flowclass.viewers.images import Gallery, show_gallery

pytestmark = pytest.mark.anyio


def test_viewer_tabs_never_repeat_an_output_tab_or_each_other() -> None:
    # Evaluate: outputs Evaluation, Confusion, Misclassified; Evaluation's views below
    assert tab_labels(["Confusion matrix", "Misclassified"], ["Confusion", "Misclassified"], "Evaluation") \
        == ["Confusion matrix", "Misclassified (evaluation)"]
    assert tab_labels(["Images", "Map"], [], "Images") == ["Images", "Map"]
    labels = tab_labels(["Table", "Table", "Table"], ["table (table)"], "Table")
    assert len({label.casefold() for label in labels} | {"table (table)"}) == 4


def keyboard_event(key: str) -> dict:
    return {"action": "keydown", "key": key, "code": key, "repeat": False, "location": 0,
            "altKey": False, "ctrlKey": False, "metaKey": False, "shiftKey": False}


@pytest.mark.slow
async def test_enlarged_image_walks_the_grid_with_arrow_keys(user: User, photos_dir: Path) -> None:
    paths = sorted(str(p) for p in photos_dir.rglob("*.jpg"))
    groups = np.array([Path(p).parent.name for p in paths])
    gallery = Gallery(paths, ["0" * 64] * len(paths), groups, None, ("animals", "things"), "Label")
    ctx = ViewerContext(node_id="import", port="images", data_type="images", workflow_dir=None,
                        out_dir=photos_dir, image_url=lambda path, sha256=None, size=160: f"/img?{Path(path).name}",
                        upstream=lambda name: None, set_params=lambda node, params: None,
                        run=lambda nodes=None: None, refresh=lambda: None, store_dir=lambda name: photos_dir)

    @ui.page("/")
    def page() -> None:
        show_gallery(gallery, ctx)

    await user.open("/")
    shown = [int(i) for g in gallery.order for i in gallery.members(g)]  # the grid's order: group by group
    user.find(ui.html).trigger("click", shown[0])
    await user.should_see(paths[shown[0]])
    await user.should_see(f"1 of {len(paths)}")
    keys = user.find(ui.keyboard)
    keys.trigger("key", keyboard_event("ArrowRight"))
    await user.should_see(paths[shown[1]])
    await user.should_see(f"2 of {len(paths)}")
    keys.trigger("key", keyboard_event("ArrowLeft"))
    keys.trigger("key", keyboard_event("ArrowLeft"))
    await user.should_see(paths[shown[-1]])  # wraps round
    user.find(marker="enlarged-next").click()
    await user.should_see(paths[shown[0]])


@pytest.mark.slow
async def test_a_clamped_value_is_said_in_the_inspector(user: User, registry, cache, tmp_path: Path) -> None:
    from ui_helpers import drop, make_app, page_of, until

    make_app(registry, cache, tmp_path)
    await user.open("/")
    drop(user, "hierarchical_clustering")
    page = page_of(user)
    (field,) = user.find(marker="param-n_clusters").elements
    field.value = 0
    user.find(marker="param-n_clusters").trigger("blur")  # the user leaves the field
    await until(lambda: page.state.workflow.node("hierarchical_clustering").params["n_clusters"] == 1,
                what="the value moved into range")
    await user.should_see("0 is beyond the minimum (1), so it was set to 1.")
    field.value = 5
    await user.should_not_see("0 is beyond the minimum")


@pytest.mark.slow
async def test_a_ready_workflow_is_offered_save_as_and_runs_beside_it(user: User, registry, cache,
                                                                       tmp_path: Path) -> None:
    from ui_helpers import make_app, page_of, until

    make_app(registry, cache, tmp_path)
    await user.open("/")
    page = page_of(user)
    user.find(marker="ready-cluster_folder").click()  # File ▸ Ready workflows
    await user.should_see("new copy of the ready workflow")
    user.find(marker="confirm-ok").click()  # Save As…
    await user.should_see("Save the workflow as")
    (name,) = user.find(marker="file-name").elements
    name.value = "mine"
    user.find(marker="dialog-ok").click()
    await until(lambda: page.state.path is not None, what="the save")
    assert page.state.path == tmp_path / "mine.json"
    assert page.out_dir() == tmp_path / "flowclass-out" / "mine"

    # a new workflow is offered Save As at its first run, once; "Not now" runs in a folder of its
    # own inside the root, which the next unsaved workflow does not share
    user.find(marker="file-new").click()
    await until(lambda: not page.state.workflow.nodes, what="a new workflow")
    page.add_node("toy.number", (0, 0))
    user.find(marker="run-all").click()
    await user.should_see("no file yet")
    user.find(marker="confirm-cancel").click()
    await until(lambda: page.summary.text.startswith("Last run"), what="the run")
    untitled = page.out_dir()
    assert page.state.path is None and untitled.parent == tmp_path / "flowclass-out"
    assert untitled.name.startswith("untitled-") and (untitled / "run.json").is_file()
    await user.should_see(str(untitled))  # in the footer
    page.summary.text = ""
    user.find(marker="run-all").click()  # not asked again
    await until(lambda: not page.runner.running and page.summary.text.startswith("Last run"), what="the second run")
    await user.should_not_see("no file yet")
    assert page.out_dir() == untitled
    user.find(marker="file-new").click()
    await user.should_see("Discard them?")
    user.find(marker="confirm-ok").click()
    await until(lambda: not page.state.workflow.nodes, what="another new workflow")
    assert page.out_dir() != untitled and page.out_dir().parent == untitled.parent


async def open_photo_clusters(user: User, registry, cache, tmp_path: Path, photos_dir: Path, n_clusters: int):
    """The canvas on cluster_folder.json over a copy of the photos (inside its root), fast pixels
    embedder, ``n_clusters`` clusters, with the node ``select``ed; returns the page."""
    import shutil

    from flowclass.workflow_file import load, save
    from ui_helpers import CLUSTER_FOLDER, make_app, page_of

    photos = shutil.copytree(photos_dir, tmp_path / "photos")
    flow = tmp_path / "photos.json"
    save(load(CLUSTER_FOLDER, registry).with_params("import", folder=str(photos))
         .with_params("embed", backend="pixels", pixel_size=8).with_params("cluster", n_clusters=n_clusters), flow)
    make_app(registry, cache, tmp_path, flow)
    await user.open("/")
    return page_of(user)


async def run_all(user: User, page) -> None:
    from ui_helpers import until

    page.summary.text = ""
    user.find(marker="run-all").click()
    await until(lambda: page.summary.text.startswith("Last run"), what="the run")


@pytest.mark.slow
async def test_a_failed_node_says_why_in_its_results(user: User, registry, cache, tmp_path: Path,
                                                     photos_dir: Path) -> None:
    """The user asked for more clusters than images and ran with the node selected: the results
    panel said 'no results yet', not what went wrong, nor what the upstream failure was for the
    nodes after it."""
    from flowclass.ui.canvas import FlowCanvas

    page = await open_photo_clusters(user, registry, cache, tmp_path, photos_dir, n_clusters=50)
    user.find(FlowCanvas).trigger("select", {"id": "cluster"})
    await user.should_see("Hierarchical Clustering: no results yet.")
    await run_all(user, page)
    await user.should_see("asked for 50 clusters of 5 images")
    await user.should_not_see("no results yet")
    user.find(FlowCanvas).trigger("select", {"id": "export"})
    await user.should_see("Export to Folders: not run because Hierarchical Clustering did not finish")


@pytest.mark.slow
async def test_a_node_that_fails_after_a_good_run_does_not_show_the_old_results_as_its_own(
        user: User, registry, cache, tmp_path: Path, photos_dir: Path) -> None:
    """Pointed at an empty folder after a good run, Import failed, and its results panel went on
    showing the images of the previous folder under 'Results of Import Images', with no word."""
    from flowclass.ui.canvas import FlowCanvas
    from ui_helpers import LOADS

    page = await open_photo_clusters(user, registry, cache, tmp_path, photos_dir, n_clusters=2)
    user.find(FlowCanvas).trigger("select", {"id": "import"})
    await run_all(user, page)
    await user.should_see("Results of Import Images")
    (tmp_path / "empty").mkdir()
    page.set_param("import", "folder", str(tmp_path / "empty"))
    await run_all(user, page)
    await user.should_see(f"Import Images: failed: {tmp_path / 'empty'} is empty")
    await user.should_see("from an earlier run")
    page.set_param("import", "folder", str(tmp_path / "gone"))  # typed on: checked without a run
    await user.should_see(f"Import Images: cannot run: Folder: folder not found: {tmp_path / 'gone'}", retries=LOADS)
    page.set_param("import", "folder", str(tmp_path / "gone again"))
    await user.should_see(f"folder not found: {tmp_path / 'gone again'}", retries=LOADS)


@pytest.mark.slow
async def test_a_ready_workflow_named_on_the_command_line_opens_as_a_copy(user: User, registry, cache,
                                                                         tmp_path: Path) -> None:
    """`flowclass ui workflows/cluster_folder.json`, a change, Ctrl+S: the installed ready
    workflow was overwritten, and runs wrote into the install's workflows/flowclass-out/."""
    from flowclass.ui.canvas import FlowCanvas
    from journey_helpers import install_snapshot
    from ui_helpers import CLUSTER_FOLDER, make_app, page_of

    installed = install_snapshot()
    make_app(registry, cache, tmp_path, CLUSTER_FOLDER)
    await user.open("/")
    page = page_of(user)
    assert page.state.path is None and page.state.workflow.node("cluster") is not None
    assert CLUSTER_FOLDER.parent not in page.out_dir().parents
    page.set_param("cluster", "n_clusters", 7)
    user.find(FlowCanvas).trigger("shortcut", {"key": "save"})  # Ctrl+S
    await user.should_see("Save the workflow as")
    assert install_snapshot() == installed


@pytest.mark.slow
async def test_an_empty_canvas_says_where_to_start(user: User, registry, cache, tmp_path: Path) -> None:
    """A researcher opening `flowclass ui` met an empty grey canvas with no word on it; the ready
    workflows hide in File > Ready workflows."""
    from ui_helpers import make_app, page_of

    make_app(registry, cache, tmp_path)
    await user.open("/")
    await user.should_see("Start from File ▸ Ready workflows")
    user.find(marker="ready-cluster_folder").click()
    await user.should_see("new copy of the ready workflow 'Cluster a folder of images'")
    user.find(marker="confirm-cancel").click()  # Not now
    assert page_of(user).state.workflow.node("cluster") is not None
    await user.should_not_see("Start from File ▸ Ready workflows")


@pytest.mark.slow
async def test_run_with_a_missing_folder_says_the_folder_is_missing(user: User, registry, cache,
                                                                    tmp_path: Path) -> None:
    """Every node waits on an import whose folder is gone: Run says which folder, not "add nodes
    from the palette"."""
    from ui_helpers import make_app, page_of, small_cluster_workflow, until

    flow = small_cluster_workflow(registry, tmp_path)
    make_app(registry, cache, tmp_path, flow)
    await user.open("/")
    page = page_of(user)
    page.set_param("import", "folder", str(tmp_path / "gone"))
    await until(lambda: any(p.node == "import" and "gone" in str(p) for p in page.problems),
                what="the missing folder found")
    user.find(marker="run-all").click()
    await user.should_see("Nothing can run until these are fixed")
    await user.should_see(str(tmp_path / "gone"))
    await user.should_not_see("add nodes from the palette")
    assert not page.runner.running


@pytest.mark.slow
async def test_the_palette_and_the_settings_fold_away_from_the_header(user: User, registry, cache,
                                                                     tmp_path: Path) -> None:
    from ui_helpers import make_app, page_of

    make_app(registry, cache, tmp_path)
    await user.open("/")
    panels = page_of(user).panels
    assert panels.palette.value and panels.settings.value
    user.find(marker="toggle-palette").click()
    user.find(marker="toggle-settings").click()
    assert not panels.palette.value and not panels.settings.value
    user.find(marker="toggle-palette").click()
    assert panels.palette.value


@pytest.mark.slow
async def test_a_node_waiting_in_a_run_marks_its_shown_results_as_from_an_earlier_run(
        user: User, registry, cache, tmp_path: Path, photos_dir: Path) -> None:
    """During a run, a node not reached yet showed its previous results under 'Results of ...'
    with no word that they are not this run's. The run's own reports (pending, then running,
    then done) are given here as the runner gives them."""
    from flowclass.states import NodeState
    from flowclass.ui.canvas import FlowCanvas
    from flowclass.ui.runner import NodeStatus

    page = await open_photo_clusters(user, registry, cache, tmp_path, photos_dir, n_clusters=2)
    user.find(FlowCanvas).trigger("select", {"id": "cluster"})
    await run_all(user, page)
    await user.should_see("Results of Hierarchical Clustering")
    await user.should_not_see("from an earlier run")
    for state in (NodeState.PENDING, NodeState.RUNNING):
        page.runner.statuses["cluster"] = NodeStatus(state)
        page.session.emit("statuses")
        await user.should_see("Results of Hierarchical Clustering")
        await user.should_see("From an earlier run: this run has not remade them yet")
    page.runner.statuses["cluster"] = NodeStatus(NodeState.DONE)
    page.session.emit("statuses")
    await user.should_not_see("From an earlier run")
