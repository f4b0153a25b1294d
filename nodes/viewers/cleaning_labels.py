"""Find Label Issues' ranking as a queue: decide each suspect label, most suspect first.

Flagged images come first, then the rest by score. Each shows its given label, the
suggested one and the score; Accept the suggestion, Keep the label, or choose another.
A decision is one row in the label file the Label Overrides node upstream reads (as the
confusion matrix's corrections are, :func:`nodes.viewers.classification.correction_file`);
"Keep" writes the given label, so the image is decided and is not asked about again.
Decided images leave the queue (an image is decided when the label file names it, by
content hash or path); the keys A and K accept or keep the first one's. Retrain re-runs
the workflow with the decisions. A tab whose queue is behind the file (another tab decided
meanwhile) takes those decisions in and shows them before it writes anything, so a
decision is never undone by a click on a card that was already decided; that check and the
write hold the file's lock, so another canvas or process deciding at once loses nothing.
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

from .classification import correction_bar, correction_file, or_said, read_decisions, save_decision

SHOWN = 8  # the head of the queue shown at a time; a decided image makes room for the next


def queue_order(issues: Any) -> np.ndarray:
    """Flagged images first, each part most suspect first."""
    score = np.nan_to_num(np.asarray(issues.score, dtype=float), nan=-1.0)
    return np.lexsort((-score, ~np.asarray(issues.flagged, dtype=bool)))


def decided(issues: Any, path: Path | None) -> np.ndarray:
    """Which images the label file already names (a decision, or an earlier correction)."""
    from nodes.lib.classify.label_overrides import read_label_file

    images = issues.images
    found = np.zeros(len(images), dtype=bool)
    if path is None or not path.is_file():
        return found
    table = read_label_file(path)
    hashes = set(table.loc[table["sha256"] != "", "sha256"])
    paths = {os.path.normpath(p) for p in table.loc[table["sha256"] == "", "path"] if p}
    found |= np.isin(images.hashes.astype(str), list(hashes))
    if paths:
        found |= np.array([os.path.normpath(r) in paths or os.path.normpath(p) in paths
                           for r, p in zip(images.relpaths, images.paths.tolist())])
    return found


def progress(issues: Any, done: np.ndarray) -> str:
    flagged = np.asarray(issues.flagged, dtype=bool)
    return (f"{int(done.sum()):,} decided · {int((flagged & ~done).sum()):,} flagged left · "
            f"{int((~done).sum()):,} of {len(issues):,} labelled images in the queue")


@viewer("label_issues", "Queue", order=10)
def label_queue(issues: Any, ctx: ViewerContext) -> None:
    if not len(issues):
        ui.label("No labelled images to check.").classes("text-sm text-gray-600")
        return
    box = ui.column().classes("w-full gap-1")

    def draw() -> None:
        box.clear()
        with box:
            queue(issues, ctx, draw)

    draw()


def queue(issues: Any, ctx: ViewerContext, redraw: Callable[[], None]) -> None:
    path, reason = correction_file(ctx)
    done, unreadable = read_decisions(lambda: decided(issues, path), np.zeros(len(issues), dtype=bool))
    if unreadable:
        path, reason = None, unreadable
    order = queue_order(issues)
    with ui.row().classes("items-baseline gap-3"):
        counter = ui.label(progress(issues, done)).classes("text-sm font-medium fc-queue-progress")
        ui.label("Most suspect first: is each image's label right? Keys: A accepts the first "
                 "suggestion, K keeps its label.").classes("text-xs text-gray-500")
    correction_bar(ctx, path, reason, redraw)
    cards = ui.row().classes("gap-3 w-full fc-label-queue")
    classes = list(dict.fromkeys([*issues.classes, *issues.suggested.tolist()]))

    def in_step() -> bool:
        """Whether this tab's queue is the file's (only reads: asked under the file's lock, off
        the event loop)."""
        return not (decided(issues, path) & ~done).any()

    def caught_up() -> bool:
        """Whether this tab's queue is the file's: decisions written meanwhile (another tab, a
        program) are taken in and shown instead, so none is undone unseen."""
        news = decided(issues, path) & ~done
        if not news.any():
            return True
        done[news] = True
        ctx.refresh()  # Label Overrides turns stale here too: its file changed
        ui.notify(f"{int(news.sum()):,} image(s) of this queue were decided meanwhile, in another tab or "
                  f"program: the queue now shows what {path.name} holds; nothing was changed.", type="warning")
        counter.text = progress(issues, done)
        show()
        return False

    in_turn = asyncio.Lock()  # decisions saved one after another, as they were clicked

    async def decide(i: int, label: str) -> None:
        async with in_turn:  # else a quick second click's save, off the event loop, finds
            await decided_now(i, label)  # the first's row in the file, not yet in `done`

    async def decided_now(i: int, label: str) -> None:
        from nodes.lib.classify.label_overrides import set_label

        images = issues.images
        if path is None:
            return
        written = await save_decision(  # in step, asked under the file's lock
            lambda: set_label(path, str(images.hashes[i]), images.relpath(i), label, still=in_step))
        if written is False:
            caught_up()  # the queue now shows what the file holds
        if not written:
            return
        done[images.hashes == images.hashes[i]] = True  # byte copies share the row
        # said before the card (whose button called this) is redrawn away
        ui.notify(f"{shown(os.path.basename(images.paths[i]))}: '{shown(label)}' (saved in {shown(path.name)}); "
                  "retrain to use it.",
                  type="positive")
        ctx.refresh()  # Label Overrides turns stale: its file changed
        counter.text = progress(issues, done)
        show()

    async def by_key(e: Any) -> None:
        """A accepts the first image's suggestion, K keeps its label: the queue without the mouse."""
        key = str(e.key).lower()
        if path is None or not e.action.keydown or e.action.repeat or e.modifiers.ctrl or e.modifiers.alt \
                or e.modifiers.meta or key not in ("a", "k") or done.all() or not or_said(caught_up):
            return
        i = int(order[~done[order]][0])
        given, suggested = str(issues.images.labels[i]), str(issues.suggested[i])
        if key == "k" or suggested != given:
            await decide(i, suggested if key == "a" else given)

    ui.keyboard(on_key=by_key)  # not while typing in a field (the default ignore list)

    def show() -> None:
        cards.clear()
        head = [int(i) for i in order[~done[order]][:SHOWN]]
        with cards:
            if not head:
                ui.label("Every labelled image is decided.").classes("text-sm text-green-800 fc-queue-empty")
            for i in head:
                card(issues, i, classes, ctx, decide, path is not None,
                     enlarge=lambda i, head=head: enlarge(gallery_of_images(issues.images), i, ctx, head))

    show()


