"""Pixel classification: train on labelled pixels, label every pixel, judge the result.

*Train Pixel Classifier* learns classes from pixel samples (colour features, optionally
neighbourhood and texture); *Classify Pixels* labels every pixel of each image, writes a
class map per image and measures the area of each class (Clashifier's "what percent of
this picture is wetland?"); *Evaluate Pixels* compares class maps with golden masks.
"""

from __future__ import annotations

import hashlib
import os
import json
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from flowclass.context import RunContext
from flowclass.errors import NodeError
from flowclass.node import Input, Output, node
from flowclass.params import Bool, Choice, Float, Int, Path as PathParam, Text
from flowclass.userfiles.pictures import BadImage, open_rgb

from .datatypes import IMAGES, TABLE, ImageSet
from .images import SKIPPED_COLUMNS
from .lib.classify.estimators import UntrustedModel, dump_estimator
from .lib.pixels import metrics
from .lib.results import report_names
from .lib.pixels.class_maps import class_counts, read_class_map, save_class_map
from .lib.pixels.features import FeatureSpec, colour_features
from .lib.pixels.legend import LegendError, display_colours, parse_legend, parse_pairs
from .lib.pixels.masks import MaskError, read_mask
from .lib.pixels.model import MODELS, PixelClassifier, features_at, load_model_estimator, make_estimator, predict
from .pixel_datatypes import PIXEL_MAPS, PIXEL_MODEL, PIXEL_SAMPLES, PixelMaps, PixelModel, PixelSamples
from .pixel_samples import (DEFAULT_LEGEND, SEED, legend_problems, load_array, masks_param_fingerprint,
                            pair_masks)
from .lib.results.figures import NEEDS as FIGURES

LABELLING = "labelling pixels"  # Classify Pixels' phase, as the canvas and the terminal show it
MAP_VERSION = 1  # bump when class maps of the same inputs would come out differently
FOREST = {"model": ("random_forest",)}


