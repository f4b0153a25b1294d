"""What the canvas ran is what its saved file runs: for each ready workflow, opened as a copy,
edited as a user edits it (parameters changed, a node removed, an edge rewired), saved and run
in the canvas, ``flowclass run`` of the saved file, with a cache of its own (so every node runs
again), writes the same files, byte for byte, with the same parameters and node states in
run.json. Only what names the output folder itself (exported paths) may differ, by that name.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from journey_helpers import FAST_EMBEDDER, READY, install_snapshot
from nicegui.testing import User
from test_journeys import open_ready, run_all, save_as
from ui_helpers import make_app, page_of

from flowclass.cli import main
from flowclass.params import Path as PathParam
from flowclass.workflow import Edge, PortRef

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # two whole runs per workflow

# ready workflow: {node.param: value ("@x": the sample folder x)}, nodes removed, (edge removed, edge added)
EDITS = {
    "cluster_folder": ({"import.folder": "@digits", "import.max_per_label": 6, "cluster.n_clusters": 4,
                        "cluster.linkage": "average", "export.table": "csv"}, ["table"], None),
    "digits_nearest_neighbour": ({"import.folder": "@digits", "import.max_per_label": 8,
                                  "new.folder": "@digits/7", "train.n_neighbors": 1}, [],
                                 # predict the training images themselves instead of the new folder
                                 (("new.images", "predict.images"), ("import.images", "predict.images"))),
    "transfer_learning": ({"import.folder": "@faces", "import.max_per_label": 12, "embed.backend": "pixels",
                           "image.file": "@photos/astronaut.png", "predict.top_k": 2}, [], None),
    "lobe_train_predict": ({"import.folder": "@faces", "import.max_per_label": 12, "new.folder": "@photos",
                            "predict.uncertain_below": 0.0}, ["save_model"], None),
    "clean_collection": ({"import.folder": "@digits", "import.max_per_label": 10, "outliers.flag_above": 2.0},
                         ["issues"], None),
    "colour_names": ({"weak.folder": "@colour_names", "samples.pixels_per_image": 300}, [], None),
    "clashifier_regions": ({"photos.folder": "@photos", "regions.max_per_class": 500, "train.n_trees": 5},
                           [], None),
}


def files_of(out: Path) -> dict[str, bytes]:
    """Every file a run left in ``out`` (by relative path), with the output folder's own path
    written as OUT wherever it is named; the journal (inodes) and run.json (times) aside."""
    found = {}
    for path in sorted(out.rglob("*")):
        if path.is_file() and path.name not in (".flowclass-owned.jsonl", "run.json"):
            data = path.read_bytes()
            found[str(path.relative_to(out))] = data.replace(str(out).encode(), b"OUT")
    return found


def ran(out: Path) -> dict[str, tuple]:
    """Per node of run.json: its state, resolved parameters (OUT for the output folder) and
    cache key (but of a node writing into the output folder, whose key holds its path)."""
    nodes = json.loads((out / "run.json").read_text(encoding="utf-8"))["nodes"]
    shown = {node: json.dumps(o["params"]).replace(str(out), "OUT") for node, o in nodes.items()}
    return {node: (o["state"], shown[node], None if "OUT" in shown[node] else o.get("key"))
            for node, o in nodes.items()}


def shown_params(page, registry) -> dict[str, dict]:
    """Each node's parameters as the inspector shows them, less its paths (a run makes them absolute)."""
    return {spec.id: {name: value for name, value in spec.params.items()
                      if not isinstance(registry.get(spec.type).param(name), PathParam)}
            for spec in page.state.workflow.nodes}


def recorded_params(out: Path, shown: dict[str, dict]) -> dict[str, dict]:
    """The same parameters of each node that ran, as run.json records them."""
    nodes = json.loads((out / "run.json").read_text(encoding="utf-8"))["nodes"]
    return {node: {name: o["params"].get(name, "(none)") for name in shown.get(node, ())}
            for node, o in nodes.items()}


