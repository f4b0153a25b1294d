"""Pictures of results as PNG files, for headless runs (``flowclass run`` saves them in --out).

The same things the canvas shows where people would rather look than read: a confusion
matrix, a dendrogram with its cut, a 2-D map of the images, area bars. Drawn with
matplotlib's object API and its Agg renderer (no pyplot: no global state, so pictures can
be drawn in a background thread while a run goes on), imported only when a picture is made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

DPI = 110
MAX_BARS = 40  # area bars of more images would not be readable
# what drawing imports: flowclass.reports imports them ahead, while the node still runs
NEEDS = ("matplotlib.figure", "matplotlib.backends.backend_agg", "matplotlib.collections")


def _figure(**options: Any) -> Any:
    """A new figure drawn by Agg, owned by nobody else (pyplot keeps none of it)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(**options)
    FigureCanvasAgg(figure)
    return figure


def _subplots(figsize: tuple[float, float], *args: Any, **options: Any) -> tuple[Any, Any]:
    figure = _figure(figsize=figsize)
    return figure, figure.subplots(*args, **options)


def _save(figure: Any, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=DPI)


def confusion_png(matrix: np.ndarray, true: Sequence[str], predicted: Sequence[str], path: Path,
                  title: str = "") -> None:
    """Counts of true classes (rows) against predicted ones (columns), darker = more."""
    side = max(4.0, 0.5 * max(len(true), len(predicted)) + 2)
    figure, axes = _subplots((side + 1, side))
    shown = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(shown, ax=axes, fraction=0.046, pad=0.04)
    axes.set_xticks(range(len(predicted)), labels=list(predicted), rotation=45, ha="right")
    axes.set_yticks(range(len(true)), labels=list(true))
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    top = matrix.max() if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        axes.text(j, i, str(int(count)), ha="center", va="center", fontsize=8,
                  color="white" if top and count > top / 2 else "black")
    axes.set_title(title or "Confusion matrix")
    _save(figure, path)


def dendrogram_figure(linkage: np.ndarray, cut_height: float, labels: np.ndarray) -> Any:
    """The tree as the canvas draws it (:mod:`nodes.lib.clustering.tree_top`): its last 1,000 merges when
    large, each cluster's links in its colour, a dashed line where it was cut; under a big
    tree a bar per branch at its foot (how many images it holds); clusters' names and sizes
    where they fit."""
    from matplotlib.collections import LineCollection

    from ..clustering.tree_top import MERGES, STEP, cluster_runs, colours_of, tree_top

    labels = np.asarray(labels, dtype=str)
    top = tree_top(linkage)
    palette, links, leaves = colours_of(top, labels, cut_height)
    n, clusters = len(linkage) + 1, len(set(labels.tolist()))
    if top.truncated:
        figure, (axes, bars) = _subplots((11, 6), 2, 1, sharex=True,
                                         gridspec_kw={"height_ratios": [5, 1]})
    else:
        figure, axes = _subplots((11, 5))
        bars = axes
    axes.add_collection(LineCollection([np.column_stack(link) for link in top.links],
                                       colors=[palette[c] for c in links.tolist()], linewidths=0.8))
    axes.axhline(cut_height, color="#dc2626", linestyle="--", linewidth=1.2)
    axes.set_xlim(0, top.width)
    top_height = float(linkage[-1, 2]) * 1.05 if len(linkage) else 0.0
    axes.set_ylim(0, top_height if top_height > 0 else 1.0)  # identical images merge at 0
    axes.set_ylabel("merge distance")
    axes.set_xticks([])
    shown = f": its last {MERGES:,} merges; bars: images per branch at their foot" if top.truncated else ""
    axes.set_title(f"Dendrogram of {n:,} images, cut into {clusters} clusters{shown}", fontsize=10)
    if top.truncated:
        bars.bar(top.leaf_x(np.arange(len(top.leaves))), top.sizes, width=STEP * 0.9, log=True,
                 color=[palette[c] for c in leaves.tolist()])
        bars.set_ylabel("images")
        bars.set_ylim(1, max(10, int(top.sizes.max())) * 1.5)  # from one image; at least a power of ten
        bars.yaxis.set_major_formatter(lambda value, _position: f"{value:,.0f}")
        bars.yaxis.set_minor_formatter(lambda value, _position: "")
        bars.set_xticks([])
    fits = _fitting(cluster_runs(top, labels, cut_height), top.width, figure.get_figwidth() * DPI * 0.85)
    for name, start, stop, size in fits:
        bars.annotate(f"{name}\n{size:,}", xy=(float(top.leaf_x((start + stop - 1) / 2)), 0),
                      xycoords=("data", "axes fraction"), xytext=(0, -3), textcoords="offset points",
                      ha="center", va="top", fontsize=8, color=palette[leaves[start]])
    return figure


