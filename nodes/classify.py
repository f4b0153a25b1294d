"""Supervised classification: train on labelled images, evaluate, predict.

This is the Lobe half of the workshop (seed 004) and seeds 002 and 003: a classifier is
trained on embeddings whose images carry labels (subfolder names, or a label file via
Label Overrides), validated on a stratified, seeded hold-out split (Lobe's 80/20) and/or
k-fold cross-validation, and applied to new images. Predictions are Labelling values
(kind "prediction"), so Export to Folders and Save Table take them as they are. Saving
and loading classifiers is in :mod:`nodes.model_files`.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from flowclass.context import RunContext
from flowclass.errors import NodeError
from flowclass.node import Input, Output, node
from flowclass.params import Choice, Float, Int, Text

from .classify_types import EVALUATION, MODEL, Classifier, Evaluation
from .datatypes import EMBEDDINGS, IMAGES, LABELS, TABLE, Embeddings, ImageSet, Labelling
from .lib.classify.estimators import (CALIBRATIONS, MODEL_TITLES, MODELS, build_estimator, class_scores, describe_spec,
                         dump_estimator, spec_differences)
from .lib.classify.predictions import CONFIDENCES, predictions, subset, with_familiarity
from .lib.cleaning.familiarity import UNFAMILIAR_BELOW, learn_familiarity
from .lib.results.figures import NEEDS as FIGURES
from .lib.results import report_names

if TYPE_CHECKING:  # pandas is imported where tables are made, so cached runs start fast
    import pandas as pd

MIN_IMAGES_PER_CLASS = 5  # Lobe's minimum too
UNBALANCED_RATIO = 3.0
VALIDATIONS = ("holdout", "kfold", "holdout_and_kfold")
HOLDOUT = {"validation": ("holdout", "holdout_and_kfold")}
KFOLD = {"validation": ("kfold", "holdout_and_kfold")}


def _labelled(embeddings: Embeddings, ctx: RunContext) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the labelled images and their labels; unlabelled ones are left out."""
    labels = embeddings.images.labels.astype(str)
    keep = np.flatnonzero(labels != "")
    if len(keep) < len(labels):
        ctx.warn(f"{len(labels) - len(keep)} image(s) have no label and are not used for training")
    return keep, labels[keep]


def _check_classes(labels: np.ndarray, validation: str, folds: int) -> tuple[str, ...]:
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) < 2:
        found = f"only '{classes[0]}'" if len(classes) else "no labelled images"
        raise NodeError(f"a classifier needs at least 2 classes; found {found}",
                        hint="put each class's images in its own subfolder, or give a label file")
    needed = max(MIN_IMAGES_PER_CLASS, folds if validation != "holdout" else 0)
    small = [f"'{c}' has {n}" for c, n in zip(classes, counts) if n < needed]
    if small:
        raise NodeError(f"too few images per class: {', '.join(small)}; each class needs at "
                        f"least {needed} to train and validate a classifier",
                        field="folds" if needed > MIN_IMAGES_PER_CLASS else None,
                        hint="add images to those classes, or merge or remove them")
    return tuple(classes.tolist())


def _balance(labels: np.ndarray, trained: np.ndarray, validated: np.ndarray,
             classes: tuple[str, ...], ctx: RunContext) -> "pd.DataFrame":
    """Images per class (all, learned from, validated on); warns when classes are unbalanced."""
    import pandas as pd

    table = pd.DataFrame({"class": list(classes),
                          "images": [int(np.sum(labels == c)) for c in classes],
                          "training": [int(np.sum(trained == c)) for c in classes],
                          "validation": [int(np.sum(validated == c)) for c in classes]})
    most, least = table["images"].idxmax(), table["images"].idxmin()
    if table["images"][most] > UNBALANCED_RATIO * table["images"][least]:
        ctx.warn(f"unbalanced classes: '{classes[most]}' has {table['images'][most]} images, "
                 f"'{classes[least]}' {table['images'][least]}; the classifier will favour the "
                 "larger classes")
    return table


