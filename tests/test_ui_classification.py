"""The confusion-matrix and misclassified viewers: see a cell's images, correct a label, retrain.

On a real evaluation (k-NN on 2x2-pixel digits, coarse enough to make mistakes), in the
simulated ``user`` and in a real Chromium (``screen``).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from nicegui import ui
from nicegui.testing import Screen, User
from selenium.webdriver.common.by import By

from classify_helpers import digits_training, run
from flowclass.library import default_registry
from flowclass.viewers import ViewerContext
from flowclass.viewers.registry import default_viewers
from nodes.viewers.classification import confusion_matrix, misclassified

SHOTS = Path(__file__).resolve().parents[1] / "screenshots"


@pytest.fixture(scope="module")
def trained(registry, shared_cache, tmp_path_factory):
    """A workflow folder, the nodes of a digits run reading label-overrides.csv there, and the run."""
    folder = tmp_path_factory.mktemp("workflow")
    nodes, edges = digits_training(per_label=20, embed={"pixel_size": 2})
    nodes.insert(1, ("labels", "label_overrides", {}))
    edges[0] = ("images.images", "labels.images")
    edges.append(("labels.images", "embed.images"))
    result = run(registry, shared_cache, nodes, edges, folder, base_dir=folder)
    assert result.ok, [o.error for o in result.failed]
    return folder, nodes, edges, result


def context(workflow_dir: Path | None, out: Path, refreshed: list, runs: list | None = None
            ) -> ViewerContext:
    return ViewerContext(node_id="evaluate", port="evaluation", data_type="evaluation",
                         workflow_dir=workflow_dir, out_dir=out,
                         image_url=lambda path, sha256=None, size=160: str(path),
                         upstream=lambda name: None, set_params=lambda node, params: None,
                         run=lambda nodes: (runs if runs is not None else []).append(nodes),
                         refresh=lambda: refreshed.append(True),
                         store_dir=lambda name: out,
                         # the workflow of `trained`: its Label Overrides node reads the default file
                         upstream_node=lambda node_type: "labels" if node_type == "label_overrides" else None,
                         input_path=lambda node, name: workflow_dir / "label-overrides.csv"
                         if workflow_dir is not None else None,
                         workflow_path=lambda: workflow_dir / "flow.json" if workflow_dir is not None else None)


def worst_cell(evaluation) -> tuple[int, int]:
    """The off-diagonal cell with the most images."""
    off = evaluation.confusion.copy()
    for r, name in enumerate(evaluation.classes):
        off[r, evaluation.predicted_classes.index(name)] = -1
    r, c = np.unravel_index(np.argmax(off), off.shape)
    assert off[r, c] > 0, "the coarse digits model should make mistakes"
    return int(r), int(c)


def test_viewers_are_registered_for_evaluations(trained):
    evaluation = trained[3].output("evaluate", "evaluation")
    titles = [v.title for v in default_viewers(default_registry()).for_value("evaluation", evaluation)]
    assert titles[:2] == ["Confusion matrix", "Misclassified"]


@pytest.mark.anyio
@pytest.mark.slow
async def test_click_a_cell_see_its_images_and_correct_a_label(user: User, trained, registry,
                                                               shared_cache, tmp_path):
    folder, nodes, edges, result = trained
    evaluation = result.output("evaluate", "evaluation")
    refreshed: list = []
    runs: list = []

    @ui.page("/")
    def page() -> None:
        confusion_matrix.show(evaluation, context(folder, tmp_path, refreshed, runs))

    await user.open("/")
    await user.should_see(f"Accuracy {evaluation.accuracy:.1%}")
    r, c = worst_cell(evaluation)
    true, predicted = evaluation.classes[r], evaluation.predicted_classes[c]
    user.find(marker=f"cell-{r}-{c}").click()
    await user.should_see(f"True '{true}', predicted '{predicted}'")
    shown = evaluation.cell(true, predicted)
    assert len(user.find(ui.image).elements) == len(shown) == evaluation.confusion[r, c]
    # say the first of them really is what the model thought
    index = int(shown[0])
    (select,) = user.find(marker=f"relabel-{index}").elements
    other = next(name for name in evaluation.classes if name not in (true, predicted))
    select.set_value(other)  # and at once changed again: the last choice is what the file keeps
    select.set_value(predicted)
    await user.should_see(f"is now '{predicted}'", retries=50)  # saved off the event loop, in turn
    table = pd.read_csv(folder / "label-overrides.csv", dtype=str, keep_default_na=False)
    sha = evaluation.predictions.images.hashes[index]
    assert table.values.tolist() == [[sha, evaluation.predictions.images.relpaths[index], predicted]]
    assert refreshed == [True, True]  # one per correction saved
    user.find(marker="retrain").click()
    assert runs == [None]  # the whole workflow: only what the correction changed re-runs
    # retraining reads the correction: that image's true label is now the predicted one
    again = run(registry, shared_cache, nodes, edges, folder, base_dir=folder)
    assert again.outcomes["labels"].state == "done" and again.outcomes["train"].state == "done"
    images = again.output("labels", "images")
    assert images.labels[list(images.hashes).index(sha)] == predicted


@pytest.mark.anyio
@pytest.mark.slow
async def test_misclassified_list_and_unsaved_workflow(user: User, trained, tmp_path):
    evaluation = trained[3].output("evaluate", "evaluation")

    @ui.page("/")
    def page() -> None:
        misclassified.show(evaluation, context(None, tmp_path, []))

    await user.open("/")
    await user.should_see("Misclassified, most confident first")
    await user.should_see("Save the workflow to correct labels")
    wrong = evaluation.wrong()
    assert len(user.find(ui.image).elements) == min(len(wrong), 60)
    selects = user.find(ui.select).elements
    assert selects and all(not s.enabled for s in selects)


@pytest.mark.browser
@pytest.mark.slow
def test_confusion_matrix_in_browser(screen: Screen, trained, tmp_path):
    folder, _, _, result = trained
    evaluation = result.output("evaluate", "evaluation")

    @ui.page("/")
    def page() -> None:
        confusion_matrix.show(evaluation, context(folder, tmp_path, []))

    screen.open("/", timeout=15)
    driver = screen.selenium
    cells = driver.find_elements(By.CSS_SELECTOR, ".fc-confusion button")
    assert len(cells) == len(evaluation.classes) * len(evaluation.predicted_classes)
    r, c = worst_cell(evaluation)
    cell = cells[r * len(evaluation.predicted_classes) + c]
    assert cell.text == str(evaluation.confusion[r, c])
    cell.click()
    deadline = time.time() + 5
    while time.time() < deadline:
        loaded = driver.execute_script(
            "return [...document.querySelectorAll('.fc-cell-image img')]"
            ".filter(i => i.complete && i.naturalWidth > 0).length")
        if loaded == evaluation.confusion[r, c]:
            break
        time.sleep(0.1)
    assert loaded == evaluation.confusion[r, c]
    screen.should_contain(f"predicted '{evaluation.predicted_classes[c]}'")
    SHOTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(SHOTS / "confusion_matrix.png"))


@pytest.mark.anyio
@pytest.mark.slow
async def test_without_a_label_overrides_node_it_says_where_to_add_one(user: User, trained, tmp_path):
    evaluation = trained[3].output("evaluate", "evaluation")
    ctx = replace(context(tmp_path, tmp_path, []), upstream_node=lambda node_type: None)

    @ui.page("/")
    def page() -> None:
        misclassified.show(evaluation, ctx)

    await user.open("/")
    await user.should_see("add a Label Overrides node between Import Images and Embed")
    assert all(not s.enabled for s in user.find(ui.select).elements)
    assert not (tmp_path / "label-overrides.csv").exists()


@pytest.mark.anyio
async def test_a_correction_made_meanwhile_in_another_tab_is_shown_not_overwritten(user: User, trained, tmp_path):
    """Two tabs show the same misclassified images; the second corrects one, then the first
    (its screen older) chose another label for it: that silently replaced the second tab's
    correction. Now the older view finds itself behind the file (checked under the file's lock),
    writes nothing and shows what the file holds; a choice made then is saved."""
    from nodes.lib.classify.label_overrides import read_label_file, set_label

    evaluation = trained[3].output("evaluate", "evaluation")
    images = evaluation.predictions.images
    refreshed: list = []

    @ui.page("/")
    def page() -> None:
        misclassified.show(evaluation, context(tmp_path, tmp_path, refreshed))

    await user.open("/")
    await user.should_see("Misclassified, most confident first")
    index = int(evaluation.wrong()[np.argsort(-evaluation.predictions.scores[evaluation.wrong()], kind="stable")][0])
    given = str(images.labels[index])
    theirs, mine = [name for name in evaluation.classes if name != given][:2]
    labels = tmp_path / "label-overrides.csv"
    set_label(labels, str(images.hashes[index]), images.relpath(index), theirs)  # the other tab's correction

    (select,) = user.find(marker=f"relabel-{index}").elements
    assert select.value == given  # this tab's older screen
    select.set_value(mine)
    await user.should_see("were corrected meanwhile", retries=50)
    assert read_label_file(labels)["label"].tolist() == [theirs]  # kept
    (select,) = user.find(marker=f"relabel-{index}").elements
    assert select.value == theirs  # shown now
    assert refreshed == [True]

    select.set_value(mine)  # chosen knowing the other tab's: saved
    await user.should_see(f"is now '{mine}'", retries=50)
    assert read_label_file(labels)["label"].tolist() == [mine]
