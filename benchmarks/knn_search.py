"""The scalable clustering's two expensive preparations, old way against new, in one run.

On the same data (raw 36 x 36 gray pixels of augmented digits, 1,296 values per image,
what benchmarks/scale.py clusters), each in this one process so that the ratios hold on a
loaded machine:

- projection to 128 PCA components: a float32 copy of every vector and PCA fitted on all
  (before) against PCA fitted on a seeded sample, rows projected in blocks (now);
  time and peak memory allocated (tracemalloc) beyond the input;
- the 10 nearest neighbours of every image on those features: scikit-learn's brute force
  (exact, before), faiss HNSW (now), and pynndescent (measured, not used: its first call
  in a process includes numba's compilation); time, share of the exact neighbours found,
  and whether a second run gives the identical graph;
- with ``--ward``, what it changes in the end: Ward on the 10-nearest-neighbour graph, cut
  into 10 clusters, before against now, scored against the 10 true classes (ARI).

    python benchmarks/knn_search.py --images 100000 [--ward]
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def pixel_vectors(n: int, scratch: Path) -> tuple[np.ndarray, np.ndarray]:
    """(vectors float32 (n, 1296), classes) of ``n`` augmented digits, kept in ``scratch``."""
    cached = scratch / f"digits-pixels36-{n}.npz"
    if cached.exists():
        with np.load(cached) as saved:
            return saved["x"], saved["y"]
    from benchmarks.augmented import augmented_digits
    from nodes.lib.embedders.classic import RawPixels

    pixels = RawPixels(36, grayscale=True, binarize=False, threshold=128)
    x, y = np.empty((n, 36 * 36), dtype=np.float32), np.empty(n, dtype=np.int32)
    for i, (image, label) in enumerate(augmented_digits(n)):
        x[i], y[i] = pixels.preprocess(image), label
    scratch.mkdir(parents=True, exist_ok=True)
    np.savez(cached, x=x, y=y)
    return x, y


def whole_copy_projection(x: np.ndarray, dimensions: int = 128) -> np.ndarray:
    """The projection as it was: centre and normalise a float32 copy, PCA fitted on all."""
    from sklearn.decomposition import PCA

    copy = np.array(x, dtype=np.float32)
    copy -= copy.mean(axis=0, dtype=np.float64).astype(np.float32)
    copy /= np.maximum(np.linalg.norm(copy, axis=1, keepdims=True), 1e-30)
    return np.ascontiguousarray(PCA(dimensions, svd_solver="randomized", random_state=0,
                                    copy=False).fit_transform(copy), dtype=np.float32)


def measured(function, *args):
    """(result, seconds, peak MB allocated while it ran)."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        result = function(*args)
        return result, time.perf_counter() - start, tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def neighbour_sets(graph) -> np.ndarray:
    return np.sort(graph.indices.reshape(graph.shape[0], -1), axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--scratch", default="/tmp/flowclass-knn-search")
    parser.add_argument("--no-pynndescent", action="store_true")
    parser.add_argument("--ward", action="store_true", help="also cluster both ways and score against the classes")
    args = parser.parse_args()
    import sklearn.decomposition  # noqa: F401  imported before timing (tracemalloc slows imports)

    from nodes.lib.clustering import large_linkage

    x, classes = pixel_vectors(args.images, Path(args.scratch))
    n = len(x)
    print(f"{n:,} x {x.shape[1]:,} float32 ({x.nbytes / 1e6:.0f} MB)\n")
    print("| projection to 128 PCA components | seconds | peak MB beyond the input |")
    print("|---|---|---|")
    before, old_s, old_mb = measured(whole_copy_projection, x)
    print(f"| float32 copy of all, PCA fitted on all (before) | {old_s:.1f} | {old_mb:.0f} |", flush=True)
    features, new_s, new_mb = measured(large_linkage.project, x, "cosine", True)
    print(f"| PCA fitted on {min(n, large_linkage.FIT_ON):,}, projected in blocks (now) | {new_s:.1f} | {new_mb:.0f} |")
    print(f"| ratio now / before | {new_s / old_s:.2f} | {new_mb / old_mb:.2f} |\n", flush=True)

    print("| 10 nearest neighbours | seconds | exact neighbours found | second run identical |")
    print("|---|---|---|---|")
    timed = {}

    def row(name, search):
        start = time.perf_counter()
        first = search()
        timed[name] = time.perf_counter() - start
        again = search()
        found = np.mean([len(np.intersect1d(a, b)) for a, b in zip(first, exact)]) / exact.shape[1] \
            if name != "brute" else 1.0
        print(f"| {name} | {timed[name]:.1f} | {found:.4f} | {np.array_equal(first, again)} |", flush=True)

    exact = None
    start = time.perf_counter()
    exact = neighbour_sets(large_linkage.neighbour_graph(features, exact_up_to=n))
    timed["brute"] = time.perf_counter() - start
    print(f"| scikit-learn brute force, exact (before) | {timed['brute']:.1f} | 1.0000 | |", flush=True)
    row("faiss HNSW, built in one thread (now)",
        lambda: neighbour_sets(large_linkage.neighbour_graph(features, exact_up_to=0)))
    if not args.no_pynndescent:
        import pynndescent

        def descent():
            found = pynndescent.NNDescent(features, n_neighbors=11, random_state=0, n_jobs=1).neighbor_graph[0]
            return np.sort(found[:, 1:], axis=1)

        start = time.perf_counter()
        descent()
        timed["pynndescent, first call (numba compiles)"] = time.perf_counter() - start
        print(f"| pynndescent, first call in a process (numba compiles) | "
              f"{timed['pynndescent, first call (numba compiles)']:.1f} | | |", flush=True)
        row("pynndescent, compiled, n_jobs=1", descent)
    now = timed["faiss HNSW, built in one thread (now)"]
    print(f"\nratio now / before (neighbour search): {now / timed['brute']:.3f}")
    if args.ward:
        ward(before, features, classes, n)


def ward(before: np.ndarray, now: np.ndarray, classes: np.ndarray, n: int) -> None:
    """Truth ARI of 10 clusters cut from the neighbour-constrained Ward tree, both ways."""
    from scipy.cluster.hierarchy import fcluster
    from sklearn.metrics import adjusted_rand_score

    from nodes.lib.clustering import large_linkage

    print("\n| Ward on the 10-NN graph, 10 clusters | seconds | ARI vs true classes |")
    print("|---|---|---|")
    labels = {}
    for name, features, exact_up_to in (("before: PCA on all, exact neighbours", before, n),
                                        ("now: PCA on a sample, HNSW neighbours", now, 0)):
        start = time.perf_counter()
        z = large_linkage.neighbour_linkage(features, "ward", exact_search_up_to=exact_up_to)
        labels[name] = fcluster(z, 10, "maxclust")
        print(f"| {name} | {time.perf_counter() - start:.1f} | "
              f"{adjusted_rand_score(classes, labels[name]):.3f} |", flush=True)
    first, second = labels.values()
    print(f"\nagreement (ARI) of the two: {adjusted_rand_score(first, second):.3f}")


if __name__ == "__main__":
    main()