class _Trainer:
    """Fits one model family with fixed settings on row subsets, one progress step a fit."""

    def __init__(self, ctx: RunContext, model: str, settings: dict[str, Any], seed: int,
                 vectors: np.ndarray, labels: np.ndarray, classes: tuple[str, ...], fits: int):
        self.ctx, self.model, self.settings, self.seed = ctx, model, settings, seed
        self.vectors, self.labels, self.classes = vectors, labels, classes
        self.fits, self.done = fits, 0
        ctx.progress(0, fits, unit="fits")

    def fit(self, train: np.ndarray) -> Any:
        if self.model == "knn" and self.settings["n_neighbors"] > len(train):
            raise NodeError(f"{self.settings['n_neighbors']} neighbours asked for, but a training "
                            f"set has only {len(train)} images", field="n_neighbors")
        smallest = int(np.unique(self.labels[train], return_counts=True)[1].min())
        estimator = build_estimator(self.model, self.settings, self.seed, smallest)
        estimator.fit(self.vectors[train], self.labels[train])
        self.done += 1
        self.ctx.progress(self.done, self.fits, unit="fits")
        return estimator

    def scores(self, estimator: Any, rows: np.ndarray) -> np.ndarray:
        return class_scores(estimator, self.vectors[rows], self.classes)

    def kfold(self, rows: np.ndarray, folds: int) -> tuple[np.ndarray, np.ndarray]:
        """Out-of-fold scores of ``rows`` and the fold (1..k) each row was scored in."""
        from sklearn.model_selection import StratifiedKFold

        scores = np.zeros((len(rows), len(self.classes)))
        fold_of = np.zeros(len(rows), dtype=np.int64)
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.seed)
        for k, (train, test) in enumerate(splitter.split(rows, self.labels[rows]), 1):
            scores[test] = self.scores(self.fit(rows[train]), rows[test])
            fold_of[test] = k
        return scores, fold_of

    def fold_accuracies(self, rows: np.ndarray, scores: np.ndarray, fold_of: np.ndarray) -> list[float]:
        right = np.asarray(self.classes)[scores.argmax(axis=1)] == self.labels[rows]
        return [float(right[fold_of == k].mean()) for k in np.unique(fold_of)]


