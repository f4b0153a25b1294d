"""Each ready workflow's headline loop, done as a new user does it, with the simulated user.

Open the workflow from File > Ready workflows (an unsaved copy), point it at sample data,
Save As into a fresh folder, run, use the main viewer, and check the effect on disk:
the relabelled image's new label reaches the trained model (Lobe); every class of the
shipped mask survives one added stroke (Clashifier); the cluster count chosen on the
dendrogram reaches the export folders (Orange). The installed workflows are never written.
The same journeys in a real browser are in test_journeys_browser.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score
import pytest
from nicegui import ui
from nicegui.testing import User
from nicegui.testing.user_interaction import UserInteraction
from journey_helpers import (FAST_EMBEDDER, class_pixels, cluster_folders, install_snapshot,
                             ready_name, run_manifest, sample_data)
from ui_helpers import LOADS, make_app, page_of, until

from flowclass.ui.canvas import FlowCanvas
from nodes.viewers.clustering import CUT_EVENT
from flowclass.ui.page import EditorPage

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # whole journeys: the full suite, not the quick loop


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    (folder / "mine").mkdir(parents=True)  # the fresh folder the workflow is saved into
    return folder


async def open_ready(user: User, stem: str) -> EditorPage:
    """File > Ready workflows > the workflow: an unsaved copy."""
    await user.open("/")
    page = page_of(user)
    user.find("File").click()
    (item,) = [e for e in user.find(ui.menu_item).elements
               if any(getattr(d, "text", None) == ready_name(stem) for d in e.descendants())]
    UserInteraction(user, {item}, None).click()
    await until(lambda: page.state.workflow.name == ready_name(stem), what="the ready workflow")
    assert page.state.path is None
    await user.should_see("Save it first?")  # offered at once; the user first points it at data
    user.find(marker="confirm-cancel").click()
    return page


async def open_on_sample(user: User, registry, cache, workspace: Path, stem: str, sample: str,
                         max_per_label: int | None = None) -> EditorPage:
    """A ready workflow opened as a copy, its import pointed at a sample set (as the inspector's
    folder field does) and its embedder made fast."""
    folder = sample_data(workspace, sample)
    make_app(registry, cache, workspace)
    page = await open_ready(user, stem)
    page.set_param("import", "folder", str(folder))
    if max_per_label is not None:
        page.set_param("import", "max_per_label", max_per_label)
    for name, value in FAST_EMBEDDER.items():  # new images are embedded as the model was
        page.set_param("embed", name, value)
    return page


async def save_as(user: User, page: EditorPage, name: str) -> Path:
    """File > Save As… into the fresh folder ``mine``."""
    user.find(marker="file-save-as").click()
    await user.should_see("Save the workflow as")
    user.find(marker="entry-mine").click()
    (field,) = user.find(marker="file-name").elements
    field.value = name
    user.find(marker="dialog-ok").click()
    await until(lambda: page.state.path is not None and not page.state.dirty, what="the save")
    return page.state.path


async def run_all(user: User, page: EditorPage, timeout: float = 60) -> None:
    before = page.summary.text
    page.summary.text = ""
    user.find(marker="run-all").click()
    await until(lambda: page.summary.text.startswith("Last run") and not page.runner.running,
                timeout=timeout, what="the run")
    assert before != page.summary.text or True
    assert "0 failed" in page.summary.text, page.summary.text


def select(user: User, node_id: str) -> None:
    user.find(FlowCanvas).trigger("select", {"id": node_id})


async def test_lobe_relabel_and_retrain_reaches_the_model(user: User, registry, cache, workspace: Path) -> None:
    installed = install_snapshot()
    page = await open_on_sample(user, registry, cache, workspace, "lobe_train_predict", "faces")
    flow = await save_as(user, page, "faces")
    assert flow == workspace / "mine" / "faces.json"
    await run_all(user, page)
    out = page.out_dir()
    before = run_manifest(out)
    assert before["labels"]["records"]["label_overrides"]["changed"] == 0
    counts = before["train"]["records"]["training"]["class_counts"]

    select(user, "evaluate")
    evaluation = page.store.value("evaluate", "evaluation")
    r = evaluation.classes.index("face")
    c = evaluation.predicted_classes.index("face")
    await user.should_see(marker=f"cell-{r}-{c}", retries=LOADS)
    user.find(marker=f"cell-{r}-{c}").click()
    await user.should_see("True 'face', predicted 'face'")
    index = int(evaluation.cell("face", "face")[0])
    (relabel,) = user.find(marker=f"relabel-{index}").elements
    relabel.set_value("non_face")
    overrides = workspace / "mine" / "label-overrides.csv"  # beside the saved workflow
    await until(overrides.is_file, what="the correction's save (off the event loop)")
    table = pd.read_csv(overrides, dtype=str, keep_default_na=False)
    sha = evaluation.predictions.images.hashes[index]
    assert table[["sha256", "label"]].values.tolist() == [[sha, "non_face"]]
    await until(lambda: page.runner.status("labels").state == "stale", what="Label Overrides to turn stale")

    user.find(marker="retrain").click()
    await until(lambda: page.summary.text.startswith("Last run") and not page.runner.running, what="the retrain")
    after = run_manifest(out)
    assert after["labels"]["state"] == "done" and after["train"]["state"] == "done"
    assert after["labels"]["records"]["label_overrides"]["changed"] == 1
    labelled = page.store.value("labels", "images")
    assert labelled.labels[list(labelled.hashes).index(sha)] == "non_face"
    assert (pd.Series(labelled.labels).value_counts().to_dict() == {"non_face": 101, "face": 99})
    trained = after["train"]["records"]["training"]["class_counts"]
    assert trained != counts and sum(trained.values()) == sum(counts.values())
    assert install_snapshot() == installed  # nothing written into the installed workflows


async def test_lobe_offers_to_save_before_correcting(user: User, registry, cache, workspace: Path) -> None:
    page = await open_on_sample(user, registry, cache, workspace, "lobe_train_predict", "faces", 20)
    await run_all(user, page)
    select(user, "evaluate")
    await user.should_see(marker="cell-0-0", retries=LOADS)
    user.find(marker="cell-0-0").click()
    await user.should_see("Save to enable corrections")
    user.find(marker="save-to-correct").click()
    await user.should_see("Save the workflow as")
    user.find(marker="entry-mine").click()
    user.find(marker="dialog-ok").click()
    await until(lambda: page.state.path is not None, what="the save")
    evaluation = page.store.value("evaluate", "evaluation")
    index = int(evaluation.cell(evaluation.classes[0], evaluation.predicted_classes[0])[0])
    await user.should_not_see("Save to enable corrections")
    (relabel,) = user.find(marker=f"relabel-{index}").elements
    assert relabel.enabled
    relabel.set_value(evaluation.classes[1])
    await until((page.state.path.parent / "label-overrides.csv").is_file, what="the correction's save")


async def test_clashifier_one_stroke_keeps_every_shipped_class(user: User, registry, cache,
                                                               workspace: Path) -> None:
    """Painted before the copy is saved: the view shows the shipped mask, and saving asks
    where the workflow goes first (labels are never kept in a temporary folder)."""
    installed = install_snapshot()
    photos = sample_data(workspace, "photos")
    for extra in sorted(photos.iterdir())[3:]:  # a few photos are enough, and quick
        if extra.name != "china.jpg":
            extra.unlink()
    make_app(registry, cache, workspace)
    page = await open_ready(user, "clashifier_regions")
    page.set_param("photos", "folder", str(photos))
    page.set_param("train", "n_trees", 10)
    await run_all(user, page)
    legend = page.state.workflow.node("regions").params["legend"]
    shipped = class_pixels(READY_MASK, legend)
    assert shipped["building"] > 0.1 * sum(shipped.values())  # 'building' is ~16 % of the labels

    select(user, "regions")
    await user.should_see("Paint with the left mouse button.", retries=LOADS)
    await user.should_see("labels of china.jpg from")  # the shipped mask is the base layer
    drawing = user.find(ui.interactive_image)
    (canvas,) = drawing.elements
    assert "<image href=" in canvas.content  # shown under the strokes
    (tool,) = user.find(marker="label-tool").elements
    tool.value = "water"
    for kind, x, y in (("mousedown", 50, 380), ("mousemove", 140, 380), ("mouseup", 140, 380)):  # unlabelled ground
        drawing.trigger("mouse", {"mouse_event_type": kind, "image_x": x, "image_y": y, "button": 0,
                                  "buttons": 1})
    user.find(marker="label-save-run").click()
    await user.should_see("Save the workflow as")  # the labels go beside the workflow: it needs a file
    user.find(marker="entry-mine").click()
    user.find(marker="dialog-ok").click()
    await user.should_see("Labels saved in", retries=LOADS)
    await until(lambda: page.summary.text.startswith("Last run") and not page.runner.running, what="the run")
    assert page.state.path.parent == workspace / "mine"
    masks = page.state.workflow.node("regions").params["masks"]
    assert masks == "regions_masks"  # beside the workflow, not in a temporary folder
    saved = class_pixels(workspace / "mine" / masks / "china.png", legend)
    for name, count in shipped.items():  # the stroke painted unlabelled ground: every class stays
        assert saved[name] >= count, (name, count, saved[name])
    assert saved["water"] > shipped["water"]
    samples = run_manifest(page.out_dir())["regions"]["records"]["samples_per_class"]
    assert set(samples) == set(shipped)

    # a new colour for 'sky' from the legend's colour picker: the legend and the masks follow
    await user.should_see("labels of china.jpg from", retries=LOADS)
    sky = sorted(user.find(ui.color_picker).elements, key=lambda e: e.id)[0]
    UserInteraction(user, {sky.q_color}, None).trigger("change", "#00ffff")
    await until(lambda: "sky=#00ffff" in page.state.workflow.node("regions").params["legend"], what="the new colour")
    recoloured = class_pixels(workspace / "mine" / masks / "china.png", legend.replace("#aec7e8", "#00ffff"))
    assert recoloured == saved
    assert install_snapshot() == installed


async def test_cluster_cut_on_the_dendrogram_reaches_the_export(user: User, registry, cache,
                                                                workspace: Path) -> None:
    page = await open_on_sample(user, registry, cache, workspace, "cluster_folder", "digits", 5)
    await save_as(user, page, "digits")
    await run_all(user, page)
    export = page.out_dir() / "clusters"
    assert len(cluster_folders(export)) == 10

    # did the clusters find the categories? folder labels under the thumbnails, on the map,
    # and a cluster x label table with purity and ARI (the same ARI as the saved table gives)
    select(user, "cluster")
    await user.should_see(marker="viewer-Clusters vs labels", retries=LOADS)
    grid = next(e for e in user.find(ui.html).elements if "fc-gallery" in e.classes)
    assert grid.content.count('class="fc-caption"') == 50
    user.find(marker="viewer-Map").click()
    await user.should_see(marker="map-colour-by", retries=LOADS)
    user.find(marker="viewer-Clusters vs labels").click()
    await user.should_see("adjusted Rand index", retries=LOADS)
    saved = pd.read_csv(page.out_dir() / "clusters.csv", dtype=str)
    ari = adjusted_rand_score(saved["folder_label"], saved["cluster"])
    await user.should_see("purity")
    await user.should_see(f"adjusted Rand index {ari:.3f}")

    user.find(marker="output-dendrogram").click()
    await user.should_see("cut at")
    # dragging the cut line ends with the chart reporting the height it was let go at
    tree = page.store.value("cluster", "dendrogram")
    z = np.asarray(tree.linkage)
    height = float((z[-4, 2] + z[-3, 2]) / 2)  # between the 4th and 3rd last merges: 4 clusters
    user.find(ui.echart).trigger(CUT_EVENT, {"height": height})
    await user.should_see("4 clusters")
    page.summary.text = ""
    user.find(marker="apply-cut").click()
    params = page.state.workflow.node("cluster").params
    assert params["cut"] == "n_clusters" and params["n_clusters"] == 4  # the user's mode is kept
    await until(lambda: page.summary.text.startswith("Last run") and not page.runner.running, what="the run")
    await user.should_see("into 4 clusters", retries=LOADS)  # still on the dendrogram tab
    # the export ran too (no second Run): its folders on disk are the viewer's 4 clusters
    assert len(cluster_folders(export)) == 4
    assert page.status("export").state == "done"
    table = pd.read_csv(export / "images.csv")
    assert table.shape[0] == 50


READY_MASK = Path(__file__).resolve().parents[1] / "workflows" / "data" / "clashifier" / "masks" / "china.png"


OTHER_JOURNEYS = {
    # ready workflow: (sample set, {node.param: value or a sample subpath}, node whose viewer is shown,
    #                  what it shows, a file the run writes into its output folder)
    "digits_nearest_neighbour": ("digits", {"import.folder": "digits", "import.max_per_label": 10,
                                            "new.folder": "digits/7", "new.max_per_label": 0},
                                 "evaluate", "cell-0-0", "predictions.csv"),
    "transfer_learning": ("all", {"import.folder": "faces", "import.max_per_label": 20,
                                  "embed.backend": "pixels", "image.file": "photos/astronaut.png"},
                          "predict", "viewer-Images", "scores.csv"),
    "colour_names": ("colour_names", {"weak.folder": "colour_names"}, "classify", "viewer-Original and classified",
                     "colour_names"),
}


@pytest.mark.parametrize("stem", sorted(OTHER_JOURNEYS))
async def test_every_other_ready_workflow_runs_on_sample_data(user: User, registry, cache, workspace: Path,
                                                              stem: str) -> None:
    """Open as a copy, point at sample data, Save As, run, look at the main viewer, find the output."""
    installed = install_snapshot()
    dataset, settings, node, shown, output = OTHER_JOURNEYS[stem]
    from flowclass.cli import main

    assert main(["sample", str(workspace), "--dataset", dataset]) == 0
    make_app(registry, cache, workspace)
    page = await open_ready(user, stem)
    for target, value in settings.items():
        node_id, name = target.split(".")
        if name in ("folder", "file"):
            value = str(workspace / value)
        page.set_param(node_id, name, value)
    await save_as(user, page, stem)
    await run_all(user, page, timeout=120)
    select(user, node)
    await user.should_see(marker=shown, retries=LOADS)
    written = page.out_dir() / output
    assert written.exists(), written
    if stem == "digits_nearest_neighbour":  # every image of the new folder is predicted
        assert len(pd.read_csv(written)) == len(list((workspace / "digits" / "7").iterdir()))
    assert install_snapshot() == installed
