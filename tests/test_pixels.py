"""Pixel classification on real photos with masks the tests paint: learning, areas, errors.

The photo is scikit-learn's china.jpg (a pagoda above a lake, trees, sky). Training
regions and held-out regions are disjoint rectangles of the same land types.
"""

import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image, ImageDraw

from flowclass.engine import Engine
from flowclass.workflow_file import loads
from tests.conftest import REPO

LEGEND = "sky=#aec7e8, water=#1f77b4, trees=#2ca02c, building=#d62728"
TRAIN = {"#aec7e8": [(360, 10, 620, 60)], "#1f77b4": [(370, 255, 530, 285)],
         "#2ca02c": [(575, 200, 630, 330)], "#d62728": [(120, 195, 300, 225)]}
HELD_OUT = {"#aec7e8": [(15, 15, 75, 110), (400, 90, 600, 130)],
            "#1f77b4": [(10, 272, 55, 300), (420, 295, 500, 312)],
            "#2ca02c": [(0, 340, 60, 420), (360, 365, 520, 420)],
            "#d62728": [(110, 290, 320, 318), (150, 120, 280, 140)]}


def paint(path, size, regions, extra=()):
    """A mask PNG: transparent, with filled rectangles of each class colour."""
    mask = Image.new("RGBA", size, (0, 0, 0, 0))
    pen = ImageDraw.Draw(mask)
    for colour, boxes in list(regions.items()) + list(extra):
        for box in boxes:
            pen.rectangle(box, fill=colour)
    path.parent.mkdir(parents=True, exist_ok=True)
    mask.save(path)
    return path


@pytest.fixture(scope="module")
def china(tmp_path_factory):
    """china.jpg in a folder of its own, with a training mask and a held-out mask."""
    from sklearn.datasets import load_sample_images

    root = tmp_path_factory.mktemp("china")
    source = next(p for p in load_sample_images().filenames if p.endswith("china.jpg"))
    (root / "photos").mkdir()
    shutil.copyfile(source, root / "photos" / "china.jpg")
    paint(root / "train" / "china.png", (640, 427), TRAIN)
    paint(root / "held_out" / "china.png", (640, 427), HELD_OUT)
    return root


def flow(registry, nodes, edges):
    doc = {"schema_version": 1, "nodes": [{"id": i, "type": t, "params": p} for i, t, p in nodes],
           "edges": [{"from": {"node": a, "port": b}, "to": {"node": c, "port": d}}
                     for a, b, c, d in edges]}
    return loads(json.dumps(doc), registry)


def clashifier(registry, china, model, **classify):
    return flow(registry, [
        ("photos", "import_images", {"folder": str(china / "photos")}),
        ("regions", "pixel_samples_mask", {"masks": str(china / "train"), "legend": LEGEND}),
        ("train", "train_pixel_classifier", {"model": model}),
        ("classify", "classify_pixels", classify),
        ("judge", "evaluate_pixels", {"masks": str(china / "held_out"), "legend": LEGEND}),
    ], [("photos", "images", "regions", "images"), ("regions", "samples", "train", "samples"),
        ("train", "model", "classify", "model"), ("photos", "images", "classify", "images"),
        ("classify", "maps", "judge", "maps")])


@pytest.mark.parametrize("model", ["nearest_centroid", "random_forest"])
def test_models_beat_the_majority_class_on_a_held_out_mask(registry, shared_cache, china, tmp_path, model):
    result = Engine(registry, shared_cache).run(clashifier(registry, china, model), out_dir=tmp_path)
    assert result.ok, [(o.node, o.error) for o in result.failed]
    per_class = result.output("judge", "per_class")
    baseline = per_class["pixels"].max() / per_class["pixels"].sum()  # always say "trees"
    accuracy = result.output("judge", "scores")["pixel_accuracy"].iloc[0]
    assert baseline < 0.4 and accuracy > baseline + 0.3, (accuracy, baseline)
    assert per_class["recall"].min() > 0.4  # every land type is found, not just the big ones
    confusion = result.output("judge", "confusion")
    assert confusion.drop(columns="true class").to_numpy().sum() == per_class["pixels"].sum()
    report = result.output("train", "report")
    assert report["holdout_accuracy"].iloc[-1] > 0.8 and report["class"].iloc[-1] == "(all classes)"


