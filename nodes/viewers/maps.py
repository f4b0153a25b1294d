"""A 2-D map of the embeddings: similar images lie close, coloured by label or cluster.

PCA by default (instant); t-SNE or UMAP on request, computed off the event loop with a
fixed seed and kept on disk (keyed by the vectors' content), so a map is computed once.
Hovering a point shows its thumbnail. For clusters and predictions the map uses the
embeddings upstream of the node. A big collection's PCA map draws every image as small
dots (ECharts' "large" mode), with a seeded random sample of them (every group kept) on top
for hovering; t-SNE and UMAP are fitted on a smaller sample and draw only it, saying so:
the browser stays responsive and a map never takes minutes.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from nicegui import run, ui

from flowclass.fsutil import atomic_path
from flowclass.viewers import ViewerContext, viewer
from flowclass.viewers.colors import group_colors
from flowclass.viewers.names import shown
from flowclass.viewers.tables import show_as_table

METHODS = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
PROJECTION_VERSION = 1
SEED = 0
MAX_POINTS = 20_000  # drawn on the map; more make the page heavy and hovering slow
MAX_FITTED = {"tsne": 3_000, "umap": 5_000}  # the slow projections are fitted on this many
# ECharts draws a big series in chunks of this many points, one per frame, so the page
# never freezes. (Its "large" mode would draw faster but loses the tooltip's thumbnail.)
PROGRESSIVE = 4_000
LARGE = 5_000  # with more points than this, smaller dots
# The tooltip is built as DOM nodes, never as an HTML string: file names and labels come
# from folder names, label files and shared model files, so they are set as text only.
TOOLTIP = """(p) => {
  const box = document.createElement('div');
  box.style.textAlign = 'center';
  const img = document.createElement('img');
  img.src = p.value[2];
  img.style.cssText = 'max-width:128px;max-height:128px;display:block;margin:auto';
  box.append(img);
  for (const [text, color] of [[p.value[3], ''], [p.seriesName, '#64748b']]) {
    const line = document.createElement('div');
    line.style.fontSize = '11px';
    line.style.color = color;
    line.textContent = String(text);
    box.append(line);
  }
  return box;
}"""


def project(vectors: np.ndarray, method: str) -> np.ndarray:
    """Two coordinates per row of ``vectors`` (deterministic for a given input)."""
    x = np.asarray(vectors, dtype=np.float64)
    n = len(x)
    if n < 3 or x.shape[1] < 2:
        return np.column_stack([x[:, 0] if x.shape[1] else np.zeros(n), np.zeros(n)])
    from sklearn.decomposition import PCA

    if method == "pca":
        return PCA(n_components=2, random_state=SEED).fit_transform(x)
    reduced = PCA(n_components=min(50, n - 1, x.shape[1]), random_state=SEED).fit_transform(x)
    if method == "tsne":
        from sklearn.manifold import TSNE

        return TSNE(n_components=2, perplexity=min(30.0, (n - 1) / 3), init="pca",
                    random_state=SEED).fit_transform(reduced)
    if method == "umap":
        import umap

        return umap.UMAP(n_components=2, n_neighbors=min(15, n - 1), random_state=SEED,
                         n_jobs=1).fit_transform(reduced)
    raise ValueError(f"unknown projection method {method!r}; choose from {', '.join(METHODS)}")


def cached_projection(vectors: np.ndarray, method: str, store: Path) -> np.ndarray:
    """:func:`project`, remembered on disk by the vectors' bytes and the method."""
    data = np.ascontiguousarray(vectors, dtype=np.float32)
    digest = hashlib.sha256(data.tobytes() + str(data.shape).encode()).hexdigest()
    path = store / f"{digest}-{method}-v{PROJECTION_VERSION}.npy"
    return remembered(path, lambda: project(data, method).astype(np.float32))


def remembered(path: Path, make: Callable[[], np.ndarray]) -> np.ndarray:
    """The array saved at ``path``, or ``make()``'s, saved there first (a projection is
    computed once per content)."""
    if path.is_file():
        return np.load(path, allow_pickle=False)
    points = make()
    with atomic_path(path, fsync=False) as tmp, open(tmp, "wb") as handle:
        np.save(handle, points, allow_pickle=False)
    return points


def map_sample(groups: np.ndarray, most: int) -> np.ndarray:
    """The sorted indices of at most ``most`` points (about, with one per group kept): all of
    them when there are few, else a seeded random prefix of one fixed order, so a smaller
    sample is part of a bigger one and each group keeps at least one point."""
    n = len(groups)
    if n <= most:
        return np.arange(n)
    order = np.random.default_rng(SEED).permutation(n)
    keep = order[:most]
    _, first = np.unique(groups[order], return_index=True)  # each group's first point in order
    return np.union1d(keep, order[first])


