"""Hierarchical clustering of more images than an n x n distance matrix can hold.

Exact linkage needs all n(n-1)/2 distances: 40 GB for 100,000 images. Here, instead, the
vectors are reduced to their main 128 directions (PCA) and merges are allowed only
between images that are among each other's 10 nearest neighbours (scikit-learn's
connectivity-constrained agglomerative clustering), so memory grows with n, not n².
Measured against exact Ward on up to 20,000 embeddings, this scores the same or higher
against the true classes (benchmarks/cluster_methods.py, figures in benchmarks/README.md).

Two things keep 100,000 images within a minute and 2 GB (benchmarks/scale.py):
- the PCA is fitted on a seeded sample of ``FIT_ON`` images and every image is projected a
  block at a time, so no second copy of all the vectors is ever made;
- above ``EXACT_SEARCH_UP_TO`` images the nearest neighbours are searched approximately
  (faiss's HNSW graph) instead of by brute force, whose n² distances took 43 s for
  100,000 images here against 7 s, finding 99.6 % of the true 10 nearest neighbours
  (benchmarks/knn_search.py). pynndescent, already installed with UMAP, measured as fast
  but compiles with numba for about 25 s in every new process.
"""

from __future__ import annotations

import warnings

import numpy as np

PCA_DIMENSIONS = 128
FIT_ON = 20_000
COVARIANCE_UP_TO = 2_048  # values per image up to which PCA diagonalises the covariance
NEIGHBOURS = 10
EXACT_SEARCH_UP_TO = 20_000
HNSW_LINKS = 16  # faiss's M: graph links per vector
HNSW_BUILD_SEARCH = 40  # efConstruction
HNSW_SEARCH = 32  # efSearch, at least 2 x (NEIGHBOURS + 1)
SILHOUETTE_REFERENCE = 5_000


def project(vectors: np.ndarray, metric: str, centre: bool, dimensions: int = PCA_DIMENSIONS,
            fit_on: int = FIT_ON, block: int = 8192, seed: int = 0) -> np.ndarray:
    """The vectors as compared (centred; unit length for cosine), reduced by PCA to
    ``dimensions`` components, as float32.

    The PCA is fitted on a seeded random ``fit_on`` of them, then all are projected
    ``block`` rows at a time: beyond the input, memory holds the sample, one block and the
    (n, ``dimensions``) result, never a second copy of every vector.
    """
    from sklearn.decomposition import PCA

    x = np.asarray(vectors)
    n, d = x.shape
    mean = x.mean(axis=0, dtype=np.float64).astype(np.float32) if centre else None

    def prepared(rows: np.ndarray) -> np.ndarray:
        rows = np.array(rows, dtype=np.float32)
        if mean is not None:
            rows -= mean
        if metric == "cosine":
            norms = np.linalg.norm(rows, axis=1, keepdims=True)
            np.divide(rows, norms, out=rows, where=norms > 0)
        return rows

    # centred, n rows span at most n - 1 directions: one more would be rounding noise, which
    # a model that scales each direction to unit variance (Find Label Issues') would amplify
    dimensions = min(dimensions, d, max(1, n - 1) if centre else n)
    if dimensions == d:
        return prepared(x)
    sample = x if n <= fit_on else x[np.sort(np.random.default_rng(seed).choice(n, fit_on, replace=False))]
    # the d x d covariance's eigenvectors: exact, and 3-6x faster than randomized SVD at
    # 20,000 x 1,296; above a few thousand values per image that matrix grows too large
    solver = "covariance_eigh" if d <= COVARIANCE_UP_TO else "randomized"
    pca = PCA(dimensions, svd_solver=solver, random_state=seed, copy=False).fit(prepared(sample))
    out = np.empty((n, dimensions), dtype=np.float32)
    for start in range(0, n, block):
        out[start:start + block] = pca.transform(prepared(x[start:start + block]))
    return out


def neighbour_graph(features: np.ndarray, neighbours: int = NEIGHBOURS,
                    exact_up_to: int = EXACT_SEARCH_UP_TO):
    """Each row's ``neighbours`` nearest other rows (euclidean), as a sparse 0/1 matrix.

    Exact (brute force, n² distances) up to ``exact_up_to`` rows; above, approximate with
    an HNSW graph built in one thread, so that the same features always give the same
    graph (a parallel build inserts in a racy order); searching it is parallel, since
    each row's search only reads the graph.
    """
    from scipy.sparse import csr_matrix
    from sklearn.neighbors import kneighbors_graph

    n = len(features)
    k = min(neighbours, n - 1)
    if n <= exact_up_to:
        return kneighbors_graph(features, k, include_self=False, n_jobs=-1)
    found = hnsw_neighbours(np.ascontiguousarray(features, dtype=np.float32), k + 1)
    is_self = found == np.arange(n)[:, None]
    is_self[~is_self.any(axis=1), -1] = True  # self not found (duplicates): drop the farthest
    others = found[~is_self].reshape(n, k)
    if (others < 0).any():
        raise RuntimeError(f"the approximate search found fewer than {k} neighbours for some rows")
    return csr_matrix((np.ones(n * k), others.ravel(), np.arange(0, n * k + 1, k)), shape=(n, n))