def _holdout(rows: np.ndarray, labels: np.ndarray, fraction: float, seed: int,
             n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """A stratified, seeded split of ``rows`` into training and validation rows."""
    from sklearn.model_selection import train_test_split

    n_test = max(n_classes, int(round(fraction * len(rows))))
    train, test = train_test_split(rows, test_size=n_test, stratify=labels[rows], random_state=seed)
    return np.sort(train), np.sort(test)


@node(
    type="train_classifier", title="Train Classifier", category="Supervised",
    inputs=[Input("embeddings", EMBEDDINGS, help="Embeddings of labelled images.")],
    outputs=[Output("model", MODEL),
             Output("validation", LABELS, help="Predictions for the images held out of training "
                    "(or out-of-fold), with their true labels: connect Evaluate."),
             Output("balance", TABLE, help="Images per class, for training and validation.")],
    params=[
        Choice(name="model", default="logistic_regression", choices=MODELS,
               choice_titles=MODEL_TITLES, help="Which kind of classifier to train."),
        Choice(name="validation", default="holdout", choices=VALIDATIONS,
               choice_titles={"holdout": "Hold-out split (like Lobe)",
                              "kfold": "k-fold cross-validation",
                              "holdout_and_kfold": "Both: k-fold on the training part, then hold-out"},
               help="How to measure accuracy on images the classifier did not learn from."),
        Float(name="test_fraction", default=0.2, min=0.05, max=0.5, step=0.05, shown_when=HOLDOUT,
              help="Share of each class held out for validation (Lobe: 0.2)."),
        Int(name="folds", default=5, min=2, max=20, shown_when=KFOLD,
            help="Number of cross-validation folds."),
        Choice(name="final_model", default="training_split", choices=("training_split", "all_images"),
               choice_titles={"training_split": "Trained on the training split (what was validated)",
                              "all_images": "Retrained on all images after validating"},
               shown_when={"validation": ("holdout", "holdout_and_kfold")},
               help="Which images the output model learns from; with k-fold alone it is all."),
        Int(name="seed", default=0, min=0, max=2**32 - 1, help="Seed of the split and of random models."),
        Float(name="c", default=1.0, min=1e-6, max=1e6, title="C (less regularisation when larger)",
              shown_when={"model": ("logistic_regression", "linear_svm")},
              help="Inverse regularisation strength."),
        Int(name="n_neighbors", default=5, min=1, max=200, shown_when={"model": ("knn",)},
            help="How many nearest training images vote."),
        Choice(name="knn_metric", default="euclidean", choices=("euclidean", "cosine", "manhattan"),
               shown_when={"model": ("knn",)}, help="How unlike two images' vectors are."),
        Choice(name="knn_weights", default="uniform", choices=("uniform", "distance"),
               shown_when={"model": ("knn",)},
               help="Every neighbour votes equally, or closer ones count more."),
        Int(name="n_trees", default=200, min=10, max=5000, shown_when={"model": ("random_forest",)},
            help="Number of trees in the forest."),
        Int(name="hidden_units", default=100, min=2, max=4096, shown_when={"model": ("mlp",)},
            help="Size of the network's hidden layer."),
        Choice(name="calibration", default="auto", choices=CALIBRATIONS,
               choice_titles={"auto": "Calibrated as measured best for the model",
                              "temperature": "Calibrated (temperature scaling, on 3 internal folds)",
                              "sigmoid": "Calibrated (sigmoid, on 3 internal folds)",
                              "isotonic": "Calibrated (isotonic; needs many images per class)",
                              "none": "The model's own scores"},
               help="Make confidences mean the same for every model (0.8: about 80 % right), "
                    "so Predict's 'uncertain' threshold suits any model."),
    ],
    version=2,
    migrations={1: lambda params: {"calibration": "none", **params}},  # as version 1 scored
)
def train_classifier(ctx: RunContext, *, embeddings: Embeddings, model, validation, test_fraction, folds,
                     final_model, seed, c, n_neighbors, knn_metric, knn_weights, n_trees,
                     hidden_units, calibration):
    """Teach a classifier the labels of images from their embeddings, and validate it."""
    settings = dict(c=c, n_neighbors=n_neighbors, knn_metric=knn_metric, knn_weights=knn_weights,
                    n_trees=n_trees, hidden_units=hidden_units, calibration=calibration)
    rows, kept_labels = _labelled(embeddings, ctx)
    classes = _check_classes(kept_labels, validation, folds)
    labels = embeddings.images.labels.astype(str)
    refit = final_model == "all_images" and validation != "kfold"
    fits = 1 + (folds if validation != "holdout" else 0) + refit
    trainer = _Trainer(ctx, model, settings, seed, embeddings.vectors, labels, classes, fits)
    columns: dict[str, np.ndarray] = {}
    fold_accuracies: list[float] = []
    if validation == "kfold":
        train = test = rows
        scores, columns["fold"] = trainer.kfold(rows, folds)
        fold_accuracies = trainer.fold_accuracies(rows, scores, columns["fold"])
        estimator = trainer.fit(rows)
    else:
        train, test = _holdout(rows, labels, test_fraction, seed, len(classes))
        if validation == "holdout_and_kfold":
            cv_scores, cv_folds = trainer.kfold(train, folds)
            fold_accuracies = trainer.fold_accuracies(train, cv_scores, cv_folds)
        estimator = trainer.fit(train)
        scores = trainer.scores(estimator, test)
        if refit:
            estimator, train = trainer.fit(rows), rows
    validated = predictions(embeddings.images.subset(test), scores, classes, top_k=1,
                            confidence="probability", uncertain_below=0.0, uncertain_label="")
    columns["correct"] = validated.labels == labels[test]
    validated = Labelling(validated.images, validated.labels, validated.scores, "prediction",
                          classes, {**validated.columns, **columns})
    training = {
        "images": int(len(train)),
        "class_counts": {c: int(np.sum(labels[train] == c)) for c in classes},
        "validation": validation, "validation_images": int(len(test)),
        "validation_accuracy": float(np.mean(columns["correct"])),
        "fold_accuracies": fold_accuracies, "seed": seed,
    }
    ctx.record("training", training)
    familiarity = learn_familiarity(embeddings.vectors[train], seed=seed)
    classifier = Classifier(dump_estimator(estimator), classes, dict(embeddings.embedder), model,
                            settings, training, familiarity=familiarity)
    return {"model": classifier, "validation": validated,
            "balance": _balance(labels[rows], labels[train], labels[test], classes, ctx)}


def _evaluation(labelled: Labelling) -> Evaluation:
    from sklearn.metrics import (balanced_accuracy_score, confusion_matrix,
                                 precision_recall_fscore_support)

    truth, guess = labelled.images.labels.astype(str), labelled.labels.astype(str)
    classes = tuple(dict.fromkeys([c for c in labelled.classes if c in set(truth)]
                                  + sorted(set(truth) - set(labelled.classes))))
    predicted = classes + tuple(sorted(set(guess) - set(classes)))
    matrix = confusion_matrix(truth, guess, labels=list(predicted))[:len(classes)]
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, guess, labels=list(classes), zero_division=0)
    folds = labelled.columns.get("fold")
    fold_accuracies = np.array([np.mean(truth[folds == k] == guess[folds == k])
                                for k in np.unique(folds)]) if folds is not None else np.zeros(0)
    with warnings.catch_warnings():  # predictions outside the true classes ("uncertain")
        warnings.simplefilter("ignore", UserWarning)
        balanced = float(balanced_accuracy_score(truth, guess))
    return Evaluation(labelled, classes, predicted, matrix.astype(np.int64),
                      float(np.mean(truth == guess)), balanced, precision, recall, f1,
                      support.astype(np.int64), fold_accuracies)


