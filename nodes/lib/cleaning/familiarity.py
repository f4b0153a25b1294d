"""How much a new image resembles a classifier's training images (familiarity, 0..1).

A new image's distance to its ``k`` nearest training images is divided by how far those
training images usually are from their own nearest neighbours: in a tight class a small
distance already means something new, in a spread-out one it does not. Measured on digits
with letters drawn the same way as the foreign kind (benchmarks/cleaning.py), this ratio
separates them better (AUROC 0.98) than the plain distance (0.89) or a class-conditional
Mahalanobis distance (0.90). Distances are euclidean between the embeddings centred and
reduced to their main 128 directions: cosine distance, which ignores how far from the
centre an image lies, separated letters from digits less well (0.97 against 0.98 on
EfficientNet vectors, 0.97 against 0.99 on pixels).

The ratio is turned into familiarity by the training images themselves: familiarity is
the share of training images (each measured without itself) that look at least as
unfamiliar, so about 2 % of images like the training ones fall below 0.02.

Everything is arrays (PCA mean and axes, the reference vectors, their neighbour
distances, the sorted training ratios), so a model file holding it stays plain data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flowclass.codec import serializable

NEIGHBOURS = 5
DIMENSIONS = 128
MAX_REFERENCE = 20_000  # training images kept in the model (a seeded sample of more)
UNFAMILIAR_BELOW = 0.02  # Predict's default: more unusual than 98 % of the training images


@serializable("flowclass.Familiarity")
@dataclass(frozen=True, eq=False)
class Familiarity:
    """What Predict needs to tell how familiar an image is; plain arrays."""

    mean: np.ndarray  # (d,) float32: subtracted before projecting
    axes: np.ndarray  # (d, p) float32: PCA axes (identity-like when d is small)
    reference: np.ndarray  # (m, p) float32: training images, projected
    spread: np.ndarray  # (m,) float32: each reference row's mean distance to its k nearest
    ratios: np.ndarray  # sorted float32: the training images' own (leave-one-out) ratios
    neighbours: int = NEIGHBOURS

    def project(self, vectors: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray((np.asarray(vectors, np.float32) - self.mean) @ self.axes)

    def ratio(self, vectors: np.ndarray) -> np.ndarray:
        return _ratios(self.reference, self.spread, self.project(vectors), self.neighbours, False)

    def familiarity(self, vectors: np.ndarray) -> np.ndarray:
        """Per vector, the share of training images at least as unfamiliar (0..1)."""
        ratio = self.ratio(vectors)
        above = len(self.ratios) - np.searchsorted(self.ratios, ratio, side="left")
        return above / max(len(self.ratios), 1)


def _search(reference: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    index = faiss.IndexFlatL2(reference.shape[1])
    index.add(np.ascontiguousarray(reference, dtype=np.float32))
    squared, idx = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return np.sqrt(np.maximum(squared, 0.0)), idx


def _ratios(reference: np.ndarray, spread: np.ndarray, queries: np.ndarray, k: int,
            leave_one_out: bool) -> np.ndarray:
    k = min(k, len(reference) - int(leave_one_out))
    distance, idx = _search(reference, queries, k + int(leave_one_out))
    distance, idx = distance[:, int(leave_one_out):], idx[:, int(leave_one_out):]
    return (distance.mean(axis=1) / np.maximum(spread[idx].mean(axis=1), 1e-6)).astype(np.float32)


def learn_familiarity(vectors: np.ndarray, seed: int = 0, neighbours: int = NEIGHBOURS,
                      dimensions: int = DIMENSIONS, max_reference: int = MAX_REFERENCE) -> Familiarity:
    """Familiarity of new vectors with these training vectors (embeddings, one per image)."""
    x = np.asarray(vectors, dtype=np.float32)
    if len(x) > max_reference:
        x = x[np.sort(np.random.default_rng(seed).choice(len(x), max_reference, replace=False))]
    mean = x.mean(axis=0, dtype=np.float64).astype(np.float32)
    centred = x - mean
    p = min(dimensions, x.shape[1], max(len(x) - 1, 1))
    if p < x.shape[1]:
        from sklearn.decomposition import PCA

        axes = PCA(p, svd_solver="full" if x.shape[1] <= 2048 else "randomized",
                   random_state=seed).fit(centred).components_.T.astype(np.float32)
    else:
        axes = np.eye(x.shape[1], dtype=np.float32)
    reference = np.ascontiguousarray(centred @ axes)
    k = max(1, min(neighbours, len(reference) - 1))
    distance, _ = _search(reference, reference, k + 1)
    spread = distance[:, 1:].mean(axis=1).astype(np.float32)
    ratios = np.sort(_ratios(reference, spread, reference, k, True))
    return Familiarity(mean, axes, reference.astype(np.float32), spread, ratios, k)
