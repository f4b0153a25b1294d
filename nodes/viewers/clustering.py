"""The dendrogram of a hierarchical clustering, with its cut line, and distance summaries.

Links below the cut take their cluster's colour (the same as in the grid and the map);
big trees show their top merges only (SciPy's ``lastp`` truncation), so the chart stays
light. A slider moves the cut; "Apply this cut" sets the node's cut to that distance
and re-runs it: an example of a viewer action (see :mod:`flowclass.viewers`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from nicegui import ui
from scipy.cluster import hierarchy

from flowclass.viewers import ViewerContext, viewer
from flowclass.viewers.colors import ABOVE_CUT, group_colors
from flowclass.viewers.tables import show_as_table

from ..clustering import CUT, DISTANCE

MAX_LEAVES = 150
CUT_COLOR = "#dc2626"


def cluster_order(labels: np.ndarray) -> list[str]:
    """C1, C2, ... C10 in number order (other names alphabetically)."""
    names = sorted(set(labels.tolist()))
    return sorted(names, key=lambda c: (0, int(c[1:])) if c[:1] == "C" and c[1:].isdigit() else (1, c))


def clusters_at(z: np.ndarray, height: float) -> int:
    """How many clusters a cut at ``height`` makes."""
    return int(len(z) + 1 - np.sum(z[:, 2] <= height))


def dendrogram_links(z: np.ndarray, labels: np.ndarray, cut: float,
                     max_leaves: int = MAX_LEAVES) -> tuple[list[dict[str, Any]], int]:
    """The links as polylines with their colours, and how many leaves are drawn."""
    n = len(z) + 1
    first_leaf = np.arange(2 * n - 1)
    for k, (left, _right) in enumerate(z[:, :2].astype(np.int64)):
        first_leaf[n + k] = first_leaf[left]
    colors = group_colors(cluster_order(labels))

    def link_color(k: int) -> str:
        return colors[labels[first_leaf[k]]] if z[k - n, 2] <= cut else ABOVE_CUT

    tree = hierarchy.dendrogram(z, no_plot=True, truncate_mode="lastp" if n > max_leaves else None,
                                p=max_leaves, link_color_func=link_color)
    links = [{"coords": [[round(x, 3), round(y, 6)] for x, y in zip(xs, ys)],
              "lineStyle": {"color": color}}
             for xs, ys, color in zip(tree["icoord"], tree["dcoord"], tree["color_list"])]
    return links, len(tree["leaves"])


def dendrogram_options(z: np.ndarray, labels: np.ndarray, cut: float) -> dict[str, Any]:
    links, leaves = dendrogram_links(z, labels, cut)
    width = 10 * leaves
    top = float(z[-1, 2]) if len(z) else 1.0
    return {
        "animation": False,
        "grid": {"left": 60, "right": 120, "top": 30, "bottom": 20},
        "xAxis": {"type": "value", "min": 0, "max": width, "show": False},
        "yAxis": {"type": "value", "name": "merge distance", "min": 0, "max": float(f"{top * 1.05:.3g}")},
        "tooltip": {"trigger": "item"},
        "series": [
            {"type": "lines", "coordinateSystem": "cartesian2d", "polyline": True, "data": links,
             "lineStyle": {"width": 1.2}, "silent": True},
            {"type": "line", "name": "cut", "data": [[0, cut], [width, cut]], "symbol": "none",
             "lineStyle": {"color": CUT_COLOR, "type": "dashed", "width": 1.5},
             "endLabel": {"show": True, "formatter": f"cut: {clusters_at(z, cut)} clusters",
                          "color": CUT_COLOR, "position": "insideEndTop"}},
        ],
    }


@viewer("dendrogram", "Dendrogram", order=10)
def dendrogram_view(tree: Any, ctx: ViewerContext) -> None:
    z = np.asarray(tree.linkage, dtype=np.float64)
    if len(z) == 0:
        ui.label("A tree needs at least two images.").classes("text-sm text-gray-600")
        return
    labels = np.asarray(tree.labels, dtype=str)
    n = len(z) + 1
    note = f"{n:,} images, {tree.method} linkage, cut at {tree.cut_height:.4g} into {len(set(labels.tolist()))} clusters"
    if n > MAX_LEAVES:
        note += f" · showing the top {MAX_LEAVES} branches"
    ui.label(note).classes("text-xs text-gray-600")
    chart = ui.echart(dendrogram_options(z, labels, tree.cut_height)).classes("w-full h-80 fc-dendrogram")
    if not ctx.declares(CUT, DISTANCE):
        return
    top = float(z[-1, 2])
    with ui.row().classes("items-center w-full gap-3"):
        ui.label("Move the cut:").classes("text-sm")
        slider = ui.slider(min=0, max=round(top, 6), step=round(top / 400, 9) or 1e-9,
                           value=round(tree.cut_height, 6)).classes("grow fc-cut-slider")
        count = ui.label().classes("text-sm w-28")
        ui.button("Apply this cut", on_click=lambda: apply(slider.value)).props("outline dense no-caps")

    def moved(height: float) -> None:
        count.text = f"{clusters_at(z, height)} clusters"
        chart.options["series"][1]["data"] = [[0, height], [chart.options["xAxis"]["max"], height]]
        chart.options["series"][1]["endLabel"]["formatter"] = f"cut: {clusters_at(z, height)} clusters"
        chart.update()

    def apply(height: float) -> None:
        ctx.apply_params((CUT, "distance"), (DISTANCE, float(height)))
        ctx.run([ctx.node_id])

    slider.on_value_change(lambda e: moved(e.value))
    moved(slider.value)


def sampled_pairs(distances: Any, most: int = 2_000) -> tuple[np.ndarray, int]:
    """The distances among all images, or among a seeded random ``most`` of them: the
    histogram's shape without computing n^2 values for a large collection."""
    n = len(distances.images)
    if n <= most:
        return distances.condensed(), n
    keep = np.sort(np.random.default_rng(0).choice(n, most, replace=False))
    vectors = np.asarray(distances.vectors, dtype=np.float64)
    mean = vectors.mean(axis=0) if distances.centre else 0.0  # the whole collection's
    subset = type(distances)(distances.images, vectors[keep] - mean, distances.metric, False)
    return subset.condensed(), most