@pytest.mark.parametrize("stem", sorted(EDITS))
async def test_a_saved_file_runs_what_the_canvas_ran(user: User, registry, cache, workspace: Path, tmp_path: Path,
                                                     stem: str) -> None:
    installed = install_snapshot()
    settings, removed, rewired = EDITS[stem]
    assert main(["sample", str(workspace), "--dataset", "all"]) == 0
    make_app(registry, cache, workspace)
    page = await open_ready(user, stem)
    if "embed" in {spec.id for spec in page.state.workflow.nodes} and "embed.backend" not in settings:
        for name, value in FAST_EMBEDDER.items():
            page.set_param("embed", name, value)
    for target, value in settings.items():
        node_id, name = target.split(".")
        page.set_param(node_id, name, str(workspace / value[1:]) if str(value).startswith("@") else value)
    if removed:
        page.delete(removed)
    if rewired:
        (old, new) = [Edge(PortRef(*a.split(".")), PortRef(*b.split("."))) for a, b in rewired]
        page.delete(edges=[old])
        assert page.connect(new.source, new.target)
    saved = await save_as(user, page, stem)
    await run_all(user, page, timeout=240)
    shown = shown_params(page, registry)

    cli_out = tmp_path / "cli-out"
    assert main(["run", str(saved), "--out", str(cli_out), "--cache", str(tmp_path / "cli-cache"), "-q"]) == 0
    canvas_out = page.out_dir()
    assert recorded_params(cli_out, shown) == shown  # the nodes the canvas shows ran, as it shows them
    assert ran(cli_out) == ran(canvas_out)
    canvas_files, cli_files = files_of(canvas_out), files_of(cli_out)
    assert sorted(canvas_files) == sorted(cli_files) and len(canvas_files) > 1  # skipped.csv and more
    assert [name for name in canvas_files if canvas_files[name] != cli_files[name]] == []
    assert install_snapshot() == installed


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    (folder / "mine").mkdir(parents=True)
    return folder


def old_file(workspace: Path) -> Path:
    """digits_nearest_neighbour.json as an older FlowClass wrote it: Embed, Train Classifier
    and Predict at version 1 (before device and precision, calibration, familiarity), and
    parameters left out (their defaults)."""
    doc = json.loads((READY / "digits_nearest_neighbour.json").read_text(encoding="utf-8"))
    for node in doc["nodes"]:
        params = node["params"]
        if node["type"] in ("embed", "train_classifier", "predict"):
            node["version"] = 1
        for name in ("device", "precision", "calibration", "unfamiliar_below", "unfamiliar_label",
                     "top_k", "knn_weights", "batch_size"):
            params.pop(name, None)
        if node["type"] == "import_images":
            params.update(folder=str(workspace / "digits" / ("7" if node["id"] == "new" else "")).rstrip("/"),
                          max_per_label=8)
            del params["sample"]
    path = workspace / "mine" / "old.json"
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return path


async def test_an_older_file_runs_headless_as_the_canvas_shows_it(user: User, registry, cache, workspace: Path,
                                                                  tmp_path: Path) -> None:
    """Opened in the canvas, an older file shows its migrated parameters and the defaults of
    those it left out; run as it is (not saved again), ``flowclass run`` of it runs exactly that."""
    assert main(["sample", str(workspace), "--dataset", "digits"]) == 0
    path = old_file(workspace)
    original = path.read_bytes()
    make_app(registry, cache, workspace, path)
    await user.open("/")
    page = page_of(user)
    shown = shown_params(page, registry)
    assert shown["embed"]["precision"] == "fp32" and shown["train"]["calibration"] == "none"
    assert shown["predict"]["unfamiliar_below"] == 0.0 and shown["predict"]["top_k"] == 3
    await run_all(user, page, timeout=240)
    assert path.read_bytes() == original  # the canvas ran it without writing it

    cli_out = tmp_path / "cli-out"
    assert main(["run", str(path), "--out", str(cli_out), "--cache", str(tmp_path / "cli-cache"), "-q"]) == 0
    assert recorded_params(cli_out, shown) == shown
    assert ran(cli_out) == ran(page.out_dir())
    canvas_files, cli_files = files_of(page.out_dir()), files_of(cli_out)
    assert sorted(canvas_files) == sorted(cli_files) and "predictions.csv" in cli_files
    assert [name for name in canvas_files if canvas_files[name] != cli_files[name]] == []
