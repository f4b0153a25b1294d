"""`flowclass run` leaves tables and pictures of the results in --out, never over a user's file."""

import json

import numpy as np
import pandas as pd
from PIL import Image

from flowclass.cli import main
from flowclass.library import ready_workflows_dir

WORKFLOWS = ready_workflows_dir()

def _run(shared_cache, name, out, *sets):
    args = [f"--set={a}" for a in sets]
    return main(["run", str(WORKFLOWS / f"{name}.json"), "--out", str(out), "--cache",
                 str(shared_cache.root), "-q", *args])


def _png(path):
    with Image.open(path) as image:
        assert image.format == "PNG" and min(image.size) > 200
        return np.asarray(image.convert("L"))


def test_evaluation_tables_and_confusion_picture(shared_cache, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "confusion_matrix.csv").write_text("the user's own file\n")
    assert _run(shared_cache, "digits_nearest_neighbour", out, "import.max_per_label=30",
                "new.max_per_label=1") == 0
    captured = capsys.readouterr()
    # the user's file is left alone and the run says so; the others are written
    assert (out / "confusion_matrix.csv").read_text() == "the user's own file\n"
    assert "not saved: confusion_matrix.csv" in captured.err
    manifest = json.loads((out / "run.json").read_text())
    recorded = manifest["nodes"]["evaluate"]["records"]["evaluation"]
    table = pd.read_csv(out / "evaluation.csv", dtype={"class": str})
    assert table["class"].tolist() == [str(d) for d in range(10)] + ["(all)"]
    overall = table.iloc[-1]
    assert overall["accuracy"] == recorded["accuracy"]
    assert overall["balanced_accuracy"] == recorded["balanced_accuracy"]
    assert overall["images"] == recorded["images"] == table["images"][:-1].sum() == 60
    assert {"precision", "recall", "f1"} <= set(table.columns)
    assert np.all((table["f1"] >= 0) & (table["f1"] <= 1))
    assert _png(out / "confusion_matrix.png").std() > 10  # a drawing, not a blank
    # a rerun replaces its own files and still leaves the user's
    (out / "confusion_matrix.csv").unlink()
    assert _run(shared_cache, "digits_nearest_neighbour", out, "import.max_per_label=30",
                "new.max_per_label=1") == 0
    confusion = pd.read_csv(out / "confusion_matrix.csv")
    assert confusion.iloc[:, 1:].to_numpy().sum() == 60
    assert "saved in" in capsys.readouterr().out and "confusion_matrix.csv" in captured.err
    # an unchanged re-run draws nothing again
    stamp = (out / "confusion_matrix.png").stat().st_mtime_ns
    assert _run(shared_cache, "digits_nearest_neighbour", out, "import.max_per_label=30",
                "new.max_per_label=1") == 0
    assert (out / "confusion_matrix.png").stat().st_mtime_ns == stamp
    assert "saved in" not in capsys.readouterr().out


def test_dendrogram_and_map_of_a_clustering(shared_cache, tmp_path):
    out = tmp_path / "out"
    assert _run(shared_cache, "cluster_folder", out, "embed.backend=pixels",
                "import.max_per_label=20", "cluster.n_clusters=4") == 0
    dendrogram, points = _png(out / "dendrogram.png"), _png(out / "map.png")
    assert dendrogram.std() > 10 and points.std() > 10


def test_pca_points_of_many_images_fit_on_a_sample_and_agree_with_the_full_fit():
    """Above 20,000 rows the map's axes come from a sample; they match a fit on every row."""
    import numpy as np
    from sklearn.datasets import load_digits

    from nodes.lib.results.figures import pca_points

    digits = load_digits().data
    rng = np.random.default_rng(0)
    x = (digits[rng.integers(0, len(digits), 24_000)] + rng.normal(0, 0.5, (24_000, 64))).astype(np.float32)
    sampled, full = pca_points(x, fit_on=5_000), pca_points(x, fit_on=30_000)
    assert sampled.shape == (24_000, 2)
    for axis in range(2):
        assert abs(np.corrcoef(sampled[:, axis], full[:, axis])[0, 1]) > 0.99
