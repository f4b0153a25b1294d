"""Train Classifier, Evaluate and Predict on real images (scikit-learn digits, lfw faces)."""

from __future__ import annotations

import numpy as np
import pytest

from classify_helpers import DIGITS_PIXELS, digits_training, run, workflow


@pytest.mark.slow
def test_holdout_is_stratified_seeded_and_evaluated(registry, shared_cache, tmp_path):
    nodes, edges = digits_training(per_label=40)
    result = run(registry, shared_cache, nodes, edges, tmp_path)
    assert result.ok, [o.error for o in result.failed]
    validation = result.output("train", "validation")
    balance = result.output("train", "balance")
    # 20% of each class is held out: 8 of 40 per digit
    assert sorted(set(validation.images.labels)) == [str(d) for d in range(10)]
    assert balance["validation"].tolist() == [8] * 10 and balance["training"].tolist() == [32] * 10
    evaluation = result.output("evaluate", "evaluation")
    truth, guess = validation.images.labels, validation.labels
    assert evaluation.accuracy == pytest.approx(np.mean(truth == guess))
    assert evaluation.accuracy > 0.9
    assert evaluation.confusion.sum() == 80 and np.trace(evaluation.confusion) == np.sum(truth == guess)
    wrong = result.output("evaluate", "misclassified")
    assert len(wrong) == np.sum(truth != guess)
    assert np.all(wrong.labels != wrong.images.labels)
    table = wrong.to_table()
    assert {"path", "folder_label", "prediction", "confidence", "top1"} <= set(table.columns)
    assert "label" not in table.columns  # one vocabulary: folder_label is the truth
    confusion = result.output("evaluate", "confusion")
    assert confusion.iloc[:, 1:].to_numpy().sum() == 80
    model = result.output("train", "model")
    assert model.classes == tuple(str(d) for d in range(10))
    assert model.training["class_counts"] == {str(d): 32 for d in range(10)}
    # another seed holds out other images
    nodes, edges = digits_training(per_label=40, train={"seed": 1})
    other = run(registry, shared_cache, nodes, edges, tmp_path / "seed1").output("train", "validation")
    assert set(other.images.paths) != set(validation.images.paths)


@pytest.mark.slow
def test_kfold_predicts_every_image_out_of_fold(registry, shared_cache, tmp_path):
    nodes, edges = digits_training(per_label=20, train={"validation": "kfold", "folds": 4})
    result = run(registry, shared_cache, nodes, edges, tmp_path)
    validation = result.output("train", "validation")
    assert len(validation) == 200 and sorted(set(validation.columns["fold"])) == [1, 2, 3, 4]
    evaluation = result.output("evaluate", "evaluation")
    assert len(evaluation.fold_accuracies) == 4
    assert evaluation.accuracy == pytest.approx(np.mean(evaluation.fold_accuracies), abs=0.01)
    assert result.output("train", "model").training["images"] == 200  # final fit on all


@pytest.mark.slow
def test_kfold_on_the_training_part_then_holdout(registry, shared_cache, tmp_path):
    nodes, edges = digits_training(per_label=20, train={"validation": "holdout_and_kfold", "folds": 3,
                                                        "final_model": "all_images"})
    result = run(registry, shared_cache, nodes, edges, tmp_path)
    model = result.output("train", "model")
    assert len(model.training["fold_accuracies"]) == 3 and model.training["validation_images"] == 40
    assert model.training["images"] == 200  # retrained on every image after validating
    assert result.output("train", "balance")["training"].tolist() == [20] * 10


@pytest.mark.parametrize("model", ["logistic_regression", "knn", "random_forest", "linear_svm", "mlp"])
def test_every_model_family_learns_digits(registry, shared_cache, tmp_path, model):
    nodes, edges = digits_training(per_label=25, train={"model": model, "n_trees": 50,
                                                        "hidden_units": 32})
    result = run(registry, shared_cache, nodes, edges, tmp_path)
    assert result.ok, [o.error for o in result.failed]
    assert result.output("evaluate", "evaluation").accuracy >= 0.8
    scores = result.output("train", "model").scores(np.zeros((2, 64), dtype=np.float32))
    assert scores.shape == (2, 10) and np.allclose(scores.sum(axis=1), 1)


