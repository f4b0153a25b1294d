"""The dendrogram of a hierarchical clustering, with its cut line, and distance summaries.

Links below the cut take their cluster's colour (the same as in the grid and the map).
A big tree shows its last 1,000 merges (:mod:`nodes.lib.clustering.tree_top`): a bar under each
branch at their foot says how many images it holds (hovering it gives the number), and
each cluster's name and size stand under it where they fit. Drag the cut line (or click
where it goes) as in Orange: the line and its cluster count follow the pointer without a
redraw of the tree. "Apply this cut" sets the node's cut in the mode the user chose (a
cluster count stays a cluster count; a ratio or a distance is rounded) and re-runs it and
every node it feeds, so an Export to Folders after it rewrites its folders: a viewer action
(see :mod:`flowclass.viewers`).
"""

from __future__ import annotations

from pathlib import Path
from string import Template
from typing import Any, Sequence

import numpy as np
from nicegui import ui

from flowclass.viewers import ViewerContext, viewer
from flowclass.viewers.names import shown
from flowclass.viewers.tables import show_as_table, show_table

from ..clustering import CUT, DISTANCE, HEIGHT_RATIO, N_CLUSTERS
from ..lib.clustering.tree_top import MERGES, TreeTop, cluster_runs, clusters_at, colours_of, tree_top

MAX_LEAVES = MERGES + 1
MAX_NAMES = 60  # cluster names under the tree: more could never stand side by side
CUT_COLOR = "#dc2626"
BARS_COLOR = "#64748b"
LINKS, CUT_LINE, SIZES, NAMES = range(4)  # the chart's series, in this order


def link_lines(top: TreeTop, palette: list[str], colours: np.ndarray) -> list[dict[str, Any]]:
    return [{"coords": [[round(x, 2), float(f"{y:.6g}")] for x, y in zip(xs, ys)],
             "lineStyle": {"color": palette[c]}} for (xs, ys), c in zip(top.links, colours.tolist())]


def dendrogram_links(z: np.ndarray, labels: np.ndarray, cut: float,
                     max_leaves: int = MAX_LEAVES) -> tuple[list[dict[str, Any]], int]:
    """The links as polylines with their colours, and how many leaves are drawn."""
    top = tree_top(z, max_leaves - 1)
    palette, links, _leaves = colours_of(top, labels, cut)
    return link_lines(top, palette, links), len(top.leaves)


def size_bars(top: TreeTop, labels: np.ndarray, above_cut: np.ndarray,
              paths: Sequence[str] | None = None) -> list[list[Any]]:
    """A bar per branch at the foot: [x, images, what hovering says (the file's name for a
    single image), its cluster (none when the cut splits it)]."""
    return [[float(top.leaf_x(i)), size, f"{size:,} images" if size > 1 or paths is None else shown(Path(paths[image]).name),
             "" if split else str(labels[image])]
            for i, (size, split, image) in enumerate(zip(top.sizes.tolist(), above_cut.tolist(), top.firsts.tolist()))]


def cluster_names(top: TreeTop, labels: np.ndarray, cut: float, palette: list[str],
                  colours: np.ndarray, y: float) -> list[dict[str, Any]]:
    """Each cluster's name and size under its branches, the largest first (the chart hides
    those that would overlap a larger one)."""
    return [{"name": f"{name} · {size:,}", "value": [float(top.leaf_x((start + stop - 1) / 2)), y],
             "label": {"color": palette[colours[start]]}}
            for name, start, stop, size in cluster_runs(top, labels, cut)[:MAX_NAMES]]


