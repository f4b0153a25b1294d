"""One browser tab of the canvas: palette, canvas, inspector, results and the toolbar.

Each tab builds its own :class:`EditorPage`, with its own editor state, runs and
results, so several tabs on one server never see or break each other's graphs. The
page wires user intents to the editor and redraws from it; the browser only renders.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from nicegui import ui

from ..cache import Cache
from ..engine import Engine, RunResult
from ..errors import Problem, WorkflowInvalid
from ..graph import nearest_of_type
from ..params import Path as PathParam
from ..registry import Registry
from ..workflow import Edge, PortRef
from .messages import tell
from .browse import Roots
from .canvas import FlowCanvas
from .canvas_graph import canvas_graph
from .dialogs import choose_folder, choose_file
from .editor import EditorState, EditRefused
from .files import FileActions, explain, ready_workflows
from .inspector import Inspector
from .outputs import ResultStore
from .palette import build_palette
from .results import ResultsPanel
from .runner import NodeStatus, RunController, plan_run, runnable_part, summary
from .thumbnails import ImageServer
from ..viewers import ViewerContext, ViewerRegistry, default_viewers

ADD_OFFSET = (300.0, 0.0)
STYLE = Path(__file__).parent / "static" / "app.css"
# Warn before leaving while the workflow has unsaved changes (the page marks them).
LEAVE_WARNING = """<script>
window.addEventListener("beforeunload", (event) => {
  if (document.querySelector('[data-fc-dirty="1"]')) { event.preventDefault(); event.returnValue = ""; }
});
</script>"""


@dataclass
class AppConfig:
    """What every tab shares: the node library, the cache, the allowed folders."""

    registry: Registry
    cache: Cache
    roots: Roots
    workflow: Path | None = None  # opened in every new tab
    viewers: ViewerRegistry = field(default_factory=default_viewers)
    images: ImageServer | None = None

    def __post_init__(self) -> None:
        if self.images is None:
            self.images = ImageServer(self.cache.store_dir("thumbnails"))


class EditorPage:
    def __init__(self, config: AppConfig):
        self.config = config
        self.registry = config.registry
        self.state = EditorState(config.registry)
        self.store = ResultStore()
        self.runner = RunController(Engine(config.registry, config.cache), on_change=self.redraw_badges,
                                    on_finished=self.run_finished)
        self.files = FileActions(self.state, config.roots, on_loaded=self.loaded, on_saved=self.changed)
        self.problems: list[Problem] = []
        self.out_choice: Path | None = None
        self._untitled_out: Path | None = None
        self._build()
        ui.timer(0.1, self.runner.poll)
        if config.workflow is None or not self.files.open_path(config.workflow):
            self.loaded()

    # --- layout -----------------------------------------------------------------------
    def _build(self) -> None:
        ui.add_css(STYLE)
        ui.add_head_html(LEAVE_WARNING)
        with ui.header().classes("bg-white text-gray-900 border-b items-center gap-1 px-2 py-1"):
            self._toolbar()
        with ui.left_drawer(value=True, bordered=True).props("width=250") \
                .classes("bg-gray-50 p-2 overflow-x-hidden"):
            build_palette(self.registry, self.add_from_palette)
        with ui.right_drawer(value=True, bordered=True).props("width=330").classes("p-3"):
            self.inspector = Inspector(set_param=self.set_param, rename=self.rename,
                                       run_node=lambda node: self.start_run([node]), browse=self.browse_for)
        with ui.splitter(horizontal=True, value=48, limits=(20, 85)).classes("w-full") \
                .style("height: calc(100vh - 96px)") as splitter:
            with splitter.before:
                self.canvas = FlowCanvas(self.registry.describe()).style("height: 100%")
            with splitter.after:
                with ui.column().classes("w-full p-2"):
                    self.results = ResultsPanel(self.config.viewers, self.store, self.viewer_context,
                                                run_node=lambda node: self.start_run([node]))
        with ui.footer().classes("bg-gray-100 text-gray-700 text-xs items-center gap-2 px-3 py-1"):
            ui.label("Output folder:")
            self.out_label = ui.label().classes("font-mono fc-out-dir")
            ui.button("Change", on_click=self.choose_out_dir).props("flat dense size=sm")
            ui.space()
            self.summary = ui.label().classes("fc-run-summary")
        for name, handler in (("add_node", self.on_add_node), ("connect", self.on_connect),
                              ("connect_refused", lambda e: tell(e.args["reason"], "warning")),
                              ("move", self.on_move), ("select", self.on_select),
                              ("delete", self.on_delete), ("shortcut", self.on_shortcut)):
            self.canvas.on(name, handler)

    def _toolbar(self) -> None:
        ui.label("FlowClass").classes("font-bold text-primary mr-2")
        with ui.button("File", icon="description").props("flat dense no-caps"):
            with ui.menu():
                for label, action in (("New", self.files.new), ("Open…", self.files.open),
                                      ("Save", self.files.save), ("Save As…", self.files.save_as)):
                    ui.menu_item(label, action).mark(f"file-{label.rstrip('…').lower().replace(' ', '-')}")
                ui.separator()
                ui.item_label("Ready workflows").props("header").classes("text-xs")
                for ready in ready_workflows():
                    ui.menu_item(ready.name, lambda r=ready: self.files.open_ready(r)) \
                        .tooltip(ready.description)
        self.name_label = ui.label().classes("text-sm font-medium ml-2 fc-workflow-name")
        self.dirty_mark = ui.label().classes("text-xs text-amber-700 fc-dirty")
        ui.space()
        for icon, tip, action in (("undo", "Undo (Ctrl+Z)", self.undo), ("redo", "Redo (Ctrl+Y)", self.redo),
                                  ("content_copy", "Duplicate (Ctrl+D)", self.duplicate),
                                  ("delete", "Delete the selected node", self.delete_selected),
                                  ("fit_screen", "Fit the workflow in view", lambda: self.canvas.fit_view())):
            ui.button(icon=icon, on_click=action).props(f"flat dense round aria-label=\"{tip}\"").tooltip(tip)
        ui.separator().props("vertical")
        self.run_button = ui.button("Run", icon="play_arrow", on_click=lambda: self.start_run(None)) \
            .props("dense no-caps").classes("fc-run").mark("run-all")
        self.run_selected_button = ui.button("Run selected", icon="play_circle_outline",
                                             on_click=self.run_selected)
        self.run_selected_button.props("dense flat no-caps").mark("run-selected")
        self.cancel_button = ui.button("Cancel", icon="stop", on_click=self.cancel_run) \
            .props("dense flat no-caps color=negative").mark("cancel-run")

    # --- redrawing ----------------------------------------------------------------------
    def loaded(self) -> None:
        """A different workflow is open: results, badges and the output folder start over."""
        self.store = self.results.store = ResultStore()
        if self.runner.running:
            self.runner.abandon()
            self.summary.text = "The run of the previous workflow was cancelled."
        self.runner.statuses.clear()
        self.out_choice = None
        self.changed()
        if self.canvas.client.has_socket_connection:
            self.canvas.fit_view()

    def changed(self, *, rebuild_inspector: bool = True) -> None:
        """The workflow (or its file) changed: redraw and re-check what is cached."""
        self.problems = self.state.problems()
        self.redraw_badges(rebuild_inspector=rebuild_inspector)
        self.name_label.text = self.state.display_name
        self.dirty_mark.text = "● unsaved changes" if self.state.dirty else ""
        self.dirty_mark.props(f"data-fc-dirty={int(self.state.dirty)}")
        self.out_label.text = str(self.out_dir())
        self.check_statuses()

    def redraw_badges(self, *, rebuild_inspector: bool = False) -> None:
        workflow, selected = self.state.workflow, self.state.selected
        self.canvas.graph = canvas_graph(workflow, self.registry, self.problems, self.runner.statuses)
        self.canvas.selected = selected
        spec = workflow.node(selected) if selected else None
        node_type = self.registry.get(spec.type) if spec else None
        status = self.runner.status(selected) if selected else NodeStatus()
        mine = [p for p in self.problems if p.node == selected]
        if rebuild_inspector or self.inspector.node_id != selected:
            self.inspector.show(spec, node_type, mine, status)
        elif spec is not None and node_type is not None:
            self.inspector.update(spec, mine, status)
        self.results.show(selected, node_type, status)
        running = self.runner.running
        self.run_button.set_enabled(not running)
        self.run_selected_button.set_enabled(not running and selected is not None)
        self.cancel_button.set_visibility(running)

    def check_statuses(self) -> None:
        runnable, _ = runnable_part(self.state.workflow, self.problems)
        self.runner.check(runnable, base_dir=self.base_dir(), out_dir=self.out_dir(),
                          had_result=self.store.nodes())

    # --- folders ------------------------------------------------------------------------
    def base_dir(self) -> Path:
        return self.state.base_dir

    def out_dir(self) -> Path:
        """Where runs write: chosen by the user, else next to the saved workflow, else a temp folder."""
        if self.out_choice is not None:
            return self.out_choice
        if self.state.path is not None:
            return self.state.path.parent / "flowclass-out" / self.state.path.stem
        if self._untitled_out is None:
            self._untitled_out = Path(tempfile.mkdtemp(prefix="flowclass-untitled-"))
        return self._untitled_out

    async def choose_out_dir(self) -> None:
        chosen = await choose_folder(self.config.roots, start=self.out_dir(), title="Output folder for runs")
        if chosen is not None:
            self.out_choice = chosen
            self.changed(rebuild_inspector=False)

    async def browse_for(self, param: PathParam, current: str) -> str | None:
        start = current or (str(self.state.path.parent) if self.state.path else None)
        if param.target == "folder":
            chosen = await choose_folder(self.config.roots, start=start, title=f"Choose: {param.label}")
        else:
            chosen = await choose_file(self.config.roots, start=start, title=f"Choose: {param.label}",
                                       suffixes=tuple(f".{e.lstrip('.')}" for e in param.extensions) or ("",))
        return str(chosen) if chosen is not None else None

    # --- canvas intents -------------------------------------------------------------------
    def on_add_node(self, e: Any) -> None:
        position = e.args["position"]
        self._edit(lambda: self.state.add_node(e.args["type"], (position["x"], position["y"])))

    def add_from_palette(self, type_id: str) -> None:
        """A click on the palette: put the node right of the selected (or last) node."""
        workflow = self.state.workflow
        anchor = workflow.node(self.state.selected or "") or (workflow.nodes[-1] if workflow.nodes else None)
        x, y = anchor.position if anchor else (-ADD_OFFSET[0], 0.0)
        self._edit(lambda: self.state.add_node(type_id, (x + ADD_OFFSET[0], y + ADD_OFFSET[1])))

    def on_connect(self, e: Any) -> None:
        source, target = e.args["from"], e.args["to"]
        self._edit(lambda: self.state.connect(PortRef(source["node"], source["port"]),
                                              PortRef(target["node"], target["port"])))

    def on_move(self, e: Any) -> None:
        self.state.move({m["id"]: (m["position"]["x"], m["position"]["y"]) for m in e.args["moves"]})
        self.changed(rebuild_inspector=False)

    def on_select(self, e: Any) -> None:
        self.state.selected = e.args.get("id")
        self.redraw_badges()

    def on_delete(self, e: Any) -> None:
        edges = [Edge(PortRef(**x["from"]), PortRef(**x["to"])) for x in e.args.get("edges", [])]
        self._edit(lambda: self.state.delete(e.args.get("nodes", []), edges))

    async def on_shortcut(self, e: Any) -> None:
        key = e.args.get("key")
        if key == "save":
            await self.files.save()
        else:
            {"undo": self.undo, "redo": self.redo, "duplicate": self.duplicate}.get(key, lambda: None)()

    def _edit(self, action: Any) -> None:
        try:
            action()
        except EditRefused as exc:
            tell(str(exc), "warning")
            return
        self.changed()

    # --- toolbar and inspector actions --------------------------------------------------------
    def undo(self) -> None:
        if self.state.undo():
            self.changed()

    def redo(self) -> None:
        if self.state.redo():
            self.changed()

    def duplicate(self) -> None:
        if self.state.selected:
            self._edit(lambda: self.state.duplicate([self.state.selected]))

    def delete_selected(self) -> None:
        if self.state.selected:
            self._edit(lambda: self.state.delete([self.state.selected]))

    def set_param(self, node_id: str, name: str, value: Any) -> None:
        self.state.set_params(node_id, {name: value})
        self.changed(rebuild_inspector=False)

    def set_params(self, node_id: str, params: Mapping[str, Any]) -> None:
        """For viewers' actions: like the inspector, then show the new values there."""
        self.state.set_params(node_id, params)
        self.changed()

    def rename(self, node_id: str, title: str) -> None:
        self.state.rename(node_id, title)
        self.changed(rebuild_inspector=False)

    # --- runs -----------------------------------------------------------------------------
    def run_selected(self) -> None:
        if self.state.selected:
            self.start_run([self.state.selected])

    def start_run(self, targets: Sequence[str] | None) -> None:
        if self.runner.running:
            tell("A run is already going on in this tab.", "warning")
            return
        plan = plan_run(self.state.workflow, self.state.problems(), targets)
        if plan.message:
            tell(plan.message, "info" if plan.workflow else "warning")
        if plan.workflow is None:
            return
        self.runner.start(plan.workflow, base_dir=self.base_dir(), out_dir=self.out_dir(), targets=targets,
                          source=str(self.state.path) if self.state.path else None)
        self.summary.text = "Running…"
        self.redraw_badges()

    def cancel_run(self) -> None:
        self.runner.cancel()
        self.summary.text = "Cancelling…"

    def run_finished(self, result: RunResult | None, error: Exception | None) -> None:
        if error is not None:
            text = explain(error) if isinstance(error, WorkflowInvalid) else str(error)
            self.summary.text = "The run did not start."
            tell(f"The run did not start:\n{text}", "negative")
            return
        assert result is not None
        self.store.add(result)
        self.summary.text = summary(result)
        failed = len(result.failed)
        if failed:
            tell(f"{failed} node(s) failed; see the red badges.", "negative")
        self.redraw_badges()

    # --- viewers --------------------------------------------------------------------------
    def viewer_context(self, node_id: str, port: str, data_type: str) -> ViewerContext:
        return ViewerContext(
            node_id=node_id, port=port, data_type=data_type,
            workflow_dir=self.state.path.parent if self.state.path else None,
            out_dir=self.out_dir(),
            image_url=self.config.images.url,
            upstream=lambda name: self.store.upstream(self.state.workflow, self.registry, node_id, name),
            set_params=self.set_params,
            run=lambda nodes=None: self.start_run(list(nodes) if nodes is not None else None),
            refresh=self.check_statuses,
            store_dir=self.config.cache.store_dir,
            node_params=dict(spec.params) if (spec := self.state.workflow.node(node_id)) else {},
            upstream_node=lambda node_type: nearest_of_type(self.state.workflow, node_id, node_type),
            input_path=self.input_path,
            workflow_path=lambda: self.state.path,
            save=self.save_for_viewer,
        )

    def input_path(self, node_id: str, name: str) -> Path | None:
        """A node's path parameter as the next run resolves it (None when empty)."""
        spec = self.state.workflow.node(node_id)
        node_type = self.registry.get(spec.type) if spec else None
        param = node_type.param(name) if node_type else None
        value = spec.params.get(name, "") if spec else ""
        if not isinstance(param, PathParam) or not isinstance(value, str) or not value:
            return None
        return Path(param.resolve(value, self.base_dir(), self.out_dir()))

    async def save_for_viewer(self) -> Path | None:
        await self.files.save()
        return self.state.path
