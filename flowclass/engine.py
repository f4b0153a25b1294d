"""The engine: runs the nodes a request needs, in order, serving what it can from cache.

Each node result is cached under a key (:mod:`flowclass.cache_key`) made of the node's type
and version, its resolved parameters, its inputs' keys and, for nodes that read files, a fingerprint of what they
read. An unchanged workflow therefore re-runs without running any node, and (because
results load lazily) without even importing what the nodes would have needed.

The engine knows nothing about images: it calls ``NodeType.run`` and reports events.
"""

from __future__ import annotations

import errno
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from .cache import Cache, CacheDamaged, CachedResult, NotACache, ResultTooLarge, cache_hint
from .cache_use import RunCache
from .codec import CodecError
from .context import RunContext
from .deferred_import import settle
from .errors import Cancelled, NodeError, WorkflowInvalid
from .events import NodeEvent
from .executors import describe
from .fsutil import WriteError, write_error
from .graph import build_graph, execution_order
from .manifest import manifest_path, write_manifest
from .node import NodeType
from .node_cache import file_state, node_key, reusable
from .outcomes import NodeOutcome, RunResult
from .problems import Problem
from .registry import Registry
from .protected import Protected
from .relocation import read_paths, served_elsewhere
from .resolution import Dirs, Resolved, resolve
from .scanning import ScanBudget, ScanLimitReached
from .states import DEFERRED, FINISHED, WARNING, NodeState
from .workflow import Workflow

# A node that found no room to write (a full disk, a quota, a file at the largest size
# allowed): told with the file and what to do, not as an unexpected error
OUT_OF_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


@dataclass(frozen=True)
class Planned:
    """What a run would do with one node now, and the cache key it would use (None: unknown)."""

    state: NodeState
    key: str | None
    note: str = ""  # why the state is not known yet (a folder too large to look at meanwhile)


