"""Hostile names through every viewer, in a real browser: shown as text, never run as markup.

Labels come from folder names, label files and shared model files; file names, node titles
and workflow names come from whoever made them. Each here is a payload that runs script
(sets ``window.__xss``) if any part of the canvas puts it into the page as HTML. The test
runs a workflow that carries them into every kind of result, opens every output and every
viewer tab of every node, hovers every chart, and checks that nothing ran and that each
name is visible literally.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from canvas_helpers import wait_until
from classify_helpers import workflow
from nicegui.testing import Screen
from PIL import Image
from selenium.webdriver.common.by import By
from sklearn.datasets import load_digits

from flowclass.engine import Engine
from flowclass.ui.app import setup
from flowclass.ui.browse import Roots
from flowclass.ui.page import AppConfig

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def payload(n: int) -> str:
    return f"<img src=x onerror=window.__xss={n}>"


FOLDER_LABELS = [payload(1), "<svg onload=window.__xss=2>", "'\"><iframe srcdoc=x onload=window.__xss=3>"]
FILE_NAME = payload(4) + ".png"
BROKEN_FILE = "<svg onload=window.__xss=5>.png"
OVERRIDE_LABEL = "</div><script>window.__xss=6</script><img src=x onerror=window.__xss=6>"
MODEL_LABELS = [payload(7), "<b onmouseover=window.__xss=8>model class"]  # folder names: no '/'
NODE_TITLE = payload(9)
WORKFLOW_FILE = payload(10) + ".json"
WORKFLOW_DESCRIPTION = "<img src=x onerror=window.__xss=11> described"
MISSING_FOLDER = "missing <img src=x onerror=window.__xss=12>"
LITERAL = [*FOLDER_LABELS, FILE_NAME, BROKEN_FILE, OVERRIDE_LABEL, *MODEL_LABELS, NODE_TITLE, WORKFLOW_FILE]


def write_digits(root: Path, labels: list[str], per_label: int) -> list[Path]:
    digits = load_digits()
    written = []
    for k, label in enumerate(labels):
        folder = root / label
        folder.mkdir(parents=True)
        for j, image in enumerate(digits.images[digits.target == k][:per_label]):
            path = folder / f"digit {j}.png"
            Image.fromarray((image * 15).astype(np.uint8)).resize((32, 32)).convert("RGB").save(path)
            written.append(path)
    return written


@pytest.fixture(scope="module")
def hostile(registry, shared_cache, tmp_path_factory) -> Path:
    """A workspace: hostile folders, files, a label file, a model file and a workflow."""
    root = tmp_path_factory.mktemp("hostile")
    images = write_digits(root / "images", FOLDER_LABELS, per_label=10)
    images[0].rename(images[0].with_name(FILE_NAME))
    (root / "images" / FOLDER_LABELS[0] / BROKEN_FILE).write_bytes(b"not an image")
    with open(root / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        for i in (11, 12, 13, 21, 22, 23):
            writer.writerow([str(images[i]), OVERRIDE_LABEL])
    write_digits(root / "model_images", MODEL_LABELS, per_label=8)
    trainer = workflow(registry,
                       [("images", "import_images", {"folder": str(root / "model_images"), "sample": "none"}),
                        ("embed", "embed", {"backend": "pixels", "pixel_size": 8}),
                        ("train", "train_classifier", {"model": "knn", "n_neighbors": 3}),
                        ("save", "save_model", {"path": str(root / "shared.fcmodel")})],
                       [("images.images", "embed.images"), ("embed.embeddings", "train.embeddings"),
                        ("train.model", "save.model")])
    out = tmp_path_factory.mktemp("trained")  # the model goes where the user named it, outside --out
    trained = Engine(registry, shared_cache).run(trainer, out_dir=out, base_dir=out, named=[("save", "path")])
    assert trained.ok, [o.error for o in trained.failed]

    nodes = [
        ("import", "import_images", {"folder": str(root / "images"), "sample": "none"}, ""),
        ("labels", "label_overrides", {"file": str(root / "labels.csv")}, ""),
        ("embed", "embed", {"backend": "pixels", "pixel_size": 8}, NODE_TITLE),
        ("distances", "distances", {}, ""),
        ("cluster", "hierarchical_clustering", {"n_clusters": 3}, ""),
        ("train", "train_classifier", {"model": "knn", "n_neighbors": 3}, ""),
        ("evaluate", "evaluate", {}, ""),
        ("load", "load_model", {"file": str(root / "shared.fcmodel")}, ""),
        ("predict", "predict", {"top_k": 2}, ""),
        ("samples", "pixel_samples_folders", {"pixels_per_image": 200}, ""),
        ("pixel_train", "train_pixel_classifier", {"n_trees": 10}, ""),
        ("pixels", "classify_pixels", {}, ""),
        ("missing", "import_images", {"folder": str(root / MISSING_FOLDER), "sample": "none"}, ""),
    ]
    edges = [("import.images", "labels.images"), ("labels.images", "embed.images"),
             ("embed.embeddings", "distances.embeddings"), ("distances.distances", "cluster.distances"),
             ("embed.embeddings", "train.embeddings"), ("train.validation", "evaluate.predictions"),
             ("load.model", "predict.model"), ("embed.embeddings", "predict.embeddings"),
             ("import.images", "samples.images"), ("samples.samples", "pixel_train.samples"),
             ("pixel_train.model", "pixels.model"), ("import.images", "pixels.images")]
    doc = {"schema_version": 1, "name": payload(13), "description": WORKFLOW_DESCRIPTION,
           "nodes": [{"id": i, "type": t, "title": title, "position": {"x": 260 * (k % 5), "y": 160 * (k // 5)},
                      "params": p} for k, (i, t, p, title) in enumerate(nodes)],
           "edges": [{"from": dict(zip(("node", "port"), a.split("."))),
                      "to": dict(zip(("node", "port"), b.split(".")))} for a, b in edges]}
    (root / WORKFLOW_FILE).write_text(json.dumps(doc))
    return root


RAN = "return window.__xss;"
PAGE_TEXT = "return document.body.innerText;"
CLICKABLE_TABS = "return [...document.querySelectorAll('.{cls} [role=tab]')].map(t => t.innerText.trim());"
CLICK_TAB = """
const tab = [...document.querySelectorAll('.' + arguments[0] + ' [role=tab]')][arguments[1]];
if (tab) tab.click();
return !!tab;
"""
# Every (chart, series, point) to hover: the first point of every series of every chart.
HOVER_POINTS = """
const points = [];
document.querySelectorAll('.nicegui-echart').forEach((el, c) => {
  const chart = getElement(el)?.chart;
  (chart?.getOption().series || []).forEach((series, s) => {
    const n = Array.isArray(series.data) ? series.data.length : 0;
    if (n) points.push([c, s, 0]);
  });
});
return points;
"""
# Hover one point (ECharts' own action) and return the chart's text, its tooltip included.
HOVER = """
const [c, s, d] = arguments;
const el = document.querySelectorAll('.nicegui-echart')[c];
getElement(el).chart.dispatchAction({type: 'showTip', seriesIndex: s, dataIndex: d});
return el.innerText;
"""
SELECT_NODE = """
const title = document.querySelector(`.vue-flow__node[data-id='${arguments[0]}'] .fc-title`);
if (title) title.click();
return !!title;
"""


def node_ids(screen: Screen) -> list[str]:
    return screen.selenium.execute_script("return [...document.querySelectorAll('.vue-flow__node')].map(e => e.dataset.id)")


def badge(screen: Screen, node_id: str) -> str | None:
    return screen.selenium.execute_script(
        "return document.querySelector(`.vue-flow__node[data-id='${arguments[0]}'] .fc-badge`)?.textContent.trim()",
        node_id)


def settle(screen: Screen) -> None:
    """Wait for spinners (results loading off the event loop) to go."""
    # through JavaScript: find_elements would wait out the implicit wait each time none is left
    wait_until(lambda: not screen.selenium.execute_script("return document.querySelector('.fc-results .q-spinner')"),
               timeout=60, what="results to load")
    screen.wait(0.3)


def test_hostile_names_are_text_in_every_viewer(screen: Screen, registry, shared_cache, hostile: Path) -> None:
    setup(AppConfig(registry=registry, cache=shared_cache, roots=Roots([hostile]), workflow=hostile / WORKFLOW_FILE))
    driver = screen.selenium
    driver.set_window_size(1600, 1100)
    screen.open("/", timeout=20)
    wait_until(lambda: len(node_ids(screen)) == 13, timeout=10, what="the nodes on the canvas")
    seen = [driver.execute_script(PAGE_TEXT)]
    driver.find_element(By.CSS_SELECTOR, ".fc-run").click()
    wait_until(lambda: all(badge(screen, n) in ("done", "cached", "error", "skipped", "invalid")
                           for n in node_ids(screen)), timeout=120, what="every node to finish")
    # the missing folder is flagged before the run (its message quotes the hostile name)
    assert badge(screen, "missing") in ("error", "invalid")
    assert all(badge(screen, n) in ("done", "cached") for n in node_ids(screen) if n != "missing")
    seen.append(driver.execute_script(PAGE_TEXT))

    views = 0
    for node in node_ids(screen):
        assert driver.execute_script(SELECT_NODE, node)
        settle(screen)
        seen.append(driver.execute_script(PAGE_TEXT))
        outputs = driver.execute_script(CLICKABLE_TABS.format(cls="fc-output-tabs")) or [None]
        for o in range(len(outputs)):
            if outputs[o] is not None:
                driver.execute_script(CLICK_TAB, "fc-output-tabs", o)
                settle(screen)
            for v in range(len(driver.execute_script(CLICKABLE_TABS.format(cls="fc-viewer-tabs")))):
                driver.execute_script(CLICK_TAB, "fc-viewer-tabs", v)
                settle(screen)
                for point in driver.execute_script(HOVER_POINTS):
                    driver.execute_script(HOVER, *point)
                    screen.wait(0.05)
                    seen.append(driver.execute_script(HOVER, *point))
                seen.append(driver.execute_script(PAGE_TEXT))
                views += 1
                assert driver.execute_script(RAN) is None, f"script ran in {node} output {o} viewer {v}"
    assert views >= 25
    text = "\n".join(seen)
    missing = [name for name in LITERAL if name not in text]
    assert missing == [], f"not shown literally: {missing}"
    assert MISSING_FOLDER in text  # the error message quotes the folder as text
    assert driver.execute_script(RAN) is None

    # the folder browser (the import folder's "choose" button) lists the hostile folders as text
    assert driver.execute_script(SELECT_NODE, "import")
    folder = "return document.querySelector('[data-field=folder] input')?.value || ''"
    wait_until(lambda: driver.execute_script(folder).endswith("images"), what="the import node's inspector")
    driver.execute_script("document.querySelector('.fc-browse').click()")
    wait_until(lambda: all(label in driver.execute_script(PAGE_TEXT) for label in FOLDER_LABELS), timeout=10,
               what="the folder browser's entries")
    assert driver.execute_script(RAN) is None