def test_too_few_images_per_class_is_a_clear_error(registry, shared_cache, tmp_path):
    nodes, edges = digits_training(per_label=4)
    outcome = run(registry, shared_cache, nodes, edges, tmp_path).outcomes["train"]
    assert outcome.state == "failed"
    assert "too few images per class" in outcome.error and "'0' has 4" in outcome.error
    assert "at least 5" in outcome.error
    nodes, edges = digits_training(per_label=6, train={"validation": "kfold", "folds": 8})
    outcome = run(registry, shared_cache, nodes, edges, tmp_path).outcomes["train"]
    assert outcome.state == "failed" and outcome.field == "folds" and "at least 8" in outcome.error


def _predict_digits(registry, cache, out, predict: dict, embed_new: dict | None = None):
    nodes, edges = digits_training(per_label=30)
    nodes += [("new", "import_images", {"sample": "digits", "max_per_label": 3}),
              ("embed_new", "embed", {**DIGITS_PIXELS, **(embed_new or {})}),
              ("predict", "predict", predict)]
    edges += [("new.images", "embed_new.images"), ("embed_new.embeddings", "predict.embeddings"),
              ("train.model", "predict.model")]
    return run(registry, cache, nodes, edges, out)


@pytest.mark.slow
def test_predict_gives_top_k_confidence_and_uncertain(registry, shared_cache, tmp_path):
    result = _predict_digits(registry, shared_cache, tmp_path,
                             {"top_k": 3, "confidence": "margin", "uncertain_below": 0.9})
    assert result.ok, [o.error for o in result.failed]
    predicted = result.output("predict", "predictions")
    assert len(predicted) == 30 and predicted.kind == "prediction"
    top = np.stack([predicted.columns[f"top{k}_score"] for k in (1, 2, 3)], axis=1)
    assert np.all(np.diff(top, axis=1) <= 0)  # best first
    margin = top[:, 0] / (top[:, 0] + top[:, 1])  # seed 002: best vs second best
    assert np.allclose(predicted.scores, margin)
    uncertain = predicted.scores < 0.9
    assert np.all(predicted.labels[uncertain] == "uncertain")
    assert np.all(predicted.labels[~uncertain] == predicted.columns["top1"][~uncertain])
    assert "uncertain" in predicted.classes
    # the same model on the same images with probability confidence and no threshold
    plain = _predict_digits(registry, shared_cache, tmp_path / "p", {"top_k": 1}).output(
        "predict", "predictions")
    assert np.array_equal(plain.labels, predicted.columns["top1"]) and "top2" not in plain.columns
    assert np.mean(plain.labels == plain.images.labels) > 0.9


def test_predict_refuses_embeddings_made_another_way(registry, shared_cache, tmp_path):
    from flowclass.errors import WorkflowInvalid

    # wired to two Embed nodes set differently: refused before anything runs, in one line
    with pytest.raises(WorkflowInvalid) as caught:
        _predict_digits(registry, shared_cache, tmp_path, {}, embed_new={"pixel_size": 16})
    [problem] = caught.value.problems
    assert (problem.node, problem.field) == ("predict", "embeddings")
    # each setting named as the Embed node's fields label it, with the key --set takes
    # and each Embed node by its title on the canvas (untitled: its type's), with its id
    assert "by 'Embed Images' (embed_new) with pixels (Pixel size (pixel_size) = 16" in problem.message
    assert "from 'Embed Images' (embed) with pixels (Pixel size (pixel_size) = 8" in problem.message
    assert "pixel_size=" not in problem.message
    # a saved model (Load Model) is checked when it runs, saying what differs
    nodes, edges = digits_training(per_label=30)
    nodes += [("save", "save_model", {"path": str(tmp_path / "m.fcmodel")})]
    edges += [("train.model", "save.model")]
    assert run(registry, shared_cache, nodes, edges, tmp_path).ok
    result = run(registry, shared_cache, [
        ("load", "load_model", {"file": str(tmp_path / "m.fcmodel")}),
        ("new", "import_images", {"sample": "digits", "max_per_label": 3}),
        ("embed_new", "embed", {**DIGITS_PIXELS, "pixel_size": 16}), ("predict", "predict", {})],
        [("new.images", "embed_new.images"), ("embed_new.embeddings", "predict.embeddings"),
         ("load.model", "predict.model")], tmp_path / "loaded")
    outcome = result.outcomes["predict"]
    assert outcome.state == "failed" and outcome.field == "embeddings"
    assert "preprocessing.size: 8 vs 16" in outcome.error and "dim: 64 vs 256" in outcome.error