class Engine:
    def __init__(self, registry: Registry, cache: Cache | None = None,
                 may_read: Callable[[str], bool] | None = None):
        self.registry = registry
        self.cache = cache if cache is not None else Cache()
        #: the canvas's rule for files nodes find in folders (see RunContext.may_read)
        self.may_read = may_read
        #: where no node may write: FlowClass's folders (this cache and the registry's plugin
        #: folders included) and the home folder's dot-folders
        self.protected = Protected.here(registry.plugin_folders, self.cache.root)

    def run(
        self,
        workflow: Workflow,
        *,
        base_dir: str | Path = ".",
        out_dir: str | Path = ".",
        targets: Iterable[str] | None = None,
        on_event: Callable[[NodeEvent], None] | None = None,
        cancel: threading.Event | None = None,
        manifest: bool = True,
        source: str | None = None,
        overrides: Iterable[str] = (),
        executor: Any = None,
        system: tuple[str, dict[str, str | None]] | None = None,
        named: Iterable[tuple[str, str]] = (),
    ) -> RunResult:
        """Validate, then run what ``targets`` need (default: every node).

        Raises :class:`WorkflowInvalid` before running anything if the workflow has any
        problem. A failing node does not stop independent branches; its descendants are
        reported as skipped. Writes ``run.json`` into ``out_dir`` unless ``manifest`` is False.
        ``executor`` (see flowclass.executors) runs the jobs nodes hand to ``ctx.map``;
        default: threads in this process. ``system``: the platform's name and the package
        versions run.json states, when the caller has them (:mod:`flowclass.installed`).
        ``named``: the (node, parameter) pairs whose path the user gave (see :class:`Dirs`).
        """
        targets = list(targets) if targets is not None else None
        dirs = Dirs(Path(base_dir).resolve(), Path(out_dir).resolve(), protected=self.protected,
                    named=frozenset(named))
        graph, resolved = _check(self, workflow, dirs, targets, source)
        if manifest:  # refuse a foreign run.json before doing any work, not after
            manifest_path(dirs.out_dir)

        run = _Run(self, resolved, graph, dirs, on_event or (lambda event: None), cancel or threading.Event(),
                   executor)
        started = time.time()
        order = execution_order(graph, targets)
        run.execute(order, keep=set(targets) if targets is not None else set(order))
        result = RunResult(workflow, run.outcomes, self.cache, time.time() - started,
                           scheduler=describe(executor),
                           without_cache=run.use.unwritable,
                           _values=run.values, _held=run.cached, _deferred=run.deferred_values)
        grew = run.use.unwritable is None and any(o.state == NodeState.DONE for o in run.outcomes.values())
        if grew:
            try:  # keep it under its cap; this run's results stay
                self.cache.prune(keep={o.key for o in run.outcomes.values() if o.key})
            except (OSError, NotACache):
                pass
        if manifest:
            try:
                result.manifest_path = write_manifest(result, started=started, source=source,
                                                      overrides=list(overrides), out_dir=run.out_dir,
                                                      system=system)
            except WriteError as exc:  # the results are still good; say why run.json is missing
                result.manifest_error = str(exc)
        return result

    def status(self, workflow: Workflow, *, base_dir: str | Path = ".", out_dir: str | Path = ".",
               targets: Iterable[str] | None = None) -> dict[str, NodeState]:
        """What a run would do per node now: ``cached``, ``pending``, ``failed`` or ``skipped``."""
        planned = self.plan(workflow, base_dir=base_dir, out_dir=out_dir, targets=targets)
        return {node: plan.state for node, plan in planned.items()}

    def plan(self, workflow: Workflow, *, base_dir: str | Path = ".", out_dir: str | Path = ".",
             targets: Iterable[str] | None = None, scan_budget: ScanBudget | None = None,
             named: Iterable[tuple[str, str]] = ()) -> dict[str, Planned]:
        """Per node, what a run would do now and the cache key it would use.

        The canvas shows this as badges (a node whose key changed since its run is stale);
        it runs no node. Raises :class:`WorkflowInvalid` like :meth:`run` for a workflow
        that could not run. ``scan_budget`` bounds the folder walks of the fingerprints
        (all of them together); a node whose walk runs past it, and what depends on it,
        stays ``idle`` with a note saying it is not checked yet.
        """
        targets = list(targets) if targets is not None else None
        dirs = Dirs(Path(base_dir).resolve(), Path(out_dir).resolve(), protected=self.protected,
                    named=frozenset(named))
        graph, resolved = _check(self, workflow, dirs, targets, None)
        run = _Run(self, resolved, graph, dirs, lambda event: None, threading.Event())
        run.scan_budget = scan_budget
        states = run.plan(execution_order(graph, targets))
        return {node: Planned(state, run.outcomes[node].key, run.notes.get(node, ""))
                for node, state in states.items()}


def _check(engine: "Engine", workflow: Workflow, dirs: Dirs, targets: list[str] | None,
           source: str | None) -> tuple[Any, Resolved]:
    """The graph and the resolved workflow; raises WorkflowInvalid listing every problem.

    The disk is not checked here: a node whose input is missing fails on its own, and
    independent branches still run."""
    resolved = resolve(workflow, engine.registry, dirs)
    problems = list(resolved.problems)
    graph = build_graph(workflow)
    for target in targets or []:
        if target not in graph:
            problems.append(Problem("unknown_node", "no such node to run", node=target))
    if problems:
        raise WorkflowInvalid(problems, source=source)
    return graph, resolved


