"""Pairwise distances stored as SciPy's condensed vector, computed in blocks.

A full n x n matrix of 10,000 images is 800 MB; the condensed upper triangle is half of
that and is what ``scipy.cluster.hierarchy.linkage`` takes. Blocks of rows are computed
with BLAS and copied into place, so memory stays near the size of the result.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def row_offset(i: np.ndarray | int, n: int) -> np.ndarray | int:
    """Position in the condensed vector of the pair (i, i + 1)."""
    return i * n - (i * (i + 1)) // 2


def condensed_rows(condensed: np.ndarray, n: int, rows: np.ndarray) -> np.ndarray:
    """Full rows of the square matrix, read from the condensed vector."""
    rows = np.asarray(rows, dtype=np.int64)
    i = rows[:, None]
    j = np.arange(n, dtype=np.int64)[None, :]
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    index = row_offset(lo, n) + (hi - lo - 1)
    out = condensed[np.clip(index, 0, max(0, len(condensed) - 1))] if len(condensed) else \
        np.zeros((len(rows), n))
    return np.where(i == j, 0.0, out)


def _block_distances(metric: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    if metric == "cosine":  # rows are L2-normalised beforehand
        return lambda a, b: np.clip(1.0 - a @ b.T, 0.0, 2.0)
    if metric == "euclidean":
        def euclidean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
            return np.sqrt(np.maximum(squared, 0.0))
        return euclidean
    if metric == "manhattan":
        from scipy.spatial.distance import cdist

        return lambda a, b: cdist(a, b, "cityblock")
    raise ValueError(f"unknown metric {metric!r}")


def pairwise_condensed(vectors: np.ndarray, metric: str,
                       progress: Callable[[int, int], None] = lambda done, total: None,
                       block: int = 512) -> np.ndarray:
    """Condensed distances between the rows of ``vectors`` (float64)."""
    x = np.asarray(vectors, dtype=np.float64)
    n = len(x)
    if metric == "cosine":
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        zero = norms[:, 0] == 0
        x = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    distance = _block_distances(metric)
    out = np.empty(n * (n - 1) // 2, dtype=np.float64)
    for start in range(0, n, block):
        stop = min(n, start + block)
        d = distance(x[start:stop], x[start:])
        for r in range(stop - start):
            i = start + r
            if i + 1 < n:
                offset = row_offset(i, n)
                out[offset:offset + n - i - 1] = d[r, r + 1:]
        progress(stop, n)
    if metric == "cosine" and zero.any():
        # A zero vector has no direction: call it as far from everything as orthogonal
        # vectors are (1), and identical to another zero vector (0).
        idx = np.flatnonzero(zero)
        for a in idx:
            for b in idx:
                if a < b:
                    out[row_offset(a, n) + (b - a - 1)] = 0.0
    # exact symmetry/self-consistency: euclidean via BLAS can leave tiny negatives
    np.maximum(out, 0.0, out=out)
    return out