@dataclass
class MapPoints:
    """Where the map puts its images: ``points`` of the hoverable sample ``keep``, and, for a
    PCA map of a big collection, ``every`` image's place (None when only the sample shows)."""

    keep: np.ndarray
    points: np.ndarray
    every: np.ndarray | None = None


def map_points(vectors: np.ndarray, groups: np.ndarray, method: str, store: Path) -> MapPoints:
    """Which points the map draws, and where: the projection is fitted on the hoverable sample
    only (a smaller one for t-SNE and UMAP); PCA then places every image with that fit."""
    keep = map_sample(groups, min(MAX_POINTS, MAX_FITTED.get(method, MAX_POINTS)))
    if method == "pca" and len(keep) < len(vectors):
        every = cached_pca_of_all(vectors, keep, store)
        return MapPoints(keep, every[keep], every)
    return MapPoints(keep, cached_projection(np.asarray(vectors)[keep], method, store))


def cached_pca_of_all(vectors: np.ndarray, keep: np.ndarray, store: Path, block: int = 8192) -> np.ndarray:
    """Every row's place on the PCA map fitted on the rows ``keep``: projected a block at a
    time (no float64 copy of a 100,000-image collection), remembered on disk."""
    from sklearn.decomposition import PCA

    data = np.asarray(vectors)
    digest = hashlib.sha256()
    for start in range(0, len(data), block):
        digest.update(np.ascontiguousarray(data[start:start + block], dtype=np.float32).tobytes())
    digest.update(str(data.shape).encode() + keep.tobytes())
    path = store / f"{digest.hexdigest()}-pca-all-v{PROJECTION_VERSION}.npy"

    def place_every_row() -> np.ndarray:
        pca = PCA(n_components=2, random_state=SEED).fit(np.asarray(data[keep], dtype=np.float64))
        every = np.empty((len(data), 2), dtype=np.float32)
        for start in range(0, len(data), block):
            every[start:start + block] = pca.transform(np.asarray(data[start:start + block], dtype=np.float64))
        return every

    return remembered(path, place_every_row)


AXIS = {"type": "value", "scale": True, "axisLabel": {"show": False}, "axisLine": {"show": False},
        "axisTick": {"show": False}, "splitLine": {"show": False}}


def chart_options(points: np.ndarray, groups: np.ndarray, order: list[str], urls: list[str],
                  names: list[str], title: str, every: np.ndarray | None = None,
                  every_group: np.ndarray | None = None) -> dict[str, Any]:
    """The ECharts options: a hoverable series per group (``points``, with each image's
    thumbnail URL and name) and, given ``every`` image's place, a silent "large" series per
    group under it, of the same name, so the legend shows and hides both together."""
    colors = group_colors(order)
    series = []
    for group in order:
        index = np.flatnonzero(groups == group)
        series.append({
            "name": shown(group) or "(no label)", "type": "scatter", "symbolSize": 7 if len(groups) <= LARGE else 4,
            "itemStyle": {"color": colors[group], "opacity": 0.8},
            "progressive": PROGRESSIVE, "progressiveThreshold": PROGRESSIVE,
            "data": [[round(float(points[i, 0]), 4), round(float(points[i, 1]), 4), urls[i],
                      names[i]] for i in index],
        })
    if every is not None:
        for group in order:
            index = np.flatnonzero(every_group == group)
            series.append({
                "name": shown(group) or "(no label)", "type": "scatter", "large": True, "largeThreshold": 0,
                "silent": True, "symbolSize": 2, "z": 1,
                "itemStyle": {"color": colors[group], "opacity": 0.45},
                "data": np.round(every[index].astype(np.float64), 3).tolist(),
            })
    return {
        "animation": False,
        "grid": {"left": 40, "right": 150, "top": 20, "bottom": 30},
        "legend": {"type": "scroll", "orient": "vertical", "right": 0, "top": 10},
        "title": {"text": title, "right": 10, "top": 0, "textStyle": {"fontSize": 11}},
        "tooltip": {"trigger": "item", ":formatter": TOOLTIP},
        "xAxis": {**AXIS},
        "yAxis": {**AXIS},
        # the wheel zooms where the pointer is, a drag pans: a crowd of 20,000 dots opens up
        # ("none": points beyond one axis's window are still drawn where the other lets them)
        "dataZoom": [{"type": "inside", "xAxisIndex": 0, "filterMode": "none"},
                     {"type": "inside", "yAxisIndex": 0, "filterMode": "none"}],
        "toolbox": {"right": 150, "top": 0, "itemSize": 12,
                    "feature": {"restore": {"title": "Zoom out"}}},
        "series": series,
    }


