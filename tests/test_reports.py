"""`flowclass run` leaves tables and pictures of the results in --out, never over a user's file."""

import json

import numpy as np
import pandas as pd
import pytest
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


@pytest.mark.slow  # four matplotlib pictures: 2 s
def test_map_png_is_the_same_whatever_threads_the_linear_algebra_had(tmp_path):
    """map.png is drawn once per cache key in a process with one BLAS thread; drawn again
    elsewhere (a thread of the canvas, after a kill -9, when its pictures left the cache)
    BLAS had every core, and a PCA 4e-14 apart made another PNG: a re-run was not the same
    bit for bit. Digits four times over (256 columns, as the pixel embedder makes), and 300
    of them (fewer rows than columns)."""
    from sklearn.datasets import load_digits
    from threadpoolctl import threadpool_limits

    from nodes.lib.results.figures import map_png, pca_points

    digits = load_digits()
    groups = np.array([f"C{t}" for t in digits.target])
    for name, x in {"tall": np.tile(digits.data, 4), "wide": np.tile(digits.data[:300], 4)}.items():
        x = x.astype(np.float32)
        drawn = []
        for threads in (1, 2):
            with threadpool_limits(threads):
                drawn.append(tmp_path / f"{name}-{threads}.png")
                map_png(pca_points(x), groups[:len(x)], sorted(set(groups)), drawn[-1], "digits")
        same = drawn[0].read_bytes() == drawn[1].read_bytes()  # (pytest's diff of two PNGs recurses)
        assert same, name