def card(issues: Any, i: int, classes: list[str], ctx: ViewerContext, decide: Callable[[int, str], Awaitable[None]],
         can_decide: bool, enlarge: Callable[[int], None]) -> None:
    """The image beside its labels and the three ways to decide (short: a laptop's panel is low);
    clicking the picture shows it larger."""
    images = issues.images
    given, suggested = str(images.labels[i]), str(issues.suggested[i])
    with ui.card().tight().classes("w-[21rem] fc-queue-item").mark(f"queue-{i}"), \
            ui.row().classes("w-full gap-2 no-wrap items-start"):
        ui.image(ctx.image_url(images.paths[i], images.hashes[i])).classes("w-24 h-24 shrink-0 cursor-pointer") \
            .props("fit=contain no-spinner no-transition").on("click", lambda: enlarge(i)) \
            .mark(f"picture-{i}")
        with ui.column().classes("gap-0 p-1 text-xs min-w-0 grow"):
            ui.label(shown(os.path.basename(images.paths[i]))).classes("truncate w-full fc-queue-name") \
                .tooltip(shown(images.paths[i]))
            ui.label(f"labelled {shown(given)} · suggested {shown(suggested)}").classes("font-medium fc-queue-labels")
            ui.label(f"score {issues.score[i]:.3f}" + (" · flagged" if issues.flagged[i] else "")) \
                .classes("text-red-700" if issues.flagged[i] else "text-gray-600")
            with ui.row().classes("gap-1 items-center no-wrap pt-1"):
                buttons = []
                if suggested != given:
                    buttons.append(ui.button(f"Accept {shown(suggested)}", on_click=lambda: decide(i, suggested))
                                   .props("dense no-caps size=sm color=primary").mark(f"accept-{i}"))
                buttons.append(ui.button(f"Keep {shown(given)}", on_click=lambda: decide(i, given))
                               .props("dense no-caps size=sm outline").mark(f"keep-label-{i}"))
                select = ui.select({c: shown(c) for c in classes if c != given}, label="Other",
                                   on_change=lambda e: decide(i, e.value) if e.value else None) \
                    .props("dense options-dense").classes("w-20").mark(f"choose-{i}")
            if not can_decide:
                for element in (*buttons, select):
                    element.disable()


VIEWERS = [label_queue]