def _evaluate_reports(source: Any) -> dict[str, Any]:
    """evaluation.csv, confusion_matrix.csv and confusion_matrix.png for headless runs."""
    from flowclass.safe_tables import write_csv

    from .lib.results.figures import confusion_png

    evaluation: Evaluation = source.output("evaluation")
    return {
        report_names.EVALUATION: lambda path: write_csv(evaluation.report_table(), path),
        report_names.CONFUSION_CSV: lambda path: write_csv(evaluation.confusion_table(), path),
        report_names.CONFUSION_PNG: lambda path: confusion_png(
            evaluation.confusion, evaluation.classes, evaluation.predicted_classes, path,
            f"Confusion matrix: accuracy {evaluation.accuracy:.3f}, balanced "
            f"{evaluation.balanced_accuracy:.3f}"),
    }


@node(
    type="evaluate", title="Evaluate", category="Supervised",
    inputs=[Input("predictions", LABELS, help="Predictions of images whose true labels are known, "
                  "e.g. Train Classifier's validation output.")],
    outputs=[Output("evaluation", EVALUATION),
             Output("confusion", TABLE, help="Confusion matrix: true classes in rows, predicted "
                    "in columns."),
             Output("misclassified", LABELS, help="The images predicted wrongly, with their true "
                    "label, prediction and confidence.")],
    reports=_evaluate_reports, reports_need=FIGURES,
)
def evaluate(ctx: RunContext, *, predictions: Labelling):
    """Accuracy, balanced accuracy, per-class precision/recall/F1, confusion matrix, mistakes."""
    if predictions.kind != "prediction":
        raise NodeError(f"Evaluate compares predictions with true labels; it got {predictions.kind}s",
                        hint="connect Train Classifier's validation output or a Predict node")
    known = np.flatnonzero(predictions.images.labels != "")
    if not len(known):
        raise NodeError("none of the predicted images has a true label to compare with",
                        hint="predict images in labelled subfolders (or apply a label file)")
    if len(known) < len(predictions):
        ctx.warn(f"{len(predictions) - len(known)} image(s) without a true label are not evaluated")
    evaluation = _evaluation(subset(predictions, known))
    ctx.record("evaluation", evaluation.summary())
    return {"evaluation": evaluation, "confusion": evaluation.confusion_table(),
            "misclassified": subset(evaluation.predictions, evaluation.wrong())}


def check_embedder(model: Classifier, embeddings: Embeddings) -> None:
    """Refuse embeddings made differently from those the model learned from, saying how."""
    differences = spec_differences(model.embedder, embeddings.embedder)
    if differences:
        raise NodeError(
            f"the classifier was trained on embeddings of {describe_spec(model.embedder)}, but "
            f"these come from {describe_spec(embeddings.embedder)}; differences (model vs "
            f"input): {'; '.join(differences)}",
            field="embeddings",
            hint="set the Embed node before Predict exactly as the one the model was trained with")


def _embed_settings_upstream(node: Any) -> tuple[str, dict[str, Any]] | None:
    """(name, embedder settings) of the Embed node feeding ``node``'s embeddings, if one does:
    named by its title on the canvas, with its id, which the command line's --set takes."""
    from .embed import embedder_settings

    source = node.feeding("embeddings")
    if source is None or source.type != "embed":
        return None
    return f"'{source.title}' ({source.id})", embedder_settings(source.params)


def _check_predict_wiring(node: Any) -> Iterable[tuple[str, str]]:
    """Embeddings made otherwise than the model's are refused before anything runs."""
    from .embed import describe_settings

    images, made = node.feeding("images"), _embed_settings_upstream(node)
    if images is not None and node.feeding("embeddings") is not None:
        yield "images", ("connect either images (Predict embeds them as the model was trained) "
                         "or embeddings, not both")
    if images is None and node.feeding("embeddings") is None:
        yield "images", "connect the images to predict (or their embeddings)"
    trainer = node.feeding("model")
    learned = _embed_settings_upstream(trainer) if trainer is not None and \
        trainer.type == "train_classifier" else None
    if made is not None and learned is not None and made[1] != learned[1]:
        yield "embeddings", (f"embedded by {made[0]} with {describe_settings(made[1])}, but the "
                             f"model learns from {learned[0]} with "
                             f"{describe_settings(learned[1])}; connect the images to Predict's "
                             "'images' input instead (it embeds them as the model was trained)")


