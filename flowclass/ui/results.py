"""The results panel: the selected node's outputs, each shown by the viewers of its type.

Outputs are listed as a toggle, the viewers of the chosen output as tabs (see
:mod:`flowclass.viewers`). Only the open tab is built, and values load off the event
loop, so a node with heavy outputs costs nothing until one looks at it.
"""

from __future__ import annotations

import inspect
import logging
from typing import Callable

from nicegui import app, run, ui

from ..node import NodeType
from ..states import NodeState
from .outputs import ResultStore
from .runner import NodeStatus
from ..viewers import ViewerContext
from ..viewers.registry import ViewerRegistry

# A node left without results by its last run, and how the panel says so (before the node's message).
UNFINISHED = {NodeState.FAILED: "failed: ", NodeState.SKIPPED: "", NodeState.INVALID: "cannot run: ",
              NodeState.CANCELLED: "stopped part way: "}  # a cancelled node says so only with what it kept
BUSY = (NodeState.RUNNING, NodeState.PENDING)  # in a run now: its progress is shown
#: Why the results shown are not the node's current ones, by its state.
STALE_NOTES = {NodeState.STALE: "Out of date since your last change: run again",
               **dict.fromkeys(BUSY, "From an earlier run: this run has not remade them yet")}

log = logging.getLogger(__name__)

MakeContext = Callable[[str, str, str], ViewerContext]


class ResultsPanel:
    def __init__(self, viewers: ViewerRegistry, store: ResultStore, make_context: MakeContext,
                 run_node: Callable[[str], None]):
        self.viewers, self.store, self.make_context, self.run_node = viewers, store, make_context, run_node
        self.container = ui.column().classes("w-full gap-1 fc-results")
        self.shown: tuple | None = None
        self.stale_note: ui.label | None = None
        self.problem: ui.label | None = None  # why the node has no (current) results
        self.progress: NodeProgress | None = None  # while it runs, before its first results
        self.named: list[tuple[ui.label, Callable[[str], str]]] = []  # labels that name the node
        # the output and viewer tabs last chosen per node: a re-run (Apply this cut) stays there
        self.chosen_output: dict[str, str] = {}
        self.chosen_viewer: dict[tuple[str, str], str] = {}
        self.show(None, None, NodeStatus())

    def show(self, node_id: str | None, node_type: NodeType | None, status: NodeStatus,
             force: bool = False, place: str = "", title: str = "") -> None:
        """Show ``node_id``'s results (rebuilt only when what would be shown changed); while it
        runs, its progress and ``place``, where the run is (node k of n, the time left in all).
        ``title`` is the node's on the canvas, where the user gave it one: a new one (typed key by
        key) changes the names shown in place."""
        name = title or (node_type.title if node_type else "")
        key = (node_id, node_type.type if node_type else None, self.store.key(node_id) if node_id else None)
        unfinished = status.state in UNFINISHED and bool(status.message)
        key += (status.state,) if unfinished else ()  # what went wrong is shown once known
        busy = status.state in BUSY and node_id is not None and not self.store.has(node_id)
        key += ("busy",) if busy else ()
        if key == self.shown and not force:
            # turning stale (a correction, a painted label) keeps the open view as it is
            for label, text in self.named:
                label.text = text(name)
            if self.stale_note is not None:
                self._stale(status.state)
            if unfinished and self.problem is not None:  # a path being typed: its message changes, nothing else
                self.problem.text = f"{name}: {UNFINISHED[status.state]}{status.message}"
            if busy and self.progress is not None:  # the run's progress, in place
                self.progress.show(name, status, place)
            return
        self.shown = key
        self.stale_note = self.problem = self.progress = None
        self.named = []
        self.container.clear()
        with self.container:
            if node_id is None or node_type is None:
                ui.label("Select a node to see its results.").classes("text-sm text-gray-500")
                return
            if busy:  # what it is doing, how far, how long still: not "no results yet"
                self.progress = NodeProgress()
                self.progress.show(name, status, place)
                return
            if unfinished or not self.store.has(node_id):
                with ui.row().classes("items-center gap-2"):
                    if unfinished:
                        self.problem = ui.label(f"{name}: {UNFINISHED[status.state]}{status.message}") \
                            .classes("text-sm whitespace-pre-line fc-results-failed "
                                     + ("text-gray-700" if status.state == NodeState.CANCELLED else "text-red-700"))
                    else:
                        self._named(lambda shown: f"{shown}: no results yet.", name).classes("text-sm text-gray-600")
                    ui.button("Run this node", icon="play_arrow",
                              on_click=lambda: self.run_node(node_id)).props("flat dense")
                if not self.store.has(node_id):
                    return
                ui.label("Below are its results from an earlier run, not from the settings it has now.") \
                    .classes("text-xs px-2 py-1 rounded bg-amber-100 text-amber-900")
            # the title, whether the results are out of date, the output and the viewer tabs share
            # one line where the panel is wide enough: on a laptop's 1280x720 window the panel is
            # some 200 px high, and a line each left no room for the results themselves
            with ui.row().classes("w-full items-center gap-x-3 gap-y-0") as heading:
                self._named(lambda shown: f"Results of {shown} ({node_id})", name) \
                    .classes("text-sm font-medium text-gray-700")
                self.stale_note = ui.label() \
                    .classes("text-xs px-2 py-0.5 rounded bg-amber-100 text-amber-900 fc-stale-note")
                self._stale(status.state)
            for warning in self.store.warnings(node_id):
                ui.label(warning).classes("text-xs text-amber-800")
            self._outputs(node_id, node_type, heading)

    def _stale(self, state: NodeState) -> None:
        """Shown results not from the settings the node has now: changed since, or a run is
        about to remake them (not reached yet, or running)."""
        assert self.stale_note is not None
        self.stale_note.text = STALE_NOTES.get(state, "")
        self.stale_note.set_visibility(state in STALE_NOTES)

    def _named(self, text: Callable[[str], str], name: str) -> ui.label:
        label = ui.label(text(name))
        self.named.append((label, text))
        return label

    def _outputs(self, node_id: str, node_type: NodeType, heading: ui.row) -> None:
        """The chosen output's viewers; a tab per output (a node with several) and per viewer in ``heading``."""
        outputs = {o.name: o for o in node_type.outputs}

        def pick(port: str) -> None:
            self.chosen_output[node_id] = port
            views.clear()
            body.clear()
            with body:
                others = [o.label for name, o in outputs.items() if name != port] if len(outputs) > 1 else []
                self._output(node_id, port, outputs[port].type.name, outputs[port].label, others, views)

        first = self.chosen_output.get(node_id)
        first = first if first in outputs else next(iter(outputs))
        if len(outputs) > 1:
            with heading, ui.tabs(value=first, on_change=lambda e: pick(e.value)) \
                    .props("dense no-caps active-bg-color=blue-1 indicator-color=transparent align=left") \
                    .classes("fc-output-tabs text-gray-800"):
                for name, output in outputs.items():
                    ui.tab(name, label=output.label).mark(f"output-{name}")
        with heading:  # the chosen output's viewer tabs, set apart from the output tabs
            views = ui.row().classes("gap-0" + (" border-l pl-3" if len(outputs) > 1 else ""))
        body = ui.column().classes("w-full gap-1")
        pick(first)

    def _output(self, node_id: str, port: str, data_type: str, label: str, others: list[str],
                views: ui.row) -> None:
        holder = ui.column().classes("w-full")
        with holder:
            ui.spinner()

        async def load() -> None:
            try:
                value = await run.io_bound(self.store.value, node_id, port)
            except Exception as exc:  # a cache entry gone or unreadable: say so, keep the page
                holder.clear()
                with holder:
                    ui.label(f"Cannot load this result: {exc}. Run the node again.").classes("text-red-700")
                return
            if holder.is_deleted or app.is_stopping:  # redrawn meanwhile, or the server stops (io_bound gave None)
                return
            holder.clear()
            with holder:
                self._viewer_tabs(value, node_id, port, data_type, label, others, views)

        ui.timer(0, load, once=True)

    def _viewer_tabs(self, value: object, node_id: str, port: str, data_type: str, label: str,
                     others: list[str], views: ui.row) -> None:
        found = self.viewers.for_value(data_type, value)
        labels = tab_labels([v.title for v in found], others, label)
        ctx = self.make_context(node_id, port, data_type)
        names = {f"{port}:{label}": v for v, label in zip(found, labels)}
        with views, ui.tabs().props("dense inline-label no-caps align=left").classes("fc-viewer-tabs") as tabs:
            for (name, viewer), label in zip(names.items(), labels):
                ui.tab(name, label=label).mark(f"viewer-{viewer.title}")
        area = ui.column().classes("w-full")

        async def open_tab(name: str) -> None:
            viewer = names[name]
            area.clear()
            with area:
                try:
                    shown = viewer.show(value, ctx)
                    if inspect.isawaitable(shown):
                        await shown
                except Exception as exc:  # a viewer bug must not take the page down
                    log.exception("viewer %s failed", viewer.title)
                    ui.label(f"This view failed: {type(exc).__name__}: {exc}").classes("text-red-700")

        def chosen(name: str) -> None:
            self.chosen_viewer[(node_id, port)] = name
            return open_tab(name)

        tabs.on_value_change(lambda e: chosen(e.value))
        last = self.chosen_viewer.get((node_id, port))
        tabs.value = last if last in names else next(iter(names))


