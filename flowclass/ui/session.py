"""One tab's editing session: the workflow, its problems, runs, results and the output folder.

Plain Python, no NiceGUI, so it is tested without a browser. Every user intent is a
method; after it the session tells its subscribers what changed (a set of
:data:`CHANGES`), and each view redraws only what shows that. Status checks (which
results are cached; they list import folders) are debounced and asked only when
something that feeds a node changed: moving or renaming nodes costs no check.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..cache import Cache
from ..engine import Engine, RunResult
from ..errors import ParamValueError, Problem, WorkflowInvalid
from ..graph import build_graph
from ..library import ready_workflows_dir
from ..params import Path as PathParam
from ..registry import Registry
from ..resolution import Dirs, Resolved, path_problems, resolve
from ..scanning import CHECK_FILES
from ..workflow import Edge, PortRef, Workflow
from .browse import Roots
from .confine import CODE as OUTSIDE_ROOTS, outside_roots
from .editor import EditorState, EditRefused
from .outputs import ResultStore
from .placement import anchor_of, feeding_edges, free_spot
from .runner import NodeStatus, RunController, plan_run, runnable_part, summary, time_left

CHECK_DELAY = 0.3  # seconds of quiet after an edit before the cache is asked again
DISK_RECHECK = 1.0  # seconds between looks at paths flagged on disk (a folder made meanwhile)

#: What a change notice may name:
#: ``loaded`` another workflow is open (results and badges start over);
#: ``graph`` nodes, edges or titles changed; ``params`` parameter values changed;
#: ``layout`` only positions changed (the canvas already shows them);
#: ``selection``; ``statuses`` badges; ``file`` path or dirty mark; ``out_dir``; ``run`` a run
#: started or ended (buttons, summary); ``results`` a run's results arrived.
CHANGES = frozenset({"loaded", "graph", "params", "layout", "selection", "statuses", "file", "out_dir",
                     "run", "results"})
EDIT = frozenset({"graph", "params", "file"})

Listener = Callable[[frozenset[str]], None]
Notify = Callable[[str, str], None]  # (message, kind: info | positive | warning | negative)


def structure(workflow: Workflow) -> tuple:
    """What validation and the cache keys depend on: not positions, not titles."""
    return (tuple((n.id, n.type, n.version, tuple(sorted(n.params.items(), key=lambda kv: kv[0])))
                  for n in workflow.nodes), workflow.edges)


class EditorSession:
    def __init__(self, registry: Registry, cache: Cache, *, notify: Notify | None = None,
                 clock: Callable[[], float] = time.monotonic, roots: Roots | None = None,
                 executor: Any = None, scan_files: int = CHECK_FILES):
        self.registry = registry
        self.cache = cache
        self.roots = roots  # where the canvas may read and write (None: anywhere)
        self.state = EditorState(registry)
        self.store = ResultStore()
        self.runner = RunController(Engine(registry, cache), on_change=self._statuses_changed,
                                    on_finished=self._run_finished, on_node_result=self._node_result,
                                    executor=executor, scan_files=scan_files)
        self.notify: Notify = notify or (lambda message, kind: None)
        self.clock = clock
        self.summary = ""
        self.out_choice: Path | None = None
        self._untitled_out: Path | None = None
        self._listeners: list[Listener] = []
        self._resolved: tuple[Any, Resolved | None] = (None, None)
        self._file_problems: tuple[Any, list[Problem]] = (None, [])
        self._check_due: float | None = None
        self._disk_due = 0.0  # when paths flagged on disk are looked at again
        self._checked: tuple | None = None  # what the last status check was asked about
        self._run_asked: tuple | None = None  # what the run going on was started on

    # --- subscribing -------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def emit(self, *changes: str) -> None:
        unknown = set(changes) - CHANGES
        if unknown:
            raise ValueError(f"unknown change {sorted(unknown)}; expected some of {sorted(CHANGES)}")
        what = frozenset(changes)
        for listener in list(self._listeners):
            listener(what)

    # --- derived state -------------------------------------------------------------------
    @property
    def workflow(self) -> Workflow:
        return self.state.workflow

    @property
    def selected(self) -> str | None:
        return self.state.selected

    @property
    def resolved(self) -> Resolved:
        """The workflow resolved (checked, paths made absolute), again only when what that
        depends on changed: not on moves or renames."""
        key = (structure(self.state.workflow), self.base_dir, self.out_dir())
        if self._resolved[0] != key or self._resolved[1] is None:
            dirs = Dirs(self.base_dir, self.out_dir(), protected=self.runner.engine.protected)
            resolved = resolve(self.state.workflow, self.registry, dirs)
            resolved.problems.extend(self._outside_roots())
            self._resolved = (key, resolved)
        return self._resolved[1]

    @property
    def problems(self) -> list[Problem]:
        """The workflow's problems, paths outside the roots and, as of the last status check,
        its paths' problems on disk."""
        resolved = self.resolved
        key, on_disk = self._file_problems
        return resolved.problems + (on_disk if key == self._resolved[0] else [])

    def _outside_roots(self) -> list[Problem]:
        if self.roots is None:
            return []
        out_dir = self.out_dir()  # first: it makes an untitled workflow's temporary folder
        made = [self._untitled_out] if self._untitled_out is not None else []
        return outside_roots(self.state.workflow, self.registry, self.roots, base_dir=self.base_dir,
                             out_dir=out_dir, made=made, shipped=[ready_workflows_dir()])

    def status(self, node_id: str | None) -> NodeStatus:
        return self.runner.status(node_id) if node_id else NodeStatus()

    @property
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

    def input_path(self, node_id: str, name: str) -> Path | None:
        """A node's path parameter as the next run resolves it (None when empty): what a
        viewer writes for that node to read (a label file, masks) is exactly this file."""
        spec = self.state.workflow.node(node_id)
        node_type = self.registry.get(spec.type) if spec else None
        param = node_type.param(name) if node_type else None
        value = spec.params.get(name, "") if spec else ""
        if not isinstance(param, PathParam) or not isinstance(value, str) or not value:
            return None
        return Path(param.resolve(value, self.base_dir, self.out_dir()))

    # --- whole-workflow changes ---------------------------------------------------------------
    def loaded(self) -> None:
        """A different workflow is open: results, badges and the output folder start over."""
        self.store = ResultStore()
        self.summary = ""  # the last run's line was another workflow's
        if self.runner.running:
            self.runner.abandon()
            self.summary = "The run of the previous workflow was cancelled."
        self.runner.statuses.clear()
        self.out_choice = None
        self._checked = None
        self.check_now()
        self.emit("loaded", "graph", "params", "selection", "statuses", "file", "out_dir", "run", "results")

    def saved(self) -> None:
        """The file was written (its path, and so the output folder, may have changed)."""
        self.request_check()
        self.emit("file", "out_dir", "params")

    def set_out_dir(self, folder: Path) -> None:
        self.out_choice = Path(folder)
        self._checked = None
        self.request_check()
        self.emit("out_dir")

    # --- edits ------------------------------------------------------------------------------
    def edit(self, action: Callable[[], Any], changes: Iterable[str] = EDIT) -> bool:
        """Make an edit; a refused one is told to the user and changes nothing."""
        try:
            action()
        except EditRefused as exc:
            self.notify(str(exc), "warning")
            return False
        self.request_check()
        self.emit(*changes, "selection", "statuses")
        return True

    def add_node(self, type_id: str, position: tuple[float, float],
                 feeds: Mapping[str, PortRef] | None = None) -> bool:
        return self.edit(lambda: self.state.add_node(type_id, position, feeds))

    def add_beside(self, type_id: str) -> bool:
        """A click on the palette (or ``/`` search): the node goes right of the selected (or last)
        node on a free spot, fed by it where the types fit (see :mod:`.placement`)."""
        workflow, node_type = self.state.workflow, self.registry.get(type_id)
        if node_type is None:
            self.notify(f"Unknown node type '{type_id}'.", "warning")
            return False
        anchor = anchor_of(workflow, self.state.selected)
        return self.add_node(type_id, free_spot(workflow, self.registry, node_type, anchor),
                             feeding_edges(workflow, self.registry, node_type, anchor))

    def connect(self, source: PortRef, target: PortRef) -> bool:
        return self.edit(lambda: self.state.connect(source, target))

    def delete(self, node_ids: Iterable[str] = (), edges: Iterable[Edge] = ()) -> bool:
        return self.edit(lambda: self.state.delete(list(node_ids), list(edges)))

    def delete_selected(self) -> bool:
        return bool(self.state.selected) and self.delete([self.state.selected])

    def duplicate(self) -> bool:
        return bool(self.state.selected) and self.edit(lambda: self.state.duplicate([self.state.selected]))

    def move(self, moves: Mapping[str, tuple[float, float]]) -> None:
        """Positions only: no validation, no status check, nothing to re-send to the canvas."""
        self.state.move(moves)
        self.emit("layout", "file")

    def select(self, node_id: str | None) -> None:
        self.state.selected = node_id if node_id and self.state.workflow.node(node_id) else None
        self.emit("selection")

    def undo(self) -> bool:
        return self.state.undo() and self.edit(lambda: None)

    def redo(self) -> bool:
        return self.state.redo() and self.edit(lambda: None)

    def set_param(self, node_id: str, name: str, value: Any) -> None:
        """A value typed into the inspector; stored normalised (``3.0`` -> ``3`` for an integer)."""
        self.state.set_params(node_id, self.normalised(node_id, {name: value}))
        self.request_check()
        self.emit("params", "file", "statuses")

    def set_params(self, node_id: str, params: Mapping[str, Any]) -> None:
        """A viewer's action: like the inspector, and the inspector then shows the new values."""
        self.state.set_params(node_id, self.normalised(node_id, params))
        self.request_check()
        self.emit("params", "file", "statuses", "selection")

    def normalised(self, node_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Each value as its parameter validates it; an invalid one is kept as given, so the
        inspector shows its problem on the field."""
        spec = self.state.workflow.node(node_id)
        node_type = self.registry.get(spec.type) if spec else None
        out = dict(params)
        for name, value in params.items():
            param = node_type.param(name) if node_type else None
            if param is not None:
                try:
                    out[name] = param.validate(value)
                except ParamValueError:
                    pass
        return out

    def rename(self, node_id: str, title: str) -> None:
        self.state.rename(node_id, title)
        self.emit("graph", "file")

    # --- status checks (debounced) ---------------------------------------------------------
    def request_check(self) -> None:
        """Ask the cache again once edits have paused for :data:`CHECK_DELAY` seconds."""
        self._check_due = self.clock() + CHECK_DELAY

    def check_now(self) -> None:
        """Ask the cache which nodes' results hold, unless nothing it depends on changed."""
        self._check_due = None
        asked = self._asked()
        if asked == self._checked:
            return
        self._checked = asked
        self._check_files()
        runnable, _ = runnable_part(self.state.workflow, self.problems)
        self.runner.check(runnable, base_dir=self.base_dir, out_dir=self.out_dir(),
                          had_result=self.store.nodes())

    def _asked(self) -> tuple:
        """What a status check answers for: the workflow's structure, its folders, which nodes have results."""
        return (structure(self.state.workflow), self.base_dir, self.out_dir(), frozenset(self.store.nodes()))

    def _check_files(self) -> bool:
        """Look at the paths on disk: inputs there and of the right kind, outputs writable.
        True when what was found changed."""
        resolved = self.resolved
        found = []
        confined = {p.node for p in resolved.problems if p.code == OUTSIDE_ROOTS}  # not even looked at
        for node_id, params in resolved.params.items():
            if node_id in confined:
                continue
            node_type = self.registry.get(self.state.workflow.node(node_id).type)
            found.extend(path_problems(node_id, node_type, params))
        changed = found != self.problems[len(resolved.problems):]
        self._file_problems = (self._resolved[0], found)
        if changed:
            self.emit("statuses")
        return changed

    def refresh(self) -> None:
        """Check again even if nothing changed here (a viewer changed files on disk)."""
        self._checked = None
        self.check_now()

    def tick(self) -> None:
        """Called often from the event loop: drain run events, start a due status check, and
        look again at paths flagged on disk: a folder the user makes clears its node's flag
        without an edit (only those paths are looked at, which costs a few stat calls)."""
        self.runner.poll()
        now = self.clock()
        if self._check_due is not None and now >= self._check_due:
            self.check_now()
        elif self._file_problems[1] and now >= self._disk_due:
            self._disk_due = now + DISK_RECHECK
            if self._file_problems[0] == self._resolved[0] and self._check_files():
                self.refresh()  # the badges too: the node joins the part that can run

    def _statuses_changed(self) -> None:
        self.emit("statuses", "run")

    # --- runs -----------------------------------------------------------------------------
    def run_selected(self) -> None:
        if self.state.selected:
            self.start_run([self.state.selected])

    def run_from(self, node_id: str) -> None:
        """Run a node and every node downstream of it that can run: after a viewer changed the
        node (Apply this cut), what it feeds (an export's folders) follows."""
        _, left_out = runnable_part(self.state.workflow, self.problems)
        after = build_graph(self.state.workflow).descendants(node_id) - left_out
        self.start_run([node_id] + sorted(after))

    def start_run(self, targets: Sequence[str] | None) -> None:
        if self.runner.running:
            self.notify("A run is already going on in this tab.", "warning")
            return
        stop = [p for p in self.problems if p.node is None and p.code == OUTSIDE_ROOTS]
        if stop:
            self.notify(f"Cannot run: {stop[0].message}.", "warning")
            return
        plan = plan_run(self.state.workflow, self.problems, targets)
        if plan.message:
            self.notify(plan.message, "info" if plan.workflow else "warning")
        if plan.workflow is None:
            return
        self.runner.start(plan.workflow, base_dir=self.base_dir, out_dir=self.out_dir(), targets=targets,
                          source=str(self.state.path) if self.state.path else None)
        self._checked = None  # the run changes what is cached
        self._run_asked = self._asked()[:3]  # what the run's badges will hold for
        self.summary = "Running…"
        self.emit("run", "statuses")

    def run_line(self) -> str:
        """The footer's line while a run goes on: ``Running node 2 of 5, Embed: embedding:
        776 / 2,000 images · about 40 s left; 3 more after it``."""
        where = self.runner.where_the_run_is()
        if where is None or self.runner.cancel_event.is_set():  # starting, or "Cancelling…"
            return self.summary
        spec = self.state.workflow.node(where.node)
        title = self.state.node_title(spec) if spec else where.node
        message = self.status(where.node).message
        more = f"; {where.waiting} more after it" if where.waiting else ""
        if where.waiting and where.seconds_left is not None:  # each of them took this long last time
            more += f" · {time_left(where.seconds_left)} in all"
        return f"Running node {where.number} of {where.total}, {title}" + (f": {message}" if message else "") + more

    def cancel_run(self) -> None:
        self.runner.cancel()
        self.summary = "Cancelling…"
        self.emit("run")

    def _node_result(self, node: str, result: RunResult) -> None:
        """A node finished while the run goes on, or a check found it cached: its results can be
        looked at now."""
        if self.store.key(node) == result.outcomes[node].key:
            return  # these very results are shown already
        self.store.add(result)
        self.emit("results")

    def _run_finished(self, result: RunResult | None, error: Exception | None) -> None:
        if error is not None:
            text = explain(error) if isinstance(error, WorkflowInvalid) else str(error)
            self.summary = "The run did not start."
            self.notify(f"The run did not start:\n{text}", "negative")
            self.emit("run")
            return
        assert result is not None
        self.store.add(result)
        if self._asked()[:3] == self._run_asked:
            # nothing changed while it ran: its badges hold, and a Save must not ask again (a
            # folder too big to look at while editing would turn "done" into "not checked")
            self._checked = self._asked()
        self.summary = summary(result)
        failed = len(result.failed)
        if failed:
            self.notify(f"{failed} node(s) failed; see the red badges.", "negative")
        self.emit("run", "results", "statuses")


def explain(exc: WorkflowInvalid) -> str:
    """The first few problems of an invalid workflow, one a line."""
    lines = [str(p) for p in exc.problems[:6]]
    more = len(exc.problems) - len(lines)
    return "\n".join(lines + ([f"... and {more} more"] if more > 0 else []))
