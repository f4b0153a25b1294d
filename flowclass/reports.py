"""What a run leaves in its output folder for people to look at: tables and pictures.

A node type may declare ``reports``: given its results (and those upstream of it), the
files worth saving — a confusion matrix as CSV and PNG, a dendrogram with its cut, a 2-D
map, area bars — each as a file name and a function that writes it. How anything is drawn
lives with the node families; this module decides when, and where the files go.

Reports are results: they are made once per cache key and kept in the cache beside the
node's result (:meth:`Cache.beside`), then copied into the output folder. So an unchanged
re-run, into the same folder or a new one, draws nothing and loads no result. While a run
goes on, a node's reports are made in a background thread as soon as the node is done
(the modules they need are imported while it still runs), in parallel with the nodes
after it. The command line and the canvas both save them with :class:`Reports`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

from .cache import Cache
from .events import NodeEvent
from .deferred_import import settle
from .fsutil import clear_dead_temps, held_temp_folder
from .registry import Registry
from .relocation import outputs_of
from .report_process import import_all
from .report_store import NAMES, FolderOpener, Saved, claimed, copy_made, reports_folder
from .states import FINISHED, NodeState
from .workflow import Workflow

Writer = Callable[[Path], None]


@dataclass(frozen=True)
class ReportSource:
    """A finished node as its ``reports`` function sees it."""

    node: str
    output: Callable[[str], Any]  # output(port) -> value
    upstream: Callable[[str], Any]  # upstream(data type name) -> nearest such value, or None


class Reports:
    """The reports of one run: made as nodes finish, then saved into the output folder.

    Give :meth:`on_event` every event of the run; after the run, :meth:`save`.
    """

    def __init__(self, workflow: Workflow, registry: Registry, cache: Cache, own_process: bool = False):
        """``own_process``: draw in a process of its own (:mod:`flowclass.report_process`),
        started as the first node runs, when the run's process has one thread then (a run
        served from the cache starts none)."""
        self.workflow, self.registry, self.cache = workflow, registry, cache
        self._keys: dict[str, str] = {}  # node -> its result's cache key, as events tell
        self._jobs: list[Future] = []
        self._drawn: list[tuple[str, Future]] = []  # (node, its drawing in the process)
        self._problems: dict[str, str] = {}  # node -> why its reports could not be made
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._scratch: tempfile.TemporaryDirectory | None = None  # reports of results not stored
        self._process: Any = None
        needs = tuple(dict.fromkeys(module for spec in workflow.nodes
                                    if (node_type := self._reporting_type(spec.id)) is not None
                                    for module in node_type.reports_need))
        self._process_needs = needs if own_process else ()  # until the first node runs

    # --- while the run goes on ------------------------------------------------------
    def on_event(self, event: NodeEvent) -> None:
        """Warm up when a node with reports starts; make its reports once it is done."""
        if event.state == NodeState.RUNNING and self._process_needs:
            from . import report_process

            self._process = report_process.start(self, self._process_needs)
            self._process_needs = ()
        node_type = self._reporting_type(event.node)
        if node_type is None:
            if event.key and event.state in (NodeState.DONE, NodeState.CACHED):
                self._keys[event.node] = event.key
            return
        if event.state == NodeState.RUNNING and node_type.reports_need and self._process is None:
            self._submit(import_all, node_type.reports_need)
        elif event.key and event.state in (NodeState.DONE, NodeState.CACHED):
            self._keys[event.node] = event.key
            if self._folder(event.key, ready=True) is not None:  # made before
                return
            if self._process is not None:
                from .report_process import make

                self._drawn.append((event.node, self._process.submit(make, event.node, event.key,
                                                                     dict(self._keys))))
            else:
                self._submit(self._make_from_cache, event.node, event.key)

    def _reporting_type(self, node: str) -> Any:
        spec = self.workflow.node(node)
        node_type = self.registry.get(spec.type) if spec is not None else None
        return node_type if node_type is not None and node_type.reports is not None else None

    def _submit(self, job: Callable[..., None], *args: Any) -> None:
        settle()  # nothing waits to be imported once a second thread may import
        with self._lock:
            if self._pool is None:  # one thread: drawing is not safe in two at once
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reports")
            self._jobs.append(self._pool.submit(job, *args))

    def _make_from_cache(self, node: str, key: str) -> None:
        """Make a node's reports from its cached result and those upstream, into the cache."""
        cached = self.cache.get(key)
        if cached is None:  # not stored (too large for the cache): made after the run
            return

        def upstream(kind: str) -> Any:
            from .graph import nearest_output

            found = nearest_output(self.workflow, self.registry, node, kind, lambda n: n in self._keys)
            stored = self.cache.get(self._keys[found[0]]) if found else None
            return stored.output(found[1]) if stored is not None else None

        source = ReportSource(node, cached.output, upstream)
        try:
            self._store(key, self._reporting_type(node).reports(source))
        except Exception as exc:  # a drawing that fails costs its pictures, never the run
            self._problems[node] = f"{type(exc).__name__}: {exc}"

    def _folder(self, key: str, ready: bool = False) -> Path | None:
        """The cache folder of a result's reports (None: the result is not stored); with
        ``ready``, None unless its reports were all made."""
        return reports_folder(self.cache, key, ready)

    def _store(self, key: str, writers: dict[str, Writer]) -> Path | None:
        """Write every report of a result into the cache, all at once: drawn into a folder of
        their own, renamed into place whole, so a drawing killed midway (kill -9) leaves no
        picture cut short nor its 0-byte temporary file among those a re-run copies. A
        killed drawing's folder is removed by the next one beside it."""
        folder = self._folder(key)
        if folder is None:
            return None
        clear_dead_temps(folder.parent, folders=True)
        with ExitStack() as stack:
            try:
                tmp = stack.enter_context(held_temp_folder(folder.parent))
            except OSError:  # a cache that cannot be written: the caller draws them elsewhere
                return None
            for name, write in writers.items():
                write(tmp / name)
            (tmp / NAMES).write_text(json.dumps(sorted(writers)), encoding="utf-8")
            _publish(tmp, folder)
        return folder

    # --- after the run ----------------------------------------------------------------
    def wait(self) -> None:
        """Until every report started during the run is made."""
        for job in list(self._jobs):
            job.result()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        for node, drawing in self._drawn:
            try:
                problem = drawing.result()
            except Exception:  # the process died: what it did not make is made after the run
                continue
            if problem:
                self._problems[node] = problem
        self._drawn = []
        if self._process is not None:
            self._process.shutdown()
            self._process = None

    def save(self, result: Any, out_dir: Path, open_folder: FolderOpener) -> Saved:
        """Copy every finished node's reports into ``out_dir``; make those still missing.

        A file already there that FlowClass wrote with the same bytes is left as it is (an
        unchanged re-run touches nothing); a user's own file is never replaced. A name two
        nodes would both write is prefixed with each one's node id
        (``evaluate_train-confusion_matrix.png``).
        """
        self.wait()
        saved = Saved()
        outputs = [path for spec in self.workflow.nodes if spec.id in result.outcomes
                   for path in outputs_of(self.registry.get(spec.type), result.outcomes[spec.id].params or {})]
        try:
            return copy_made(self._wanted(result, saved), out_dir, open_folder, saved, claimed(outputs, out_dir))
        finally:
            if self._scratch is not None:
                self._scratch.cleanup()
                self._scratch = None
        return saved

    def _wanted(self, result: Any, saved: Saved) -> list[tuple[str, str, Path]]:
        """(node, report name, the made file) of every finished node with reports."""
        wanted = []
        for spec in self.workflow.nodes:
            outcome = result.outcomes.get(spec.id)
            if self._reporting_type(spec.id) is None or outcome is None or outcome.state not in FINISHED:
                continue
            if spec.id in self._problems:
                saved.problems.append(f"the reports of '{spec.id}': {self._problems[spec.id]}")
                continue
            try:
                folder = self._made(result, spec.id, outcome.key)
            except Exception as exc:  # a drawing that fails costs its pictures, never the run
                saved.problems.append(f"the reports of '{spec.id}': {type(exc).__name__}: {exc}")
                continue
            names = json.loads((folder / NAMES).read_text(encoding="utf-8"))
            wanted += [(spec.id, name, folder / name) for name in names]
        return wanted

    def _made(self, result: Any, node: str, key: str | None) -> Path:
        """The folder of a node's made reports: from the cache, or made now from ``result``
        (into the cache, or a scratch folder when the result is not stored there)."""
        folder = self._folder(key, ready=True) if key else None
        if folder is not None:
            return folder
        source = ReportSource(node, lambda port: result.output(node, port),
                              lambda kind: _upstream(result, self.workflow, self.registry, node, kind))
        writers = self._reporting_type(node).reports(source)
        folder = self._store(key, writers) if key else None
        if folder is None:  # not in the cache: made in a folder of its own for this run
            if self._scratch is None:
                self._scratch = tempfile.TemporaryDirectory(prefix="flowclass-reports-")
            folder = Path(self._scratch.name) / node
            folder.mkdir()
            for name, write in writers.items():
                write(folder / name)
            (folder / NAMES).write_text(json.dumps(sorted(writers)), encoding="utf-8")
        return folder


def _publish(drawn: Path, folder: Path) -> None:
    """Rename the reports drawn into place, unless another run put its own there meanwhile
    (the same pictures: theirs are kept). A folder without its list of names is half written
    (by a FlowClass that drew in place, killed midway): it goes first."""
    if folder.exists() and not (folder / NAMES).is_file():
        shutil.rmtree(folder, ignore_errors=True)
    try:
        os.rename(drawn, folder)
    except OSError:
        if not (folder / NAMES).is_file():
            raise


def _upstream(result: Any, workflow: Workflow, registry: Registry, node: str, data_type: str) -> Any:
    """The nearest output of ``data_type`` from ``node`` or its ancestors that finished."""
    from .graph import nearest_output  # networkx: not for a re-run that draws nothing

    finished = lambda n: n in result.outcomes and result.outcomes[n].state in FINISHED
    found = nearest_output(workflow, registry, node, data_type, finished)
    return result.output(*found) if found else None
