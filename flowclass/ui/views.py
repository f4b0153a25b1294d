"""The small views of a tab, each subscribed to the :class:`EditorSession` it shows.

A view builds its widgets once, turns the user's clicks into session methods, and on
a change notice redraws only if the notice names something it shows. No view keeps
workflow state of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nicegui import ui

from ..executors import ExecutorChoice
from ..graph import nearest_of_type
from ..params import Path as PathParam
from ..workflow import Edge, PortRef
from .browse import Roots
from .canvas import FlowCanvas
from .canvas_graph import PLACEHOLDER_CODES, canvas_graph, invalid_status
from .dialogs import choose_file, choose_folder
from .files import FileActions, installed, ready_workflows
from .inspector import Inspector
from .messages import tell
from .node_help import show_node_help
from .recover import MENU_LABEL as CLOSED_WORK
from .results import ResultsPanel
from .run_on import RunOnView
from .session import EditorSession
from ..viewers import ViewerContext, plain_field_title
from ..viewers.registry import ViewerRegistry


class ToolbarView:
    """File menu, workflow name and dirty mark, undo/redo/duplicate/delete/fit, Run and Cancel."""

    SHOWS = frozenset({"loaded", "file", "graph", "params", "layout", "run", "statuses", "selection"})

    def __init__(self, session: EditorSession, files: FileActions, fit_view: Any, closed_work: Any = None):
        self.session = session
        ui.label("FlowClass").classes("font-bold text-primary mr-2")
        with ui.button("File", icon="description").props("flat dense no-caps"):
            with ui.menu():
                for label, action in (("New", files.new), ("Open…", files.open),
                                      ("Save", files.save), ("Save As…", files.save_as)):
                    ui.menu_item(label, action).mark(f"file-{label.rstrip('…').lower().replace(' ', '-')}")
                if closed_work is not None:
                    ui.menu_item(CLOSED_WORK, closed_work).mark("file-closed-work")
                ui.separator()
                ui.item_label("Ready workflows").props("header").classes("text-xs")
                for ready in ready_workflows():
                    ui.menu_item(ready.name, lambda r=ready: files.open_ready(r)).tooltip(ready.description) \
                        .mark(f"ready-{ready.path.stem}")
        self.name_label = ui.label().classes("text-sm font-medium ml-2 fc-workflow-name")
        self.dirty_mark = ui.label().classes("text-xs text-amber-700 fc-dirty")
        ui.space()
        for icon, tip, action in (("undo", "Undo (Ctrl+Z)", session.undo), ("redo", "Redo (Ctrl+Y)", session.redo),
                                  ("content_copy", "Duplicate (Ctrl+D)", session.duplicate),
                                  ("delete", "Delete the selected node", session.delete_selected),
                                  ("fit_screen", "Fit the workflow in view", fit_view)):
            ui.button(icon=icon, on_click=action).props(f"flat dense round aria-label=\"{tip}\"").tooltip(tip)
        ui.separator().props("vertical")
        self.files = files
        self.run_button = ui.button("Run", icon="play_arrow", on_click=self.run_all) \
            .props("dense no-caps").classes("fc-run").mark("run-all")
        self.run_selected_button = ui.button("Run selected", icon="play_circle_outline",
                                             on_click=session.run_selected)
        self.run_selected_button.props("dense flat no-caps").mark("run-selected")
        self.cancel_button = ui.button("Cancel", icon="stop", on_click=session.cancel_run) \
            .props("dense flat no-caps color=negative").mark("cancel-run")
        session.subscribe(self.changed)

    async def run_all(self) -> None:
        """Run; a workflow without a file (a new one, a ready workflow's copy) is offered Save As
        first, so that its outputs go beside it rather than into a folder of their own."""
        session = self.session
        if session.workflow.nodes and session.out_choice is None:
            saved = await self.files.offer_save_as("This workflow has no file yet. Save it before running?")
            if self.run_button.is_deleted:  # the page went away (F5) while it asked: nobody answered
                return
            if not saved and not self.files.offered:  # Save As… chosen, then cancelled: no run
                return
        session.start_run(None)

    def changed(self, what: frozenset[str]) -> None:
        if not what & self.SHOWS:
            return
        state = self.session.state
        self.name_label.text = state.display_name
        dirty = self.session.unsaved
        self.dirty_mark.text = ("● unsaved changes" if state.dirty else
                                "● unsaved changes in a results view" if dirty else "")
        self.dirty_mark.props(f"data-fc-dirty={int(dirty)}")
        running = self.session.runner.running
        self.run_button.set_enabled(not running)
        self.run_selected_button.set_enabled(not running and state.selected is not None)
        self.cancel_button.set_visibility(running)


class CanvasView:
    """The node canvas: sends the graph only when what it shows changed."""

    SHOWS = frozenset({"loaded", "graph", "params", "layout", "statuses", "selection"})

    def __init__(self, session: EditorSession, files: FileActions):
        self.session, self.files = session, files
        with ui.element("div").classes("relative w-full h-full"):
            self.canvas = FlowCanvas(session.registry.describe(), viewport=session.viewport) \
                .style("height: 100%")
            self.welcome = self._welcome()
        for name, handler in (("add_node", self.on_add_node), ("connect", self.on_connect),
                              ("connect_refused", lambda e: tell(e.args["reason"], "warning")),
                              ("move", self.on_move), ("select", self.on_select),
                              ("delete", self.on_delete), ("shortcut", self.on_shortcut),
                              ("help", self.on_help), ("viewport", self.on_viewport)):
            self.canvas.on(name, handler)
        session.subscribe(self.changed)

    @staticmethod
    def _welcome() -> ui.column:
        """What an empty canvas says: where to start. Text only, which a drag passes through: the
        first node is usually dropped in the middle of the canvas, where this stands."""
        with ui.column().classes("absolute inset-0 items-center justify-center gap-1 pointer-events-none "
                                 "fc-welcome") as welcome:
            ui.label("Start from File ▸ Ready workflows (cluster a folder, train a classifier, ...),") \
                .classes("text-gray-600")
            ui.label("or drag nodes from the left onto the canvas.").classes("text-gray-600")
        return welcome

    def changed(self, what: frozenset[str]) -> None:
        if not what & self.SHOWS:
            return
        session = self.session
        self.welcome.set_visibility(not session.workflow.nodes)
        graph = canvas_graph(session.workflow, session.registry, session.problems, session.runner.statuses)
        if what == {"layout"} or what == {"layout", "file"}:
            with self.canvas.props.suspend_updates():  # the browser moved the nodes itself
                self.canvas.graph = graph
        elif graph != self.canvas.graph:
            self.canvas.graph = graph
        if self.canvas.selected != session.selected:
            self.canvas.selected = session.selected
        if "loaded" in what and self.canvas.client.has_socket_connection:
            self.canvas.fit_view(readable=True)

    # --- what the user did on the canvas -----------------------------------------------------
    def on_add_node(self, e: Any) -> None:
        position = e.args.get("position")
        if position is None:  # picked in the search box opened with `/`
            self.session.add_beside(e.args["type"])
        else:
            self.session.add_node(e.args["type"], (position["x"], position["y"]))

    def on_help(self, e: Any) -> None:
        spec = self.session.workflow.node(e.args.get("id") or "")
        node_type = self.session.registry.get(spec.type) if spec else None
        if node_type is not None:
            show_node_help(node_type)

    def on_connect(self, e: Any) -> None:
        source, target = e.args["from"], e.args["to"]
        self.session.connect(PortRef(source["node"], source["port"]), PortRef(target["node"], target["port"]))

    def on_move(self, e: Any) -> None:
        self.session.move({m["id"]: (m["position"]["x"], m["position"]["y"]) for m in e.args["moves"]})

    def on_viewport(self, e: Any) -> None:
        """Kept with the tab (and its draft), so a reload shows the same view."""
        self.session.viewport = {k: float(e.args[k]) for k in ("x", "y", "zoom")}

    def on_select(self, e: Any) -> None:
        self.session.select(e.args.get("id"))

    def on_delete(self, e: Any) -> None:
        edges = [Edge(PortRef(**x["from"]), PortRef(**x["to"])) for x in e.args.get("edges", [])]
        self.session.delete(e.args.get("nodes", []), edges)

    async def on_shortcut(self, e: Any) -> None:
        key = e.args.get("key")
        if key == "save":
            await self.files.save()
        else:
            {"undo": self.session.undo, "redo": self.session.redo,
             "duplicate": self.session.duplicate}.get(key, lambda: None)()


class InspectorView:
    """The selected node's parameters: rebuilt on a new selection, updated in place otherwise
    (so typing keeps the focus)."""

    REBUILDS = frozenset({"loaded", "selection"})
    SHOWS = frozenset({"params", "statuses", "graph"}) | REBUILDS

    def __init__(self, session: EditorSession, roots: Roots):
        self.session, self.roots = session, roots
        self.inspector = Inspector(set_param=session.set_param, rename=session.rename,
                                   run_node=lambda node: session.start_run([node]), browse=self.browse_for)
        session.subscribe(self.changed)

    def changed(self, what: frozenset[str]) -> None:
        if not what & self.SHOWS:
            return
        session, selected = self.session, self.session.selected
        spec = session.workflow.node(selected) if selected else None
        node_type = session.registry.get(spec.type) if spec else None
        mine = [p for p in session.problems if p.node == selected]
        status = session.status(selected)
        if what & self.REBUILDS or self.inspector.node_id != selected:
            self.inspector.show(spec, node_type, mine, status)
        elif spec is not None and node_type is not None:
            self.inspector.update(spec, mine, status)

    async def browse_for(self, param: PathParam, current: str) -> str | None:
        state = self.session.state
        start = current or (str(state.path.parent) if state.path else None)
        if param.target != "file":
            chosen = await choose_folder(self.roots, start=start, title=f"Choose: {param.label}")
        else:
            chosen = await choose_file(self.roots, start=start, title=f"Choose: {param.label}",
                                       suffixes=tuple(f".{e.lstrip('.')}" for e in param.extensions) or ("",))
        return str(chosen) if chosen is not None else None


class ResultsView:
    """The selected node's results, shown by the viewers of each output's type."""

    SHOWS = frozenset({"loaded", "selection", "statuses", "results", "graph"})  # graph: a title

    def __init__(self, session: EditorSession, viewers: ViewerRegistry, image_url: Any,
                 files: FileActions | None = None):
        self.session, self.image_url, self.files = session, image_url, files
        self.panel = ResultsPanel(viewers, session.store, self.viewer_context,
                                  run_node=lambda node: session.start_run([node]))
        session.subscribe(self.changed)

    def changed(self, what: frozenset[str]) -> None:
        if not what & self.SHOWS:
            return
        session, selected = self.session, self.session.selected
        self.panel.store = session.store
        spec = session.workflow.node(selected) if selected else None
        node_type = session.registry.get(spec.type) if spec else None
        mine = [p for p in session.problems if p.node == selected and p.code not in PLACEHOLDER_CODES]
        self.panel.show(selected, node_type, invalid_status(mine, node_type) if mine else session.status(selected),
                        place=session.run_place(selected) if selected and session.runner.running else "",
                        title=spec.title if spec else "")

    def viewer_context(self, node_id: str, port: str, data_type: str) -> ViewerContext:
        session = self.session
        state = session.state
        return ViewerContext(
            node_id=node_id, port=port, data_type=data_type,
            workflow_dir=state.path.parent if state.path else None,
            out_dir=session.out_dir(),
            image_url=self.image_url,
            upstream=lambda name: session.store.upstream(state.workflow, session.registry, node_id, name),
            set_params=session.set_params,
            run=lambda nodes=None: session.start_run(list(nodes) if nodes is not None else None),
            run_from=session.run_from,
            refresh=session.refresh,
            store_dir=session.cache.store_dir,
            node_params=dict(spec.params) if (spec := state.workflow.node(node_id)) else {},
            upstream_node=lambda node_type: nearest_of_type(state.workflow, node_id, node_type),
            input_path=session.input_path,
            workflow_path=lambda: state.path,
            installed=installed,
            named=session.named_inside_roots,
            adopt=session.adopt,
            field_title=self.field_title,
            save=self.save if self.files is not None else None,
            work=lambda key: session.kept_view_work(node_id, key),
            keep_work=lambda key, value: session.keep_view_work(node_id, key, value),
        )

    def field_title(self, node_id: str, name: str) -> str:
        """A parameter as the inspector shows it: its label, and its node's title and id."""
        session = self.session
        spec = session.state.workflow.node(node_id)
        node_type = session.registry.get(spec.type) if spec else None
        param = node_type.param(name) if node_type else None
        if param is None:
            return plain_field_title(node_id, name)
        return f"the field '{param.label}' of {node_type.title} ({node_id})"

    async def save(self) -> Path | None:
        """File > Save for a viewer (Save As while the workflow has no file); the file, or
        None when nothing was written (Cancel, a refusal, the file reloaded instead)."""
        return self.session.state.path if await self.files.save() else None


class FooterView:
    """The output folder of runs (with Change), where runs go (Run on...), and the last
    run's summary."""

    SHOWS = frozenset({"loaded", "out_dir", "file", "run"})

    def __init__(self, session: EditorSession, roots: Roots, executors: ExecutorChoice):
        self.session, self.roots = session, roots
        ui.label("Output folder:")
        self.out_label = ui.label().classes("font-mono fc-out-dir")
        # where the next run goes, while a run writes elsewhere (Save As or Change during a run)
        self.next_caption = ui.label("Next run:")
        self.next_label = ui.label().classes("font-mono fc-next-out")
        ui.button("Change", on_click=self.choose_out_dir).props("flat dense size=sm")
        ui.separator().props("vertical")
        self.runs_on = RunOnView(executors, busy=lambda: session.runner.running)
        ui.space()
        self.summary = ui.label().classes("fc-run-summary")
        session.subscribe(self.changed)

    def changed(self, what: frozenset[str]) -> None:
        if not what & self.SHOWS:
            return
        writing, following = self.session.run_out_dir(), self.session.out_dir()
        self.out_label.text = str(writing)
        self.next_label.text = str(following) if following != writing else ""
        for label in (self.next_caption, self.next_label):
            label.set_visibility(following != writing)
        self.summary.text = self.session.run_line() if self.session.runner.running else self.session.summary
        self.runs_on.refresh()

    async def choose_out_dir(self) -> None:
        chosen = await choose_folder(self.roots, start=self.session.out_dir(), title="Output folder for runs")
        if chosen is not None:
            self.session.set_out_dir(chosen)
