"""One tab's editing session: the workflow, its problems, runs, results and the output folder.

Plain Python, no NiceGUI, so it is tested without a browser. Every user intent is a
method; after it the session tells its subscribers what changed (a set of
:data:`CHANGES`), and each view redraws only what shows that. Status checks (which
results are cached; they list import folders) are debounced and asked only when
something that feeds a node changed: moving or renaming nodes costs no check.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from ..cache import Cache
from ..engine import Engine
from ..problems import Problem
from ..library import ready_workflows_dir
from ..params import Path as PathParam
from ..registry import Registry
from ..resolution import Dirs, Resolved, resolve
from ..scanning import CHECK_FILES
from ..workflow import Workflow
from .browse import Roots
from .confine import CODE as ROOTS_CODE, outside_roots
from .editor import EditorState
from .outputs import ResultStore
from .runner import NodeStatus, RunController
from .session_checks import SessionChecks, structure
from .session_edits import SessionEdits
from .session_runs import SessionRuns
from .untitled import untitled_out_dir

#: What a change notice may name:
#: ``loaded`` another workflow is open (results and badges start over);
#: ``graph`` nodes, edges or titles changed; ``params`` parameter values changed;
#: ``layout`` only positions changed (the canvas already shows them);
#: ``selection``; ``statuses`` badges; ``file`` path or dirty mark; ``out_dir``; ``run`` a run
#: started or ended (buttons, summary); ``results`` a run's results arrived.
CHANGES = frozenset({"loaded", "graph", "params", "layout", "selection", "statuses", "file", "out_dir",
                     "run", "results"})

Listener = Callable[[frozenset[str]], None]
Notify = Callable[[str, str], None]  # (message, kind: info | positive | warning | negative)


class EditorSession(SessionEdits, SessionChecks, SessionRuns):
    """One tab's session: the workflow, its folders and problems, and the change notices;
    what the views ask for is in its parts: edits (:mod:`.session_edits`), status checks
    (:mod:`.session_checks`) and runs (:mod:`.session_runs`)."""

    def __init__(self, registry: Registry, cache: Cache, *, notify: Notify | None = None,
                 clock: Callable[[], float] = time.monotonic, roots: Roots | None = None,
                 executor: Any = None, scan_files: int = CHECK_FILES):
        self.registry = registry
        self.cache = cache
        self.roots = roots  # where the canvas may read and write (None: anywhere)
        self.state = EditorState(registry)
        self.store = ResultStore()
        may_read = roots.with_roots([ready_workflows_dir()]).allows if roots is not None else None
        self.runner = RunController(Engine(registry, cache, may_read), on_change=self._statuses_changed,
                                    on_finished=self._run_finished, on_node_result=self._node_result,
                                    executor=executor, scan_files=scan_files)
        self.notify: Notify = notify or (lambda message, kind: None)
        self.clock = clock
        self.summary = ""
        self.out_choice: Path | None = None
        self._untitled_out: Path | None = None
        # values typed into the inspector in this tab, by (node, parameter): an output path the
        # user typed may lie outside the output folder, one a workflow file gave may not
        self.typed: dict[tuple[str, str], Any] = {}
        self.viewport: dict[str, float] | None = None  # where the canvas looks; None: frame the graph
        # {node: {key: value}}: results views' work in no file yet (ViewerContext.keep_work)
        self.view_work: dict[str, dict[str, Any]] = {}
        self.state.reserved_ids = lambda: self.view_work.keys()  # a new node never takes a deleted one's strokes
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

    @property
    def listeners(self) -> tuple[Listener, ...]:
        return tuple(self._listeners)

    def unsubscribe(self, listener: Listener) -> None:
        """A page's view that is gone (the tab was reloaded or closed) stops listening."""
        if listener in self._listeners:
            self._listeners.remove(listener)

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
        key = (structure(self.state.workflow), self.base_dir, self.out_dir(), self.named)
        if self._resolved[0] != key or self._resolved[1] is None:
            dirs = Dirs(self.base_dir, self.out_dir(), protected=self.runner.engine.protected, named=self.named)
            resolved = resolve(self.state.workflow, self.registry, dirs)
            resolved.problems.extend(self._outside_roots())
            self._resolved = (key, resolved)
        return self._resolved[1]

    @property
    def named(self) -> frozenset[tuple[str, str]]:
        """The (node, parameter) pairs whose value is one the user typed in this tab."""
        return frozenset(pair for pair, value in self.typed.items()
                         if (spec := self.state.workflow.node(pair[0])) is not None
                         and spec.params.get(pair[1]) == value)

    def named_inside_roots(self, node_id: str, name: str) -> bool:
        """Whether the user gave this parameter's value in this tab (not the workflow file),
        and it lies inside the roots: a viewer may then write decisions into that file."""
        return (node_id, name) in self.named and not any(
            problem.code == ROOTS_CODE and problem.node == node_id and problem.field == name
            for problem in self.resolved.problems)

    def adopt(self, node_id: str, name: str) -> None:
        """The user takes the workflow file's value of this parameter as their own, as if typed
        (a decisions file the file named, which a viewer writes into only then)."""
        spec = self.state.workflow.node(node_id)
        if spec is not None and name in spec.params:
            self.typed[(node_id, name)] = spec.params[name]
            self.emit("params")

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
        """Where runs write: chosen by the user, else next to the saved workflow, else a folder
        of this unsaved workflow's own inside the roots (:mod:`.untitled`)."""
        if self.out_choice is not None:
            return self.out_choice
        if self.state.path is not None:
            return self.state.path.parent / "flowclass-out" / self.state.path.stem
        if self._untitled_out is None:
            self._untitled_out = untitled_out_dir(self.roots)
        return self._untitled_out

    def run_out_dir(self) -> Path:
        """The folder the run going on writes (Save As or Change during a run moves only the
        next run's), else where the next run will write."""
        if self.runner.running and self.runner.out_dir is not None:
            return self.runner.out_dir
        return self.out_dir()

    @property
    def untitled_out(self) -> Path | None:
        """The unsaved workflow's own output folder, once chosen (a draft keeps it)."""
        return self._untitled_out

    @untitled_out.setter
    def untitled_out(self, folder: Path | None) -> None:
        self._untitled_out = folder

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

    # --- work a results view holds that no file has yet ---------------------------------------
    def kept_view_work(self, node_id: str, key: str) -> Any:
        return self.view_work.get(node_id, {}).get(key)

    def keep_view_work(self, node_id: str, key: str, value: Any) -> None:
        """A results view's unsaved work (painted strokes) belongs to the tab, as the workflow's
        edits do: the draft keeps it at once, and the tab shows it has unsaved changes."""
        entries = self.view_work.setdefault(node_id, {})
        if value is None:
            entries.pop(key, None)
        else:
            entries[key] = value
        if not entries:
            del self.view_work[node_id]
        self.emit("file")

    @property
    def unsaved(self) -> bool:
        """Whether leaving would lose something: the workflow's edits, or a view's work of a
        node the workflow still has."""
        return self.state.dirty or self.unsaved_view_work

    @property
    def unsaved_view_work(self) -> bool:
        return any(self.state.workflow.node(node_id) is not None for node_id in self.view_work)

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
        self._untitled_out = None  # the next unsaved workflow gets a folder of its own
        self.typed = {}  # the file's values are the file's, not typed here
        self.viewport = None
        self.view_work = {}  # the strokes of another workflow's nodes
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