def _fitting(runs: list[tuple[str, int, int, int]], width: float, pixels: float,
             font: float = 8) -> list[tuple[str, int, int, int]]:
    """The clusters whose name and size fit under the tree side by side, the largest first."""
    from ..clustering.tree_top import STEP

    taken: list[tuple[float, float]] = []
    fits = []
    for run in runs:
        name, start, stop, size = run
        half = (0.6 * font * DPI / 72 * max(len(name), len(f"{size:,}")) / 2 + 3) * width / pixels
        centre = STEP * (start + stop) / 2
        if all(centre + half < low or centre - half > high for low, high in taken):
            taken.append((centre - half, centre + half))
            fits.append(run)
    return fits


def dendrogram_png(linkage: np.ndarray, cut_height: float, labels: np.ndarray, path: Path) -> None:
    """dendrogram.png: see :func:`dendrogram_figure`."""
    _save(dendrogram_figure(linkage, cut_height, labels), path)


def map_png(points: np.ndarray, groups: np.ndarray, order: Sequence[str], path: Path,
            title: str) -> None:
    """Each image as a point of its group's colour (PCA coordinates)."""
    from matplotlib import colormaps

    # to float32: the PCA's last bits follow how many threads BLAS had (one in the drawing
    # process, every core in a thread or after the run), and they moved a pixel of the PNG
    points = np.asarray(points, dtype=np.float32)

    figure, axes = _subplots((8, 6))
    colours = colormaps["tab20" if len(order) > 10 else "tab10"]
    for k, group in enumerate(order):
        mine = groups == group
        axes.scatter(points[mine, 0], points[mine, 1], s=8, color=colours(k % colours.N),
                     label=f"{group} ({int(mine.sum())})")
    if 0 < len(order) <= 30:
        axes.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, markerscale=2)
    axes.set_xticks([])
    axes.set_yticks([])
    axes.set_title(title)
    _save(figure, path)


def areas_png(images: Sequence[str], classes: Sequence[str], colours: Sequence[str],
              percent: np.ndarray, path: Path) -> None:
    """One stacked bar per image (the first MAX_BARS): the percent of it each class covers."""
    total = len(images)
    images, percent = list(images)[:MAX_BARS], percent[:MAX_BARS]
    figure, axes = _subplots((8, max(2.5, 0.3 * len(images) + 1.5)))
    left = np.zeros(len(images))
    for k, (name, colour) in enumerate(zip(classes, colours)):
        axes.barh(range(len(images)), percent[:, k], left=left, color=colour, label=name,
                  edgecolor="white", linewidth=0.3)
        left += percent[:, k]
    axes.set_yticks(range(len(images)), labels=list(images), fontsize=7)
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel("percent of the image")
    axes.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    more = f" (first {MAX_BARS} of {total} images; all in the areas table)" if total > MAX_BARS else ""
    axes.set_title(f"Area per class{more}")
    _save(figure, path)


def pca_points(vectors: np.ndarray, fit_on: int = 20_000, block: int = 8192) -> np.ndarray:
    """Two PCA coordinates per row (the canvas map's default projection).

    Above ``fit_on`` rows the axes are fitted on a seeded sample of that many and every row
    is projected a block at a time, so 100,000 vectors need no float64 copy of them all.
    """
    x = np.asarray(vectors)
    if len(x) < 3 or x.shape[1] < 2:
        x = np.asarray(x, dtype=np.float64)
        return np.column_stack([x[:, 0] if x.shape[1] else np.zeros(len(x)), np.zeros(len(x))])
    fitted = x
    if len(x) > fit_on:
        fitted = x[np.sort(np.random.default_rng(0).choice(len(x), fit_on, replace=False))]
    mean, axes = principal_axes(np.asarray(fitted, dtype=np.float64))
    return np.concatenate([(np.asarray(x[start:start + block], dtype=np.float64) - mean) @ axes.T
                           for start in range(0, len(x), block)])


def principal_axes(x: np.ndarray, count: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The mean of the rows and their first ``count`` principal axes, exact: the leading
    eigenvectors (LAPACK, only those) of the smaller of the columns' scatter matrix and the
    rows' Gram matrix, whose eigenvectors map onto the same axes. Each axis is signed as
    scikit-learn's PCA signs it (its largest coordinate positive).

    scikit-learn's PCA draws the same map (on 600 EfficientNet vectors its randomised
    solver agrees to 1e-6 and the PNG to the byte), but importing it cost a cold run more
    CPU than drawing its pictures (benchmarks/README.md, speed.py). SciPy is imported
    already: the clustering that the map shows needed it."""
    from scipy.linalg import eigh

    mean = x.mean(axis=0)
    centred = x - mean
    tall = len(x) > x.shape[1]
    matrix = centred.T @ centred if tall else centred @ centred.T
    size = len(matrix)
    _, vectors = eigh(matrix, subset_by_index=[size - count, size - 1])  # ascending
    axes = vectors[:, ::-1].T
    if not tall:
        axes = axes @ centred
        axes /= np.maximum(np.linalg.norm(axes, axis=1, keepdims=True), np.finfo(np.float64).tiny)
    largest = axes[np.arange(len(axes)), np.argmax(np.abs(axes), axis=1)]
    return mean, axes * np.where(largest < 0, -1.0, 1.0)[:, None]
