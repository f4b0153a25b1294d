"""Images as thumbnails, grouped by label or cluster, and the report of skipped files.

The grid shows one page of thumbnails at a time (lazy-loaded ``<img>`` tags in one HTML
block, not one element per image), so a 10,000-image folder stays smooth; thumbnails
come from the app's image route, scaled once and cached on disk. Within a group the
surest members come first (highest score: silhouette for clusters, confidence for
predictions). Click a thumbnail to see the image larger.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
from nicegui import ui

from .dialog import page_dialog
from . import ViewerContext, viewer
from .colors import group_colors
from .names import shown
from .tables import show_as_table, show_table

PER_PAGE = 60
ALL = "\0all"


@dataclass(frozen=True)
class Gallery:
    """What the grid shows: images, their group and score, and the groups' order."""

    paths: Sequence[str]
    hashes: Sequence[str]
    groups: np.ndarray  # str per image; "" for none
    scores: np.ndarray | None
    order: tuple[str, ...]  # group names, in display order
    group_title: str
    #: a caption under each thumbnail besides its name: the folder label of clustered images
    captions: np.ndarray | None = None

    def members(self, group: str) -> np.ndarray:
        """Indices of a group's images (ALL: every image, group by group), surest first."""
        if group == ALL:
            parts = [self.members(g) for g in self.order]
            return np.concatenate(parts) if parts else np.array([], dtype=np.int64)
        index = np.flatnonzero(self.groups == group)
        if self.scores is None:
            return index
        keys = np.nan_to_num(self.scores[index], nan=-np.inf)
        return index[np.argsort(-keys, kind="stable")]

    def counts(self) -> dict[str, int]:
        names, sizes = np.unique(self.groups, return_counts=True)
        found = dict(zip(names.tolist(), sizes.tolist()))
        return {g: int(found.get(g, 0)) for g in self.order}


def gallery_of_images(images: Any) -> Gallery:
    labels = np.asarray(images.labels, dtype=str)
    order = tuple(sorted(set(labels.tolist())))
    return Gallery(list(images.paths), list(images.hashes), labels, None, order, "Label")


def gallery_of_labelling(labelling: Any) -> Gallery:
    labels = np.asarray(labelling.labels, dtype=str)
    present = set(labels.tolist())
    order = [c for c in labelling.classes if c in present]
    order += sorted(present - set(order), key=lambda g: -int(np.sum(labels == g)))
    title = "Cluster" if labelling.kind == "cluster" else labelling.kind.capitalize()
    folders = np.asarray(labelling.images.labels, dtype=str)
    captions = folders if np.any(folders != "") else None  # "did the clusters find the categories?"
    return Gallery(list(labelling.images.paths), list(labelling.images.hashes), labels,
                   np.asarray(labelling.scores, dtype=float), tuple(order), title, captions)


def grid_html(gallery: Gallery, indices: Sequence[int], ctx: ViewerContext, headed: bool) -> str:
    """One page of thumbnails; with ``headed``, a heading wherever the group changes."""
    colors = group_colors(gallery.order)
    parts, current = [], None
    for i in indices:
        group = gallery.groups[i]
        if headed and group != current:
            if current is not None:
                parts.append("</div>")
            count = int(np.sum(gallery.groups == group))
            name = html.escape(shown(group) or "(no label)")
            parts.append(f'<div class="fc-group-head" style="border-left: 4px solid {colors.get(group, "#999")};'
                         f' padding-left: 6px; margin: 8px 0 4px; font-weight: 600">{name}'
                         f' <span style="font-weight: 400; color: #64748b">{count} images</span></div>'
                         '<div class="fc-thumb-grid">')
            current = group
        elif not headed and current is None:
            parts.append('<div class="fc-thumb-grid">')
            current = group
        name = shown(os.path.basename(gallery.paths[i]))
        tip = name + (f" · {shown(group)}" if group else "")
        caption = shown(gallery.captions[i]) if gallery.captions is not None else ""
        if caption:
            tip += f" · folder label {caption}"
        if gallery.scores is not None and np.isfinite(gallery.scores[i]):
            tip += f" · score {gallery.scores[i]:.2f}"
        url = ctx.image_url(gallery.paths[i], gallery.hashes[i])
        label = (f'<span class="fc-caption" data-i="{i}" style="color: #334155; font-weight: 600">'
                 f'{html.escape(caption)}</span>') if caption else ""
        parts.append(f'<div class="fc-thumb" data-i="{i}" title="{html.escape(tip)}">'
                     f'<img loading="lazy" src="{html.escape(url)}" alt="" data-i="{i}">'
                     f'{label}<span data-i="{i}">{html.escape(name)}</span></div>')
    if current is not None:
        parts.append("</div>")
    return "".join(parts)


