"""Runs a tab's workflow in a background thread and turns engine events into node badges.

The engine runs on a worker thread; its events arrive on that thread and go into a
queue, which the page drains from the event loop (``poll``, called by a ``ui.timer``),
so the page stays responsive and no UI element is touched off the loop. Cancel sets
the run's ``threading.Event``, which nodes check between steps. A run first takes its output
folder's run lock (:func:`flowclass.userfiles.folder_lock.run_lock`): while another run (another
tab, a terminal) writes there, :attr:`RunController.waiting` says so, and Cancel ends the wait.

Badges are :class:`~flowclass.states.NodeState`: ``idle`` (not run), ``pending`` (waits
in this run), ``running`` (with progress), ``cached``, ``done``, ``stale`` (it had a
result, but its cache key changed since), ``failed`` (shown as "error", with the message
and the field), ``skipped``, ``cancelled``. Between runs, ``check`` asks
:meth:`Engine.plan` which results are cached and with which keys, without running anything.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..events import NodeEvent
from ..engine import Engine, NodeOutcome, Planned, RunResult
from ..problems import Problem
from ..executors import ExecutorChoice
from ..graph import descendants
from ..manifest import node_seconds
from ..node import NodeType
from ..run_clock import RunClock, RunLeft, node_kinds, time_left
from ..reports import Reports
from ..userfiles.folder_lock import run_lock
from ..userfiles.owned_folder import owned_folder
from ..scanning import CHECK_FILES, ScanBudget
from ..timings import TimingHistory
from ..states import FINISHED, PROGRESS, WARNING, NodeState
from ..workflow import Workflow

LABELS = {NodeState.IDLE: "not run", NodeState.FAILED: "error"}  # badge text, where not the state


@dataclass(frozen=True)
class Kept:
    """What a stopped run left stored of a node that keeps its progress (Embed's vectors):
    ``done`` of ``total`` items, which the next run does not make again."""

    done: int
    total: int
    unit: str = ""

    label = "partly done"  # the node's badge; :attr:`note` under it says how much

    @property
    def note(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.done:,} of {self.total:,}{unit} kept"

    @property
    def sentence(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.done:,} of {self.total:,}{unit} are kept; Run resumes from there."


@dataclass(frozen=True)
class NodeStatus:
    state: NodeState = NodeState.IDLE
    progress: float | None = None
    message: str = ""
    field: str | None = None
    label: str = ""  # the badge's text, where not the state's own
    kept: Kept | None = None  # a stopped run's stored part of it (the next run starts there)

    def describe(self) -> dict[str, Any]:
        """The ``status`` of a canvas node."""
        return {"state": self.state, "progress": self.progress, "message": self.message,
                "label": self.label or LABELS.get(self.state, self.state),
                "note": self.kept.note if self.kept else ""}


def runnable_part(workflow: Workflow, problems: Iterable[Problem]) -> tuple[Workflow, set[str]]:
    """The workflow without nodes that have problems and their descendants.

    A placeholder (unknown node type) or a half-connected node must not stop the rest
    of the graph from running; the engine then gets a valid workflow.
    """
    excluded: set[str] = set()
    for problem in problems:
        if problem.node is not None and workflow.node(problem.node) is not None:
            excluded |= {problem.node} | descendants(workflow, problem.node)
    return workflow.without_nodes(excluded), excluded


@dataclass(frozen=True)
class RunPlan:
    """What a Run request becomes: the workflow to hand the engine, or why there is none."""

    workflow: Workflow | None
    message: str = ""  # for the user; with a workflow, a note (some nodes left out)


def plan_run(workflow: Workflow, problems: list[Problem], targets: Sequence[str] | None,
             describe: Callable[[Problem], str] = str) -> RunPlan:
    """``describe`` words each problem (the canvas: by its node's title and its field's label)."""
    runnable, left_out = runnable_part(workflow, problems)
    reasons = [describe(p) for p in problems if p.node in left_out][:4]
    blocked = [t for t in targets or [] if t in left_out]
    if blocked:
        return RunPlan(None, f"Node '{blocked[0]}' cannot run until these are fixed:\n" + "\n".join(reasons))
    if not workflow.nodes:
        return RunPlan(None, "Nothing to run: add nodes from the palette, or open a ready workflow.")
    if not runnable.nodes:  # say what stops it (a folder that is missing), not "add nodes"
        return RunPlan(None, "Nothing can run until these are fixed:\n" + "\n".join(reasons)
                       + "\nFix what is marked on the canvas, then press Run again.")
    if targets is None and left_out:  # which node holds the rest back, and why
        nodes = f"{len(left_out)} node{'s' if len(left_out) > 1 else ''}"
        return RunPlan(runnable, f"Running all but {nodes}:\n" + "\n".join(reasons))
    return RunPlan(runnable, "")


def summary(result: RunResult) -> str:
    """One line about a finished run, for the page's footer."""
    states = [o.state for o in result.outcomes.values()]
    return (f"Last run: {len(states)} node(s), {states.count(NodeState.CACHED)} from cache, "
            f"{states.count(NodeState.FAILED)} failed, {result.seconds:.1f}s"
            + (" (cancelled)" if NodeState.CANCELLED in states else "")
            + (f"; not saved: {'; '.join(result.reports.problems)}" if result.reports and result.reports.problems else ""))


@dataclass(frozen=True)
class RunPosition:
    """Where a run is: node ``number`` of ``total`` (``node``), and how many wait after it."""

    number: int
    total: int
    node: str
    waiting: int
    left: RunLeft | None = None  # the whole run's time left (a lower bound where nodes are untimed)


@dataclass
class _Finished:
    """Queue item: the run thread ended (result, or the error that stopped it)."""

    result: RunResult | None
    error: Exception | None


@dataclass
class _Waiting:
    """Queue item: the run waits for another FlowClass run writing into its output folder."""

    message: str


class _CancelledWaiting(Exception):
    """Cancel, while the run waited for the output folder's lock."""


@dataclass
class _Checked:
    """Queue item: a status check ended."""

    planned: dict[str, Planned]
    had_result: set[str]
    generation: int


class RunController:
    """One tab's runs; all methods are called from the event loop except the workers."""

    def __init__(self, engine: Engine, on_change: Callable[[], None],
                 on_finished: Callable[[RunResult | None, Exception | None], None],
                 on_node_result: Callable[[str, RunResult], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, executor: Any = None,
                 scan_files: int = CHECK_FILES):
        self.engine = engine
        self.scan_files = scan_files  # entries one status check looks at, at most (runs: all)
        # where nodes' batches run: an ExecutorChoice shared by the tabs, or one executor
        self.executors = executor if isinstance(executor, ExecutorChoice) else ExecutorChoice(executor)
        self.on_change = on_change
        self.on_finished = on_finished
        # A node's outputs, as soon as it is done or found cached (the run goes on).
        self.on_node_result = on_node_result or (lambda node, result: None)
        self.clock = clock
        self.statuses: dict[str, NodeStatus] = {}
        self.queue: queue.Queue[Any] = queue.Queue()
        self.cancel_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.checking = False
        self._generation = 0  # status checks answer for the workflow they were asked about
        self._check_wanted: tuple[Workflow, Path, Path, set[str]] | None = None
        self._run_id = 0  # events carry the run they come from
        self._run_keys: dict[str, str | None] = {}  # the cache key each badge was earned with
        self.run_nodes: list[str] = []  # the nodes of the run going on, in the order they run
        self.waiting = ""  # what the run going on waits for before it starts, if anything
        self.took: dict[str, float] = {}  # seconds each node took when it last ran
        self.out_dir: Path | None = None  # the folder the run going on writes (or the last one wrote)
        self._keeps: dict[str, NodeType] = {}  # the run's nodes whose progress counts what is stored
        self.reached: dict[str, Kept] = {}  # how far those got in the run going on
        self.run_clock = RunClock({}, clock=clock)  # the run's time left; teaches the node types' paces
        # A run waits for a status check still in flight: both may write the same store
        # entries (sample images, models) the first time, and need not race for them.
        self._engine_lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self.thread is not None

    @property
    def going(self) -> bool:
        """Whether the run's work is still going on: ``running`` stays true until :meth:`poll`
        (a page's timer) takes in its end, which a tab with no page never does."""
        return self.thread is not None and self.thread.is_alive()

    def status(self, node_id: str) -> NodeStatus:
        return self.statuses.get(node_id, NodeStatus())

    # --- running ----------------------------------------------------------------------
    def start(self, workflow: Workflow, *, base_dir: Path, out_dir: Path,
              targets: Sequence[str] | None = None, source: str | None = None,
              named: frozenset[tuple[str, str]] = frozenset()) -> None:
        """Run in the background; events update :attr:`statuses` as :meth:`poll` drains them.
        ``named``: the output paths the user typed (see :class:`flowclass.resolution.Dirs`)."""
        if self.running:
            raise RuntimeError("a run is already going on in this tab")
        self.cancel_event = threading.Event()
        self._generation += 1  # an older status check must not overwrite this run's badges
        self._run_id += 1
        run_id = self._run_id
        self.run_nodes = []
        self.waiting = ""
        self._keeps = {n.id: spec for n in workflow.nodes
                       if (spec := self.engine.registry.get(n.type)) is not None and spec.keeps_progress}
        self.reached = {}
        self.out_dir = out_dir
        self.took.update(node_seconds(out_dir))  # the last run there: what each node may take
        self.run_clock = RunClock(node_kinds(workflow, self.engine.registry),
                                  TimingHistory(lambda: self.engine.cache.store_dir("timings")),
                                  took=self.took, clock=self.clock)
        cancel = self.cancel_event

        reports = Reports(workflow, self.engine.registry, self.engine.cache)

        def on_event(event: NodeEvent) -> None:
            reports.on_event(event)
            self.queue.put((run_id, event))

        waited: list[str] = []

        def waiting(message: str) -> None:
            waited.append(message)
            self.queue.put((run_id, _Waiting(message)))

        def cancelled() -> None:
            if cancel.is_set():
                raise _CancelledWaiting

        def work() -> None:
            try:
                # another run into the same folder (another tab, a terminal) goes first, whole;
                # waited for before the engine is taken, so the tab's status checks go on meanwhile
                with run_lock(out_dir, say=waiting, check_cancelled=cancelled), self._engine_lock, \
                        self.executors.use() as executor:
                    if waited:  # no longer
                        self.queue.put((run_id, _Waiting("")))
                    result = self.engine.run(workflow, base_dir=base_dir, out_dir=out_dir,
                                             targets=targets, on_event=on_event,
                                             cancel=cancel, source=source, executor=executor, named=named)
                    # the same tables and pictures as `flowclass run` leaves in --out
                    result.reports = reports.save(result, out_dir, owned_folder)
                self.queue.put((run_id, _Finished(result, None)))
            except _CancelledWaiting:  # nothing ran, nothing was written
                self.queue.put((run_id, _Finished(None, None)))
            except Exception as exc:  # WorkflowInvalid, a foreign run.json...: shown to the user
                self.queue.put((run_id, _Finished(None, exc)))

        self.thread = threading.Thread(target=work, name="flowclass-run", daemon=True)
        self.thread.start()

    def cancel(self) -> None:
        self.cancel_event.set()

    def abandon(self) -> None:
        """Cancel the run and ignore what it still reports: the tab opened another workflow."""
        self.cancel_event.set()
        self._run_id += 1
        self.thread = None  # a new run waits for the old one to stop (the engine lock)

    def where_the_run_is(self) -> RunPosition | None:
        """Which node of the run is going on (the first not finished), while one runs."""
        if not self.running or not self.run_nodes:
            return None
        busy = [n for n in self.run_nodes if self.status(n).state in (NodeState.PENDING, NodeState.RUNNING)]
        if not busy:
            return None
        current = next((n for n in busy if self.status(n).state == NodeState.RUNNING), busy[0])
        after = [n for n in busy if n != current]
        return RunPosition(self.run_nodes.index(current) + 1, len(self.run_nodes), current, len(after),
                           self.run_clock.left(current, after))

    # --- checking what is cached ----------------------------------------------------------
    def check(self, workflow: Workflow, *, base_dir: Path, out_dir: Path, had_result: set[str],
              named: frozenset[tuple[str, str]] = frozenset()) -> None:
        """Ask in the background which nodes are cached; ``had_result`` ones turn stale if not."""
        self._check_wanted = (workflow, base_dir, out_dir, set(had_result), named)
        self._start_check()

    def _start_check(self) -> None:
        if self.running or self.checking or self._check_wanted is None:
            return
        workflow, base_dir, out_dir, had_result, named = self._check_wanted
        self._check_wanted = None
        self.checking = True
        generation = self._generation = self._generation + 1

        def work() -> None:
            try:
                with self._engine_lock:
                    planned = self.engine.plan(workflow, base_dir=base_dir, out_dir=out_dir,
                                               scan_budget=ScanBudget(files=self.scan_files), named=named)
            except Exception:  # invalid, or a fingerprint failed in a new way: the run will say
                planned = {}
            self.queue.put(_Checked(planned, had_result, generation))

        threading.Thread(target=work, name="flowclass-status", daemon=True).start()

    # --- the event loop side ----------------------------------------------------------------
    def poll(self) -> None:
        """Apply what the workers reported; called often from the event loop."""
        changed = False
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                break
            changed = True
            if isinstance(item, _Checked):
                self.checking = False
                if item.generation == self._generation:
                    self._apply_check(item)
                continue
            run_id, item = item
            if run_id != self._run_id:
                continue  # from an abandoned run
            if isinstance(item, _Waiting):
                self.waiting = item.message
            elif isinstance(item, NodeEvent):
                self._apply_event(item)
            else:
                self.thread = None
                self.waiting = ""
                if item.result is not None:
                    self._run_keys.update((n, o.key) for n, o in item.result.outcomes.items())
                    self.took.update((n, o.seconds) for n, o in item.result.outcomes.items()
                                     if o.state == NodeState.DONE)
                self._settle_after_run()
                self.on_finished(item.result, item.error)
        if changed:
            self.on_change()
        self._start_check()

    def _apply_event(self, event: NodeEvent) -> None:
        current = self.status(event.node)
        self.run_clock(event)
        if event.state == NodeState.PENDING and event.node not in self.run_nodes:
            self.run_nodes.append(event.node)
        if event.state == PROGRESS and event.total and self._counts_kept(event):
            self.reached[event.node] = Kept(event.done or 0, event.total, event.unit)
        if event.state == PROGRESS:
            self.statuses[event.node] = replace(current, state=NodeState.RUNNING, progress=event.fraction,
                                                message=self._progress_text(event), label="")
        elif event.state == WARNING:
            self.statuses[event.node] = replace(current, message=event.message)
        elif event.state == NodeState.FAILED:
            text = event.message + (f" — {event.hint}" if event.hint else "")
            self.statuses[event.node] = NodeStatus(NodeState.FAILED, message=text, field=event.field)
        elif event.state == NodeState.CANCELLED:
            self.statuses[event.node] = self._stopped(event.node)
        else:
            self.statuses[event.node] = NodeStatus(NodeState(event.state), message=event.message)
            if event.state in (NodeState.DONE, NodeState.CACHED) and event.key:
                self.on_node_result(event.node, self._early_result(event))

    def _counts_kept(self, event: NodeEvent) -> bool:
        """Whether ``event`` says how much of its node is stored: a phase that keeps its items,
        and not the start of a later one (Find Duplicates' fine checks starting at 0 do not
        hide that its looks at every image are kept)."""
        spec = self._keeps.get(event.node)
        if spec is None or not spec.counts_kept(event.message):
            return False
        return bool(event.done) or event.node not in self.reached

    def _progress_text(self, event: NodeEvent) -> str:
        """``embedding: 200 / 1,000 images · about 40 s left``: the node's phase (its message),
        the counts, and the time left at the pace of this phase so far."""
        parts = [event.message] if event.message else []
        if event.total:
            parts.append(f"{event.done or 0:,} / {event.total:,} {event.unit}".strip())
        text = ": ".join(parts)
        left = self.run_clock.latest.get(event.node)
        return f"{text} · {time_left(left)}" if left is not None else text

    def _early_result(self, event: NodeEvent) -> RunResult:
        """A one-node result read from the cache, for a node that finished while the run goes on."""
        return self._cached_result(event.node, NodeState(event.state), event.key)

    def _cached_result(self, node: str, state: NodeState, key: str | None) -> RunResult:
        """A one-node result read from the cache (values load when a viewer asks)."""
        outcome = NodeOutcome(node, "", 0, state=state, key=key)
        return RunResult(Workflow(), {node: outcome}, self.engine.cache, 0.0)

    def _apply_check(self, checked: _Checked) -> None:
        statuses = {}
        for node, planned in checked.planned.items():
            current = self.statuses.get(node)
            if current is not None and current.kept is not None and node not in self._run_keys:
                self._run_keys[node] = planned.key  # told by a draft: the key it holds for is this one
            unchanged = current is not None and node in self._run_keys and self._run_keys[node] == planned.key
            if unchanged and (current.state in (NodeState.FAILED, NodeState.SKIPPED, NodeState.CANCELLED)
                              or (current.state in FINISHED and planned.state == NodeState.CACHED)):
                statuses[node] = current  # its cache key did not change: the badge still holds
            elif planned.note:  # too much to look at while editing: the run will tell
                statuses[node] = NodeStatus(NodeState.IDLE, message=planned.note, label="not checked")
            else:
                statuses[node] = NodeStatus(_badge(planned.state, node in checked.had_result))
        self.statuses = statuses
        for node, planned in checked.planned.items():  # cached: its results show at once
            if planned.state == NodeState.CACHED and planned.key:
                self.on_node_result(node, self._cached_result(node, NodeState.CACHED, planned.key))

    def _settle_after_run(self) -> None:
        """Nodes left pending or running when a run stops (cancelled, crashed) are not running."""
        for node, status in self.statuses.items():
            if status.state in (NodeState.PENDING, NodeState.RUNNING):
                self.statuses[node] = self._stopped(node)

    def _stopped(self, node: str) -> NodeStatus:
        """A node the run stopped in: cancelled, and how much of it is kept, if any is."""
        kept = self.reached.get(node)
        if kept is None or not 0 < kept.done <= kept.total:
            return NodeStatus(NodeState.CANCELLED)
        return self.stopped_at(node, kept)

    def stopped_at(self, node: str, kept: Kept) -> NodeStatus:
        """Say on ``node`` that a run stopped there with ``kept`` stored (also after a server
        restart, from the tab's draft); the badge holds until the node's cache key changes."""
        self.statuses[node] = NodeStatus(NodeState.CANCELLED, message=kept.sentence, label=kept.label, kept=kept)
        return self.statuses[node]

    def forget(self, node_ids: Iterable[str]) -> None:
        for node in node_ids:
            self.statuses.pop(node, None)


def _badge(planned: NodeState, had_result: bool) -> NodeState:
    """Badge for a node between runs, from :meth:`Engine.plan`'s answer: a node that had a
    result and would run again is stale (its cache key changed)."""
    if planned == NodeState.CACHED:
        return NodeState.CACHED
    if planned == NodeState.PENDING:
        return NodeState.STALE if had_result else NodeState.IDLE
    return NodeState.IDLE  # failed/skipped fingerprints: the next run reports why