def test_pca_points_are_scikit_learns_pca_without_importing_it():
    """The map's coordinates are scikit-learn's PCA (same axes, same signs), on fewer rows
    than columns and on more, made without importing scikit-learn."""
    import subprocess
    import sys

    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA

    from nodes.lib.results.figures import pca_points

    digits = load_digits().data
    rng = np.random.default_rng(0)
    wide = digits[:40] @ rng.normal(size=(64, 300))  # 40 rows, 300 columns
    for x in (digits, wide, digits[:3]):
        assert np.allclose(pca_points(x), PCA(n_components=2, random_state=0).fit_transform(x),
                           atol=1e-9 * np.abs(x).max())
    script = ("import sys, numpy as np\n"
              "from nodes.lib.results.figures import pca_points\n"
              "pca_points(np.random.default_rng(0).normal(size=(50, 8)))\n"
              "print('sklearn' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _clustering_run(shared_cache, out, *more):
    return _run(shared_cache, "cluster_folder", out, "embed.backend=pixels", "import.max_per_label=20",
                "cluster.n_clusters=3", *more)


def test_pictures_are_results_copied_into_a_new_out_without_drawing_again(shared_cache, tmp_path,
                                                                          monkeypatch, capsys):
    """Figures are cached like tables: a re-run into a new --out copies them, bytes and all."""
    from nodes.lib.results import figures

    first, second = tmp_path / "first", tmp_path / "second"
    assert _clustering_run(shared_cache, first) == 0

    def no_drawing(*args, **kwargs):
        raise AssertionError("drawn again")

    monkeypatch.setattr(figures, "dendrogram_png", no_drawing)
    monkeypatch.setattr(figures, "map_png", no_drawing)
    capsys.readouterr()
    assert _clustering_run(shared_cache, second) == 0
    captured = capsys.readouterr()
    assert "not saved" not in captured.err and "saved in" in captured.out
    for name in ("dendrogram.png", "map.png"):
        assert (second / name).read_bytes() == (first / name).read_bytes()
    # into the same folder again: nothing to copy, nothing said
    assert _clustering_run(shared_cache, second) == 0
    assert "saved in" not in capsys.readouterr().out


@pytest.mark.slow
def test_a_picture_of_other_results_in_the_same_out_is_replaced(shared_cache, tmp_path):
    """Going back to earlier settings serves every node from cache; the pictures in --out
    still follow the settings, not the run before."""
    out = tmp_path / "out"
    assert _clustering_run(shared_cache, out) == 0
    three = (out / "dendrogram.png").read_bytes()
    assert _clustering_run(shared_cache, out, "cluster.n_clusters=5") == 0
    assert (out / "dendrogram.png").read_bytes() != three
    assert _clustering_run(shared_cache, out) == 0
    assert (out / "dendrogram.png").read_bytes() == three


def test_the_canvas_writes_the_files_the_command_line_writes(registry, shared_cache, tmp_path):
    """One code path: a canvas run leaves the same report files, with the same bytes."""
    import time

    from flowclass.engine import Engine
    from flowclass.overrides import apply_overrides
    from flowclass.ui.runner import RunController
    from flowclass.workflow_file import load

    path = WORKFLOWS / "digits_nearest_neighbour.json"
    sets = ["import.max_per_label=30", "new.max_per_label=1"]
    workflow = apply_overrides(load(path, registry), registry, sets)
    finished = []
    runner = RunController(Engine(registry, shared_cache), on_change=lambda: None,
                           on_finished=lambda result, error: finished.append((result, error)))
    canvas_out = tmp_path / "canvas"
    runner.start(workflow, base_dir=path.parent, out_dir=canvas_out, source=str(path))
    deadline = time.time() + 120
    while not finished:
        runner.poll()
        assert time.time() < deadline
        time.sleep(0.05)
    (result, error), = finished
    assert error is None and result.ok and result.reports.problems == []
    assert sorted(result.reports.written) == ["confusion_matrix.csv", "confusion_matrix.png", "evaluation.csv"]
    cli_out = tmp_path / "cli"
    assert _run(shared_cache, "digits_nearest_neighbour", cli_out, *sets) == 0
    for name in result.reports.written:
        assert (canvas_out / name).read_bytes() == (cli_out / name).read_bytes()


def test_a_table_named_like_a_report_keeps_its_name_and_the_report_takes_the_node_id(shared_cache, tmp_path,
                                                                                    capsys):
    """Save Table writing evaluation.csv, the name Evaluate's report has: the report was
    copied over the table when the run ended, and the run said 'ok' with the predictions
    gone. A file another node of the run writes is taken as two nodes making one name are:
    the report gets its node id in front."""
    from disk_helpers import digits_folder

    photos = digits_folder(tmp_path, per_label=10)
    out = tmp_path / "out"
    sets = [f"import.folder={photos}", f"new.folder={photos / '1'}", "embed.backend=pixels",
            "table.path=evaluation.csv"]
    for _ in range(2):  # the second is served from the cache
        assert _run(shared_cache, "lobe_train_predict", out, *sets) == 0, capsys.readouterr().err
        assert "prediction" in pd.read_csv(out / "evaluation.csv").columns  # the table
        report = pd.read_csv(out / "evaluate-evaluation.csv", dtype={"class": str})
        assert report["class"].tolist() == ["0", "1", "(all)"]


@pytest.mark.slow
def test_a_table_named_like_a_report_in_a_new_out_answered_by_the_witnesses(shared_cache, tmp_path):
    """The same, in a new --out that a `flowclass run` of its own answers from the job's
    latest record (flowclass/new_out.py), copying the table and the pictures there."""
    import subprocess
    import sys

    from disk_helpers import digits_folder

    photos = digits_folder(tmp_path, per_label=10)
    command = [sys.executable, "-m", "flowclass.cli", "run", str(WORKFLOWS / "digits_nearest_neighbour.json"),
               "-q", "--cache", str(tmp_path / "cache"),
               *(f"--set={s}" for s in [f"import.folder={photos}", f"new.folder={photos / '1'}",
                                        "table.path=evaluation.csv"])]
    for out in (tmp_path / "first", tmp_path / "second"):
        done = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert "prediction" in pd.read_csv(out / "evaluation.csv").columns
        assert pd.read_csv(out / "evaluate-evaluation.csv", dtype={"class": str})["class"].tolist() == \
            ["0", "1", "(all)"]
    assert json.loads((tmp_path / "second" / "run.json").read_text())["nodes"]["table"]["state"] == "cached"


KILLED_DRAWING = """
import os, signal, sys
from pathlib import Path
from PIL import Image
from flowclass.cache import Cache
from flowclass.registry import Registry
from flowclass.reports import Reports
from flowclass.workflow import Workflow

def cut_short(path):
    with open(path, "wb") as file:  # a picture begun, then the process killed
        file.write(b"\\x89PNG")
        file.flush()
        os.kill(os.getpid(), signal.SIGKILL)

reports = Reports(Workflow(), Registry(), Cache(sys.argv[1]))
reports._store(sys.argv[2], {"a.png": lambda path: Image.new("L", (300, 240), 90).save(path, "PNG"),
                             "b.png": cut_short})
"""


def test_a_drawing_killed_midway_leaves_nothing_that_a_rerun_copies(registry, tmp_path):
    """kill -9 while a result's pictures are drawn into the cache: the re-run draws them all
    and the cache's folder of pictures (copied into every new --out) holds them, whole, and
    nothing else. It used to keep the killed picture's 0-byte temporary file among them."""
    import os
    import subprocess
    import sys

    from flowclass.cache import Cache
    from flowclass.reports import Reports
    from flowclass.report_store import NAMES, reports_folder
    from flowclass.workflow import Workflow
    from tests.conftest import REPO

    cache, key = Cache(tmp_path / "cache"), "ab" * 32
    cache.put(key, {"x": 1}, {})
    killed = subprocess.run([sys.executable, "-c", KILLED_DRAWING, str(cache.root), key], timeout=120,
                            capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert killed.returncode == -9, killed.stderr
    assert reports_folder(cache, key, ready=True) is None  # not taken for made

    def draw(value):
        return lambda path: Image.new("L", (300, 240), value).save(path, "PNG")

    folder = Reports(Workflow(), registry, cache)._store(key, {"a.png": draw(90), "b.png": draw(180)})
    assert folder == reports_folder(cache, key, ready=True)
    assert sorted(os.listdir(folder)) == ["a.png", "b.png", NAMES]
    assert [int(_png(folder / name).mean()) for name in ("a.png", "b.png")] == [90, 180]