def test_predict_embeds_images_as_its_model_was_trained(registry, shared_cache, tmp_path):
    via_embed = _predict_digits(registry, shared_cache, tmp_path / "a", {"top_k": 20})
    nodes, edges = digits_training(per_label=30)
    nodes += [("new", "import_images", {"sample": "digits", "max_per_label": 3}),
              ("predict", "predict", {"top_k": 20})]
    edges += [("new.images", "predict.images"), ("train.model", "predict.model")]
    direct = run(registry, shared_cache, nodes, edges, tmp_path / "b")
    assert direct.ok, [o.error for o in direct.failed]
    a, b = via_embed.output("predict", "predictions"), direct.output("predict", "predictions")
    assert len(b) == 30 and np.array_equal(a.labels, b.labels) and np.allclose(a.scores, b.scores)
    made = direct.output("predict", "embeddings")  # passed on, e.g. for the canvas's map
    assert np.array_equal(made.vectors, via_embed.output("embed_new", "embeddings").vectors)
    # top_k above the number of classes: listed as far as there are classes, and said so
    assert "top10" in b.columns and "top11" not in b.columns
    # named as the canvas labels the field, with the key the command line's --set takes
    assert any("Top k (top_k) = 20" in w and "10" in w for w in direct.outcomes["predict"].warnings)
    assert not any("top_k=" in w for w in direct.outcomes["predict"].warnings)
    # both inputs connected is a wiring mistake found before running
    from flowclass.validation import validate

    nodes += [("embed_new", "embed", DIGITS_PIXELS)]
    edges += [("new.images", "embed_new.images"), ("embed_new.embeddings", "predict.embeddings")]
    problems = validate(workflow(registry, nodes, edges), registry)
    assert [(p.node, p.field) for p in problems] == [("predict", "images")]


def test_evaluate_needs_predictions_with_true_labels(registry, shared_cache, tmp_path):
    nodes = [("images", "sample_images", {"dataset": "digits", "max_per_label": 3}),
             ("embed", "embed", DIGITS_PIXELS), ("distances", "distances", {}),
             ("cluster", "hierarchical_clustering", {"n_clusters": 3}), ("evaluate", "evaluate", {})]
    edges = [("images.images", "embed.images"), ("embed.embeddings", "distances.embeddings"),
             ("distances.distances", "cluster.distances"), ("cluster.clusters", "evaluate.predictions")]
    outcome = run(registry, shared_cache, nodes, edges, tmp_path).outcomes["evaluate"]
    assert outcome.state == "failed" and "clusters" in outcome.error


def test_export_by_prediction_writes_label_folders_and_confidence(registry, shared_cache, tmp_path):
    import pandas as pd

    nodes, edges = digits_training(per_label=30)
    nodes += [("new", "import_images", {"sample": "digits", "max_per_label": 3}),
              ("embed_new", "embed", DIGITS_PIXELS), ("predict", "predict", {"top_k": 2}),
              ("export", "export_folders", {"folder": str(tmp_path / "sorted")})]
    edges += [("new.images", "embed_new.images"), ("embed_new.embeddings", "predict.embeddings"),
              ("train.model", "predict.model"), ("predict.predictions", "export.labels")]
    result = run(registry, shared_cache, nodes, edges, tmp_path)
    assert result.ok, [o.error for o in result.failed]
    table = pd.read_csv(tmp_path / "sorted" / "images.csv", dtype=str)
    assert list(table.columns) == ["source", "exported", "folder_label", "prediction", "confidence",
                                   "top1", "top1_score", "top2", "top2_score", "familiarity",
                                   "unfamiliar"]
    assert set(table["unfamiliar"]) <= {"true", "false"}  # booleans as every table writes them
    predicted = result.output("predict", "predictions")
    assert table["prediction"].tolist() == predicted.labels.tolist()
    assert table["folder_label"].tolist() == predicted.images.labels.tolist()
    for exported, label in zip(table["exported"], table["prediction"]):
        assert (tmp_path / "sorted" / label / exported.rsplit("/", 1)[1]).is_file()


