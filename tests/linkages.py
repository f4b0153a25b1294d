"""Linkage matrices of 100,000 images made without clustering them (which would take minutes):
what the dendrogram's tests and screenshots draw."""

from __future__ import annotations

import numpy as np


def random_linkage(n: int, seed: int = 0) -> np.ndarray:
    """A valid SciPy linkage of ``n`` leaves: random pairs merged at rising heights."""
    rng = np.random.default_rng(seed)
    ids, sizes = list(range(n)), np.ones(2 * n - 1)
    z = np.empty((n - 1, 4))
    for k in range(n - 1):
        a = int(rng.integers(len(ids)))
        ids[a], ids[-1] = ids[-1], ids[a]
        i = ids.pop()
        b = int(rng.integers(len(ids)))
        ids[b], ids[-1] = ids[-1], ids[b]
        j = ids.pop()
        sizes[n + k] = sizes[i] + sizes[j]
        z[k] = (min(i, j), max(i, j), k + 1.0, sizes[n + k])
        ids.append(n + k)
    return z


def clustered_linkage(n: int, groups: int = 24, seed: int = 0) -> np.ndarray:
    """A linkage shaped like Ward's on real embeddings: images merge within their group at
    low, slowly rising heights (below 1), and the groups far higher (Ward on random centres)."""
    from scipy.cluster.hierarchy import linkage

    rng = np.random.default_rng(seed)
    group = rng.choice(groups, n, p=rng.dirichlet(np.full(groups, 2.0)))
    parts = [np.flatnonzero(group == g) for g in range(groups)]
    parts = [members for members in parts if len(members)]
    trees = []
    for g, members in enumerate(parts):
        local = random_linkage(len(members), seed + g + 1)
        local[:, 2] = (local[:, 2] / len(members)) ** 2 * rng.uniform(0.4, 1.0)
        trees.append(local)
    order = sorted((h, g, r) for g, local in enumerate(trees) for r, h in enumerate(local[:, 2].tolist()))
    z, row_of = np.empty((n - 1, 4)), {}

    def node(g: int, local: int) -> int:
        members = parts[g]
        return int(members[local]) if local < len(members) else n + row_of[g, local - len(members)]

    for k, (height, g, r) in enumerate(order):
        a, b = node(g, int(trees[g][r, 0])), node(g, int(trees[g][r, 1]))
        z[k] = (min(a, b), max(a, b), height, trees[g][r, 3])
        row_of[g, r] = k
    roots = [node(g, 2 * len(members) - 2) for g, members in enumerate(parts)]
    top = linkage(rng.normal(size=(len(parts), 8)) * 3, "ward")
    done, sizes = len(order), [len(members) for members in parts]
    for r, (a, b, height, _size) in enumerate(top):
        ids = [roots[int(i)] if i < len(parts) else n + done + int(i) - len(parts) for i in (a, b)]
        count = [sizes[int(i)] if i < len(parts) else z[done + int(i) - len(parts), 3] for i in (a, b)]
        z[done + r] = (min(ids), max(ids), 1.2 + height, sum(count))
    return z
