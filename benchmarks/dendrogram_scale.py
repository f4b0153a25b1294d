"""The dendrogram of a big collection: what building its chart costs, and what it sends.

For trees of 10,000 and 100,000 images (random merges at rising heights: the cost depends on
the tree's size, not on how it was found), prints the time to lay out the drawn top (the
last 1,000 merges), to build the whole chart (links, a size bar per branch, the clusters'
names), the data sent to the browser, and dendrogram.png; beside them the previous drawing
(150 leaves, links only), as ratios measured in the same run.

    python benchmarks/dendrogram_scale.py [--images 10000 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.cluster.hierarchy import fcluster

from benchmarks.canvas_scale import random_linkage
from nodes.lib.results.figures import dendrogram_png
from nodes.lib.clustering.tree_top import tree_top
from nodes.viewers.clustering import dendrogram_links, dendrogram_options


def median_time(work, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'images':>9} {'layout':>9} {'chart':>9} {'sent':>9} {'png':>9} | "
          f"{'150 leaves':>10} {'sent':>9} | chart / 150, sent / 150")
    for n in args.images:
        z = random_linkage(n)
        flat = fcluster(z, 46, "maxclust")
        labels = np.array([f"C{c}" for c in flat])
        cut = float(z[-46, 2] + z[-45, 2]) / 2
        paths = [f"/photos/p{i:06d}.png" for i in range(n)]
        layout = median_time(lambda: tree_top(z), args.repeat)
        chart = median_time(lambda: dendrogram_options(z, labels, cut, paths), args.repeat)
        sent = len(json.dumps(dendrogram_options(z, labels, cut, paths)))
        old = median_time(lambda: dendrogram_links(z, labels, cut, max_leaves=150), args.repeat)
        old_sent = len(json.dumps(dendrogram_links(z, labels, cut, max_leaves=150)[0]))
        with tempfile.TemporaryDirectory() as tmp:
            dendrogram_png(z, cut, labels, Path(tmp) / "warm-up.png")  # matplotlib's first import
            png = median_time(lambda: dendrogram_png(z, cut, labels, Path(tmp) / "dendrogram.png"), 2)
        print(f"{n:>9,} {layout * 1000:>7.0f}ms {chart * 1000:>7.0f}ms {sent / 1000:>7.0f}kB {png:>8.2f}s | "
              f"{old * 1000:>8.0f}ms {old_sent / 1000:>7.0f}kB | {chart / old:.1f}x, {sent / old_sent:.1f}x")


if __name__ == "__main__":
    main()