@pytest.mark.slow  # 3 to 4 CPU s (200 faces through EfficientNet); the quick loop covers its parts
def test_faces_with_the_default_embedder(registry, shared_cache, tmp_path):
    nodes = [("images", "sample_images", {"dataset": "faces"}), ("embed", "embed", {}),
             ("train", "train_classifier", {}), ("evaluate", "evaluate", {})]
    edges = [("images.images", "embed.images"), ("embed.embeddings", "train.embeddings"),
             ("train.validation", "evaluate.predictions")]
    result = run(registry, shared_cache, nodes, edges, tmp_path)
    assert result.ok, [o.error for o in result.failed]
    assert result.output("evaluate", "evaluation").accuracy >= 0.95
    assert result.output("train", "model").embedder["backend"] == "efficientnet_lite0"


def _label_accuracy(validation, threshold=0.6):
    """(top-1, label accuracy) at Predict's threshold: an uncertain label counts wrong."""
    right = validation.labels == validation.images.labels
    return float(np.mean(right)), float(np.mean(right & (validation.scores >= threshold)))


@pytest.mark.parametrize("model", ["random_forest", "linear_svm"])
@pytest.mark.slow
def test_calibrated_confidence_suits_one_threshold_for_every_model(registry, shared_cache, tmp_path,
                                                                   model):
    scored = {}
    for calibration in ("none", "auto"):
        nodes, edges = digits_training(per_label=60, train={"model": model, "n_trees": 100,
                                                            "calibration": calibration})
        result = run(registry, shared_cache, nodes, edges, tmp_path / calibration)
        assert result.ok, [o.error for o in result.failed]
        scored[calibration] = _label_accuracy(result.output("train", "validation"))
    top1, label = scored["auto"]
    assert top1 > 0.85 and label / top1 > 0.9, scored  # few right answers sent to 'uncertain'
    assert label > scored["none"][1], scored


def test_a_version_1_training_node_keeps_its_uncalibrated_scores(registry):
    import json

    from flowclass.workflow_file import loads

    doc = {"schema_version": 1, "nodes": [{"id": "train", "type": "train_classifier", "version": 1,
                                           "params": {"model": "random_forest"}}], "edges": []}
    spec = loads(json.dumps(doc), registry).node("train")
    assert spec.version == 2 and spec.params["calibration"] == "none"


@pytest.mark.slow  # some 20 s: 28 fitted models, each loaded under every family's name
def test_each_model_family_is_built_of_the_types_it_trusts_and_no_other():
    """A model file is rebuilt only from the types its family is built of (FAMILIES): every
    family, with every calibration, fitted on digits, holds no other type and loads back with
    the same scores; under another family's name each is refused, naming a type it holds.
    The pixel models likewise."""
    import re

    from sklearn.datasets import load_digits

    from nodes.lib.classify.estimators import (CALIBRATIONS, FAMILIES, MODELS, UntrustedModel, build_estimator,
                                               dump_estimator, held_types, load_estimator)
    from nodes.lib.pixels import model as pixel_models

    x, y = load_digits(return_X_y=True)
    x, y = x[:60], y[:60].astype(str)
    settings = {"c": 1.0, "n_neighbors": 5, "knn_metric": "cosine", "knn_weights": "distance",
                "n_trees": 2, "hidden_units": 4}
    built = {model: [build_estimator(model, {**settings, "calibration": calibration}, 0, 6).fit(x, y)
                     for calibration in CALIBRATIONS] for model in MODELS}
    built.update({f"pixels {kind}": [pixel_models.make_estimator(kind, seed=0, n_trees=3, max_depth=4).fit(x, y)]
                  for kind in pixel_models.MODELS})
    families = {**FAMILIES, **{f"pixels {kind}": f for kind, f in pixel_models.FAMILIES.items()}}
    for name, estimators in built.items():
        for estimator in estimators:
            payload = dump_estimator(estimator)
            assert held_types(bytes(payload)) <= families[name].types, name
            again = load_estimator(payload, families[name], x.shape[1])
            assert np.array_equal(again.predict_proba(x), estimator.predict_proba(x))
            for other, family in families.items():
                foreign = held_types(bytes(payload)) - family.types
                if foreign:
                    with pytest.raises(UntrustedModel, match=re.escape(family.title)) as refused:
                        load_estimator(payload, family)
                    assert any(kind in str(refused.value) for kind in foreign), (name, other)
