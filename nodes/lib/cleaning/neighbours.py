"""Each vector's nearest other vectors, by cosine similarity, for collections of any size.

Exact (faiss's flat inner-product index, run in blocks) up to ``EXACT_UP_TO`` vectors;
above, faiss's HNSW graph, as the scalable clustering does (nodes/lib/clustering/large_linkage.py).
Vectors are reduced by PCA first when they are long, which keeps 100,000 x 1,280
embeddings inside a few hundred MB.
"""

from __future__ import annotations

import numpy as np

EXACT_UP_TO = 20_000
REDUCE_ABOVE = 128  # values per vector above which PCA reduces them to this many
HNSW_LINKS = 16
HNSW_BUILD_SEARCH = 40


def unit_rows(vectors: np.ndarray, centre: bool = True, dimensions: int = REDUCE_ABOVE) -> np.ndarray:
    """The vectors centred, reduced to ``dimensions`` by PCA when longer, at unit length
    (float32), so inner products are cosine similarities."""
    from ..clustering.large_linkage import project

    return np.ascontiguousarray(project(vectors, "cosine", centre, dimensions=dimensions))


def renormalised(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)


def nearest(rows: np.ndarray, k: int, exact_up_to: int = EXACT_UP_TO, block: int = 4096,
            metric: str = "cosine") -> tuple[np.ndarray, np.ndarray]:
    """(similarities, indices), each (n, k): every row's ``k`` most similar other rows,
    most similar first; -1 where fewer than ``k`` others exist. With ``metric="euclidean"``
    the first array holds squared euclidean distances instead (nearest first)."""
    import faiss

    rows = np.asarray(rows, dtype=np.float32)
    rows = np.ascontiguousarray(renormalised(rows) if metric == "cosine" else rows)
    n, d = rows.shape
    want = min(k + 1, n)
    kind = faiss.METRIC_INNER_PRODUCT if metric == "cosine" else faiss.METRIC_L2
    if n <= exact_up_to:
        index = faiss.IndexFlatIP(d) if metric == "cosine" else faiss.IndexFlatL2(d)
    else:
        index = faiss.IndexHNSWFlat(d, HNSW_LINKS, kind)
        index.hnsw.efConstruction = HNSW_BUILD_SEARCH
        index.hnsw.efSearch = max(2 * want, 32)
    threads = faiss.omp_get_max_threads()
    if n > exact_up_to:
        faiss.omp_set_num_threads(1)  # the same vectors always give the same graph
    try:
        index.add(rows)
    finally:
        faiss.omp_set_num_threads(threads)
    sims = np.full((n, k), -np.inf if metric == "cosine" else np.inf, dtype=np.float32)
    idx = np.full((n, k), -1, dtype=np.int64)
    for start in range(0, n, block):
        s, i = index.search(rows[start:start + block], want)
        for r in range(len(i)):  # drop the row itself, wherever ties put it
            mine = i[r] != start + r
            found = i[r][mine][:k]
            idx[start + r, :len(found)] = found
            sims[start + r, :len(found)] = s[r][mine][:k]
    return sims, idx