def dendrogram_options(z: np.ndarray, labels: np.ndarray, cut: float,
                       paths: Sequence[str] | None = None) -> dict[str, Any]:
    """The chart: the tree's top, the cut, and under a truncated tree a bar per branch at its
    foot (log scale: how many images it holds) and the clusters' names and sizes."""
    top = tree_top(z)
    palette, links, leaves = colours_of(top, labels, cut)
    width, height = top.width, float(z[-1, 2]) if len(z) else 1.0
    grids = [{"left": 60, "right": 120, "top": 30, "bottom": 100 if top.truncated else 30}]
    x_axes = [{"type": "value", "min": 0, "max": width, "show": False}]
    y_axes: list[dict[str, Any]] = [
        {"type": "value", "name": "merge distance", "min": 0, "max": float(f"{height * 1.05:.3g}")}]
    series: list[dict[str, Any]] = [
        {"type": "lines", "coordinateSystem": "cartesian2d", "polyline": True, "data": link_lines(top, palette, links),
         "lineStyle": {"width": 1.2, "opacity": 1}, "silent": True},
        {"type": "line", "name": "cut", "data": [[0, cut], [width, cut]], "symbol": "none", "silent": True,
         "lineStyle": {"color": CUT_COLOR, "type": "dashed", "width": 1.5},
         "endLabel": {"show": True, "formatter": f"cut: {clusters_at(z, cut):,} clusters",
                      "color": CUT_COLOR, "position": "insideEndTop"}},
    ]
    foot = (0, 0.0)  # the axes the clusters' names stand under, and the height they stand at
    if top.truncated:
        grids.append({"left": 60, "right": 120, "bottom": 36, "height": 48})
        x_axes.append({"type": "value", "min": 0, "max": width, "show": False, "gridIndex": 1})
        y_axes.append({"type": "log", "min": 1, "gridIndex": 1, "name": "images", "nameLocation": "middle",
                       "nameGap": 44, "splitLine": {"show": False},
                       "axisLabel": {"fontSize": 10,  # 1, 100, 10,000: every other power of ten
                                     ":formatter": "(v) => Math.round(Math.log10(v)) % 2 ? '' : v.toLocaleString('en')"}})
        # one colour, drawn as one shape ("large"): a bar per item made each move of the cut 3x slower
        series.append({"type": "bar", "name": "images", "xAxisIndex": 1, "yAxisIndex": 1, "barWidth": "90%",
                       "large": True, "largeThreshold": 0, "itemStyle": {"color": BARS_COLOR},
                       "data": size_bars(top, labels, leaves == len(palette) - 1, paths)})
        foot = (1, 1.0)
    series.append({"type": "scatter", "name": "clusters", "xAxisIndex": foot[0], "yAxisIndex": foot[0],
                   "symbolSize": 0, "silent": True, "labelLayout": {"hideOverlap": True},
                   "label": {"show": True, "position": "bottom", "formatter": "{b}", "fontSize": 11},
                   "data": cluster_names(top, labels, cut, palette, leaves, foot[1])})
    if not top.truncated:  # keep the series' places (SIZES, NAMES) the same for every tree
        series.insert(SIZES, {"type": "bar", "name": "", "data": []})
    return {"animation": False, "grid": grids, "xAxis": x_axes, "yAxis": y_axes, "series": series}


CUT_EVENT = "fc_cut"  # the chart says: the user put the cut at this height (a click, or a drag ended)

