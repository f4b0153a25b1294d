"""How clusters agree with known labels: "did the clusters find the categories?".

The workshop's question once clusters are made from images whose folders already name
their category: a cluster x label table of counts, each cluster's purity (the share of
its images in its most common label), overall purity, and the adjusted Rand index
(1 is perfect agreement, 0 what chance gives; scikit-learn's ``adjusted_rand_score``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Agreement:
    table: "pd.DataFrame"  # one row per cluster: a count column per label, then images, label, purity
    purity: float  # images in their cluster's most common label / labelled images
    ari: float
    images: int  # labelled images compared


def has_known_labels(labels: np.ndarray) -> bool:
    """True when at least two images carry a label and there are at least two labels."""
    known = np.asarray(labels, dtype=str)
    known = known[known != ""]
    return len(known) >= 2 and len(set(known.tolist())) >= 2


def agreement(clusters: np.ndarray, labels: np.ndarray, order: Sequence[str] = ()) -> Agreement:
    """Compare ``clusters`` with the known ``labels`` (images without a label are left out).

    ``order`` gives the clusters' row order (C1, C2, ...); clusters not in it follow.
    """
    import pandas as pd
    from sklearn.metrics import adjusted_rand_score

    clusters, labels = np.asarray(clusters, dtype=str), np.asarray(labels, dtype=str)
    if clusters.shape != labels.shape:
        raise ValueError(f"{len(clusters)} cluster assignments for {len(labels)} labels")
    known = labels != ""
    clusters, labels = clusters[known], labels[known]
    counts = pd.crosstab(pd.Series(clusters, name="cluster"), pd.Series(labels, name="folder_label"))
    rows = [c for c in order if c in counts.index] + sorted(set(counts.index) - set(order))
    counts = counts.loc[rows]
    table = counts.copy()
    table.columns = list(counts.columns)
    table["images"] = counts.sum(axis=1)
    table["main_label"] = counts.idxmax(axis=1)
    table["purity"] = (counts.max(axis=1) / table["images"]).round(4)
    table = table.reset_index()
    total = int(table["images"].sum())
    purity = float(counts.max(axis=1).sum() / total) if total else float("nan")
    ari = float(adjusted_rand_score(labels, clusters)) if total else float("nan")
    return Agreement(table, purity, ari, total)