@viewer("distances", "Distances", order=10)
def distances_view(distances: Any, ctx: ViewerContext) -> None:
    n = len(distances.images)
    if n < 2:
        ui.label("Fewer than two images: no distances.").classes("text-sm text-gray-600")
        return
    values, shown = sampled_pairs(distances)
    counts, edges = np.histogram(values, bins=40)
    among = f"{n:,} images" if shown == n else f"a random {shown:,} of {n:,} images"
    ui.label(f"{values.size:,} pairs among {among}, {distances.metric} distance: "
             f"min {values.min():.3g}, median {np.median(values):.3g}, max {values.max():.3g}") \
        .classes("text-xs text-gray-600")
    ui.echart({
        "animation": False,
        "grid": {"left": 50, "right": 20, "top": 20, "bottom": 40},
        "tooltip": {"trigger": "axis"},
        "xAxis": {"type": "category", "name": "distance",
                  "data": [f"{(a + b) / 2:.3g}" for a, b in zip(edges[:-1], edges[1:])]},
        "yAxis": {"type": "value", "name": "pairs"},
        "series": [{"type": "bar", "data": counts.tolist(), "itemStyle": {"color": "#e15759"}}],
    }).classes("w-full h-64 fc-distances")


def small_distances(distances: Any) -> bool:
    return len(distances.images) <= 400


VIEWERS = [
    dendrogram_view, distances_view,
    viewer("dendrogram", "Table", order=90)(show_as_table),
    viewer("distances", "Table", applies=small_distances, order=90)(show_as_table),
]
