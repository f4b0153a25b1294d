"""An unchanged re-run answered without starting the engine: make's up-to-date check.

After a run in which every node finished, the command line keeps a record in the cache
(never in the user's folder), one per output folder: FlowClass's version, the workflow's
shape (its nodes in file order and its edges), the order the nodes ran in, each node's
cache key, and the sizes and times of the pictures saved into the output folder.

The next ``flowclass run`` into that folder takes every node's key again as the engine
takes it (:func:`flowclass.node_cache.node_key`: paths checked, fingerprints read, so an
image changed, added or removed, a ``--set`` value or a node type's version changes a
key), finds each result in the cache and asks whether it may be served
(:func:`flowclass.node_cache.reusable`: the files it wrote into the folder are unchanged),
and checks that the pictures in the folder are unchanged and still made in the cache. Only
when all of that holds are the nodes reported as the engine reports a run served from the
cache, without importing the engine, networkx or anything the nodes compute with; any doubt
(no record, a damaged one, a key that differs, a result pruned or made for another output
folder) leaves the run to the engine. The engine's run forgets the record before it starts,
so a run killed midway leaves none.

A re-run into a new output folder has no record of its own: the latest record of the same
job (:func:`job_name`: the workflow file and its ``--set`` values) answers it, checked node
by node the same way (the keys of the nodes that write into the output folder do not
depend on which folder it is). Only once everything was found unchanged are the files those
nodes wrote copied in, as the engine copies them (:func:`flowclass.relocation.served_elsewhere`:
from the other folder, where they are checked unchanged, into a folder whose journal says
which files are FlowClass's, never over a file of the user's); the caller then copies the
pictures from the cache and records the new folder.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple

from . import __version__, safe_json
from .cache import Cache
from .context import RunContext
from .events import NodeEvent
from .fsutil import atomic_write_text
from .manifest import manifest_path
from .node_cache import file_state, node_key, reusable
from .outcomes import NodeOutcome, RunResult
from .protected import Protected
from .registry import Registry
from .report_store import reports_made
from .resolution import Dirs, resolve
from .states import DEFERRED, NodeState
from .up_to_date import RECORDS, job_name, latest_path, record_path
from .workflow import Workflow

SCHEME = "flowclass-run-record-1"
STORE = RECORDS


class RunRecord(NamedTuple):
    """What a run that finished left, as the next run into the same folder checks it."""

    out_dir: str
    shape: list[Any]  # [node ids in file order, edges as [from, port, to, port]]
    order: list[str]  # the nodes in the order they ran
    keys: dict[str, str]  # node -> its result's cache key
    reports: list[list[Any]]  # [path, size, mtime_ns] of each picture saved in out_dir
    families: list[str]  # the built-in node families declaring the workflow's node types
    flowclass: str
    up_to_date: dict[str, Any] | None = None  # what an unchanged re-run reads (flowclass.up_to_date)

    def document(self) -> dict[str, Any]:
        return {"scheme": SCHEME, "flowclass": self.flowclass, "out_dir": self.out_dir,
                "shape": self.shape, "order": self.order, "keys": self.keys, "reports": self.reports,
                "families": self.families}


def shape(workflow: Workflow) -> list[Any]:
    """The workflow's nodes in file order and its edges: they decide the engine's order."""
    return [[spec.id for spec in workflow.nodes],
            [[e.source.node, e.source.port, e.target.node, e.target.port] for e in workflow.edges]]


def _path(cache: Cache, out_dir: Path) -> Path:
    return Path(record_path(str(cache.root), str(out_dir)))


def read(cache: Cache, out_dir: Path) -> RunRecord | None:
    """The record of the last finished run into ``out_dir``; None when there is none or it
    is not whole and sound."""
    if not cache.owned():
        return None
    try:
        found = safe_json.loads(_path(cache, out_dir).read_text(encoding="utf-8"))
        record = RunRecord(found["out_dir"], found["shape"], found["order"], found["keys"],
                           found["reports"], found["families"], found["flowclass"], found.get("up_to_date"))
        sound = found["scheme"] == SCHEME and isinstance(record.order, list) and \
            isinstance(record.families, list) and all(isinstance(f, str) for f in record.families) and \
            isinstance(record.keys, dict) and isinstance(record.reports, list) and \
            all(isinstance(r, list) and len(r) == 3 and isinstance(r[0], str) for r in record.reports)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record if sound and record.out_dir == str(out_dir) else None


def forget(cache: Cache, out_dir: Path) -> None:
    """Remove the record of ``out_dir``: a run that starts there may change what it says."""
    if not cache.owned():
        return
    try:
        _path(cache, out_dir).unlink()
    except OSError:
        pass


def keep(cache: Cache, result: RunResult, out_dir: Path, reports: list[str],
         families: list[str] | None, job: str | None = None,
         witnesses: Callable[[list[list[Any]]], dict[str, Any] | None] | None = None) -> None:
    """Record a run in which every node finished (``reports``: the pictures' paths in the
    output folder; ``families``: the built-in node families it needs, None when a plugin's
    node types are among them: such a run is not recorded); with what ``witnesses(pictures)``
    says an unchanged re-run reads again (flowclass.up_to_date), also as the latest of ``job``
    (:func:`job_name`), for a run of the same job into another folder. A run copied from the
    latest into a new folder (no ``witnesses``) leaves the latest as it is: its witnesses
    answer the next new folder too (flowclass.new_out). A cache that cannot be written keeps
    no record, and says nothing."""
    keys = {node: outcome.key for node, outcome in result.outcomes.items()}
    if not result.ok or families is None or any(key is None for key in keys.values()):
        return
    pictures = [[path, *file_state(path)] for path in reports]
    record = RunRecord(str(out_dir), shape(result.workflow), list(result.outcomes), keys,
                       pictures, families, __version__)
    document = record.document()
    if witnesses is not None:
        try:
            document["up_to_date"] = witnesses(pictures)
        except (OSError, ValueError, KeyError, TypeError):  # unreadable: the record's check decides
            document["up_to_date"] = None
    try:
        cache.store_dir(STORE)
        atomic_write_text(_path(cache, out_dir), json.dumps(document), fsync=False)
        if job is not None and witnesses is not None:  # else the latest stays (see keep's docstring)
            atomic_write_text(_latest_path(cache, job), json.dumps({"scheme": SCHEME, "out_dir": str(out_dir)}),
                              fsync=False)
    except (OSError, ValueError):
        pass


def _latest_path(cache: Cache, job: str) -> Path:
    return Path(latest_path(str(cache.root), job))


def read_latest(cache: Cache, job: str) -> RunRecord | None:
    """The record of the latest finished run of ``job`` (:func:`job_name`), into whichever
    folder; None when there is none, or it was forgotten since."""
    if not cache.owned():
        return None
    try:
        found = safe_json.loads(_latest_path(cache, job).read_text(encoding="utf-8"))
        there = Path(found["out_dir"]) if found["scheme"] == SCHEME and isinstance(found["out_dir"], str) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return read(cache, there) if there is not None else None


def replay(record: RunRecord, workflow: Workflow, registry: Registry, cache: Cache, base_dir: Path,
           out_dir: Path, emit: Callable[[NodeEvent], None],
           named: frozenset[tuple[str, str]] = frozenset()) -> RunResult | None:
    """The run's result when ``record`` (:func:`read` for ``out_dir``, or :func:`read_latest`
    for another folder) shows nothing changed, with the events a run served from the cache
    gives (``emit``); None when the engine must run it.

    Into another folder than the record's, the results that wrote files there have them
    copied in as the engine would copy them (:func:`flowclass.relocation.served_elsewhere`),
    once everything else was found unchanged; the pictures are then the caller's to copy
    from the cache (:meth:`flowclass.reports.Reports.save`). ``named``: as :class:`Dirs`."""
    started = time.time()
    dirs = Dirs(base_dir.resolve(), out_dir.resolve(),
                protected=Protected.here(registry.plugin_folders, cache.root), named=named)
    if record.flowclass != __version__ or record.shape != shape(workflow) or not workflow.runs_in(record.order):
        return None
    resolved = resolve(workflow, registry, dirs, order=record.order)
    if resolved.problems or not _manifest_ours(dirs.out_dir):
        return None
    outcomes: dict[str, NodeOutcome] = {}
    held: dict[str, Any] = {}
    for node in record.order:
        outcome = _served(workflow, registry, cache, dirs, resolved.params[node], node, outcomes, held)
        if outcome is None or outcome.key != record.keys.get(node):
            return None
        outcomes[node] = outcome
    if record.out_dir == str(dirs.out_dir) and \
            any(file_state(path) != [size, mtime] for path, size, mtime in record.reports):
        return None
    if not _copied_here(workflow, registry, cache, dirs, outcomes, held):
        return None
    for node in record.order:
        emit(NodeEvent(node, NodeState.PENDING))
    for node, outcome in outcomes.items():
        deferred = node not in held
        emit(NodeEvent(node, NodeState.CACHED, seconds=outcome.seconds,
                       key=None if deferred else outcome.key, message=DEFERRED if deferred else ""))
    from .executors import LocalExecutor

    return RunResult(workflow, outcomes, cache, time.time() - started,
                     scheduler=LocalExecutor().describe(), _held=held)


def _copied_here(workflow: Workflow, registry: Registry, cache: Cache, dirs: Dirs,
                 outcomes: dict[str, NodeOutcome], held: dict[str, Any]) -> bool:
    """Serve each held result made for another output folder in this one, as the engine
    does: its files copied here, unless copies made before are all there unchanged; False
    as soon as one cannot be, for the engine to run."""
    from .relocation import read_paths, served_elsewhere

    read = read_paths((registry.get(spec.type), outcomes[spec.id].params or {}) for spec in workflow.nodes
                      if spec.id in outcomes)
    for node, cached in list(held.items()):
        there = cached.meta.get("out_dir")
        if there is None or there == str(dirs.out_dir):
            continue
        started = time.perf_counter()
        node_type = registry.get(workflow.node(node).type)
        served = served_elsewhere(cache, node_type, cached, _context(node, dirs, cache),
                                  outcomes[node].params, dirs.out_dir, read=read)
        if served is None:
            return False
        held[node] = served
        outcomes[node].seconds += time.perf_counter() - started
    return True


def _manifest_ours(out_dir: Path) -> bool:
    """Whether run.json may be written there (not a file of the user's)."""
    try:
        manifest_path(out_dir)
    except FileExistsError:
        return False
    return True


def _context(node: str, dirs: Dirs, cache: Cache) -> RunContext:
    return RunContext(node_id=node, base_dir=dirs.base_dir, out_dir=dirs.out_dir,
                      store_dir=cache.store_dir, protected=dirs.protected)


def _served(workflow: Workflow, registry: Registry, cache: Cache, dirs: Dirs, params: dict[str, Any],
            node: str, outcomes: dict[str, NodeOutcome], held: dict[str, Any]) -> NodeOutcome | None:
    """A node's outcome as a run would serve it from the cache as it is; None when it would
    not (its key cannot be taken, its result is gone, changed, or made for another folder
    and cannot be copied from there)."""
    started = time.perf_counter()
    spec = workflow.node(node)
    node_type = registry.get(spec.type)
    if node_type is None:
        return None
    ctx = _context(node, dirs, cache)
    try:
        key, fingerprint = node_key(workflow, node, node_type, params, ctx, dirs.out_dir,
                                    lambda parent: outcomes[parent].key)
    except Exception:  # the engine says what is wrong
        return None
    outcome = NodeOutcome(node, spec.type, spec.version, NodeState.CACHED, key=key,
                          fingerprint=fingerprint, params=params, reads=ctx.reads.document())
    if node_type.cache:
        cached = cache.get(key)
        if cached is None or not reusable(node_type, cached, params) or \
                not _placeable(node_type, cached, dirs.out_dir) or \
                (node_type.reports is not None and not reports_made(cache, key)):
            return None
        held[node] = cached
        outcome.reported(cached.meta)
    outcome.seconds = time.perf_counter() - started
    return outcome


def _placeable(node_type: Any, cached: Any, out_dir: Path) -> bool:
    """Whether a cached result serves ``out_dir``: made for no output folder, for this one, or
    for another one from which the node can copy every file it wrote."""
    there = cached.meta.get("out_dir")
    if there is None or there == str(out_dir):
        return True
    from .relocation import moves

    return node_type.relocate is not None and bool(moves(cached, out_dir))
