"""Save Model / Load Model: reload in a fresh process, and refuse anything but a model."""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest

from classify_helpers import DIGITS_PIXELS, digits_training, run, workflow
from flowclass.workflow_file import save
from tests.conftest import REPO


@pytest.fixture(scope="module")
def saved_model(registry, shared_cache, tmp_path_factory):
    """A k-NN digit model saved by a workflow run, and that run's predictions."""
    out = tmp_path_factory.mktemp("trained")
    nodes, edges = digits_training(per_label=30)
    nodes += [("save", "save_model", {"path": "digits.fcmodel"}),
              ("new", "import_images", {"sample": "digits", "max_per_label": 5}),
              ("embed_new", "embed", DIGITS_PIXELS), ("predict", "predict", {"top_k": 2})]
    edges += [("train.model", "save.model"), ("new.images", "embed_new.images"),
              ("embed_new.embeddings", "predict.embeddings"), ("train.model", "predict.model")]
    result = run(registry, shared_cache, nodes, edges, out)
    assert result.ok, [o.error for o in result.failed]
    return out / "digits.fcmodel", result.output("predict", "predictions"), result


def _load_and_predict(registry, model_file, embed=DIGITS_PIXELS):
    nodes = [("load", "load_model", {"file": str(model_file)}),
             ("new", "import_images", {"sample": "digits", "max_per_label": 5}),
             ("embed_new", "embed", embed), ("predict", "predict", {"top_k": 2}),
             ("table", "save_table", {"path": "predictions.csv"})]
    edges = [("load.model", "predict.model"), ("new.images", "embed_new.images"),
             ("embed_new.embeddings", "predict.embeddings"), ("predict.predictions", "table.data")]
    return workflow(registry, nodes, edges)