def test_the_area_table_sums_to_100_percent_unknown_included(registry, shared_cache, china, tmp_path):
    result = Engine(registry, shared_cache).run(
        clashifier(registry, china, "nearest_centroid", unknown_below=0.9), out_dir=tmp_path)
    areas = result.output("classify", "areas")
    assert list(areas["class"]) == ["sky", "water", "trees", "building", "unknown"]
    assert areas["percent"].sum() == pytest.approx(100.0)
    assert areas["pixels"].sum() == 640 * 427
    assert 0 < areas.set_index("class").loc["unknown", "percent"] < 100
    maps = result.output("classify", "maps")
    stored = np.asarray(Image.open(maps.maps[0]))
    assert np.bincount(stored.ravel(), minlength=5).tolist() == areas["pixels"].tolist()


def test_a_mask_colour_missing_from_the_legend_is_named(registry, cache, china, tmp_path):
    masks = tmp_path / "masks"
    paint(masks / "china.png", (640, 427), TRAIN, extra=[("#123456", [(0, 0, 9, 9)])])
    wf = flow(registry, [
        ("photos", "import_images", {"folder": str(china / "photos")}),
        ("regions", "pixel_samples_mask", {"masks": str(masks), "legend": LEGEND}),
    ], [("photos", "images", "regions", "images")])
    result = Engine(registry, cache).run(wf, out_dir=tmp_path)
    failed = result.outcomes["regions"]
    assert failed.state == "failed" and failed.field == "masks"
    assert "#123456 (100 pixels)" in failed.error and "china.png" in failed.error
    assert "not in the legend" in failed.error


def test_a_mask_of_another_size_and_a_broken_legend_are_refused(registry, cache, china, tmp_path):
    from flowclass.validation import validate

    masks = tmp_path / "masks"
    paint(masks / "china.png", (320, 213), TRAIN)
    nodes = [("photos", "import_images", {"folder": str(china / "photos")}),
             ("regions", "pixel_samples_mask", {"masks": str(masks), "legend": LEGEND})]
    result = Engine(registry, cache).run(flow(registry, nodes, [("photos", "images", "regions", "images")]),
                                         out_dir=tmp_path)
    assert "is 320x213 pixels but its image is 640x427" in result.outcomes["regions"].error
    nodes[1][2]["legend"] = "sky=#aec7e8, water=bluish"
    problems = [p for p in validate(flow(registry, nodes, []), registry) if p.field == "legend"]
    assert len(problems) == 1 and problems[0].node == "regions"
    assert "'bluish' is not a colour" in problems[0].message


def test_editing_a_mask_reruns_the_samples(registry, cache, china, tmp_path):
    masks = tmp_path / "masks"
    paint(masks / "china.png", (640, 427), TRAIN)
    wf = flow(registry, [
        ("photos", "import_images", {"folder": str(china / "photos")}),
        ("regions", "pixel_samples_mask", {"masks": str(masks), "legend": LEGEND, "max_per_class": 100000}),
    ], [("photos", "images", "regions", "images")])
    engine = Engine(registry, cache)
    first = engine.run(wf, out_dir=tmp_path).output("regions", "summary")
    assert engine.run(wf, out_dir=tmp_path).outcomes["regions"].state == "cached"
    paint(masks / "china.png", (640, 427), {**TRAIN, "#1f77b4": [(370, 255, 400, 285)]})
    again = engine.run(wf, out_dir=tmp_path)
    assert again.outcomes["regions"].state == "done"
    water = again.output("regions", "summary").set_index("class").loc["water", "pixels"]
    assert water == 31 * 31 < first.set_index("class").loc["water", "pixels"]


def run_colour_names(shared_cache, tmp_path, *sets):
    from flowclass.cli import main

    out = tmp_path / "out"
    args = ["run", str(REPO / "workflows" / "colour_names.json"), "--out", str(out),
            "--cache", str(shared_cache.root), "-q"]
    for item in sets:
        args += ["--set", item]
    assert main(args) == 0
    return json.loads((out / "run.json").read_text())["nodes"]


