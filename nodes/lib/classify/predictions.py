"""From per-class scores to predictions: label, confidence, top-k, and "uncertain".

Shared by Predict and Zero-shot Classify, so both give the same kind of table.
Confidence is either the top class's probability, or seed 002's comparison of the best
class with the second best: ``best / (best + second)``, 0.5 when the two tie and 1 when
no other class scored at all.
"""

from __future__ import annotations

import numpy as np

from ...datatypes import ImageSet, Labelling

CONFIDENCES = ("probability", "margin")


def confidence_of(scores: np.ndarray, how: str) -> np.ndarray:
    """One confidence per row of ``scores`` (n, classes)."""
    ranked = -np.sort(-scores, axis=1)
    best = ranked[:, 0]
    if how == "probability":
        return best
    second = ranked[:, 1] if scores.shape[1] > 1 else np.zeros_like(best)
    total = best + second
    return np.divide(best, total, out=np.ones_like(best), where=total > 0)


def predictions(images: ImageSet, scores: np.ndarray, classes: tuple[str, ...], *, top_k: int,
                confidence: str, uncertain_below: float, uncertain_label: str) -> Labelling:
    """A Labelling of kind "prediction" with ``top1``..``topK`` label and score columns."""
    names = np.asarray(classes, dtype=str)
    order = np.argsort(-scores, axis=1, kind="stable")
    sure = confidence_of(scores, confidence)
    labels = names[order[:, 0]] if len(images) else np.array([], dtype=str)
    labels = np.where(sure < uncertain_below, uncertain_label, labels).astype(str)
    columns: dict[str, np.ndarray] = {}
    rows = np.arange(len(images))
    for k in range(min(top_k, len(classes))):
        columns[f"top{k + 1}"] = names[order[:, k]] if len(images) else np.array([], dtype=str)
        columns[f"top{k + 1}_score"] = scores[rows, order[:, k]]
    shown = classes + ((uncertain_label,) if uncertain_below > 0 else ())
    return Labelling(images, labels, sure.astype(np.float64), kind="prediction", classes=shown,
                     columns=columns)


def subset(labelling: Labelling, indices: np.ndarray) -> Labelling:
    """The rows ``indices`` of a labelling (images, labels, scores and extra columns)."""
    idx = np.asarray(indices, dtype=np.int64)
    return Labelling(labelling.images.subset(idx), labelling.labels[idx], labelling.scores[idx],
                     kind=labelling.kind, classes=labelling.classes,
                     columns={k: np.asarray(v)[idx] for k, v in labelling.columns.items()})


def with_familiarity(labelling: Labelling, familiarity: np.ndarray | None, below: float,
                     label: str) -> Labelling:
    """The predictions with ``familiarity`` and ``unfamiliar`` columns; images below
    ``below`` get ``label`` (NaN and false throughout when the model cannot tell)."""
    n = len(labelling)
    if familiarity is None:
        familiarity = np.full(n, np.nan)
    unfamiliar = np.asarray(familiarity < below) if below > 0 else np.zeros(n, dtype=bool)
    labels = np.where(unfamiliar, label, labelling.labels).astype(str)
    classes = labelling.classes + ((label,) if below > 0 and label not in labelling.classes else ())
    columns = {**labelling.columns, "familiarity": np.asarray(familiarity, dtype=np.float64),
               "unfamiliar": unfamiliar.astype(bool)}
    return Labelling(labelling.images, labels, labelling.scores, kind=labelling.kind,
                     classes=classes, columns=columns)