def _feature_problems(params: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    if not any(params[name] for name in ("rgb", "hsv", "lab", "neighbourhood", "texture")):
        yield "rgb", "choose at least one feature"
    if params["window"] % 2 == 0:
        yield "window", "the window needs a centre pixel: use an odd size (3, 5, 7...)"


def sample_features(samples: PixelSamples, spec: FeatureSpec) -> np.ndarray:
    """The features of every sample; neighbourhood features re-read the source images."""
    if spec.colour_only:
        return colour_features(samples.rgb, spec)
    features = np.empty((len(samples), len(spec.names())), dtype=np.float32)
    for i, path in enumerate(samples.paths.tolist()):
        rows = np.flatnonzero(samples.image == i)
        if len(rows):
            image = load_array(path, "samples")
            features[rows] = features_at(image, spec, samples.rows[rows], samples.cols[rows])
    return features


def _split(labels: np.ndarray, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    everything = np.arange(len(labels))
    if holdout == 0:
        return everything, everything[:0]
    from sklearn.model_selection import train_test_split

    try:
        return train_test_split(everything, test_size=holdout, stratify=labels, random_state=seed)
    except ValueError as exc:
        raise NodeError(f"cannot hold out {holdout:.0%} of the pixels: {exc}", field="holdout",
                        hint="use more pixels per class, or set hold-out to 0") from None


@node(
    type="train_pixel_classifier", title="Train Pixel Classifier", category="Pixels",
    inputs=[Input("samples", PIXEL_SAMPLES)],
    outputs=[Output("model", PIXEL_MODEL),
             Output("report", TABLE, help="Accuracy per class on the held-out pixels.")],
    params=[
        Choice(name="model", default="random_forest", choices=MODELS,
               choice_titles={"nearest_centroid": "Nearest colour (distance to each class's mean)",
                              "logistic_regression": "Logistic regression",
                              "random_forest": "Random forest"},
               help="How pixels are told apart, from simplest to most flexible."),
        Bool(name="rgb", default=True, title="RGB", help="Red, green and blue."),
        Bool(name="hsv", default=False, title="HSV", help="Hue, saturation and value."),
        Bool(name="lab", default=True, title="CIELAB",
             help="Lightness and two colour axes, spaced as people perceive colour."),
        Bool(name="neighbourhood", default=False,
             help="Also the mean colour around each pixel (slower to classify)."),
        Bool(name="texture", default=False,
             help="Also how much brightness varies around each pixel (slower to classify)."),
        Int(name="window", default=7, min=3, max=63,
            help="Side of the square around a pixel for neighbourhood and texture, in pixels."),
        Int(name="n_trees", default=50, min=1, max=500, shown_when=FOREST,
            help="Trees in the forest."),
        Int(name="max_depth", default=12, min=0, max=64, shown_when=FOREST,
            help="Deepest question chain of a tree; 0 = no limit."),
        Float(name="holdout", default=0.2, min=0.0, max=0.9, step=0.05,
              help="Share of the pixels kept aside to measure accuracy (not trained on). They "
                   "lie next to pixels trained on, so this is optimistic: Evaluate Pixels on "
                   "other regions tells more."),
        SEED,
    ],
    check=_feature_problems,
)
def train_pixel_classifier(ctx: RunContext, *, samples: PixelSamples, model, rgb, hsv, lab, neighbourhood,
                           texture, window, n_trees, max_depth, holdout, seed):
    """Learn the classes of pixel samples; reports accuracy on held-out pixels."""
    present = [name for name, n in samples.counts().items() if n]
    if len(present) < 2:
        raise NodeError(f"the samples hold {len(present)} class(es); at least two are needed",
                        field="samples", hint="label pixels of at least two classes (draw them, "
                        "or paint them in a mask)")
    spec = FeatureSpec(rgb, hsv, lab, neighbourhood, texture, window)
    ctx.progress(0, 2, message="computing features")
    features, labels = sample_features(samples, spec), samples.labels.astype(np.int64)
    train, test = _split(labels, holdout, seed)
    ctx.progress(1, 2, message=f"training on {len(train)} pixels")
    estimator = make_estimator(model, seed=seed, n_trees=n_trees, max_depth=max_depth)
    estimator.fit(features[train], labels[train])
    report, accuracy = _holdout_report(samples.classes, labels, train, test,
                                       predict(estimator, features[test])[0] if len(test) else None)
    ctx.record("holdout_accuracy", accuracy)
    if len(test):
        ctx.record("majority_baseline", float(np.bincount(labels[test]).max() / len(test)))
    trained = PixelModel(samples.classes, samples.colours, spec.to_dict(), model, dump_estimator(estimator),
                         accuracy, len(train))
    return {"model": trained, "report": report}


def _holdout_report(classes, labels, train, test, predicted):
    import pandas as pd

    rows = []
    for k, name in enumerate(classes):
        held = labels[test] == k
        rows.append({"class": name, "train_pixels": int(np.sum(labels[train] == k)),
                     "holdout_pixels": int(held.sum()),
                     "holdout_accuracy": float(np.mean(predicted[held] == k))
                     if predicted is not None and held.any() else np.nan})
    accuracy = float(np.mean(predicted == labels[test])) if predicted is not None else float("nan")
    rows.append({"class": "(all classes)", "train_pixels": len(train), "holdout_pixels": len(test),
                 "holdout_accuracy": accuracy})
    return pd.DataFrame(rows), accuracy


def _colour_problems(params: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    try:
        parse_pairs(params["colours"])
    except LegendError as exc:
        yield "colours", str(exc)


def _classify_reports(source: Any) -> dict[str, Any]:
    """areas.png: the share of each class in each image, as stacked bars."""
    from .lib.results.figures import areas_png

    maps: PixelMaps = source.output("maps")
    shown = len(maps.names) if maps.unknown_below > 0 else len(maps.classes)
    counts = maps.counts[:, :shown].astype(np.float64)
    percent = 100.0 * counts / np.maximum(maps.counts.sum(axis=1, keepdims=True), 1)
    names = [os.path.basename(p) for p in maps.images.paths.tolist()]
    return {report_names.AREAS: lambda path: areas_png(names, maps.names[:shown], maps.colours[:shown],
                                                percent, path)}


@node(
    type="classify_pixels", title="Classify Pixels", category="Pixels",
    inputs=[Input("model", PIXEL_MODEL), Input("images", IMAGES)],
    outputs=[Output("maps", PIXEL_MAPS, help="A class map per image (palette PNG files)."),
             Output("areas", TABLE, help="Pixels and percent of each class in each image."),
             Output("skipped", TABLE, help="Images that could not be decoded, with the reason.")],
    params=[
        Float(name="unknown_below", default=0.0, min=0.0, max=1.0, step=0.05,
              help="Call a pixel 'unknown' when the model is less sure than this "
                   "(a probability; 0 labels every pixel)."),
        Text(name="colours", default="",
             help="Change how classes are drawn: 'water=#0000ff, unknown=#ffffff'. "
                  "Classes not named keep their colour."),
    ],
    check=_colour_problems,
    reports=_classify_reports, reports_need=FIGURES,
    keeps_progress=True,  # each map is stored as it is made (its progress counts them)
)
def classify_pixels(ctx: RunContext, *, model: PixelModel, images: ImageSet, unknown_below, colours):
    """Label every pixel of each image; a class map per image and the area of each class."""
    import pandas as pd

    try:
        palette = display_colours(model.classes, model.colours, colours)
    except LegendError as exc:
        raise NodeError(str(exc), field="colours") from None
    try:
        classifier = PixelClassifier(load_model_estimator(model.estimator, model.kind),
                                     FeatureSpec.from_dict(model.features))
    except UntrustedModel as exc:
        raise NodeError(str(exc), field="model") from None
    unknown, threshold = len(model.classes), round(unknown_below * 255)
    store = ctx.store_dir("pixel_maps")
    targets = []
    for path, sha in zip(images.paths.tolist(), images.hashes.tolist()):
        key = hashlib.sha256(json.dumps([MAP_VERSION, model.digest, sha, threshold, palette])
                             .encode()).hexdigest()
        targets.append(store / key[:2] / f"{key}.png")
    # Each map is stored as soon as it is made: a run stopped half-way (Cancel, a crash,
    # kill -9) left the maps it finished, and this one starts where it stopped.
    todo = [i for i, target in enumerate(targets) if not target.is_file()]
    stored = len(images) - len(todo)
    ctx.progress(stored, len(images), unit="images", message=LABELLING)
    labelled: dict[int, np.ndarray | str] = {}  # image -> fresh class indices, or why it failed
    if ctx.remote and todo:  # a cluster: the workers decode and label, batch by batch
        labelled = _label_on_cluster(ctx, model, images.paths[todo].tolist(), todo, threshold,
                                     stored, len(images), keep=lambda i, labels: save_class_map(
                                         labels, palette, targets[i]))
    kept, maps, counts, skipped = [], [], [], []
    made = 0
    for i, (path, target) in enumerate(zip(images.paths.tolist(), targets)):
        if i in labelled:  # on the cluster, stored as it came back
            labels = labelled.pop(i)
        elif target.is_file():
            labels = read_class_map(target)
        else:
            try:
                labels = _label_one(classifier, path, unknown, threshold)
            except BadImage as exc:
                labels = str(exc)
            if not isinstance(labels, str):
                save_class_map(labels, palette, target)
            made += 1
            ctx.progress(stored + made, len(images), unit="images", message=LABELLING)
        if isinstance(labels, str):
            skipped.append((path, labels))
            continue
        kept.append(i)
        maps.append(str(target))
        counts.append(class_counts(labels, unknown + 1))
    ctx.skip(skipped)
    if skipped:
        ctx.warn(f"{len(skipped)} image(s) could not be decoded; see the 'skipped' output")
    result = PixelMaps(images.subset(kept), np.array(maps, dtype=str), model.classes, palette,
                       np.array(counts, dtype=np.int64).reshape(len(kept), unknown + 1),
                       unknown_below, {"kind": model.kind, "digest": model.digest})
    return {"maps": result, "areas": result.to_table(),
            "skipped": pd.DataFrame(skipped, columns=SKIPPED_COLUMNS)}


def _label_one(classifier: PixelClassifier, path: str, unknown: int, threshold: int) -> np.ndarray:
    """Class index per pixel of one image; ``unknown`` where the model is less sure than
    ``threshold`` (0..255). Raises BadImage for a file that does not decode."""
    labels, confidence = classifier.label_image(np.asarray(open_rgb(path)))
    if threshold:
        labels[confidence < threshold] = unknown
    return labels


CLUSTER_TASK_IMAGES = 8  # photos per cluster job: a class map is as big as its photo


def _label_on_cluster(ctx: RunContext, model: PixelModel, paths: list[str], indices: list[int],
                      threshold: int, done_before: int, total: int,
                      keep: Callable[[int, np.ndarray], None]) -> dict[int, np.ndarray | str]:
    """Class maps of ``paths`` made by the cluster's workers (the photos must be readable
    there); index -> labels, or the reason the photo could not be read. ``keep(index,
    labels)`` stores each map as its job comes back, before the run may be cancelled."""
    jobs = [(model.estimator, model.kind, model.features, len(model.classes), threshold,
             paths[start:start + CLUSTER_TASK_IMAGES])
            for start in range(0, len(paths), CLUSTER_TASK_IMAGES)]
    done = [done_before]

    def on_done(index: int, result: list) -> None:
        for offset, labels in enumerate(result):
            if not isinstance(labels, str):
                keep(indices[index * CLUSTER_TASK_IMAGES + offset], labels)
        done[0] += len(result)
        ctx.progress(done[0], total, unit="images", message="on the cluster")

    results = [labels for batch in ctx.map(label_pixels_job, jobs, on_done=on_done)
               for labels in batch]
    return dict(zip(indices, results))


_WORKER_CLASSIFIERS: dict[str, PixelClassifier] = {}  # per worker process: each model once


def label_pixels_job(job: tuple[np.ndarray, str, dict, int, int, list[str]]) -> list[np.ndarray | str]:
    """A cluster job: class indices of each photo of a batch (or why it failed)."""
    estimator, kind, features, unknown, threshold, paths = job
    key = hashlib.sha256(bytes(estimator) + json.dumps([kind, features], sort_keys=True).encode()).hexdigest()
    if key not in _WORKER_CLASSIFIERS:
        _WORKER_CLASSIFIERS[key] = PixelClassifier(load_model_estimator(estimator, kind),
                                                   FeatureSpec.from_dict(features))
    results: list[np.ndarray | str] = []
    for path in paths:
        try:
            results.append(_label_one(_WORKER_CLASSIFIERS[key], path, unknown, threshold))
        except BadImage as exc:
            results.append(str(exc))
    return results


@node(
    type="evaluate_pixels", title="Evaluate Pixels", category="Pixels",
    inputs=[Input("maps", PIXEL_MAPS)],
    outputs=[Output("scores", TABLE, help="Pixel accuracy and mean IoU over all golden pixels."),
             Output("per_class", TABLE, help="Precision, recall and IoU of each class."),
             Output("confusion", TABLE, help="Golden class (rows) against predicted (columns).")],
    params=[
        PathParam(name="masks", default="", target="any", role="input", optional=True,
                  help="Golden mask PNG, or a folder of them named like the images."),
        Text(name="legend", default=DEFAULT_LEGEND,
             help="Which golden-mask colour is which class, with the model's class names."),
    ],
    check=legend_problems,
    fingerprint=masks_param_fingerprint,
)
def evaluate_pixels(ctx: RunContext, *, maps: PixelMaps, masks, legend):
    """Compare class maps with golden masks: pixel accuracy, IoU per class, confusion matrix."""
    import pandas as pd

    golden = parse_legend(legend)
    foreign = [name for name in golden.classes if name not in maps.classes]
    if foreign:
        raise NodeError(f"golden class(es) {', '.join(foreign)} are not classes of the model "
                        f"({', '.join(maps.classes)})", field="legend")
    names = list(maps.names)
    matrix = np.zeros((len(golden.classes), len(names)), dtype=np.int64)
    pairs = pair_masks(ctx, maps.images, masks)
    for n, (i, file) in enumerate(pairs):
        predicted = read_class_map(maps.maps[i])
        try:
            truth = read_mask(file, golden, size=(predicted.shape[1], predicted.shape[0]))
        except MaskError as exc:
            raise NodeError(str(exc), field="masks") from None
        matrix += metrics.confusion(truth, predicted, len(golden.classes), len(names))
        ctx.progress(n + 1, len(pairs), unit="masks")
    if not matrix.sum():
        raise NodeError("the golden masks label no pixel", field="masks")
    true_names = list(golden.classes)
    per_class = metrics.per_class(matrix, true_names, names)
    accuracy = metrics.accuracy(matrix, true_names, names)
    mean_iou = float(np.nanmean(per_class["iou"]))
    ctx.record("pixel_accuracy", accuracy)
    ctx.record("mean_iou", mean_iou)
    scores = pd.DataFrame([{"images": len(pairs), "pixels": int(matrix.sum()),
                            "pixel_accuracy": accuracy, "mean_iou": mean_iou}])
    return {"scores": scores, "per_class": per_class,
            "confusion": metrics.confusion_table(matrix, true_names, names)}


NODES = [train_pixel_classifier, classify_pixels, evaluate_pixels]
VIEWERS = ["nodes.viewers.pixels"]  # class maps over photos, areas
