"""Headless journeys: every ready workflow, as a user runs it, on folders of 1,000+ images.

Each test copies a ready workflow somewhere else, runs ``flowclass run`` in a subprocess
with README's ``--set`` form on folders written from scikit-learn's digits (and the
colour_names sample set), and checks the files on disk: every image reaches the export,
the tables and the pictures. The embedder is raw pixels except in one EfficientNet run,
where the embedder is the point.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.metrics import adjusted_rand_score

from flowclass.library import ready_workflows_dir
from tests.conftest import REPO

pytestmark = pytest.mark.slow  # 1,000+ images per journey: the full suite, not the quick loop
WORKFLOWS = ready_workflows_dir()
N = 1797  # scikit-learn's digits
FEW = 1000  # the pixel workflows classify every pixel: 1,000 images keep CI time reasonable


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """digits/ (a subfolder per digit), new/ (the same images, unlabelled, in one folder),
    few/ (1,000 of them), strokes/ (ink and paper painted on three of those), golden/ (those
    and the colour golden photos), golden_masks/, colours/ (weakly labelled colour folders)."""
    from nodes.lib.images.sample_images import write_sample

    root = tmp_path_factory.mktemp("journeys")
    digits = write_sample("digits", root / "digits")
    for folder in ("new", "few", "strokes", "golden", "golden_masks"):
        (root / folder).mkdir()
    for k, path in enumerate(sorted(digits.rglob("*.png"), key=lambda p: p.name)):
        shutil.copyfile(path, root / "new" / path.name)
        for folder in ("few", "golden") if k < FEW else ():
            shutil.copyfile(path, root / folder / path.name)
    for name in sorted(os.listdir(root / "few"))[:3]:
        gray = np.asarray(Image.open(root / "few" / name).convert("L"))
        mask = np.where(gray[..., None] >= 128, 255, 0).astype(np.uint8).repeat(3, axis=2)
        Image.fromarray(mask).save(root / "strokes" / name)
    shipped = REPO / "workflows" / "data" / "colour_names" / "golden"
    for name in os.listdir(shipped / "images"):
        shutil.copyfile(shipped / "images" / name, root / "golden" / name)
        shutil.copyfile(shipped / "masks" / name, root / "golden_masks" / name)
    write_sample("colour_names", root / "colours")
    return root


def flowclass_run(name: str, out: Path, cache, *sets: str) -> str:
    """Run a copy of a ready workflow (kept elsewhere) as a user does; returns its output."""
    copy = out.parent / f"my_{name}.json"
    shutil.copyfile(WORKFLOWS / f"{name}.json", copy)
    args = [sys.executable, "-m", "flowclass.cli", "run", str(copy), "--out", str(out),
            "--cache", str(cache.root), "-q"]
    for assignment in sets:
        args += ["--set", assignment]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def exported(folder: Path) -> dict[str, str]:
    """image file name -> the label folder it was exported into."""
    return {p.name: p.parent.name for p in folder.rglob("*.png")}


def truth(data: Path) -> dict[str, str]:
    return {p.name: p.parent.name for p in (data / "digits").rglob("*.png")}


def pictures(out: Path, *names: str) -> None:
    for name in names:
        with Image.open(out / name) as image:
            assert image.format == "PNG" and min(image.size) > 200, name


def test_cluster_folder_sorts_every_image(data, shared_cache, tmp_path):
    out = tmp_path / "out"
    flowclass_run("cluster_folder", out, shared_cache, f"import.folder={data / 'digits'}",
                  "cluster.n_clusters=10", "embed.backend=pixels")
    placed = exported(out / "clusters")
    assert len(placed) == N and set(placed) == set(truth(data))
    table = pd.read_csv(out / "clusters.csv", dtype=str)
    assert len(table) == N and {"folder_label", "cluster", "score"} <= set(table.columns)
    assert adjusted_rand_score(table["folder_label"], table["cluster"]) > 0.4
    listing = pd.read_csv(out / "clusters" / "images.csv", dtype=str)
    assert len(listing) == N and list(listing.columns[:4]) == ["source", "exported",
                                                              "folder_label", "cluster"]
    assert all(placed[Path(e).name] == c for e, c in zip(listing["exported"], listing["cluster"]))
    pictures(out, "dendrogram.png", "map.png")


def _check_predictions(data: Path, out: Path, folder: str, max_uncertain: float, min_right: float):
    placed, known = exported(out / folder), truth(data)
    assert len(placed) == N and set(placed) == set(known)  # every new image, none capped
    predictions = pd.read_csv(out / "predictions.csv", dtype=str)
    assert len(predictions) == N and {"prediction", "confidence", "top1", "top3"} <= set(
        predictions.columns)
    uncertain = np.mean([label == "uncertain" for label in placed.values()])
    right = np.mean([placed[name] == known[name] for name in placed])
    assert uncertain <= max_uncertain and right >= min_right, (uncertain, right)
    evaluation = pd.read_csv(out / "evaluation.csv", dtype={"class": str}).set_index("class")
    assert list(evaluation.index) == [str(d) for d in range(10)] + ["(all)"]
    assert evaluation.loc["(all)", "accuracy"] > 0.85
    assert pd.read_csv(out / "confusion_matrix.csv").iloc[:, 1:].to_numpy().sum() == \
        evaluation.loc["(all)", "images"]
    pictures(out, "confusion_matrix.png")


def test_lobe_train_predict_with_efficientnet(data, shared_cache, tmp_path):
    out = tmp_path / "out"
    flowclass_run("lobe_train_predict", out, shared_cache, f"import.folder={data / 'digits'}",
                  f"new.folder={data / 'new'}")
    _check_predictions(data, out, "by_prediction", max_uncertain=0.1, min_right=0.85)
    assert (out / "classifier.fcmodel").is_file()


def test_lobe_train_predict_switched_to_pixels_and_a_forest(data, shared_cache, tmp_path):
    """One --set changes the embedder of training and prediction; a random forest's
    calibrated confidence keeps the 'uncertain' folder small (it took 58 % uncalibrated)."""
    out = tmp_path / "out"
    flowclass_run("lobe_train_predict", out, shared_cache, f"import.folder={data / 'digits'}",
                  f"new.folder={data / 'new'}", "embed.backend=pixels",
                  "train.model=random_forest")
    _check_predictions(data, out, "by_prediction", max_uncertain=0.15, min_right=0.85)
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["nodes"]["embed"]["records"]["embedder"]["backend"] == "pixels"


def test_digits_nearest_neighbour_predicts_every_digit(data, shared_cache, tmp_path):
    out = tmp_path / "out"
    said = flowclass_run("digits_nearest_neighbour", out, shared_cache,
                         f"import.folder={data / 'digits'}", f"new.folder={data / 'new'}")
    assert "max_per_label" not in said  # no cap, so no warning about one
    predictions = pd.read_csv(out / "predictions.csv", dtype=str)
    known = truth(data)
    assert sorted(predictions["relpath"]) == sorted(known)
    assert np.mean([known[r] == p for r, p in zip(predictions["relpath"],
                                                  predictions["prediction"])]) > 0.97
    assert (out / "evaluation.csv").is_file()
    pictures(out, "confusion_matrix.png")


def test_transfer_learning_scores_a_whole_folder(data, shared_cache, tmp_path):
    out = tmp_path / "out"
    flowclass_run("transfer_learning", out, shared_cache, f"import.folder={data / 'digits'}",
                  f"image.folder={data / 'new'}", "embed.backend=pixels")
    scores = pd.read_csv(out / "scores.csv", dtype=str)
    assert sorted(scores["relpath"]) == sorted(truth(data))
    assert {f"top{k}" for k in range(1, 6)} <= set(scores.columns) and "top6" not in scores
    assert np.mean(scores["top1"] == scores["relpath"].map(truth(data))) > 0.85


def test_clashifier_regions_classifies_every_pixel_of_every_image(data, shared_cache, tmp_path):
    out = tmp_path / "out"
    flowclass_run("clashifier_regions", out, shared_cache, f"photos.folder={data / 'few'}",
                  f"regions.masks={data / 'strokes'}", "regions.legend=ink=#ffffff, paper=#000000")
    maps = {p.stem for p in (out / "clashifier").glob("*.png")}
    assert maps == {Path(name).stem for name in os.listdir(data / "few")} and len(maps) == FEW
    areas = pd.read_csv(out / "clashifier" / "areas.csv")
    assert len(areas) == 2 * FEW and set(areas["class"]) == {"ink", "paper"}
    pictures(out, "areas.png")


def test_colour_names_names_the_colours_of_every_golden_image(data, shared_cache, tmp_path):
    out = tmp_path / "out"
    flowclass_run("colour_names", out, shared_cache, f"weak.folder={data / 'colours'}",
                  f"golden.folder={data / 'golden'}", f"evaluate.masks={data / 'golden_masks'}")
    maps = {p.stem for p in (out / "colour_names").glob("*.png")}
    assert len(maps) == FEW + 3 and {"china", "flower", "motorcycle"} <= maps
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["ok"] and manifest["nodes"]["evaluate"]["state"] in ("done", "cached")
    pictures(out, "areas.png")
