"""Judging class maps against golden masks: pixel accuracy, IoU per class, confusion."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


def confusion(truth: np.ndarray, predicted: np.ndarray, n_true: int, n_predicted: int) -> np.ndarray:
    """Counts of (true class, predicted class) over the labelled pixels (truth >= 0)."""
    labelled = truth >= 0
    pairs = truth[labelled].astype(np.int64) * n_predicted + predicted[labelled]
    return np.bincount(pairs, minlength=n_true * n_predicted).reshape(n_true, n_predicted)


def per_class(matrix: np.ndarray, true_names: list[str], predicted_names: list[str]) -> "pd.DataFrame":
    """Precision, recall and IoU of each golden class (NaN where undefined)."""
    import pandas as pd

    rows = []
    for i, name in enumerate(true_names):
        j = predicted_names.index(name)
        hit = matrix[i, j]
        truth = matrix[i].sum()
        claimed = matrix[:, j].sum()
        union = truth + claimed - hit
        rows.append({"class": name, "pixels": int(truth), "correct": int(hit),
                     "precision": hit / claimed if claimed else np.nan,
                     "recall": hit / truth if truth else np.nan,
                     "iou": hit / union if union else np.nan})
    return pd.DataFrame(rows, columns=["class", "pixels", "correct", "precision", "recall", "iou"])


def accuracy(matrix: np.ndarray, true_names: list[str], predicted_names: list[str]) -> float:
    total = matrix.sum()
    hits = sum(matrix[i, predicted_names.index(name)] for i, name in enumerate(true_names))
    return float(hits / total) if total else float("nan")


def confusion_table(matrix: np.ndarray, true_names: list[str], predicted_names: list[str]) -> "pd.DataFrame":
    import pandas as pd

    table = pd.DataFrame(matrix, columns=predicted_names)
    table.insert(0, "true class", true_names)
    return table
