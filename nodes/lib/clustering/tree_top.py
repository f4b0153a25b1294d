"""The top of a clustering tree: what the canvas's dendrogram and dendrogram.png draw.

A tree of 100,000 images has 99,999 merges; drawn whole it is a solid band. Drawn instead
are its last ``MERGES`` merges (SciPy's ``lastp`` truncation), and each branch cut off at
their foot becomes one leaf of the drawing that knows how many images it holds. A tree of
at most ``MERGES + 1`` images is drawn whole, one leaf per image.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

MERGES = 1_000  # the last merges drawn: up to 1,001 branches at the foot of the tree
STEP = 10  # SciPy's layout: leaf i stands at x = 5 + 10 i


def clusters_at(z: np.ndarray, height: float) -> int:
    """How many clusters a cut at ``height`` makes."""
    return int(len(z) + 1 - np.sum(z[:, 2] <= height))


def cluster_order(labels: np.ndarray) -> list[str]:
    """C1, C2, ... C10 in number order (other names alphabetically)."""
    names = sorted(set(labels.tolist()))
    return sorted(names, key=lambda c: (0, int(c[1:])) if c[:1] == "C" and c[1:].isdigit() else (1, c))


@dataclass(frozen=True)
class TreeTop:
    """The drawn part of a tree: its leaves left to right, and the merges above them."""

    linkage: np.ndarray
    leaves: np.ndarray  # node id of each drawn leaf: an image (< n) or a branch cut off
    sizes: np.ndarray  # how many images each drawn leaf holds (they sum to n)
    firsts: np.ndarray  # one image under each drawn leaf (its cluster colours the leaf)
    links: list[tuple[list[float], list[float]]]  # each merge as SciPy's 4-point line (xs, ys)
    merges: np.ndarray  # node id of each link
    spans: np.ndarray  # (start, stop): the drawn leaves under each link

    @property
    def truncated(self) -> bool:
        return len(self.leaves) < len(self.linkage) + 1

    @property
    def width(self) -> int:
        return STEP * len(self.leaves)

    def leaf_x(self, index: np.ndarray | float) -> np.ndarray | float:
        return STEP / 2 + STEP * np.asarray(index, dtype=np.float64)

    def heights(self) -> np.ndarray:
        """The height of each drawn leaf's own merge (0 for an image)."""
        z = self.linkage
        return np.where(self.leaves >= len(z) + 1, z[np.maximum(self.leaves - len(z) - 1, 0), 2], 0.0)

    def runs_at(self, height: float) -> np.ndarray:
        """The branches a cut at ``height`` makes, as (start, stop) runs of drawn leaves, left
        to right: the highest links at or below it, and leaves no such link holds. When the
        cut lies below the drawn leaves, each leaf is a run (and may hold several clusters)."""
        below = np.flatnonzero(self.linkage[self.merges - len(self.linkage) - 1, 2] <= height)
        owner = np.full(len(self.leaves), -1)
        for link in below[np.argsort(self.spans[below, 0] - self.spans[below, 1], kind="stable")]:
            start, stop = self.spans[link]
            if owner[start] < 0:  # the widest first: a link inside a taken one is not a run
                owner[start:stop] = link
        starts = np.flatnonzero((owner < 0) | np.r_[True, owner[1:] != owner[:-1]])
        return np.column_stack([starts, np.r_[starts[1:], len(self.leaves)]])


def tree_top(z: np.ndarray, merges: int = MERGES) -> TreeTop:
    """The last ``merges`` merges of linkage ``z`` laid out as SciPy's dendrogram does."""
    from scipy.cluster import hierarchy

    z = np.asarray(z, dtype=np.float64)
    n = len(z) + 1
    leaves = min(n, merges + 1)
    drawn: list[int] = []

    def record(node: int) -> str:  # SciPy asks each link's colour right after laying it out
        drawn.append(node)
        return "k"

    # SciPy lays the tree out recursively, one call per level: a chain of single-linkage
    # merges is as deep as the leaves drawn. Python calls use no C stack since 3.11.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), leaves + 2_000))
    layout = hierarchy.dendrogram(z, no_plot=True, truncate_mode="lastp" if leaves < n else None,
                                  p=leaves, link_color_func=record, count_sort=False,
                                  distance_sort=False)
    ids = np.asarray(layout["leaves"], dtype=np.int64)
    sizes = np.where(ids >= n, z[np.maximum(ids - n, 0), 3], 1).astype(np.int64)
    firsts = ids.copy()
    while np.any(firsts >= n):  # down the left children to an image
        inner = firsts >= n
        firsts[inner] = z[firsts[inner] - n, 0].astype(np.int64)
    span = {int(leaf): (i, i + 1) for i, leaf in enumerate(ids)}
    for node in drawn:  # children are laid out before their parent
        left, right = z[node - n, :2].astype(np.int64)
        span[node] = (span[int(left)][0], span[int(right)][1])
    nodes = np.asarray(drawn, dtype=np.int64)
    return TreeTop(z, ids, sizes, firsts, list(zip(layout["icoord"], layout["dcoord"])), nodes,
                   np.array([span[node] for node in drawn], dtype=np.int64).reshape(-1, 2))


def colours_of(top: TreeTop, labels: np.ndarray, cut: float) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The palette (grey last), and the colour index of each link and of each drawn leaf:
    its cluster's below the cut (as in the grid and the map), grey above it."""
    from flowclass.viewers.colors import ABOVE_CUT, group_colors

    palette = group_colors(cluster_order(labels))
    index = {name: i for i, name in enumerate(palette)}
    of_leaf = np.array([index[name] for name in labels[top.firsts]], dtype=np.int64)
    grey = len(palette)
    heights = top.linkage[top.merges - len(top.linkage) - 1, 2]
    links = np.where(heights <= cut, of_leaf[top.spans[:, 0]], grey) if len(heights) else of_leaf[:0]
    return [*palette.values(), ABOVE_CUT], links, np.where(top.heights() <= cut, of_leaf, grey)


def cluster_runs(top: TreeTop, labels: np.ndarray, cut: float) -> list[tuple[str, int, int, int]]:
    """Each cluster as (name, start, stop, images): the drawn leaves it spans, largest first.
    None when the cut lies below the drawn leaves (a leaf would hold several clusters)."""
    runs = top.runs_at(cut)
    if len(runs) != clusters_at(top.linkage, cut):
        return []
    sizes = np.add.reduceat(top.sizes, runs[:, 0]).tolist()
    found = [(str(labels[top.firsts[start]]), start, stop, size) for (start, stop), size in zip(runs.tolist(), sizes)]
    return sorted(found, key=lambda run: -run[3])
