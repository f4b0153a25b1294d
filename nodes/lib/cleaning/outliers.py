"""Images unlike the rest of their collection: far from their nearest neighbours.

An image's distance is the mean euclidean distance to its ``k`` nearest other images,
the vectors centred and reduced to their main 128 directions (cosine distance, which
ignores how far from the centre an image lies, let faces among digits pass as ordinary:
robust z about 2 against 4.5 and more here). It is compared with the collection's own distances robustly (median and median absolute
deviation of their logarithms), so the flag does not need to know how many outliers
there are: ``z`` above ``flag_above`` is flagged. The score is ``z / (z + flag_above)``
for positive ``z``: 0 for a typical image, 0.5 at the flag threshold, towards 1 for the
most unusual.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .neighbours import nearest

NEIGHBOURS = 10
FLAG_ABOVE = 4.0  # robust z of the log distance: no digit of the benchmark's 1,000 reaches
# 3.7, faces and photographs among them 4.5 and more


@dataclass(frozen=True)
class Outliers:
    score: np.ndarray  # 0..1
    flagged: np.ndarray  # bool
    distance: np.ndarray  # mean euclidean distance to the k nearest neighbours


def robust_z(values: np.ndarray) -> np.ndarray:
    median = np.median(values)
    spread = 1.4826 * np.median(np.abs(values - median))
    if spread <= 0:
        spread = max(float(np.std(values)), 1e-12)
    return (values - median) / spread


def find_outliers(rows: np.ndarray, neighbours: int = NEIGHBOURS,
                  flag_above: float = FLAG_ABOVE) -> Outliers:
    """``rows``: the collection's vectors, centred and reduced (see :func:`reduced`)."""
    n = len(rows)
    if n < 3:
        zeros = np.zeros(n)
        return Outliers(zeros, zeros.astype(bool), zeros)
    squared, idx = nearest(rows, min(neighbours, n - 1), metric="euclidean")
    distance = np.nanmean(np.sqrt(np.maximum(np.where(idx >= 0, squared, np.nan), 0.0)), axis=1)
    z = robust_z(np.log(distance + 1e-6))
    positive = np.maximum(z, 0.0)
    score = positive / (positive + flag_above)
    return Outliers(score, z > flag_above, distance)


def reduced(vectors: np.ndarray) -> np.ndarray:
    """The vectors centred and reduced to their main 128 directions (not unit length)."""
    from ..clustering.large_linkage import project

    return np.ascontiguousarray(project(vectors, "euclidean", True, dimensions=128))