def show_gallery(gallery: Gallery, ctx: ViewerContext) -> None:
    counts = gallery.counts()
    options = {ALL: f"All groups ({len(gallery.paths):,} images)"} if len(counts) > 1 else {}
    options.update({g: f"{g or '(no label)'} ({n:,})" for g, n in counts.items()})
    first = next(iter(options))
    view = {"group": first, "page": 1}
    with ui.row().classes("items-center gap-3 w-full"):
        ui.select(options, value=first, label=gallery.group_title,
                  on_change=lambda e: pick(e.value)).props("dense options-dense").classes("min-w-[14rem]")
        ui.label("Click an image to see it larger.").classes("text-xs text-gray-500")
    grid = ui.html("", sanitize=False).classes("w-full fc-gallery")
    pager = ui.pagination(1, 1, direction_links=True, on_change=lambda e: turn(e.value)) \
        .props("max-pages=9 boundary-numbers")

    ordered: dict[str, np.ndarray] = {}  # each group's images in order, sorted once, not per page

    def members() -> np.ndarray:
        if view["group"] not in ordered:
            ordered[view["group"]] = gallery.members(view["group"])
        return ordered[view["group"]]

    def render() -> None:
        index = members()
        start = (view["page"] - 1) * PER_PAGE
        grid.content = grid_html(gallery, index[start:start + PER_PAGE], ctx,
                                 headed=view["group"] == ALL and len(counts) > 1)

    def pick(group: str) -> None:
        view.update(group=group, page=1)
        pages = max(1, -(-len(members()) // PER_PAGE))
        pager.max = pages
        pager.value = 1
        pager.set_visibility(pages > 1)
        render()

    def turn(page: int) -> None:
        if page != view["page"]:
            view["page"] = page
            render()

    grid.on("click", lambda e: enlarge(gallery, e.args, ctx, members()),
            js_handler="(e) => { const i = e.target.dataset.i; if (i !== undefined) emit(Number(i)); }")
    pick(first)


def enlarge(gallery: Gallery, index: Any, ctx: ViewerContext, order: Sequence[int] | None = None) -> None:
    """Show image ``index`` larger; previous/next (buttons, or the arrow keys) walk ``order``,
    the images as the grid lists them."""
    if not isinstance(index, int) or not 0 <= index < len(gallery.paths):
        return
    order = [int(i) for i in order] if order is not None else list(range(len(gallery.paths)))
    if index not in order:
        order = [index]
    at = {"i": order.index(index)}
    with page_dialog() as dialog, ui.card().classes("max-w-[90vw] items-center fc-enlarged"):
        body = ui.column().classes("items-center gap-1")
        with ui.row().classes("w-full items-center gap-1"):
            ui.button(icon="chevron_left", on_click=lambda: step(-1)).props("flat round dense") \
                .mark("enlarged-previous").tooltip("Previous image (←)")
            position = ui.label().classes("text-xs text-gray-500 fc-enlarged-position")
            ui.button(icon="chevron_right", on_click=lambda: step(1)).props("flat round dense") \
                .mark("enlarged-next").tooltip("Next image (→)")
            ui.space()
            ui.button("Close", on_click=dialog.close).props("flat")
        ui.keyboard(on_key=lambda e: step(-1 if e.key.arrow_left else 1)
                    if e.action.keydown and (e.key.arrow_left or e.key.arrow_right) else None)

    def draw() -> None:
        i = order[at["i"]]
        position.text = f"{at['i'] + 1} of {len(order):,}"
        body.clear()
        with body:
            ui.image(ctx.image_url(gallery.paths[i], gallery.hashes[i], size=1024)) \
                .classes("w-[36rem] max-w-full").props("fit=contain no-transition")
            ui.label(shown(gallery.paths[i])).classes("text-xs font-mono break-all fc-enlarged-path")
            details = []
            if gallery.groups[i]:
                details.append(f"{gallery.group_title}: {shown(gallery.groups[i])}")
            if gallery.captions is not None and gallery.captions[i]:
                details.append(f"folder label: {shown(gallery.captions[i])}")
            if gallery.scores is not None and np.isfinite(gallery.scores[i]):
                details.append(f"score {gallery.scores[i]:.3f}")
            if details:
                ui.label(" · ".join(details)).classes("text-sm")

    def step(by: int) -> None:
        at["i"] = (at["i"] + by) % len(order)
        draw()

    draw()
    dialog.on("hide", dialog.delete)
    dialog.open()


@viewer("images", "Images", order=10)
def images_grid(images: Any, ctx: ViewerContext) -> None:
    show_gallery(gallery_of_images(images), ctx)


@viewer("labels", "Images", order=10)
def labels_grid(labelling: Any, ctx: ViewerContext) -> None:
    show_gallery(gallery_of_labelling(labelling), ctx)


def is_skipped_report(table: Any) -> bool:
    return isinstance(table, pd.DataFrame) and list(table.columns) == ["path", "reason"]


@viewer("table", "Skipped files", applies=is_skipped_report, order=10)
def skipped_files(table: pd.DataFrame, ctx: ViewerContext) -> None:
    if table.empty:
        ui.label("No files were skipped.").classes("text-sm text-green-800 fc-skipped-none")
        return
    reasons = table["reason"].value_counts()
    ui.label(f"{len(table):,} file(s) were not used:").classes("text-sm font-medium")
    for reason, count in reasons.items():
        ui.label(f"{count:,} × {reason}").classes("text-sm text-gray-700 ml-2")
    show_table(table, ctx, caption="Every skipped file and why")


VIEWERS = [
    images_grid, labels_grid, skipped_files,
    viewer("images", "Table", order=90)(show_as_table),
    viewer("labels", "Table", order=90)(show_as_table),
]