class _Run:
    """The state of one run: outcomes, keys and the values still needed downstream."""

    def __init__(self, engine: Engine, resolved: Resolved, graph: Any, dirs: Dirs,
                 emit: Callable[[NodeEvent], None], cancel: threading.Event, executor: Any = None):
        self.engine, self.workflow, self.graph = engine, resolved.workflow, graph
        self.params = resolved.params
        self.executor = executor
        self.base_dir, self.out_dir = dirs.base_dir, dirs.out_dir
        self.emit, self.cancel = emit, cancel
        self.scan_budget: ScanBudget | None = None  # set by plan: runs read every file
        self.notes: dict[str, str] = {}  # plan: why a node's state is not known yet
        self.outcomes: dict[str, NodeOutcome] = {}
        self.values: dict[str, dict[str, Any]] = {}
        self.cached: dict[str, CachedResult] = {}  # leased results: read, or stored by this run
        self.deferred: dict[str, NodeType] = {}  # not cached: made only when wanted
        self.use = RunCache(engine.cache)
        self.notices: set[str] = set()  # warnings about this run's cache, not kept with results

    def _title(self, node_id: str) -> str:
        """A node as the canvas shows it: its title, else its type's (its id is shown nowhere)."""
        return self.engine.registry.title(self.workflow.node(node_id))

    def execute(self, order: list[str], keep: set[str]) -> None:
        registry = self.engine.registry
        for node_id in order:
            spec = self.workflow.node(node_id)
            self.outcomes[node_id] = NodeOutcome(node_id, spec.type, spec.version)
            self.emit(NodeEvent(node_id, NodeState.PENDING))
        waiting = {n: sum(1 for s in self.graph.successors(n) if s in self.outcomes) for n in order}
        for node_id in order:
            outcome = self.outcomes[node_id]
            if self.cancel.is_set():
                outcome.state = NodeState.CANCELLED
                self.emit(NodeEvent(node_id, NodeState.CANCELLED))
                continue
            node_type = registry.get(outcome.type)
            parents = list(self.graph.predecessors(node_id))
            bad = [p for p in parents if self.outcomes[p].state not in FINISHED]
            if bad:
                outcome.state = NodeState.SKIPPED
                outcome.error = f"not run because {self._title(bad[0])} did not finish"
                self.emit(NodeEvent(node_id, NodeState.SKIPPED, message=outcome.error))
            else:
                self._run_node(node_id, node_type, outcome)
            if node_id not in self.deferred:  # a deferred node may still need its inputs
                for parent in parents:
                    self._release(parent, waiting, keep)

    def _release(self, node_id: str, waiting: dict[str, int], keep: set[str]) -> None:
        """One consumer less: free the node's values once nobody downstream needs them (and,
        for a deferred node, its inputs with them)."""
        waiting[node_id] -= 1
        if waiting[node_id] == 0 and node_id not in keep:
            self.values.pop(node_id, None)
            if node_id in self.deferred:
                for parent in self.graph.predecessors(node_id):
                    self._release(parent, waiting, keep)

    def _input_value(self, node_id: str, port: str) -> Any:
        if port in self.values.get(node_id, {}):
            return self.values[node_id][port]
        if node_id in self.deferred:
            return self.deferred_values(node_id)[port]
        if node_id not in self.cached:  # it ran, and its values were let go: read them back
            found = self.engine.cache.get(self.outcomes[node_id].key or "")
            if found is None:
                return self._run_again(node_id, f"the cached result of '{node_id}' was removed while "
                                                f"this run needed it; '{node_id}' ran again")[port]
            self.cached[node_id] = found
        try:
            return self.cached[node_id].output(port)
        except CacheDamaged as exc:
            return self._run_again(node_id, f"{exc}; it was discarded and '{node_id}' ran again")[port]

    def _notice(self, ctx: RunContext, message: str) -> None:
        """A warning about this run's cache (a damaged result, a cache it cannot write): told
        once, on the node concerned, and not repeated by later cache hits of its result."""
        self.notices.add(message)
        ctx.warn(message)

    def _run_again(self, node_id: str, warning: str) -> dict[str, Any]:
        """Make a node's outputs again when its cached result turns out damaged (or gone)
        while a later node reads it: discarded, with a warning naming it, and recomputed."""
        held = self.cached.pop(node_id, None)
        if held is not None:
            held.close()
            self.engine.cache.discard(held.folder)
        outcome = self.outcomes[node_id]
        node_type = self.engine.registry.get(outcome.type)
        started, ctx = time.perf_counter(), self._context(node_id)
        self._notice(ctx, warning)
        self.emit(NodeEvent(node_id, NodeState.RUNNING))
        try:
            result = self._call(node_id, node_type, ctx, outcome.params)
        except NodeError as exc:
            self._fail(outcome, started, exc.message, exc.field, exc.hint, ctx)
            raise NodeError(f"its input from '{node_id}' failed: {exc.message}") from exc
        self._finish(outcome, NodeState.DONE, started, ctx)
        self._store(node_id, node_type, outcome, result, ctx.written or None)
        self.emit(NodeEvent(node_id, NodeState.DONE, seconds=outcome.seconds, key=outcome.key))
        return self.values[node_id]

    def _call(self, node_id: str, node_type: NodeType, ctx: RunContext,
              params: Mapping[str, Any]) -> Mapping[str, Any]:
        """Gather the node's inputs, run it, check its outputs; keeps them in ``values``."""
        settle()  # a node may start threads: what waits to be imported is imported now
        inputs = {}
        for inp in node_type.inputs:
            edge = self.workflow.edge_into(node_id, inp.name)
            if edge is None:
                inputs[inp.name] = None
                continue
            source_type = self.engine.registry.get(self.workflow.node(edge.source.node).type)
            value = self._input_value(edge.source.node, edge.source.port)
            inputs[inp.name] = inp.type.adapt(value, source_type.output(edge.source.port).type)
        result = node_type.run(ctx, **inputs, **params)
        declared = [o.name for o in node_type.outputs]
        if not isinstance(result, Mapping) or sorted(result) != sorted(declared):
            got = sorted(result) if isinstance(result, Mapping) else type(result).__name__
            raise RuntimeError(f"node type '{node_type.type}' returned {got}; it declares "
                               f"outputs {declared}")
        self.values[node_id] = dict(result)
        return result

    def deferred_values(self, node_id: str) -> dict[str, Any]:
        """The outputs of a node that is not cached (``NodeType.cache`` False), made now
        from its inputs; a failure is reported on it and raised to whoever asked."""
        if node_id in self.values:
            return self.values[node_id]
        node_type, outcome = self.deferred[node_id], self.outcomes[node_id]
        started, ctx = time.perf_counter(), self._context(node_id)
        self.emit(NodeEvent(node_id, NodeState.RUNNING))
        try:
            self._call(node_id, node_type, ctx, outcome.params)
        except NodeError as exc:
            self._fail(outcome, started, exc.message, exc.field, exc.hint, ctx)
            raise NodeError(f"its input from '{node_id}' failed: {exc.message}") from exc
        self._finish(outcome, NodeState.DONE, started, ctx)
        self.emit(NodeEvent(node_id, NodeState.DONE, seconds=outcome.seconds))
        return self.values[node_id]

    def _context(self, node_id: str) -> RunContext:
        return RunContext(node_id=node_id, base_dir=self.base_dir, out_dir=self.out_dir,
                          store_dir=self.use.store_dir, emit=self.emit,
                          cancel_event=self.cancel, executor=self.executor, scan_budget=self.scan_budget,
                          protected=self.engine.protected, may_read=self.engine.may_read)

    def _run_node(self, node_id: str, node_type: NodeType, outcome: NodeOutcome,
                  notice: str | None = None) -> None:
        started = time.perf_counter()
        ctx = self._context(node_id)
        if notice:
            self._notice(ctx, notice)
        try:
            self._key(node_id, node_type, outcome, ctx)
            params = outcome.params
            cached = self.engine.cache.get(outcome.key, on_damage=lambda text: self._notice(ctx, text))
            served = self._served(node_type, cached, ctx, params) if cached is not None else None
            if served is not None:
                self.cached[node_id] = served
                self._finish(outcome, NodeState.CACHED, started, meta=cached.meta)
                self.emit(NodeEvent(node_id, NodeState.CACHED, seconds=outcome.seconds, key=outcome.key))
                return
            if cached is not None:  # its files changed: this run's result will replace it
                cached.close()
            if not node_type.cache:  # a cheap view of its inputs: made when a value is wanted
                self.deferred[node_id] = node_type
                self._finish(outcome, NodeState.CACHED, started)
                self.emit(NodeEvent(node_id, NodeState.CACHED, seconds=outcome.seconds,
                                    message=DEFERRED))
                return
            self.emit(NodeEvent(node_id, NodeState.RUNNING))
            result = self._call(node_id, node_type, ctx, params)
            self._finish(outcome, NodeState.DONE, started, ctx)
            self._store(node_id, node_type, outcome, result, ctx.written or None)
            self.emit(NodeEvent(node_id, NodeState.DONE, seconds=outcome.seconds, key=outcome.key))
        except Cancelled:
            self._finish(outcome, NodeState.CANCELLED, started)
            self.emit(NodeEvent(node_id, NodeState.CANCELLED))
        except NodeError as exc:
            self._fail(outcome, started, exc.message, exc.field, exc.hint, ctx)
        except Exception as exc:  # any bug in a node is reported, never a crash of the run
            if self.use.is_trouble(exc) and notice is None and self.use.unwritable is None:
                # the cache could not be written: run the node again without it
                self._run_node(node_id, node_type, outcome, notice=self.use.give_up(exc))
                return
            if isinstance(exc, WriteError):  # a full disk, a read-only folder: say what to do
                self._fail(outcome, started, self._storage_message(exc), None, None, ctx)
                return
            if isinstance(exc, OSError) and exc.errno in OUT_OF_ROOM:
                self._fail(outcome, started, self._storage_message(exc), None, None, ctx)
                return
            outcome.traceback = traceback.format_exc()
            self._fail(outcome, started, f"{type(exc).__name__}: {exc}", None,
                       f"unexpected error in node type '{node_type.type}'; the traceback is "
                       "in run.json", ctx)

    def _key(self, node_id: str, node_type: NodeType, outcome: NodeOutcome, ctx: RunContext) -> None:
        """Put the node's cache key and fingerprint into ``outcome`` (raises NodeError naming
        the field when a path is wrong)."""
        params = outcome.params = self.params[node_id]
        outcome.key, outcome.fingerprint = node_key(self.workflow, node_id, node_type, params, ctx,
                                                    self.out_dir, lambda node: self.outcomes[node].key)
        outcome.reads = ctx.reads.document()

    def plan(self, order: list[str]) -> dict[str, NodeState]:
        """Each node's state if the run started now, without running anything.

        ``cached`` (a result exists for its key), ``pending`` (it would run), or ``failed``
        / ``skipped`` when its key cannot be known (its fingerprint failed, e.g. a missing
        folder). Fingerprints are taken, so this reads folder listings but no images.
        """
        states: dict[str, NodeState] = {}
        for node_id in order:
            spec = self.workflow.node(node_id)
            node_type = self.engine.registry.get(spec.type)
            outcome = self.outcomes[node_id] = NodeOutcome(node_id, spec.type, spec.version)
            if any(states.get(p) in (NodeState.FAILED, NodeState.SKIPPED)
                   for p in self.graph.predecessors(node_id)):
                states[node_id] = NodeState.SKIPPED
                continue
            unknown = next((self.notes[p] for p in self.graph.predecessors(node_id) if p in self.notes), None)
            if unknown is not None:  # its inputs' keys are not known, so neither is its own
                states[node_id], self.notes[node_id] = NodeState.IDLE, unknown
                continue
            try:
                self._key(node_id, node_type, outcome, self._context(node_id))
            except ScanLimitReached as exc:
                states[node_id] = NodeState.IDLE
                self.notes[node_id] = f"not checked yet: {exc} while editing; it is checked when run"
                continue
            except Exception:  # the run itself will report it properly
                states[node_id] = NodeState.FAILED
                continue
            if not node_type.cache:  # made from its inputs whenever wanted
                parents = [states[p] for p in self.graph.predecessors(node_id)]
                states[node_id] = NodeState.PENDING if NodeState.PENDING in parents else NodeState.CACHED
                continue
            cached = self.engine.cache.get(outcome.key)
            states[node_id] = NodeState.CACHED if cached is not None and reusable(
                node_type, cached, outcome.params) else NodeState.PENDING
        return states

    def _storage_message(self, exc: OSError) -> str:
        """What to say when a node could not write (a full disk...): the file and what to do,
        pointing to the cache settings when the file is in the cache."""
        if exc.filename:
            if Path(exc.filename).resolve().is_relative_to(self.engine.cache.root.resolve()):
                cause = exc.__cause__ if isinstance(exc, WriteError) and \
                    isinstance(exc.__cause__, OSError) else exc
                return str(write_error(cause, exc.filename, cache_hint(cause)))
            return str(write_error(exc, exc.filename))
        return (f"disk full ({exc.strerror}): free some space, or choose another output folder "
                f"(--out, now {self.out_dir}) or cache folder (--cache, now "
                f"{self.engine.cache.root})")

    def _fail(self, outcome: NodeOutcome, started: float, message: str, field: str | None,
              hint: str | None, ctx: RunContext) -> None:
        outcome.error, outcome.field, outcome.hint = message, field, hint
        self._finish(outcome, NodeState.FAILED, started, ctx)
        self.emit(NodeEvent(outcome.node, NodeState.FAILED, message=message, field=field, hint=hint,
                            seconds=outcome.seconds))

    def _finish(self, outcome: NodeOutcome, state: NodeState, started: float, ctx: RunContext | None = None,
                meta: Mapping[str, Any] | None = None) -> None:
        """Close a node's outcome: its state, its time, and what it reported while it ran (the
        warnings, records and skipped files of ``ctx``, or of a cached result's ``meta``)."""
        outcome.state, outcome.seconds = state, time.perf_counter() - started
        if meta is not None:
            outcome.reported(meta)
        elif ctx is not None:
            outcome.warnings, outcome.records, outcome.skipped = ctx.warnings, ctx.records, ctx.skipped

    def _served(self, node_type: NodeType, cached: CachedResult, ctx: RunContext,
                params: dict[str, Any]) -> CachedResult | None:
        """The cached result as this run serves it: as it is, or (made for another output
        folder) with its files copied into this one; None when the node must run."""
        def damaged(text: str) -> None:
            self.engine.cache.discard(cached.folder)
            self._notice(ctx, f"{text}; it was discarded and '{ctx.node_id}' runs again")

        if not reusable(node_type, cached, params, on_damage=damaged):
            return None
        there = cached.meta.get("out_dir")
        if node_type.relocate is None or there is None or Path(there) == self.out_dir:
            return cached
        read = read_paths((self.engine.registry.get(spec.type), self.params.get(spec.id, {}))
                          for spec in self.workflow.nodes)
        return served_elsewhere(self.engine.cache, node_type, cached, ctx, params, self.out_dir,
                                remember=self.use.unwritable is None, read=read)

    def _store(self, node_id: str, node_type: NodeType, outcome: NodeOutcome,
               result: Mapping[str, Any], written: list[str] | None = None) -> None:
        meta = {"node": node_id, "type": node_type.type, "version": node_type.version,
                "seconds": outcome.seconds,
                "warnings": [w for w in outcome.warnings if w not in self.notices],
                "records": outcome.records, "fingerprint": outcome.fingerprint,
                "skipped": outcome.skipped}
        if node_type.writes_files and written is not None:
            meta["files"] = [[path, *file_state(path)] for path in written]
        if node_type.relocate is not None:
            meta["out_dir"] = str(self.out_dir)
        if self.use.unwritable is not None:
            return
        try:
            stored = self.engine.cache.put(outcome.key, result, meta)
        except (CodecError, OSError, NotACache) as exc:
            message = self.use.give_up(exc) if self.use.is_trouble(exc) and \
                not isinstance(exc, ResultTooLarge) else f"result not cached: {exc}"
            if message:
                outcome.warnings.append(message)
                self.emit(NodeEvent(node_id, WARNING, message=message))
            return
        if stored is not None:
            self.cached[node_id] = stored