@pytest.mark.slow
def test_a_saved_model_predicts_the_same_in_a_fresh_process(registry, shared_cache, saved_model,
                                                             tmp_path):
    model_file, predicted, _ = saved_model
    wf = tmp_path / "apply.json"
    save(_load_and_predict(registry, model_file), wf)
    done = subprocess.run([sys.executable, "-m", "flowclass.cli", "run", str(wf), "--out",
                           str(tmp_path / "out"), "--cache", str(shared_cache.root), "-q"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "out" / "predictions.csv", dtype={"prediction": str, "top2": str})
    assert table["path"].tolist() == predicted.images.paths.tolist()
    assert table["prediction"].tolist() == predicted.labels.tolist()
    assert np.allclose(table["confidence"], predicted.scores)


def test_saving_twice_gives_the_same_bytes(registry, shared_cache, saved_model, tmp_path):
    model_file, _, result = saved_model
    from nodes.lib.classify.model_format import model_bytes

    assert model_bytes(result.output("train", "model")) == model_file.read_bytes()
    saved = result.output("save", "saved")
    assert saved["classes"].iloc[0] == ", ".join(str(d) for d in range(10))


def test_model_files_do_not_depend_on_the_clock(saved_model, monkeypatch):
    import time

    from nodes.lib.classify.model_format import model_bytes

    model_file, _, result = saved_model
    monkeypatch.setattr(time, "time", lambda: 2_000_000_000.0)  # another day, another zip date
    assert model_bytes(result.output("train", "model")) == model_file.read_bytes()


@pytest.mark.slow  # a process of its own that imports scikit-learn whole, as skops does
def test_saving_and_loading_a_classifier_imports_neither_torch_nor_dask():
    """skops lists the scikit-learn types it trusts by walking scikit-learn's packages, and
    the walk imported torch and dask (2 to 3 s in each process that trained or loaded a
    classifier) through ``sklearn.externals``' adapters, which the list leaves out anyway:
    they are passed over, and can be imported again after."""
    script = (
        "import json, sys\n"
        "import numpy as np\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "from sklearn.utils import discovery\n"
        "from nodes.lib.classify.estimators import ARRAY_ADAPTERS, FAMILIES, dump_estimator, load_estimator\n"
        "fitted = LogisticRegression().fit(np.eye(4), [0, 1, 0, 1])\n"
        "again = load_estimator(dump_estimator(fitted), FAMILIES['logistic_regression'])\n"
        "print(json.dumps({'same': again.predict_proba(np.eye(4)).tolist() == fitted.predict_proba(np.eye(4)).tolist(),\n"
        "                  'imported': sorted(m for m in ('torch', 'dask') if m in sys.modules),\n"
        "                  'in_the_way': [name for name in ARRAY_ADAPTERS if name in sys.modules],\n"
        "                  'externals_left_out': 'externals' in discovery._MODULE_TO_IGNORE}))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    assert json.loads(done.stdout.splitlines()[-1]) == {"same": True, "imported": [], "in_the_way": [],
                                                        "externals_left_out": True}


@pytest.mark.slow
@pytest.mark.parametrize("model", ["random_forest", "mlp"])
def test_two_cold_runs_give_byte_identical_model_files(registry, tmp_path, model):
    """skops names the arrays inside by Python object id: two processes, each with a cold
    cache, must still write the same bytes (a forest and a calibrated network hold many)."""
    nodes, edges = digits_training(per_label=10, train={"model": model, "n_trees": 10,
                                                         "hidden_units": 8, "calibration": "sigmoid"})
    nodes.append(("save", "save_model", {"path": "digits.fcmodel"}))
    edges.append(("train.model", "save.model"))
    wf = tmp_path / "train.json"
    save(workflow(registry, nodes, edges), wf)
    files = []
    for run_ in ("a", "b"):
        done = subprocess.run([sys.executable, "-m", "flowclass.cli", "run", str(wf), "-q",
                               "--out", str(tmp_path / run_), "--cache", str(tmp_path / f"cache-{run_}")],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        files.append((tmp_path / run_ / "digits.fcmodel").read_bytes())
    assert files[0] == files[1]


def test_a_deleted_model_file_is_written_again(registry, shared_cache, tmp_path):
    nodes, edges = digits_training(per_label=6)
    nodes.append(("save", "save_model", {"path": "m.fcmodel"}))
    edges.append(("train.model", "save.model"))
    run(registry, shared_cache, nodes, edges, tmp_path)
    assert run(registry, shared_cache, nodes, edges, tmp_path).outcomes["save"].state == "cached"
    (tmp_path / "m.fcmodel").unlink()
    assert run(registry, shared_cache, nodes, edges, tmp_path).outcomes["save"].state == "done"
    assert (tmp_path / "m.fcmodel").is_file()


def test_save_model_never_replaces_a_users_file(registry, shared_cache, tmp_path):
    (tmp_path / "mine.fcmodel").write_text("my own notes")
    nodes, edges = digits_training(per_label=6)
    nodes.append(("save", "save_model", {"path": "mine.fcmodel"}))
    edges.append(("train.model", "save.model"))
    outcome = run(registry, shared_cache, nodes, edges, tmp_path).outcomes["save"]
    assert outcome.state == "failed" and outcome.field == "path"
    assert (tmp_path / "mine.fcmodel").read_text() == "my own notes"


def _load_outcome(registry, cache, tmp_path, model_file):
    nodes = [("load", "load_model", {"file": str(model_file)})]
    return run(registry, cache, nodes, [], tmp_path / "run").outcomes["load"]


class _RunsCode:
    """Unpickling this creates a marker file: proof that code from the file ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_is_refused_without_running_it(registry, cache, tmp_path):
    marker = tmp_path / "code-ran"
    evil = tmp_path / "evil.fcmodel"
    evil.write_bytes(pickle.dumps(_RunsCode(str(marker))))
    outcome = _load_outcome(registry, cache, tmp_path, evil)
    assert outcome.state == "failed" and "not a FlowClass model file" in outcome.error
    assert not marker.exists()
    # a model-shaped zip whose arrays are pickled objects: refused too (allow_pickle=False)
    buffer = io.BytesIO()
    np.save(buffer, np.array([_RunsCode(str(marker))], dtype=object), allow_pickle=True)
    npz = io.BytesIO()
    with zipfile.ZipFile(npz, "w") as archive:
        archive.writestr("a0.npy", buffer.getvalue())
    tree = {"__dataclass__": "flowclass.Classifier", "fields": {"estimator": {"__array__": "a0"}}}
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("value.json", json.dumps(tree))
        archive.writestr("arrays.npz", npz.getvalue())
    outcome = _load_outcome(registry, cache, tmp_path, evil)
    assert outcome.state == "failed" and "not a FlowClass model file" in outcome.error
    assert not marker.exists()


def _with_estimator(model_file, payload: bytes, target):
    """A copy of ``model_file`` whose classifier payload is replaced by ``payload``."""
    from flowclass import codec

    value = codec.from_bytes(model_file.read_bytes())
    from dataclasses import replace

    target.write_bytes(codec.to_bytes(replace(value, estimator=np.frombuffer(payload, np.uint8))))


def test_a_payload_with_untrusted_types_is_refused(registry, cache, saved_model, tmp_path):
    import skops.io as sio

    model_file, _, _ = saved_model
    tampered = tmp_path / "tampered.fcmodel"
    _with_estimator(model_file, sio.dumps({"run": os.system}), tampered)
    outcome = _load_outcome(registry, cache, tmp_path, tampered)
    assert outcome.state == "failed" and "does not trust" in outcome.error
    assert "system" in outcome.error
    _with_estimator(model_file, b"PK\x03\x04 not really a zip", tampered)
    outcome = _load_outcome(registry, cache, tmp_path, tampered)
    assert outcome.state == "failed" and "damaged" in outcome.error


def test_a_model_file_holds_only_the_types_its_family_needs(registry, cache, saved_model, tmp_path):
    """skops trusts every scikit-learn estimator by default: a file that says it holds a k-NN
    model loaded a forest (compiled trees), a k-d tree (compiled code that follows the node
    numbers it is given) or any other estimator in its place. Each family now trusts only the
    types it is built of; the refusal names the file and the type."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier

    from nodes.lib.classify.estimators import dump_estimator

    model_file, _, _ = saved_model
    x = np.random.default_rng(0).normal(size=(40, 64))
    y = np.array([str(i % 10) for i in range(40)])
    for estimator, named in [(RandomForestClassifier(n_estimators=2, random_state=0), "RandomForestClassifier"),
                             (KNeighborsClassifier(algorithm="kd_tree"), "KDTree"), (GaussianNB(), "GaussianNB")]:
        stranger = tmp_path / f"{named}.fcmodel"
        _with_estimator(model_file, bytes(dump_estimator(estimator.fit(x, y))), stranger)
        outcome = _load_outcome(registry, cache, tmp_path, stranger)
        assert outcome.state == "failed", named
        assert str(stranger) in outcome.error and named in outcome.error and "k-nearest" in outcome.error
    assert _load_outcome(registry, cache, tmp_path, model_file).state == "done"


def test_edited_or_truncated_files_are_refused(registry, cache, saved_model, tmp_path):
    model_file, _, _ = saved_model
    data = model_file.read_bytes()
    cut = tmp_path / "cut.fcmodel"
    cut.write_bytes(data[: len(data) // 2])
    outcome = _load_outcome(registry, cache, tmp_path, cut)
    assert outcome.state == "failed" and "not a FlowClass model file" in outcome.error
    with zipfile.ZipFile(model_file) as archive:
        tree = json.loads(archive.read("value.json"))
        arrays = archive.read("arrays.npz")
    tree["fields"]["classes"] = {"__tuple__": ["cat", "dog"]}
    edited = tmp_path / "edited.fcmodel"
    with zipfile.ZipFile(edited, "w") as archive:
        archive.writestr("value.json", json.dumps(tree))
        archive.writestr("arrays.npz", arrays)
    outcome = _load_outcome(registry, cache, tmp_path, edited)
    assert outcome.state == "failed" and "was modified" in outcome.error


def _edited(model_file, target, edit):
    """A copy of ``model_file`` whose value.json fields went through ``edit``."""
    with zipfile.ZipFile(model_file) as archive:
        tree = json.loads(archive.read("value.json"))
        arrays = archive.read("arrays.npz")
    edit(tree["fields"])
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr("value.json", json.dumps(tree))
        archive.writestr("arrays.npz", arrays)
    return target


def _set(*keys_and_value):
    """An edit that sets one field (through the codec's mappings) to a value."""
    *keys, value = keys_and_value

    def edit(fields):
        for key in keys[:-1]:
            fields = fields[key]
            fields = fields.get("__dict__", fields)
        fields[keys[-1]] = value
    return edit


def _map(**items):
    """A mapping as the codec writes it."""
    return {"__dict__": items}


@pytest.mark.parametrize("edit,field", [
    (_set("embedder", "preprocessing", "size", 40000), "embedder.preprocessing.size"),
    (_set("embedder", "preprocessing", "size", "16"), "embedder.preprocessing.size"),
    (_set("embedder", "preprocessing", "grayscale", 1), "embedder.preprocessing.grayscale"),
    (_set("embedder", "preprocessing", _map(space="hsv", bins=3000)), "embedder"),
    (_set("embedder", "backend", "colour_histogram"), "embedder"),
    (_set("embedder", _map(backend="colour_histogram", preprocessing=_map(space="hsv", bins=3000))),
     "embedder.preprocessing.bins"),
    (_set("embedder", _map(backend="colour_histogram", preprocessing=_map(space="xyz", bins=8))),
     "embedder.preprocessing.space"),
    (_set("embedder", "backend", "my_backend"), "embedder"),
    (_set("embedder", _map(backend="open_clip", model="ViT-B-32", weights="../../elsewhere/w.pt")),
     "embedder.weights"),
    (_set("embedder", _map(backend="open_clip", model="ViT-B-32", weights="/etc/w.pt")), "embedder.weights"),
    (_set("embedder", ["pixels"]), "embedder"),
    (_set("format", "1"), "format"),
    (_set("format", 1.5), "format"),
    (_set("format", True), "format"),
    (_set("classes", ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]), None),  # a list is fine
    (_set("classes", {"__tuple__": ["0", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]}), "classes"),
    (_set("classes", {"__tuple__": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]}), "classes"),
    (_set("classes", "0123456789"), "classes"),
    (_set("model", "rm -rf"), "model"),
    (_set("settings", "n_neighbors", 10**9), "settings.n_neighbors"),
    (_set("settings", "n_trees", -1), "settings.n_trees"),
    (_set("settings", "hidden_units", 10**7), "settings.hidden_units"),
    (_set("settings", "evil", 1), "settings.evil"),
    (_set("settings", [1, 2]), "settings"),
    (_set("training", "oops"), "training"),
    # read by the canvas's view of the model: a ValueError or AttributeError in it before
    (_set("training", "validation_accuracy", "high"), "training.validation_accuracy"),
    (_set("training", "validation_accuracy", 1e300), "training.validation_accuracy"),
    (_set("training", "images", "many"), "training.images"),
    (_set("training", "validation_images", -3), "training.validation_images"),
    (_set("training", "validation", ["holdout"]), "training.validation"),
    (_set("training", "class_counts", [1, 2]), "training.class_counts"),
    (_set("training", "class_counts", _map(**{"0": "30"})), "training.class_counts"),
])
def test_every_field_of_a_model_file_is_held_to_the_nodes_constraints(registry, cache, saved_model,
                                                                      tmp_path, edit, field):
    """Checked when the file is read, before anything is allocated from its numbers (so the
    model never reaches Predict); the error names the file and the field. Before, these were
    a MemoryError in Predict or a TypeError, reported as unexpected errors."""
    model_file, _, _ = saved_model
    edited = _edited(model_file, tmp_path / "edited.fcmodel", edit)
    load = _load_outcome(registry, cache, tmp_path, edited)
    if field is None:
        assert load.state == "done", load.error
        return
    assert load.state == "failed" and load.field == "file"
    assert str(edited) in load.error and f"field '{field}'" in load.error, load.error
    assert "unexpected" not in load.error


def test_a_loaded_model_refuses_other_embeddings(registry, shared_cache, saved_model, tmp_path):
    model_file, _, _ = saved_model
    wf = _load_and_predict(registry, model_file, embed={**DIGITS_PIXELS, "binarize": True})
    from flowclass.engine import Engine

    result = Engine(registry, shared_cache).run(wf, out_dir=tmp_path)
    outcome = result.outcomes["predict"]
    assert outcome.state == "failed" and "preprocessing.binarize: False vs True" in outcome.error
    assert "set the Embed node" in outcome.hint


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_a_saved_model_file_follows_the_umask(saved_model, tmp_path, umask):
    from flowclass.context import RunContext
    from nodes.model_files import load_model, save_model

    context = RunContext("save", tmp_path, tmp_path, lambda name: tmp_path / name)
    model = load_model(context, file=str(saved_model[0]))["model"]
    old = os.umask(umask)
    try:
        save_model(context, model=model, path=str(tmp_path / "shared" / "digits.fcmodel"))
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "shared" / "digits.fcmodel").st_mode & 0o777 == 0o666 & ~umask


@pytest.fixture(scope="module")
def forest_model(registry, shared_cache, tmp_path_factory):
    """A random forest digit model saved by a workflow run."""
    out = tmp_path_factory.mktemp("forest")
    nodes, edges = digits_training(per_label=10, train={"model": "random_forest", "n_trees": 10})
    nodes.append(("save", "save_model", {"path": "forest.fcmodel"}))
    edges.append(("train.model", "save.model"))
    assert run(registry, shared_cache, nodes, edges, out).ok
    return out / "forest.fcmodel"


def _first_tree_edited(model_file, target, edit):
    """A copy of ``model_file`` whose forest's first tree went through ``edit(state, tree)``,
    which returns the tree to put in its place (written as skops writes it, CRCs and all)."""
    import skops.io as sio

    from flowclass import codec
    from nodes.lib.classify.estimators import FAMILIES, canonical_zip, load_estimator

    value = codec.from_bytes(model_file.read_bytes())
    forest = load_estimator(value.estimator, FAMILIES["random_forest"])
    tree = forest.estimators_[0].tree_
    forest.estimators_[0].tree_ = edit(tree.__getstate__(), tree)
    payload = np.frombuffer(canonical_zip(sio.dumps(forest)), np.uint8)
    from dataclasses import replace

    target.write_bytes(codec.to_bytes(replace(value, estimator=payload)))
    return target


def _node0(field, number):
    def edit(state, tree):
        state["nodes"][field][0] = number
        tree.__setstate__(state)
        return tree
    return edit


def _wider(state, tree):
    """The same tree, said to split vectors of a million numbers, its root on the last."""
    from sklearn.tree._tree import Tree

    wide = Tree(10**6, tree.n_classes, tree.n_outputs)
    state["nodes"]["feature"][0] = 10**6 - 1
    wide.__setstate__(state)
    return wide


@pytest.mark.parametrize("edit,why", [
    (_node0("left_child", 10**9), "node 0's left child is node 1000000000"),
    (_node0("right_child", 0), "node 0's right child is node 0"),  # a loop
    (_node0("feature", 10**6), "node 0 splits on feature 1000000 of 64"),
    (_wider, "it splits vectors of 1000000 numbers, not 64"),
])
def test_a_model_file_whose_trees_point_outside_themselves_is_refused(registry, cache, forest_model,
                                                                      tmp_path, edit, why):
    """scikit-learn's compiled trees follow a node's numbers as written: such a shared model
    file loaded, then crashed FlowClass when Predict used it (a segmentation fault), or
    looped for ever, or read memory past the vectors. Refused as damaged, naming the file."""
    edited = _first_tree_edited(forest_model, tmp_path / "edited.fcmodel", edit)
    load = _load_outcome(registry, cache, tmp_path, edited)
    assert load.state == "failed" and load.field == "file", load.error
    assert str(edited) in load.error and "damaged (decision tree 1: " + why in load.error, load.error
    assert _load_outcome(registry, cache, tmp_path / "whole", forest_model).state == "done"


@pytest.mark.slow  # over a second; the quick loop keeps its 90 s budget
def test_a_forest_pointing_outside_itself_stops_only_its_node(registry, shared_cache, forest_model, tmp_path):
    """End to end, as a stranger's model file arrives: `flowclass run` of Load Model ->
    Predict (a segmentation fault before) names the file and goes on with the other branch."""
    edited = _first_tree_edited(forest_model, tmp_path / "shared.fcmodel", _node0("left_child", 10**9))
    nodes = [("load", "load_model", {"file": str(edited)}),
             ("new", "import_images", {"sample": "digits", "max_per_label": 2}),
             ("embed_new", "embed", DIGITS_PIXELS), ("predict", "predict", {}),
             ("table", "save_table", {"path": "embeddings.csv"})]
    edges = [("load.model", "predict.model"), ("new.images", "embed_new.images"),
             ("embed_new.embeddings", "predict.embeddings"), ("new.images", "table.data")]
    wf = tmp_path / "apply.json"
    save(workflow(registry, nodes, edges), wf)
    done = subprocess.run([sys.executable, "-m", "flowclass.cli", "run", str(wf), "--out", str(tmp_path / "out"),
                           "--cache", str(shared_cache.root), "-q"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert "shared.fcmodel was refused: the classifier inside is damaged" in done.stderr
    assert (tmp_path / "out" / "embeddings.csv").is_file()


def _familiarity_edited(model_file, target, name, value):
    """A copy of ``model_file`` whose familiarity field ``name`` is ``value``: an array
    replaces its entry in arrays.npz, anything else its value in value.json."""
    with zipfile.ZipFile(model_file) as archive:
        tree = json.loads(archive.read("value.json"))
        arrays = archive.read("arrays.npz")
    with zipfile.ZipFile(io.BytesIO(arrays)) as npz:
        entries = {entry: npz.read(entry) for entry in npz.namelist()}
    fields = tree["fields"]["familiarity"]["fields"] if name else tree["fields"]
    if isinstance(value, np.ndarray):
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, value, allow_pickle=False)
        entries[fields[name]["__array__"] + ".npy"] = buffer.getvalue()
    else:
        fields[name or "familiarity"] = value
    npz = io.BytesIO()
    with zipfile.ZipFile(npz, "w") as archive:
        for entry, content in entries.items():
            archive.writestr(entry, content)
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr("value.json", json.dumps(tree))
        archive.writestr("arrays.npz", npz.getvalue())
    return target


@pytest.mark.parametrize("name,value", [
    ("", "oops"),
    ("neighbours", -1), ("neighbours", 0), ("neighbours", "5"), ("neighbours", True),
    ("mean", np.zeros(7, np.float32)),
    ("axes", np.zeros((2, 2, 2), np.float32)),
    ("reference", np.zeros((0, 64), np.float32)), ("reference", np.zeros((10, 7), np.float32)),
    ("reference", np.zeros((10, 64), np.int64)),
    ("spread", np.zeros(1, np.float32)),
    ("ratios", np.zeros((3, 3), np.float32)),
], ids=lambda value: str(getattr(value, "shape", value)) or "whole")
def test_a_model_files_familiarity_is_held_to_what_predict_needs(registry, cache, saved_model, tmp_path,
                                                                name, value):
    """Predict compares new images with the training images the file keeps (its familiarity);
    a shared file's odd neighbour count or arrays of other shapes loaded, then ended Predict
    in an unexpected AssertionError, IndexError or ValueError that named neither file nor field."""
    model_file, _, _ = saved_model
    edited = _familiarity_edited(model_file, tmp_path / "edited.fcmodel", name, value)
    load = _load_outcome(registry, cache, tmp_path, edited)
    assert load.state == "failed" and load.field == "file", load.error
    field = f"familiarity.{name}" if name else "familiarity"
    assert str(edited) in load.error and f"field '{field}'" in load.error, load.error


def _familiarity_array(model_file, name) -> np.ndarray:
    """A copy of the familiarity array ``name`` that ``model_file`` holds."""
    with zipfile.ZipFile(model_file) as archive:
        tree = json.loads(archive.read("value.json"))
        arrays = archive.read("arrays.npz")
    entry = tree["fields"]["familiarity"]["fields"][name]["__array__"] + ".npy"
    with zipfile.ZipFile(io.BytesIO(arrays)) as npz:
        return np.lib.format.read_array(io.BytesIO(npz.read(entry)), allow_pickle=False).copy()


@pytest.mark.parametrize("name,bad", [("mean", np.nan), ("axes", np.inf), ("reference", np.nan),
                                      ("spread", -np.inf), ("spread", -1.0), ("ratios", np.nan),
                                      ("ratios", "unsorted")])
def test_a_model_files_familiarity_holds_finite_numbers_in_order(registry, cache, saved_model, tmp_path,
                                                                  name, bad):
    """A NaN in a shared file's familiarity loaded and Predict went on: every new image came
    out 'unfamiliar' (familiarity 0), saying nothing. So did ratios out of order (Predict
    looks them up by bisection) and a negative spread. Each is refused naming the field."""
    model_file, _, _ = saved_model
    value = _familiarity_array(model_file, name)
    if bad == "unsorted":
        assert len(np.unique(value)) > 1
        value = value[::-1].copy()
    else:
        value.flat[0] = bad
    edited = _familiarity_edited(model_file, tmp_path / "edited.fcmodel", name, value)
    load = _load_outcome(registry, cache, tmp_path, edited)
    assert load.state == "failed" and f"field 'familiarity.{name}'" in load.error, load.error


def test_a_classifier_zip_listing_an_entry_twice_is_refused(registry, cache, saved_model, tmp_path):
    """The classifier inside a .fcmodel is a zip skops reads; a second schema.json in it would
    be read in place of the first. Refused, naming the file and the entry."""
    from test_codec import zip_with_second

    from flowclass import codec

    model_file, _, _ = saved_model
    payload = bytes(codec.from_bytes(model_file.read_bytes()).estimator)
    with zipfile.ZipFile(io.BytesIO(payload)) as source:
        doubled_payload = zip_with_second(payload, "schema.json", source.read("schema.json"))
    doubled = tmp_path / "doubled.fcmodel"
    _with_estimator(model_file, doubled_payload, doubled)
    outcome = _load_outcome(registry, cache, tmp_path, doubled)
    assert outcome.state == "failed" and str(doubled) in outcome.error, outcome.error
    assert "'schema.json' is listed twice" in outcome.error, outcome.error
