"""Evaluations and classifiers: the confusion matrix, its images, and correcting labels.

The loop Lobe and Teachable Machine users love: click a cell of the confusion matrix to
see its images, give a wrongly labelled image its right label, retrain. A correction is
one row in the label file the Label Overrides node upstream reads (``label-overrides.csv``
beside the workflow by default; keyed by the image's content hash, see
:mod:`nodes.lib.classify.label_overrides`); the user's images are never moved, and nothing is
written into FlowClass's installed workflows. An unsaved workflow offers Save inline.
As in the cleaning views, a view whose images are behind the file (corrected meanwhile in
another tab or program) takes those corrections in and shows them before it writes
anything, so an older screen never undoes a correction unseen; that check and the write hold
the file's lock.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

import numpy as np
from nicegui import run, ui

from flowclass.errors import NodeError
from flowclass.viewers import ViewerContext, viewer
from flowclass.viewers.names import shown
from flowclass.viewers.tables import show_as_table, show_table

T = TypeVar("T")

MAX_MATRIX = 30  # more classes than this: the matrix is shown as a table
MAX_IMAGES = 60  # thumbnails shown for one cell or list at a time
OVERRIDES_FILE = "label-overrides.csv"  # the Label Overrides node's default file


def cell_color(count: int, row_total: int, diagonal: bool) -> str:
    """Green shades on the diagonal, red off it, stronger for a larger share of the row."""
    share = count / row_total if row_total else 0.0
    if count == 0:
        return "#f8fafc"
    alpha = 0.15 + 0.75 * share
    return f"rgba(22, 163, 74, {alpha:.2f})" if diagonal else f"rgba(220, 38, 38, {alpha:.2f})"


def correction_file(ctx: ViewerContext) -> tuple[Path | None, str]:
    """The file corrections go to, or None and what the user must do first.

    It is the file the nearest Label Overrides node feeding this one reads on the next
    run (its parameter resolved as the run resolves it), so a correction always reaches
    the retrained model. "save" means the workflow must be saved first.
    """
    node = ctx.upstream_node("label_overrides")
    if node is None:
        return None, ("To correct labels, add a Label Overrides node between Import Images "
                      "and Embed: corrections are kept in its label file.")
    if ctx.workflow_path() is None:
        return None, "save"
    path = ctx.input_path(node, "file")
    if path is None:
        return None, f"To correct labels, give Label Overrides ({node}) a label file."
    if ctx.installed(path):
        return None, (f"Label Overrides ({node}) reads {path}, a file of FlowClass's installed "
                      f"workflows; point it at a file of yours (e.g. {OVERRIDES_FILE}) to correct labels.")
    refused = ctx.stranger_file(path, node, "file")
    return (None, refused) if refused else (path, "")


def offer_to_adopt(ctx: ViewerContext, node_id: str | None, name: str, redraw: Callable[[], None]) -> None:
    """*Write to this file*, where the workflow file named a decisions file FlowClass does not
    write unasked (:meth:`ViewerContext.stranger_file`): the user takes it as their own."""
    if ctx.adopt is None or node_id is None or ctx.workflow_path() is None:
        return
    path = ctx.input_path(node_id, name)
    if path is None or not ctx.stranger_file(path, node_id, name):
        return

    def adopt() -> None:
        ctx.adopt(node_id, name)
        redraw()

    ui.button("Write to this file", icon="edit_document", on_click=adopt).props("flat dense no-caps") \
        .tooltip(str(path)).mark("adopt-decisions-file")


def or_said(call: Callable[[], T]) -> T | None:
    """``call()``'s answer, or None when a decisions file beside the workflow could not be read
    or written (it became a folder or unreadable, a full disk): said on the page, which goes on."""
    try:
        return call()
    except (NodeError, OSError) as exc:
        ui.notify(f"Not saved: {exc}", type="negative")
        return None


async def save_decision(write: Callable[[], T]) -> T | None:
    """``write()``'s answer, or None when it failed (said, as :func:`or_said` says it). It runs
    off the event loop: a write waits for the file's edit lock while another process holds it
    (up to its bounded wait), and every tab of the server must go on meanwhile. ``write`` must
    therefore touch no element; it asks the view only through functions that read."""
    try:
        return await run.io_bound(write)  # None too when the server stops meanwhile
    except (NodeError, OSError) as exc:
        ui.notify(f"Not saved: {exc}", type="negative")
        return None


def read_decisions(read: Callable[[], T], fallback: T) -> tuple[T, str]:
    """``read()`` and "", or ``fallback`` and why no decision can be saved now: a decisions
    file that cannot be read (another encoding, a stranger's) is said, never written over."""
    try:
        return read(), ""
    except (NodeError, OSError) as exc:
        hint = f" ({exc.hint})" if getattr(exc, "hint", None) else ""
        return fallback, f"{exc}{hint}. Nothing is saved into it until it can be read."


def file_labels(images: Any, shown: Sequence[int], path: Path | None) -> dict[int, str]:
    """The label the file gives each of the ``shown`` images it names (by content hash, or by
    path in a row without one; its last row wins, as Label Overrides reads it)."""
    from nodes.lib.classify.label_overrides import read_label_file

    if path is None:
        return {}
    by_sha: dict[str, list[int]] = {}
    by_path: dict[str, int] = {}
    for i in shown:
        by_sha.setdefault(str(images.hashes[i]), []).append(i)
        by_path[os.path.normpath(images.relpath(i))] = by_path[os.path.normpath(str(images.paths[i]))] = i
    found: dict[int, str] = {}
    table = read_label_file(path)
    for sha, named, label in zip(table["sha256"], table["path"], table["label"]):
        at = by_path.get(os.path.normpath(named)) if named and not sha else None
        for i in by_sha.get(sha, []) if sha else ([] if at is None else [at]):
            found[i] = label
    return found


class Corrections:
    """What one view knows of the label file (its shown images' labels there), and the
    corrections it saves, one after another as they were chosen (each save runs off the event
    loop: a quick second choice could else be written first)."""

    def __init__(self, evaluation: Any, shown: Sequence[int], ctx: ViewerContext):
        self.images, self.shown, self.ctx = evaluation.predictions.images, list(shown), ctx
        self.path, _ = correction_file(ctx)
        self.seen, _ = read_decisions(lambda: file_labels(self.images, self.shown, self.path), {})
        self.in_turn = asyncio.Lock()

    def label(self, i: int) -> str:
        """Image ``i``'s label as the file gives it, else as the evaluation had it."""
        return self.seen.get(i, str(self.images.labels[i]))

    def in_step(self) -> bool:
        """Whether this view shows what the file holds (only reads: asked under the lock, off the loop)."""
        return file_labels(self.images, self.shown, self.path) == self.seen

    async def relabel(self, index: int, label: str, redraw: Callable[[], None]) -> None:
        """Record image ``index``'s right label in the Label Overrides file; its node turns stale."""
        async with self.in_turn:
            await self._relabel_now(index, label, redraw)

    async def _relabel_now(self, index: int, label: str, redraw: Callable[[], None]) -> None:
        from nodes.lib.classify.label_overrides import set_label

        path, reason = correction_file(self.ctx)
        if path is None:
            ui.notify("Save the workflow first." if reason == "save" else reason, type="warning")
            return
        images = self.images
        written = await save_decision(lambda: set_label(path, str(images.hashes[index]), images.relpath(index),
                                                        label, still=self.in_step))
        if written is False:
            self._caught_up(path, redraw)
        if not written:
            return
        sha = str(images.hashes[index])
        self.seen.update({i: label for i in self.shown if i == index or sha and str(images.hashes[i]) == sha})
        self.ctx.refresh()
        ui.notify(f"{shown(os.path.basename(images.paths[index]))} is now '{shown(label)}' (saved in {shown(path.name)}); "
                  "retrain to use it.", type="positive")

    def _caught_up(self, path: Path, redraw: Callable[[], None]) -> None:
        """Corrections written meanwhile (another tab, a program) are taken in and shown instead."""
        found = or_said(lambda: file_labels(self.images, self.shown, path))
        if found is None:
            return
        changed = sum(found.get(i) != self.seen.get(i) for i in self.shown)
        self.seen = found
        self.ctx.refresh()  # Label Overrides turns stale here too: its file changed
        ui.notify(f"{changed:,} image(s) shown here were corrected meanwhile, in another tab or program: "
                  f"they now show what {path.name} holds; nothing was changed.", type="warning")
        redraw()


def where_decisions_go(path: Path, ctx: ViewerContext) -> str:
    """``name beside the workflow``, or the whole path where the file lies elsewhere (a shared
    workflow naming another folder's file, one kept by Save As into another folder)."""
    workflow = ctx.workflow_path()
    if workflow is not None and path.parent.resolve() == workflow.parent.resolve():
        return f"{path.name} beside the workflow"
    return f"{path}, not beside the workflow"


def correction_bar(ctx: ViewerContext, path: Path | None, reason: str, redraw: Callable[[], None]) -> None:
    """Where corrections go and Retrain; or Save (inline) or the reason they cannot be made."""
    with ui.row().classes("items-center gap-2"):
        if path is not None:
            ui.label(f"Corrections go to {where_decisions_go(path, ctx)}.").classes("text-xs text-gray-500") \
                .tooltip(str(path))
            ui.button("Retrain with corrections", icon="replay", on_click=lambda: ctx.run(None)) \
                .props("flat dense no-caps").mark("retrain")
        elif reason == "save" and ctx.save is not None:
            async def save() -> None:
                if await ctx.save() is not None:
                    redraw()

            ui.label("Corrections are kept in a label file beside the workflow.") \
                .classes("text-xs text-gray-600")
            ui.button("Save to enable corrections", icon="save", on_click=save) \
                .props("dense no-caps color=primary").mark("save-to-correct")
        else:
            ui.label("Save the workflow to correct labels." if reason == "save" else reason) \
                .classes("text-xs text-amber-800")
            offer_to_adopt(ctx, ctx.upstream_node("label_overrides"), "file", redraw)


def show_images(evaluation: Any, indices: Sequence[int], ctx: ViewerContext, title: str) -> None:
    """Thumbnails with true label, prediction, confidence, and a control to relabel each."""
    box = ui.column().classes("w-full gap-1")
    corrections = Corrections(evaluation, [int(i) for i in indices[:MAX_IMAGES]], ctx)  # across redraws

    def draw() -> None:
        box.clear()
        with box:
            image_cards(evaluation, indices, ctx, title, draw, corrections)

    draw()


def image_cards(evaluation: Any, indices: Sequence[int], ctx: ViewerContext, title: str,
                redraw: Callable[[], None], corrections: Corrections) -> None:
    predictions = evaluation.predictions
    images = predictions.images
    ui.label(f"{title}: {len(indices):,} image(s)"
             + (f", the first {MAX_IMAGES} shown" if len(indices) > MAX_IMAGES else "")) \
        .classes("text-sm font-medium")
    choices = list(dict.fromkeys([*evaluation.classes, *images.labels.tolist(), *corrections.seen.values()]))
    options = {choice: shown(choice) for choice in choices}
    path, reason = correction_file(ctx)
    correction_bar(ctx, path, reason, redraw)
    with ui.row().classes("gap-3 w-full fc-cell-images"):
        for i in indices[:MAX_IMAGES]:
            i = int(i)
            with ui.card().tight().classes("w-40 fc-cell-image"):
                ui.image(ctx.image_url(images.paths[i], images.hashes[i])).classes("w-40 h-40") \
                    .props("fit=contain")
                with ui.card_section().classes("p-1 text-xs"):
                    ui.label(shown(os.path.basename(images.paths[i]))).classes("truncate")
                    ui.label(f"predicted {shown(predictions.labels[i])} "
                             f"({predictions.scores[i]:.2f})").classes("text-gray-600")
                    select = ui.select(options, value=corrections.label(i), label="True label",
                                       on_change=lambda e, i=i: corrections.relabel(i, e.value, redraw)) \
                        .props("dense options-dense").classes("w-full").mark(f"relabel-{i}")
                    if path is None:
                        select.disable()


def show_matrix(evaluation: Any, on_cell: Callable[[str, str], None]) -> None:
    """The confusion matrix as a grid of buttons: true classes in rows, predictions in columns."""
    rows, columns = evaluation.classes, evaluation.predicted_classes
    totals = evaluation.confusion.sum(axis=1)
    ui.label("True label (rows) × predicted label (columns). Click a cell to see its images.") \
        .classes("text-xs text-gray-500")
    with ui.grid(columns=len(columns) + 1).classes("gap-0.5 fc-confusion"):
        ui.label("")
        for name in columns:
            ui.label(shown(name)).classes("text-xs font-semibold text-center truncate")
        for r, true in enumerate(rows):
            ui.label(shown(true)).classes("text-xs font-semibold truncate self-center")
            for c, predicted in enumerate(columns):
                count = int(evaluation.confusion[r, c])
                ui.button(str(count), on_click=lambda _, t=true, p=predicted: on_cell(t, p)) \
                    .props("flat dense no-caps").classes("min-w-[3rem] text-black") \
                    .style(f"background: {cell_color(count, int(totals[r]), true == predicted)}") \
                    .mark(f"cell-{r}-{c}")


def show_summary(evaluation: Any) -> None:
    summary = evaluation.summary()
    text = (f"Accuracy {summary['accuracy']:.1%} · balanced accuracy "
            f"{summary['balanced_accuracy']:.1%} · {summary['images']:,} images · "
            f"{summary['misclassified']:,} misclassified")
    if "fold_accuracies" in summary:
        folds = summary["fold_accuracies"]
        text += f" · {len(folds)} folds: " + ", ".join(f"{a:.1%}" for a in folds)
    ui.label(text).classes("text-sm font-medium fc-evaluation-summary")


@viewer("evaluation", "Confusion matrix", order=10)
def confusion_matrix(evaluation: Any, ctx: ViewerContext) -> None:
    show_summary(evaluation)
    if len(evaluation.classes) > MAX_MATRIX:
        show_table(evaluation.confusion_table(), ctx, caption="Confusion matrix")
        return

    def open_cell(true: str, predicted: str) -> None:
        cell_box.clear()
        with cell_box:
            show_images(evaluation, evaluation.cell(true, predicted), ctx,
                        f"True '{true}', predicted '{predicted}'")
        # the images come below the matrix: bring them into the (short) results panel's view
        cell_box.client.run_javascript(
            f"getHtmlElement({cell_box.id})?.scrollIntoView({{block: 'start', behavior: 'smooth'}})")

    show_matrix(evaluation, open_cell)
    cell_box = ui.column().classes("w-full")
    show_table(evaluation.to_table(), ctx, caption="Per class")


@viewer("evaluation", "Misclassified", order=20)
def misclassified(evaluation: Any, ctx: ViewerContext) -> None:
    wrong = evaluation.wrong()
    if not len(wrong):
        ui.label("Every image was classified correctly.").classes("text-sm text-green-800")
        return
    order = wrong[np.argsort(-evaluation.predictions.scores[wrong], kind="stable")]
    show_images(evaluation, order, ctx, "Misclassified, most confident first")


@viewer("classifier", "Classifier", order=10)
def classifier_summary(model: Any, ctx: ViewerContext) -> None:
    training = model.training
    ui.label(model.title).classes("text-sm font-medium")
    accuracy = training.get("validation_accuracy")
    if accuracy is not None:
        ui.label(f"Validation ({training.get('validation')}): {accuracy:.1%} on "
                 f"{training.get('validation_images', 0):,} images; trained on "
                 f"{training.get('images', 0):,} images").classes("text-sm")
    show_as_table(model, ctx)


VIEWERS = [confusion_matrix, misclassified, classifier_summary,
           viewer("evaluation", "Table", order=90)(show_as_table)]
