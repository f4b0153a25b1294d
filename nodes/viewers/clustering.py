"""The dendrogram of a hierarchical clustering, with its cut line, and distance summaries.

Links below the cut take their cluster's colour (the same as in the grid and the map);
big trees show their top merges only (SciPy's ``lastp`` truncation), so the chart stays
light. Drag the cut line (or click where it goes) as in Orange; "Apply this cut" sets
the node's cut in the mode the user chose (a cluster count stays a cluster count; a ratio
or a distance is rounded) and re-runs it: a viewer action (see :mod:`flowclass.viewers`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from nicegui import ui
from scipy.cluster import hierarchy

from flowclass.viewers import ViewerContext, viewer
from flowclass.viewers.colors import ABOVE_CUT, group_colors
from flowclass.viewers.tables import show_as_table, show_table

from ..clustering import CUT, DISTANCE, HEIGHT_RATIO, N_CLUSTERS

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


CUT_EVENT = "fc_cut"  # the chart says: the user put the cut at this height (a click, or a drag ended)

# Press anywhere on the chart and drag: the cut line follows the pointer; on release (or a
# plain click) the chart reports the height, as Orange's dendrogram does. These are ECharts
# graphic handlers, made functions by NiceGUI's ":" properties; {id} is the chart element's.
MOVE_JS = ("const y = Math.min({top}, Math.max(0, c.chart.convertFromPixel({{yAxisIndex: 0}}, e.offsetY))); "
           "c.chart.setOption({{series: [{{}}, {{data: [[0, y], [{width}, y]]}}]}});")
DRAG_JS = {
    ":onmousedown": "function(e) {{ const c = getElement({id}); c.fcDrag = true; " + MOVE_JS + " }}",
    ":onmousemove": "function(e) {{ const c = getElement({id}); if (!c.fcDrag) return; "
                    "if (e.event && e.event.buttons === 0) {{ c.fcDrag = false; return; }} " + MOVE_JS + " }}",
    ":onmouseup": "function(e) {{ const c = getElement({id}); if (!c.fcDrag) return; c.fcDrag = false; "
                  + MOVE_JS + " c.$emit('" + CUT_EVENT + "', {{height: y}}); }}",
}


def drag_layer(chart_id: int, width: float, top: float) -> dict[str, Any]:
    """A transparent layer over the chart that moves the cut line (see DRAG_JS)."""
    handlers = {key: code.format(id=chart_id, top=top, width=width) for key, code in DRAG_JS.items()}
    return {"type": "rect", "left": 0, "top": 0, "z": 100, "cursor": "ns-resize",
            "shape": {"width": 4000, "height": 4000}, "style": {"fill": "rgba(0,0,0,0)"}, **handlers}


def between(low: float, high: float) -> float:
    """The roundest number strictly between two merge heights (the cut's clusters stay the same)."""
    if high <= low:
        return float(low)
    for digits in range(1, 12):
        value = float(f"{(low + high) / 2:.{digits}g}")
        if low < value < high:
            return value
    return (low + high) / 2


def cut_params(z: np.ndarray, height: float, mode: str) -> dict[str, Any]:
    """The node's parameters for a cut at ``height``, in the mode the user chose: a cluster
    count stays a cluster count; a ratio or a distance is rounded, keeping the clusters."""
    k = clusters_at(z, height)
    merges = np.concatenate([[0.0], z[:, 2], [z[-1, 2] * 1.05]])
    low, high = merges[len(z) + 1 - k], merges[len(z) + 2 - k]  # the merges around the cut
    if mode == N_CLUSTERS.name:
        return {N_CLUSTERS.name: k}
    if mode == HEIGHT_RATIO.name:
        top = float(z[-1, 2]) or 1.0
        return {HEIGHT_RATIO.name: min(1.0, between(low / top, high / top))}
    return {DISTANCE.name: between(float(low), float(high))}


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
    options = dendrogram_options(z, labels, tree.cut_height)
    chart = ui.echart(options).classes("w-full h-80 fc-dendrogram")
    if not ctx.declares(CUT, DISTANCE):
        return
    top, width = float(z[-1, 2]), options["xAxis"]["max"]
    chart.options["graphic"] = [drag_layer(chart.id, width, top)]
    mode = str(ctx.param(CUT))
    with ui.row().classes("items-center w-full gap-3"):
        ui.label("Drag the cut on the chart, or click where it goes:").classes("text-sm")
        count = ui.label().classes("text-sm w-28 fc-cut-count")
        apply_button = ui.button("Apply this cut", on_click=lambda: apply()).props("outline dense no-caps") \
            .mark("apply-cut")
        ui.label({"n_clusters": "(sets the number of clusters)", "height_ratio": "(sets the height ratio)",
                  "distance": "(sets the distance)"}.get(mode, "")).classes("text-xs text-gray-500")
    state = {"height": float(tree.cut_height)}

    def moved(height: float) -> None:
        height = min(top, max(0.0, float(height)))
        state["height"] = height
        k = clusters_at(z, height)
        count.text = f"{k} clusters"
        chart.options["series"][1]["data"] = [[0, height], [width, height]]
        chart.options["series"][1]["endLabel"]["formatter"] = f"cut: {k} clusters"
        chart.update()
        apply_button.set_enabled(k != len(set(labels.tolist())))

    def apply() -> None:
        declared = {p.name: p for p in (N_CLUSTERS, HEIGHT_RATIO, DISTANCE)}
        ctx.apply_params(*((declared[name], value) for name, value in cut_params(z, state["height"], mode).items()))
        ctx.run([ctx.node_id])

    chart.on(CUT_EVENT, lambda e: moved(e.args["height"]))
    moved(tree.cut_height)


def clusters_with_labels(labelling: Any) -> bool:
    """Clusters of images whose folders name a category: they can be compared."""
    from nodes.lib.agreement import has_known_labels

    return labelling.kind == "cluster" and has_known_labels(labelling.images.labels)


@viewer("labels", "Clusters vs labels", applies=clusters_with_labels, order=15)
def clusters_vs_labels(labelling: Any, ctx: ViewerContext) -> None:
    """Did the clusters find the categories? A cluster x folder label table with purity and ARI."""
    from nodes.lib.agreement import agreement

    found = agreement(labelling.labels, labelling.images.labels, order=labelling.classes)
    ui.label(f"{found.images:,} labelled images · purity {found.purity:.1%} · adjusted Rand index "
             f"{found.ari:.3f}").classes("text-sm font-medium fc-agreement")
    ui.label("Purity: the share of images in their cluster's most common folder label. Adjusted "
             "Rand index: 1 when the clusters are exactly the labels, about 0 for chance.") \
        .classes("text-xs text-gray-500")
    show_table(found.table, ctx, caption="Images per cluster (rows) and folder label (columns)")


def sampled_pairs(distances: Any, most: int = 2_000) -> tuple[np.ndarray, int]:
    """The distances among all images, or among a seeded random ``most`` of them: the
    histogram's shape without computing n^2 values for a large collection."""
    n = len(distances.images)
    if n <= most:
        return distances.condensed(), n
    keep = np.sort(np.random.default_rng(0).choice(n, most, replace=False))
    vectors = np.asarray(distances.vectors)  # no float64 copy of all n: only the sample
    mean = vectors.mean(axis=0, dtype=np.float64) if distances.centre else 0.0  # the whole collection's
    subset = type(distances)(distances.images, vectors[keep].astype(np.float64) - mean,
                             distances.metric, False)
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
    dendrogram_view, distances_view, clusters_vs_labels,
    viewer("dendrogram", "Table", order=90)(show_as_table),
    viewer("distances", "Table", applies=small_distances, order=90)(show_as_table),
]