def _embed_like_the_model(ctx: RunContext, model: Classifier, images: ImageSet) -> tuple[Embeddings, Any]:
    """The images embedded exactly as the model's training images were."""
    from .embed import embed_images, make_embedder, params_from_spec
    from .images import skipped_table

    try:
        params = params_from_spec(model.embedder)
    except (KeyError, ValueError) as exc:
        raise NodeError(f"the model does not say how to embed images ({exc})", field="images",
                        hint="embed the images with an Embed node and connect its embeddings")
    ctx.progress(0, len(images), unit="images", message="loading the model's embedder")
    embeddings, skipped = embed_images(ctx, make_embedder(ctx, params), images, batch_size=8)
    return embeddings, skipped_table(skipped, ctx)


TOP_K = Int(name="top_k", default=3, min=1, max=1000, help="How many best labels to list per image.")


@node(
    type="predict", title="Predict", category="Supervised",
    inputs=[Input("model", MODEL),
            Input("images", IMAGES, optional=True, help="Images to classify; they are embedded "
                  "exactly as the model's training images were."),
            Input("embeddings", EMBEDDINGS, optional=True, help="Or: embeddings of the images to "
                  "classify, made the same way as for training.")],
    outputs=[Output("predictions", LABELS, help="Label and confidence of every image, with the "
                    "top-k labels and their scores."),
             Output("skipped", TABLE, help="Images that could not be decoded, with the reason."),
             Output("embeddings", EMBEDDINGS, help="The embeddings of the predicted images (made "
                    "here from 'images', or passed on), e.g. for a map.")],
    params=[
        TOP_K,
        Choice(name="confidence", default="probability", choices=CONFIDENCES,
               choice_titles={"probability": "Probability of the best label",
                              "margin": "Best vs second-best label (seed 002)"},
               help="How the confidence of a prediction is measured."),
        Float(name="uncertain_below", default=0.0, min=0.0, max=1.0, step=0.05,
              help="Predictions less confident than this get the 'uncertain' label (0: never)."),
        Text(name="uncertain_label", default="uncertain", allow_empty=False,
             help="The label given to uncertain predictions."),
        Float(name="unfamiliar_below", default=UNFAMILIAR_BELOW, min=0.0, max=1.0, step=0.01,
              help="Images whose familiarity (the share of training images that look at "
                   "least as unusual) is below this get the 'unfamiliar' label, whatever the "
                   "classifier says (0: never)."),
        Text(name="unfamiliar_label", default="unfamiliar", allow_empty=False,
             help="The label given to images unlike the training images."),
    ],
    check_wiring=_check_predict_wiring,
    version=2,  # version 1 flagged no image unfamiliar
    migrations={1: lambda params: {"unfamiliar_below": 0.0, "unfamiliar_label": "unfamiliar",
                                   **params}},
)
def predict(ctx: RunContext, *, model: Classifier, images: ImageSet | None, embeddings: Embeddings | None,
            top_k, confidence, uncertain_below, uncertain_label, unfamiliar_below, unfamiliar_label):
    """Label every image with a trained classifier: label, confidence and top-k scores."""
    if model is None or (embeddings is None and images is None):
        raise NodeError("connect a classifier and the images to predict (or their embeddings)")
    skipped = None
    if embeddings is None:
        embeddings, skipped = _embed_like_the_model(ctx, model, images)
    else:
        from .images import skipped_table

        skipped = skipped_table([])
    check_embedder(model, embeddings)
    if top_k > len(model.classes):
        ctx.warn(f"{TOP_K.named(top_k)} asks for more labels than the model has ({len(model.classes)}: "
                 f"{', '.join(model.classes)}); the table lists {len(model.classes)}")
    if not len(embeddings):
        raise NodeError("there are no images to predict", field="embeddings")
    scores = model.scores(embeddings.vectors)
    result = predictions(embeddings.images, scores, model.classes, top_k=top_k,
                         confidence=confidence, uncertain_below=uncertain_below,
                         uncertain_label=uncertain_label)
    familiarity = None
    if model.familiarity is None:
        ctx.warn("this classifier was trained before FlowClass kept what it needs to tell "
                 "unfamiliar images; retrain it to get familiarity and the 'unfamiliar' label")
    else:
        familiarity = model.familiarity.familiarity(embeddings.vectors)
    result = with_familiarity(result, familiarity, unfamiliar_below, unfamiliar_label)
    ctx.record("predicted", result.counts())
    return {"predictions": result, "skipped": skipped, "embeddings": embeddings}


NODES = [train_classifier, evaluate, predict]
VIEWERS = ["nodes.viewers.classification"]  # confusion matrix, misclassified images, classifier
