"""Hierarchical clustering of a distance matrix, cut into named clusters C1..Ck.

Cluster names are ordered by size (C1 is the largest), so the same data always gives the
same names. Each image's score is its silhouette: how much closer it is to its own
cluster than to the next one (from -1 to 1), which the results view sorts by.

Up to ``exact_up_to`` images (10,000 by default) the tree is exact: every pairwise
distance, SciPy's linkage, exact silhouettes. Above that, where the n x n matrix would no
longer fit, the scalable method of ``lib/clustering/large_linkage.py`` takes over (nearest-neighbour
constrained linkage on PCA features, silhouettes against a 5,000-image sample); which one
ran is recorded in run.json and shown with the dendrogram.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flowclass.context import RunContext
from flowclass.errors import NodeError
from flowclass.node import Input, Output, node
from flowclass.params import Choice, Float, Int

from .datatypes import DENDROGRAM, DISTANCES, LABELS, TABLE, Dendrogram, Distances, Labelling
from .lib.clustering.condensed import condensed_rows
from .lib.clustering import large_linkage
from .lib.clustering.freed_memory import release_freed_memory
from .lib.results.figures import NEEDS as FIGURES
from .lib.results import report_names

LINKAGES = ("single", "average", "complete", "weighted", "ward")
METHODS = ("auto", "exact", "nearest_neighbours")
EXACT = "exact"
SCALABLE = "nearest_neighbours"
# The exact tree holds the n(n-1)/2 distances and SciPy's linkage a copy of them: measured some
# 8.5 bytes per n squared (8,000 images: 520-550 MB), so 20,000 images take about 3.4 GB. A
# shared workflow's exact_up_to (or exact method) had no bound: 100,000 images, some 86 GB.
EXACT_AT_MOST = 20_000


def name_clusters(raw: np.ndarray) -> np.ndarray:
    """Rename cluster ids to C1..Ck by decreasing size, ties by first appearance."""
    ids, first, counts = np.unique(raw, return_index=True, return_counts=True)
    order = sorted(range(len(ids)), key=lambda k: (-counts[k], first[k]))
    names = {ids[k]: f"C{rank + 1}" for rank, k in enumerate(order)}
    return np.array([names[r] for r in raw], dtype=str)


def cut_height(z: np.ndarray, k: int) -> float:
    """A height at which the tree has ``k`` clusters: between two successive merges."""
    n = len(z) + 1
    if k <= 1:
        return float(z[-1, 2]) * 1.05 if len(z) else 0.0
    if k >= n:
        return 0.0
    return float((z[n - k - 1, 2] + z[n - k, 2]) / 2)


def silhouettes(condensed: np.ndarray, labels: np.ndarray, block: int = 512) -> np.ndarray:
    """Silhouette of every image, computed from the condensed distances in blocks."""
    n = len(labels)
    names, codes = np.unique(labels, return_inverse=True)
    if len(names) < 2 or len(names) >= n:
        return np.full(n, np.nan)
    sizes = np.bincount(codes, minlength=len(names)).astype(np.float64)
    onehot = np.zeros((n, len(names)))
    onehot[np.arange(n), codes] = 1.0
    scores = np.empty(n)
    for start in range(0, n, block):
        rows = np.arange(start, min(n, start + block))
        sums = condensed_rows(condensed, n, rows) @ onehot  # distance sums per cluster
        own = codes[rows]
        own_size = sizes[own]
        a = sums[np.arange(len(rows)), own] / np.maximum(own_size - 1, 1)
        others = sums / sizes
        others[np.arange(len(rows)), own] = np.inf
        b = others.min(axis=1)
        s = (b - a) / np.maximum(np.maximum(a, b), 1e-12)
        scores[rows] = np.where(own_size > 1, s, 0.0)
    return scores


def chosen_method(method: str, n: int, exact_up_to: int) -> str:
    """The method that runs: the one asked for, or by size when ``auto``."""
    if method != "auto":
        return method
    return EXACT if n <= exact_up_to else SCALABLE


# Named here because the dendrogram viewer sets them (Apply this cut).
CUT = Choice(name="cut", default="n_clusters", choices=("n_clusters", "height_ratio", "distance"),
             choice_titles={"n_clusters": "Number of clusters",
                            "height_ratio": "Fraction of the tree's height",
                            "distance": "Distance threshold"},
             help="Where to cut the tree into clusters.")
N_CLUSTERS = Int(name="n_clusters", default=10, min=1, max=100_000, shown_when={"cut": ("n_clusters",)},
                 help="How many clusters to make.")
HEIGHT_RATIO = Float(name="height_ratio", default=0.7, min=0.0, max=1.0, step=0.01,
                     shown_when={"cut": ("height_ratio",)},
                     help="Cut at this fraction of the highest merge.")
DISTANCE = Float(name="distance", default=1.0, min=0.0, shown_when={"cut": ("distance",)},
                 help="Cut at this merge distance.")


def _clustering_reports(source: Any) -> dict[str, Any]:
    """dendrogram.png (with the cut), and map.png when embeddings are upstream."""
    from .lib.results.figures import dendrogram_png, map_png, pca_points

    clusters: Labelling = source.output("clusters")
    tree: Dendrogram = source.output("dendrogram")
    reports = {report_names.DENDROGRAM: lambda path: dendrogram_png(tree.linkage, tree.cut_height, tree.labels, path)}
    embeddings = source.upstream("embeddings")
    if embeddings is not None and np.array_equal(embeddings.images.paths, clusters.images.paths):
        reports[report_names.MAP] = lambda path: map_png(
            pca_points(embeddings.vectors), clusters.labels, list(clusters.classes), path,
            f"{len(clusters)} images by cluster (PCA of the embeddings)")
    return reports


@node(
    type="hierarchical_clustering", title="Hierarchical Clustering", category="Unsupervised",
    version=2, migrations={1: lambda params: {"method": "auto", "exact_up_to": 10_000, **params}},
    revision=1,  # 1: the scalable method's neighbours by faiss HNSW, its PCA fitted on a sample
    inputs=[Input("distances", DISTANCES)],
    outputs=[Output("clusters", LABELS, help="Each image's cluster, C1..Ck, with its silhouette."),
             Output("dendrogram", DENDROGRAM),
             Output("sizes", TABLE, help="Number of images per cluster.")],
    params=[
        Choice(name="linkage", default="ward", choices=LINKAGES,
               help="How the distance between two groups is measured when merging them."),
        CUT,
        N_CLUSTERS,
        HEIGHT_RATIO,
        DISTANCE,
        Choice(name="method", default="auto", choices=METHODS,
               choice_titles={"auto": "Automatic (exact up to a size)",
                              "exact": "Exact (all pairwise distances)",
                              "nearest_neighbours": "Scalable (nearest-neighbour graph)"},
               help="Exact linkage compares every pair of images: memory grows with the square "
                    "of their number (10,000 images: about 0.9 GB), and it takes at most 20,000. The scalable "
                    "method merges only near neighbours on 128 PCA components; it measured "
                    "as good against true classes (see README)."),
        Int(name="exact_up_to", default=10_000, min=2, max=EXACT_AT_MOST, shown_when={"method": ("auto",)},
            help="Automatic uses the exact method up to this many images "
                 f"(at most {EXACT_AT_MOST:,}: about 3.4 GB)."),
    ],
    reports=_clustering_reports, reports_need=FIGURES,
)
def hierarchical_clustering(ctx: RunContext, *, distances: Distances, linkage: str, cut: str, n_clusters: int,
                            height_ratio: float, distance: float, method: str, exact_up_to: int):
    """Group images into clusters by merging the closest ones first (Orange's Hierarchical Clustering)."""
    n = len(distances)
    if n < 2:
        raise NodeError(f"need at least 2 images to cluster; got {n}")
    if cut == "n_clusters" and n_clusters > n:
        raise NodeError(f"asked for {n_clusters} clusters of {n} images", field="n_clusters",
                        hint=f"choose at most {n}")
    import pandas as pd
    from scipy.cluster import hierarchy

    if method == EXACT and n > EXACT_AT_MOST:
        raise NodeError(f"the exact method on {n:,} images would hold {n * (n - 1) // 2:,} distances "
                        f"twice (about {8.5 * n * n / 1e9:.0f} GB); it takes at most {EXACT_AT_MOST:,} images",
                        field="method", hint="choose Scalable (nearest_neighbours) or Automatic")
    algorithm = chosen_method(method, n, exact_up_to)
    ctx.record("method", algorithm)
    if algorithm == EXACT:  # the distances, a block of rows at a time, are one phase counted in images
        condensed = distances.condensed(lambda done, total: ctx.progress(done, total, "images", "distances"))
        ctx.progress(0, 3, message="linking")
        z = _linkage(condensed, linkage)
    else:
        ctx.progress(0, 3, message="linking")
        if method == "auto":
            ctx.warn(f"{n:,} images are more than {exact_up_to:,}: clustered with the scalable "
                     "nearest-neighbour method (silhouettes estimated on a sample)")
        release_freed_memory()  # what earlier nodes' threads freed, before the largest step
        features = large_linkage.project(distances.vectors, distances.metric, distances.centre)
        metric = "manhattan" if distances.metric == "manhattan" else "euclidean"
        z = large_linkage.neighbour_linkage(features, linkage, metric)
    if cut == "n_clusters":
        raw = hierarchy.fcluster(z, n_clusters, criterion="maxclust")
        height = cut_height(z, n_clusters)
    else:
        height = height_ratio * float(z[-1, 2]) if cut == "height_ratio" else distance
        raw = hierarchy.fcluster(z, height, criterion="distance")
    labels = name_clusters(raw)
    made = len(set(labels.tolist()))
    if cut == "n_clusters" and made < n_clusters:
        tied = float(z[n - n_clusters, 2])  # the merge a cut into n_clusters would undo ties with the next
        why = ("some images are identical (at distance 0), and identical images cannot be split" if tied <= 1e-9 * float(z[-1, 2])
               else f"several merges happen at the same distance ({tied:.4g}), so no cut gives exactly that many")
        ctx.warn(f"asked for {n_clusters} clusters, made {made}: {why}")
    ctx.progress(1, 3, message="scoring")
    if algorithm == EXACT:
        scores = silhouettes(condensed, labels)
    else:
        scores = large_linkage.sampled_silhouettes(features, labels, metric)
    classes = tuple(sorted(set(labels.tolist()), key=lambda c: int(c[1:])))
    clusters = Labelling(distances.images, labels, scores, kind="cluster", classes=classes)
    counts = clusters.counts()
    sizes = pd.DataFrame({"cluster": list(counts), "size": list(counts.values())})
    ctx.progress(3, 3)
    return {"clusters": clusters,
            "dendrogram": Dendrogram(distances.images, z, linkage, float(height), labels, algorithm),
            "sizes": sizes}


def _linkage(condensed: np.ndarray, method: str) -> np.ndarray:
    from scipy.cluster import hierarchy

    # Ward is defined for euclidean distances; on other metrics it is the heuristic that
    # Orange also applies, and it measured best on our samples (see README).
    return hierarchy.linkage(condensed, method=method)


NODES = [hierarchical_clustering]
VIEWERS = ["nodes.viewers.clustering"]  # the dendrogram and its cut, distances