# Press anywhere on the tree and drag: a dashed line follows the pointer, a DOM element
# over the chart (moving it redraws nothing, however big the tree); on release (or a plain
# click) the chart's cut line moves there and the chart reports the height, as Orange's
# dendrogram does. Over the size bars the pointer shows what a bar holds instead, in a box
# of DOM text (a single image's name is a file name; ECharts' own tooltip needs an element
# per bar, which made each redraw three times slower). These are ECharts graphic handlers,
# made functions by NiceGUI's ":" properties; $chart is the chart element's id.
MOVE_JS = """
const y = Math.min($top, Math.max(0, c.chart.convertFromPixel({yAxisIndex: 0}, e.offsetY)));
const ghost = c.fcGhost || (c.fcGhost = document.createElement('div'));
if (!ghost.isConnected) {
  ghost.className = 'fc-cut-ghost';
  ghost.style.cssText = 'position:absolute;left:${left}px;right:${right}px;height:0;pointer-events:none;'
    + 'z-index:9;border-top:2px dashed $colour';
  const count = document.createElement('span');
  count.style.cssText = 'position:absolute;left:100%;top:-16px;padding-left:6px;white-space:nowrap;'
    + 'font-size:12px;color:$colour';
  ghost.append(count);
  c.$$el.style.position = 'relative';  // the ghost's (and the tip's) offsets are the chart's
  c.$$el.append(ghost);
}
ghost.style.top = c.chart.convertToPixel({yAxisIndex: 0}, y) + 'px';
ghost.style.display = 'block';
const heights = c.fcHeights || (c.fcHeights = c.chart.getOption().series[0].data.map(l => l.coords[1][1]));
const k = 1 + heights.filter(h => h > y).length;  // exact while the cut is above the drawn foot
ghost.firstChild.textContent = k.toLocaleString('en') + (k > heights.length && $truncated ? ' or more' : '')
  + ' clusters';
"""
DROP_JS = ("c.fcGhost.style.display = 'none'; c.chart.setOption({series: [{}, {data: [[0, y], [$width, y]], "
           "endLabel: {formatter: 'cut: ' + c.fcGhost.firstChild.textContent}}]}); ")
ON_BARS_JS = "$bars && c.chart.containPixel({gridIndex: 1}, [e.offsetX, e.offsetY])"
TIP_JS = """
const tip = c.fcTip || (c.fcTip = document.createElement('div'));
if (!tip.isConnected) {
  tip.className = 'fc-dendrogram-tip';
  tip.style.cssText = 'position:absolute;pointer-events:none;z-index:10;background:#fff;font-size:12px;'
    + 'border:1px solid #cbd5e1;border-radius:4px;padding:2px 6px;white-space:nowrap;display:none';
  c.$$el.style.position = 'relative';
  c.$$el.append(tip);
}
const bars = c.fcBars || (c.fcBars = c.chart.getOption().series[$sizes].data);
const bar = ON_BARS && bars[Math.round((c.chart.convertFromPixel({xAxisIndex: 1}, e.offsetX) - 5) / 10)];
if (!bar) { tip.style.display = 'none'; return; }
tip.replaceChildren(...[bar[2], bar[3]].filter(t => t).map((text, line) => {
  const div = document.createElement('div');
  div.textContent = String(text);
  div.style.cssText = line ? 'color:#64748b' : 'font-weight:600';
  return div;
}));
tip.style.display = 'block';
const left = e.offsetX + 14 + tip.offsetWidth < c.$$el.clientWidth ? e.offsetX + 14 : e.offsetX - 14 - tip.offsetWidth;
tip.style.left = left + 'px';
tip.style.top = Math.max(0, e.offsetY - tip.offsetHeight - 10) + 'px';
""".replace("ON_BARS", ON_BARS_JS)
DRAG_JS = {
    ":onmousedown": "function(e) { const c = getElement($chart); if (" + ON_BARS_JS + ") return; "
                    "c.fcDrag = true; " + MOVE_JS + " }",
    ":onmousemove": "function(e) { const c = getElement($chart); if (!c.fcDrag) { " + TIP_JS + " return; } "
                    "if (e.event && e.event.buttons === 0) { c.fcDrag = false; c.fcGhost.style.display = 'none'; "
                    "return; } " + MOVE_JS + " }",
    ":onmouseup": "function(e) { const c = getElement($chart); if (!c.fcDrag) return; c.fcDrag = false; "
                  + MOVE_JS + DROP_JS + "c.$$emit('" + CUT_EVENT + "', {height: y}); }",
    ":onmouseout": "function(e) { const c = getElement($chart); if (c.fcTip) c.fcTip.style.display = 'none'; }",
}