async def show_map(vectors: np.ndarray, images: Any, groups: np.ndarray, order: list[str],
                   group_title: str, ctx: ViewerContext) -> None:
    """The map coloured by ``groups``; by the images' folder labels too, on request."""
    store = ctx.store_dir("projections")
    paths, hashes = np.asarray(images.paths), np.asarray(images.hashes)
    colourings = {group_title: (groups, order)}
    folders = np.asarray(images.labels, dtype=str)
    if group_title != "Label" and np.any(folders != ""):
        colourings["Folder label"] = (folders, sorted(set(folders.tolist())))
    view = {"points": None, "keep": None, "every": None, "by": group_title}
    with ui.row().classes("items-center gap-3"):
        method = ui.toggle(METHODS, value="pca").props("dense no-caps").classes("fc-map-method")
        if len(colourings) > 1:
            ui.label("Colour by").classes("text-xs text-gray-600")
            ui.toggle(list(colourings), value=group_title, on_change=lambda e: recolour(e.value)) \
                .props("dense no-caps").classes("fc-map-colour").mark("map-colour-by")
        note = ui.label().classes("text-xs text-gray-500")
    chart = ui.echart({}).classes("w-full h-80 fc-map")

    def recolour(by: str) -> None:
        view["by"] = by
        if view["points"] is None:
            return
        chosen, chosen_order = colourings[by]
        keep = view["keep"]  # only the drawn points get thumbnail links
        urls = [ctx.image_url(p, h, size=128) for p, h in zip(paths[keep], hashes[keep])]
        names = [shown(os.path.basename(p)) for p in paths[keep]]
        chart.options.clear()
        chart.options.update(chart_options(view["points"], chosen[keep], chosen_order, urls, names, by,
                                           view["every"], chosen))
        chart.update()

    async def draw(name: str) -> None:
        method.disable()
        note.text = f"Computing the {METHODS[name]} map of {len(vectors):,} images…"
        try:
            placed = await run.io_bound(map_points, vectors, groups, name, store)
        except ImportError as exc:  # UMAP comes from the umap-learn package
            note.text = f"{METHODS[name]} is not available here ({exc.name} is not installed)."
            return
        finally:
            method.enable()
        keep = placed.keep
        note.text = (f"{METHODS[name]} of {len(vectors):,} images · hover a point to see the image; "
                     "scroll to zoom, drag to move")
        if placed.every is not None:
            note.text = (f"{METHODS[name]} of {len(vectors):,} images, all drawn · fitted on a random "
                         f"{len(keep):,} of them, which show their image on hover · scroll to zoom, "
                         "drag to move")
        elif len(keep) < len(vectors):
            note.text += f" · fitted on and showing a random {len(keep):,} of them"
        view.update(points=placed.points, keep=keep, every=placed.every)
        recolour(view["by"])

    method.on_value_change(lambda e: draw(e.value))
    await draw("pca")


@viewer("embeddings", "Map", order=20)
async def embeddings_map(embeddings: Any, ctx: ViewerContext) -> None:
    labels = np.asarray(embeddings.images.labels, dtype=str)
    await show_map(embeddings.vectors, embeddings.images, labels, sorted(set(labels.tolist())), "Label", ctx)


@viewer("labels", "Map", order=20)
async def labels_map(labelling: Any, ctx: ViewerContext) -> None:
    embeddings = ctx.upstream("embeddings")
    vectors = aligned_vectors(embeddings, labelling.images) if embeddings is not None else None
    if vectors is None:
        ui.label("No embeddings of these images upstream, so there is nothing to place them by.") \
            .classes("text-sm text-gray-600")
        return
    labels = np.asarray(labelling.labels, dtype=str)
    present = set(labels.tolist())
    order = [c for c in labelling.classes if c in present] + sorted(present - set(labelling.classes))
    title = "Cluster" if labelling.kind == "cluster" else labelling.kind.capitalize()
    await show_map(vectors, labelling.images, labels, order, title, ctx)


def aligned_vectors(embeddings: Any, images: Any) -> np.ndarray | None:
    """The embedding of each of ``images`` (matched by path), or None if some are missing."""
    row = {p: i for i, p in enumerate(embeddings.images.paths.tolist())}
    index = [row.get(p) for p in images.paths.tolist()]
    if any(i is None for i in index):
        return None
    return embeddings.vectors[np.asarray(index, dtype=np.int64)]


VIEWERS = [embeddings_map, labels_map, viewer("embeddings", "Table", order=90)(show_as_table)]