def hnsw_neighbours(features: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` approximate nearest rows of every row (itself included), nearest first."""
    import faiss

    index = faiss.IndexHNSWFlat(features.shape[1], HNSW_LINKS)
    index.hnsw.efConstruction = HNSW_BUILD_SEARCH
    index.hnsw.efSearch = max(HNSW_SEARCH, 2 * k)
    threads = faiss.omp_get_max_threads()  # OpenMP's setting is shared (torch reads it too)
    faiss.omp_set_num_threads(1)
    try:
        index.add(features)
    finally:
        faiss.omp_set_num_threads(threads)
    return index.search(features, k)[1]


def neighbour_linkage(features: np.ndarray, linkage: str, metric: str = "euclidean",
                      neighbours: int = NEIGHBOURS, exact_search_up_to: int = EXACT_SEARCH_UP_TO) -> np.ndarray:
    """A full SciPy linkage matrix (n - 1 merges) built on the k-nearest-neighbour graph.

    Merge heights are made non-decreasing (a constrained merge can come out lower than the
    one before it), so cutting by height and drawing the tree work as for exact linkage.
    """
    from sklearn.cluster import AgglomerativeClustering

    n = len(features)
    graph = neighbour_graph(features, neighbours, exact_search_up_to)
    link = "average" if linkage == "weighted" else linkage  # scikit-learn has no WPGMA
    model = AgglomerativeClustering(
        n_clusters=1, linkage=link, connectivity=graph, compute_full_tree=True,
        compute_distances=True, metric="euclidean" if link == "ward" else metric)
    with warnings.catch_warnings():  # several graph components are joined, as documented
        warnings.filterwarnings("ignore", message="the number of connected components")
        model.fit(features)
    return to_scipy_linkage(model.children_, model.distances_, n)


def to_scipy_linkage(children: np.ndarray, heights: np.ndarray, n: int) -> np.ndarray:
    """scikit-learn's merges as SciPy's (left, right, height, size) rows."""
    sizes = np.ones(2 * n - 1)
    z = np.empty((n - 1, 4))
    for k, (left, right) in enumerate(children):
        sizes[n + k] = sizes[left] + sizes[right]
        z[k] = (left, right, 0.0, sizes[n + k])
    z[:, 2] = np.maximum.accumulate(np.maximum(np.asarray(heights, dtype=np.float64), 0.0))
    return z


def sampled_silhouettes(features: np.ndarray, labels: np.ndarray, metric: str = "euclidean",
                        reference: int = SILHOUETTE_REFERENCE, seed: int = 0,
                        block: int = 4096) -> np.ndarray:
    """Each image's silhouette, measured against a seeded random sample of images.

    Exact silhouettes need every pairwise distance; against ``reference`` images drawn at
    random, the mean distances to each cluster are estimates, and the cost is n x sample.
    """
    from sklearn.metrics import pairwise_distances

    n = len(labels)
    names, codes = np.unique(labels, return_inverse=True)
    if len(names) < 2 or len(names) >= n:
        return np.full(n, np.nan)
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(n, min(reference, n), replace=False))
    reference_rows = np.asarray(features[sample], dtype=np.float64)
    sample_codes = codes[sample]
    sizes = np.bincount(sample_codes, minlength=len(names)).astype(np.float64)
    onehot = np.zeros((len(sample), len(names)))
    onehot[np.arange(len(sample)), sample_codes] = 1.0
    in_sample = np.zeros(n, dtype=bool)
    in_sample[sample] = True
    scores = np.empty(n)
    for start in range(0, n, block):
        rows = np.arange(start, min(n, start + block))
        # float64: scikit-learn's float32 euclidean upcasts in small chunks, twice as slow
        block_rows = np.asarray(features[rows], dtype=np.float64)
        sums = pairwise_distances(block_rows, reference_rows, metric=metric) @ onehot
        own = codes[rows]
        own_size = sizes[own] - in_sample[rows]  # an image in the sample is not its own neighbour
        a = sums[np.arange(len(rows)), own] / np.maximum(own_size, 1)
        others = np.divide(sums, sizes, out=np.full_like(sums, np.inf), where=sizes > 0)
        others[np.arange(len(rows)), own] = np.inf
        b = others.min(axis=1)
        s = (b - a) / np.maximum(np.maximum(a, b), 1e-12)
        scores[rows] = np.where((own_size > 0) & np.isfinite(b), s, 0.0)
    return scores
