"""Find Duplicates' groups side by side, the kept image marked; "Keep this" keeps another.

A choice is one row in the kept-copies file the node reads (``duplicates-keep.csv`` beside
the workflow, see :mod:`nodes.lib.cleaning.kept_copies`), so a headless re-run of the saved
workflow keeps the same images and its cleaned copy holds them. The marks shown are the
last run's, with the file's choices over them: what the next run will keep. A tab whose marks
are behind the file (another tab chose meanwhile) shows the file's before it writes anything.
The user's images are never touched; nothing is written into FlowClass's installed workflows.
A page shows a few groups at a time: a collection may have thousands.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, Awaitable, Callable

import numpy as np
from nicegui import ui

from flowclass.viewers import ViewerContext, viewer
from flowclass.viewers.names import shown
from flowclass.viewers.images import enlarge, gallery_of_images

from .classification import offer_to_adopt, read_decisions, save_decision, where_decisions_go

GROUPS_PER_PAGE = 12
KEEP_PARAM = "keep_file"  # Find Duplicates' parameter naming the kept-copies file
KEPT_STYLE = "border: 3px solid #16a34a"
OTHER_STYLE = "border: 3px solid transparent"


def keep_file(ctx: ViewerContext) -> tuple[Path | None, str]:
    """The kept-copies file this node reads on its next run, or None and what to do first
    ("save": the workflow has no file yet, and choices are kept beside it)."""
    if ctx.workflow_path() is None:
        return None, "save"
    path = ctx.input_path(ctx.node_id, KEEP_PARAM)
    if path is None:
        return None, f"To choose which copy to keep, type a kept-copies file into {ctx.field_title(ctx.node_id, KEEP_PARAM)}."
    if ctx.installed(path):
        return None, (f"Find Duplicates reads {path}, a file of FlowClass's installed workflows; "
                      "save the workflow as your own to choose which copy to keep.")
    refused = ctx.stranger_file(path, ctx.node_id, KEEP_PARAM)
    return (None, refused) if refused else (path, "")


def marks(groups: Any, path: Path | None) -> np.ndarray:
    """Which row of each group is kept: the run's choice, with the file's choices over it (the
    last row naming an image of a group wins, as the node decides)."""
    from nodes.lib.cleaning.kept_copies import chosen, read_keep_file

    keep = np.asarray(groups.keep, dtype=bool).copy()
    if path is None or not path.is_file():
        return keep
    # matched among the groups' images only: a whole collection's paths cost a second per draw
    choices, _ = chosen(groups.images.subset(groups.index), read_keep_file(path))
    best: dict[int, tuple[int, int]] = {}  # group -> (file row, groups row)
    for row, order in choices.items():
        group = int(groups.group[row])
        if group not in best or order > best[group][0]:
            best[group] = (order, row)
    for group, (_, row) in best.items():
        keep[groups.group == group] = False
        keep[row] = True
    return keep


def record_choice(groups: Any, row: int, path: Path, still: Callable[[], bool] = lambda: True) -> bool:
    """Write that ``row``'s image is the kept one of its group (unless ``still()`` says the view
    is behind the file). An image whose bytes another member shares is named by its path
    alone, so the choice tells the two apart."""
    from nodes.lib.cleaning.kept_copies import set_kept

    images = groups.images
    members = np.flatnonzero(groups.group == groups.group[row])
    image = int(groups.index[row])
    hashes = [str(images.hashes[groups.index[r]]) for r in members]
    sha = str(images.hashes[image])
    named = "" if hashes.count(sha) > 1 else sha
    others = [(str(images.hashes[groups.index[r]]), images.relpath(int(groups.index[r]))) for r in members if r != row]
    return set_kept(path, named, images.relpath(image), others, still=still)


def choice_bar(ctx: ViewerContext, path: Path | None, reason: str, redraw: Callable[[], None]) -> None:
    """Where choices go and the re-run that applies them; or Save (inline), or why not."""
    with ui.row().classes("items-center gap-2"):
        if path is not None:
            ui.label(f"Choices go to {where_decisions_go(path, ctx)}.").classes("text-xs text-gray-500") \
                .tooltip(str(path))
            ui.button("Re-run with these choices", icon="replay", on_click=ctx.run_downstream) \
                .props("flat dense no-caps").mark("rerun-duplicates")
        elif reason == "save" and ctx.save is not None:
            async def save() -> None:
                if await ctx.save() is not None:
                    redraw()

            ui.label("Which copy to keep is saved in a file beside the workflow.").classes("text-xs text-gray-600")
            ui.button("Save to choose copies", icon="save", on_click=save) \
                .props("dense no-caps color=primary").mark("save-to-choose")
        else:
            ui.label("Save the workflow to choose which copy to keep." if reason == "save" else reason) \
                .classes("text-xs text-amber-800")
            offer_to_adopt(ctx, ctx.node_id, KEEP_PARAM, redraw)


def summary(groups: Any, keep: np.ndarray) -> str:
    exact = int(np.sum(groups.kind == "exact"))
    return (f"{groups.groups:,} group{'' if groups.groups == 1 else 's'} of copies · {len(groups):,} images ({exact:,} exact, "
            f"{len(groups) - exact:,} near) · {int(np.sum(~keep)):,} left out of the cleaned copy")


@viewer("duplicates", "Groups", order=10)
def duplicate_groups(groups: Any, ctx: ViewerContext) -> None:
    if not len(groups):
        ui.label("No copies found: every image is unlike the others.").classes("text-sm text-green-800")
        return
    box = ui.column().classes("w-full gap-1")

    def draw() -> None:
        box.clear()
        with box:
            group_pages(groups, ctx, draw)

    draw()


def group_pages(groups: Any, ctx: ViewerContext, redraw: Callable[[], None]) -> None:
    path, reason = keep_file(ctx)
    keep, unreadable = read_decisions(lambda: marks(groups, path), np.asarray(groups.keep, dtype=bool).copy())
    if unreadable:
        path, reason = None, unreadable
    starts = np.flatnonzero(np.r_[True, groups.group[1:] != groups.group[:-1]])  # rows are sorted by group
    ends = np.r_[starts[1:], len(groups)]
    pages = -(-len(starts) // GROUPS_PER_PAGE)
    # one line above the groups where the window allows: on a laptop's 1280x720 window the
    # results panel is some 200 px high, and the groups are what the user came to see
    with ui.row().classes("items-center gap-x-3 gap-y-0"):
        heading = ui.label(summary(groups, keep)).classes("text-sm font-medium fc-duplicates-summary") \
            .tooltip("The image in the green frame is kept.")
        pager = ui.pagination(1, pages, direction_links=True, on_change=lambda e: show(e.value)) \
            .props("max-pages=9 boundary-numbers dense").mark("duplicate-pages")
        pager.set_visibility(pages > 1)
        choice_bar(ctx, path, reason, redraw)
    body = ui.column().classes("w-full gap-2 fc-duplicate-groups")

    def in_step() -> bool:
        """Whether the marks shown are the file's (only reads: asked under the file's lock, off
        the event loop)."""
        return bool(np.array_equal(marks(groups, path), keep))

    def caught_up() -> bool:
        """Whether the marks shown are the file's: choices written meanwhile (another tab, a
        program) are shown instead, so none is undone by a click on a view behind them."""
        fresh = marks(groups, path)
        if np.array_equal(fresh, keep):
            return True
        keep[:] = fresh
        ui.notify(f"Copies to keep were chosen meanwhile, in another tab or program: the groups now show "
                  f"what {path.name} holds; nothing was changed.", type="warning")
        ctx.refresh()  # Find Duplicates turns stale here too: its file changed
        heading.text = summary(groups, keep)
        show(pager.value)
        return False

    in_turn = asyncio.Lock()  # choices saved one after another, as they were clicked

    async def choose(row: int) -> None:
        async with in_turn:  # else a quick second click's save, off the event loop, finds the
            await chosen_now(row)  # first's mark in the file, not yet in `keep`, and is dropped

    async def chosen_now(row: int) -> None:
        if path is None:
            return
        written = await save_decision(lambda: record_choice(groups, row, path, still=in_step))
        if written is False:  # in step, asked under the file's lock
            caught_up()  # the groups now show what the file holds
        if not written:
            return
        members = groups.group == groups.group[row]
        keep[members] = False
        keep[row] = True
        # said before the card (whose button called this) is redrawn away
        ui.notify(f"{os.path.basename(groups.images.paths[groups.index[row]])} is kept of group "
                  f"{groups.group[row]} (saved in {path.name}); re-run to update the cleaned copy.",
                  type="positive")
        ctx.refresh()  # Find Duplicates turns stale: its file changed
        heading.text = summary(groups, keep)
        show(pager.value)

    def show(page: int) -> None:
        body.clear()
        with body:
            for start, end in zip(starts[(page - 1) * GROUPS_PER_PAGE:page * GROUPS_PER_PAGE],
                                  ends[(page - 1) * GROUPS_PER_PAGE:page * GROUPS_PER_PAGE]):
                group_row(groups, range(int(start), int(end)), keep, ctx, choose, path is not None)

    show(1)


def group_row(groups: Any, rows: range, keep: np.ndarray, ctx: ViewerContext,
              choose: Callable[[int], Awaitable[None]], can_choose: bool) -> None:
    images = groups.images
    kinds = sorted(set(groups.kind[rows.start:rows.stop].tolist()))
    number = int(groups.group[rows.start])
    with ui.column().classes("w-full gap-1 fc-duplicate-group").mark(f"group-{number}"):
        ui.label(f"Group {number} · {len(rows)} images · {' and '.join(kinds)} "
                 f"cop{'ies' if len(rows) > 2 else 'y'}").classes("text-xs font-semibold text-gray-700")
        with ui.row().classes("gap-2"):
            for row in rows:
                copy_card(groups, row, bool(keep[row]), ctx, choose, can_choose, enlarge=lambda i: enlarge(
                    gallery_of_images(images), i, ctx, [int(groups.index[r]) for r in rows]))


def copy_card(groups: Any, row: int, kept: bool, ctx: ViewerContext, choose: Callable[[int], Awaitable[None]],
              can_choose: bool, enlarge: Callable[[int], None]) -> None:
    """One image of a group: its label (the folder the cleaned copy puts it in), size and kind;
    the kept one framed, the others with Keep this. Clicking the picture shows it larger."""
    images = groups.images
    i = int(groups.index[row])
    with ui.card().tight().classes("w-36 fc-duplicate" + (" fc-kept" if kept else "")) \
            .style(KEPT_STYLE if kept else OTHER_STYLE):
        ui.image(ctx.image_url(images.paths[i], images.hashes[i])).classes("w-36 h-28 cursor-pointer") \
            .props("fit=contain no-spinner no-transition").on("click", lambda: enlarge(i)) \
            .mark(f"picture-{i}")
        with ui.card_section().classes("p-1 text-xs w-full"):
            ui.label(shown(os.path.basename(images.paths[i]))).classes("truncate fc-duplicate-name") \
                .tooltip(shown(images.paths[i]))
            ui.label(f"label {shown(images.labels[i]) or '(none)'} · {images.widths[i]}×{images.heights[i]}") \
                .classes("text-gray-600 truncate")
            with ui.row().classes("items-center gap-1 justify-between w-full"):
                ui.label(str(groups.kind[row])).classes("text-gray-600")
                if kept:
                    ui.badge("Kept", color="positive").mark(f"kept-{i}")
                else:
                    ui.button("Keep this", on_click=lambda: choose(row)) \
                        .props("flat dense no-caps size=sm color=primary") \
                        .mark(f"keep-{i}").set_enabled(can_choose)


VIEWERS = [duplicate_groups]
