"""Hierarchical clustering methods side by side, on EfficientNet embeddings of augmented digits.

Why the scalable method of nodes/lib/clustering/large_linkage.py is what it is. For each size: time,
peak memory (each method in its own process), ARI against the true classes, agreement
(ARI) with exact Ward, and, as the yardstick for that agreement, exact Ward's agreement
with itself when 5 % of the images are left out.

    python benchmarks/cluster_methods.py --sizes 5000 10000 20000 [--methods ...] [--scratch DIR]

Methods: exact (SciPy Ward on all centred-cosine distances, what the node does up to
10,000 images), knn (the node's scalable method: Ward on a 10-nearest-neighbour graph of
128 PCA components; up to 20,000 images the neighbours are exact and the PCA fitted on
all), knn-approx (the same as the node runs it above 20,000 images, forced at this size:
neighbours searched approximately with faiss HNSW, PCA fitted on a sample of a fifth of
the images), fastcluster (linkage_vector, Ward in O(n·d) memory, on 64 PCA
components), micro (2,000 k-means micro-clusters, then Ward on their centroids), genie
(genieclust; AGPL, measured only, never a dependency). Missing packages are reported.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
K = 10


def exact_labels(x: np.ndarray) -> np.ndarray:
    from scipy.cluster import hierarchy

    from nodes.lib.clustering.condensed import pairwise_condensed

    centred = x.astype(np.float64) - x.mean(axis=0, dtype=np.float64)  # as the Distances node
    z = hierarchy.linkage(pairwise_condensed(centred, "cosine"), "ward")
    return hierarchy.fcluster(z, K, "maxclust")


def method_labels(name: str, x: np.ndarray) -> np.ndarray:
    from scipy.cluster import hierarchy

    from nodes.lib.clustering import large_linkage

    if name == "exact":
        return exact_labels(x)
    if name == "knn":
        z = large_linkage.neighbour_linkage(large_linkage.project(x, "cosine", True), "ward")
        return hierarchy.fcluster(z, K, "maxclust")
    if name == "knn-approx":  # what the node does above 20,000 images, forced at this size
        features = large_linkage.project(x, "cosine", True, fit_on=min(large_linkage.FIT_ON, len(x) // 5))
        z = large_linkage.neighbour_linkage(features, "ward", exact_search_up_to=0)
        return hierarchy.fcluster(z, K, "maxclust")
    if name == "fastcluster":
        import fastcluster

        z = fastcluster.linkage_vector(large_linkage.project(x, "cosine", True, dimensions=64), "ward")
        return hierarchy.fcluster(z, K, "maxclust")
    if name == "micro":
        from sklearn.cluster import MiniBatchKMeans

        features = large_linkage.project(x, "cosine", True)
        km = MiniBatchKMeans(2000, random_state=0, batch_size=4096, n_init=1).fit(features)
        z = hierarchy.linkage(km.cluster_centers_, "ward")
        return hierarchy.fcluster(z, K, "maxclust")[km.labels_]
    if name == "genie":
        import genieclust

        return genieclust.Genie(n_clusters=K).fit_predict(large_linkage.project(x, "cosine", True))
    raise ValueError(name)


def child(args: argparse.Namespace) -> None:
    """One method on one size, in its own process; prints a JSON line."""
    from benchmarks.augmented import efficientnet_embeddings

    x, _ = efficientnet_embeddings(args.n, Path(args.scratch))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    try:
        labels = method_labels(args.method, x)
    except ImportError as exc:
        print(json.dumps({"error": f"not installed: {exc.name}"}))
        return
    seconds = time.perf_counter() - start
    np.save(Path(args.scratch) / f"labels-{args.method}-{args.n}.npy", labels)
    print(json.dumps({"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "peak_before_mb": before / 1024}))


def self_agreement(x: np.ndarray, full: np.ndarray, repeats: int = 2) -> list[float]:
    from sklearn.metrics import adjusted_rand_score

    rng = np.random.default_rng(1)
    scores = []
    for _ in range(repeats):
        keep = np.sort(rng.choice(len(x), int(0.95 * len(x)), replace=False))
        scores.append(adjusted_rand_score(full[keep], exact_labels(x[keep])))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 10000, 20000])
    parser.add_argument("--methods", nargs="+", default=["exact", "knn", "knn-approx", "fastcluster", "micro", "genie"])
    parser.add_argument("--scratch", default="/tmp/flowclass-cluster-methods")
    parser.add_argument("--exact-up-to", type=int, default=20000, help="largest size to run exact Ward on")
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    Path(args.scratch).mkdir(parents=True, exist_ok=True)
    if args.child:
        args.method, args.n = args.child[0], int(args.child[1])
        return child(args)
    from sklearn.metrics import adjusted_rand_score

    from benchmarks.augmented import efficientnet_embeddings

    print("| images | method | seconds | peak MB | ARI vs true classes | ARI vs exact Ward |")
    print("|---|---|---|---|---|---|")
    for n in args.sizes:
        x, y = efficientnet_embeddings(n, Path(args.scratch))
        exact = None
        for method in args.methods:
            if method == "exact" and n > args.exact_up_to:
                continue
            out = subprocess.run([sys.executable, __file__, "--scratch", args.scratch, "--child", method, str(n)],
                                 capture_output=True, text=True, cwd=ROOT)
            lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
            if not lines:
                print(f"| {n:,} | {method} | failed: {out.stderr.strip().splitlines()[-1:]} | | | |")
                continue
            fig = json.loads(lines[-1])
            if "error" in fig:
                print(f"| {n:,} | {method} | {fig['error']} | | | |")
                continue
            labels = np.load(Path(args.scratch) / f"labels-{method}-{n}.npy")
            exact = labels if method == "exact" else exact
            vs = f"{adjusted_rand_score(exact, labels):.3f}" if exact is not None and method != "exact" else ""
            print(f"| {n:,} | {method} | {fig['seconds']:.1f} | {fig['peak_mb']:.0f} | "
                  f"{adjusted_rand_score(y, labels):.3f} | {vs} |", flush=True)
        if exact is not None:
            agree = ", ".join(f"{s:.3f}" for s in self_agreement(x, exact))
            print(f"| {n:,} | exact Ward on a random 95 %, vs on all | | | | {agree} |", flush=True)


if __name__ == "__main__":
    main()