@pytest.mark.slow
def test_denoising_weak_labels_improves_golden_set_accuracy(shared_cache, tmp_path):
    """The ready workflow on the colour_names sample set: a folder per colour name whose
    images have 35 % of their pixels painted in a wrong colour."""
    cleaned = run_colour_names(shared_cache, tmp_path / "a")
    noisy = run_colour_names(shared_cache, tmp_path / "b", "samples.denoise=none")
    with_denoising = cleaned["evaluate"]["records"]["pixel_accuracy"]
    without = noisy["evaluate"]["records"]["pixel_accuracy"]
    assert with_denoising > 0.9 and with_denoising > without + 0.1, (with_denoising, without)
    kept = cleaned["samples"]["records"]["kept_after_denoising"]
    assert all(n < 24 * 1000 for n in kept.values())  # 12 images x 1600 pixels, some dropped
    saved = sorted(p.name for p in (tmp_path / "a" / "out" / "colour_names").iterdir()
                   if not p.name.startswith("."))
    assert saved == ["areas.csv", "china.png", "china_beside.jpg", "flower.png",
                     "flower_beside.jpg", "motorcycle.png", "motorcycle_beside.jpg"]


@pytest.mark.slow
def test_the_clashifier_workflow_runs_as_it_stands(shared_cache, tmp_path):
    from flowclass.cli import main

    out = tmp_path / "out"
    assert main(["run", str(REPO / "workflows" / "clashifier_regions.json"), "--out", str(out),
                 "--cache", str(shared_cache.root), "-q"]) == 0
    import pandas as pd

    areas = pd.read_csv(out / "clashifier" / "areas.csv")
    china = areas[areas["image"] == "china.jpg"].set_index("class")["percent"]
    assert china.sum() == pytest.approx(100.0)
    assert china["trees"] > 20 and china["sky"] > 15 and china["water"] > 3  # by eye: ~40/30/10
    with Image.open(out / "clashifier" / "china_beside.jpg") as beside:
        assert beside.size == (1280, 427)


def test_the_canvas_does_not_read_a_mask_linked_from_outside_its_roots(registry, cache, china, tmp_path):
    """A mask folder inside the canvas's roots holding a link to a mask outside them: the
    command line uses it, the canvas does not (and says so), even with the result cached."""
    from flowclass.ui.browse import Roots

    root = tmp_path / "root"
    (root / "masks").mkdir(parents=True)
    shutil.copytree(china / "photos", root / "photos")
    os.symlink(china / "train" / "china.png", root / "masks" / "china.png")
    wf = flow(registry, [
        ("photos", "import_images", {"folder": str(root / "photos")}),
        ("regions", "pixel_samples_mask", {"masks": str(root / "masks"), "legend": LEGEND}),
    ], [("photos", "images", "regions", "images")])
    assert Engine(registry, cache).run(wf, out_dir=tmp_path / "cli").outcomes["regions"].state == "done"
    canvas = Engine(registry, cache, may_read=Roots([root]).allows).run(wf, out_dir=root / "out")
    regions = canvas.outcomes["regions"]
    assert regions.state == "failed" and regions.field == "masks" and "no mask in" in regions.error
    assert any("outside the folders this canvas may read" in w for w in regions.warnings)


def test_a_class_is_followed_through_a_rename_a_recolour_or_both_but_not_past_its_removal():
    """What another tab did to the legend, as the Draw labels view follows it: by name, by
    colour (renamed), by place (renamed and recoloured); a removed class is not guessed."""
    from nodes.lib.pixels.legend import followed_classes

    before = {"sky": "#aec7e8", "water": "#1f77b4", "trees": "#2ca02c"}
    assert followed_classes(before, {"air": "#aec7e8", "water": "#00ffff", "trees": "#2ca02c"}) == \
        {"sky": "air", "water": "water", "trees": "trees"}
    assert followed_classes(before, {"air": "#00ff00", "water": "#1f77b4", "trees": "#2ca02c", "road": "#ff7f0e"}) \
        == {"sky": "air", "water": "water", "trees": "trees"}
    removed = followed_classes(before, {"water": "#1f77b4", "trees": "#2ca02c", "road": "#ff7f0e"})
    assert removed == {"water": "water", "trees": "trees"}
    # a new class in sky's place but in a colour the legend had (water's) is not taken for sky
    assert followed_classes(before, {"air": "#1f77b4", "water": "#00ffff", "trees": "#2ca02c"}) == \
        {"water": "water", "trees": "trees"}