class NodeProgress:
    """A running (or waiting) node's phase, counts and time left, with a bar: the canvas node's
    badge cuts them off at normal zoom."""

    def __init__(self) -> None:
        with ui.row().classes("items-baseline gap-x-3 gap-y-0"):  # where the run is, on the first line
            self.title = ui.label().classes("text-sm font-medium text-gray-700 fc-node-progress")
            self.place = ui.label().classes("text-sm text-gray-600 fc-node-progress-run")
        self.bar = ui.linear_progress(value=0, show_value=False).props("rounded size=8px").classes("w-96 max-w-full")
        self.detail = ui.label().classes("text-sm text-gray-700 fc-node-progress-detail")

    def show(self, title: str, status: NodeStatus, place: str = "") -> None:
        running = status.state == NodeState.RUNNING
        self.title.text = f"{title}: {'running' if running else 'waiting for the nodes before it'}"
        self.bar.set_visibility(running)
        self.bar.props(remove="indeterminate") if status.progress is not None else self.bar.props("indeterminate")
        self.bar.value = status.progress or 0
        self.detail.text = status.message if running else ""
        self.place.text = place


def tab_labels(titles: list[str], taken: list[str], output: str) -> list[str]:
    """Labels for an output's viewer tabs that repeat neither each other nor the node's other
    output tabs (``taken``): Evaluate's evaluation has a "Misclassified" view and a
    "Misclassified" output, so the view becomes "Misclassified (evaluation)"."""
    seen = {t.casefold() for t in taken}
    labels = []
    for title in titles:
        label = title if title.casefold() not in seen else f"{title} ({output.lower()})"
        number = 2
        while label.casefold() in seen:
            label, number = f"{title} ({output.lower()} {number})", number + 1
        seen.add(label.casefold())
        labels.append(label)
    return labels