def drag_layer(chart_id: int, options: dict[str, Any], top: float) -> dict[str, Any]:
    """A transparent layer over the chart that moves the cut line and shows the bars' tooltips."""
    bars = options["series"][SIZES]["data"]
    grid = options["grid"][0]
    values = {"chart": chart_id, "top": top, "width": options["xAxis"][0]["max"], "left": grid["left"],
              "right": grid["right"], "colour": CUT_COLOR, "bars": "true" if bars else "false", "sizes": SIZES,
              "truncated": "true" if bars else "false"}
    handlers = {key: Template(code).substitute(values) for key, code in DRAG_JS.items()}
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
        note += (f" · showing the last {MERGES:,} merges; each bar below is a branch at their foot, "
                 "as tall as its number of images (hover it)")
    ui.label(note).classes("text-xs text-gray-600")
    options = dendrogram_options(z, labels, tree.cut_height, tree.images.paths)
    acts = ctx.declares(CUT, DISTANCE)
    if acts:  # above the chart: on a laptop's short results panel it is seen without scrolling
        mode = str(ctx.param(CUT))
        with ui.row().classes("items-center w-full gap-3"):
            ui.label("Drag the cut on the chart, or click where it goes:").classes("text-sm")
            count = ui.label().classes("text-sm w-28 fc-cut-count")
            apply_button = ui.button("Apply this cut", on_click=lambda: apply()).props("outline dense no-caps") \
                .mark("apply-cut")
            ui.label({"n_clusters": "(sets the number of clusters)", "height_ratio": "(sets the height ratio)",
                      "distance": "(sets the distance)"}.get(mode, "")).classes("text-xs text-gray-500")
    chart = ui.echart(options).classes(f"w-full {'h-96' if n > MAX_LEAVES else 'h-80'} fc-dendrogram")
    if not acts:
        return
    top, width = float(z[-1, 2]), options["xAxis"][0]["max"]
    chart.options["graphic"] = [drag_layer(chart.id, options, top)]
    state = {"height": float(tree.cut_height)}

    def moved(height: float, by_browser: bool = True) -> None:
        """The cut is now at ``height``. A browser that moved it has moved the line and counted
        the clusters, exactly unless the cut lies below the drawn foot: then this count goes."""
        height = min(top, max(0.0, float(height)))
        state["height"] = height
        k = clusters_at(z, height)
        count.text = f"{k:,} clusters"
        line = {"data": [[0, height], [width, height]], "endLabel": {"formatter": f"cut: {k:,} clusters"}}
        with chart.props.suspend_updates():  # the browser has it: the tree is not sent again
            chart.options["series"][CUT_LINE]["data"] = line["data"]
            chart.options["series"][CUT_LINE]["endLabel"]["formatter"] = line["endLabel"]["formatter"]
        if by_browser and k > MERGES:
            chart.run_chart_method("setOption", {"series": [{}, line]})
        apply_button.set_enabled(k != len(set(labels.tolist())))

    def apply() -> None:
        declared = {p.name: p for p in (N_CLUSTERS, HEIGHT_RATIO, DISTANCE)}
        ctx.apply_params(*((declared[name], value) for name, value in cut_params(z, state["height"], mode).items()))
        ctx.run_downstream()  # the export's folders follow the new clusters

    chart.on(CUT_EVENT, lambda e: moved(e.args["height"]))
    moved(tree.cut_height, by_browser=False)


def clusters_with_labels(labelling: Any) -> bool:
    """Clusters of images whose folders name a category: they can be compared."""
    from nodes.lib.clustering.agreement import has_known_labels

    return labelling.kind == "cluster" and has_known_labels(labelling.images.labels)


@viewer("labels", "Clusters vs labels", applies=clusters_with_labels, order=15)
def clusters_vs_labels(labelling: Any, ctx: ViewerContext) -> None:
    """Did the clusters find the categories? A cluster x folder label table with purity and ARI."""
    from nodes.lib.clustering.agreement import agreement

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
