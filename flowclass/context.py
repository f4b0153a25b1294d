"""What a running node may use besides its inputs: progress, cancellation, storage.

A node never sees the engine, the CLI or the canvas; it talks to this object, and the
engine turns what it says into events that front ends subscribe to.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from .errors import Cancelled
from .protected import Protected
from .reads import Reads

if TYPE_CHECKING:
    from .events import NodeEvent  # made when a node reports (flowclass/events.py)
    from .scanning import ScanBudget  # a status check's, not a run's (nor a re-run's copies into a new --out)


@dataclass
class RunContext:
    """The one object a node is handed to talk to the run (its docstring also spares
    :mod:`dataclasses` writing a signature here, which imports :mod:`inspect`)."""

    node_id: str
    base_dir: Path
    out_dir: Path
    store_dir: Callable[[str], Path]
    emit: Callable[[NodeEvent], None] = lambda event: None
    cancel_event: threading.Event = field(default_factory=threading.Event)
    warnings: list[str] = field(default_factory=list)
    records: dict[str, Any] = field(default_factory=dict)
    written: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    executor: Any = None  # where ctx.map runs jobs; None: local threads (see executors.py)
    # a status check's budget for walking folders (pass it to the walks a fingerprint
    # makes); None in a run, which reads every file
    scan_budget: ScanBudget | None = None
    # where nothing may be written (FlowClass's folders, the home folder's dot-folders);
    # None: as Protected.here() finds them
    protected: Protected | None = None
    # the canvas: whether a file a node finds in a folder may be read (links resolved: a
    # link inside the canvas's folders to a file outside them may not); None: any file
    may_read: Callable[[str], bool] | None = None
    # what the fingerprint read, as it tells it (flowclass/reads.py); fresh for each key taken
    reads: Reads = field(default_factory=Reads)
    # the content hashes (SHA-256) of files a node copies, by path, where the run knows them
    # already (an unchanged re-run into a new --out: its witnesses keep those of the files
    # it copies); None: a node reads them where it needs them
    known_sha256: Mapping[str, str] | None = None
    # the size and time (ns) of each file the node's owned folders put in place, by path, as
    # they put it: the engine keeps a copy's without reading it again (flowclass/placements.py)
    placed: dict[str, tuple[int, int]] = field(default_factory=dict)
    _last_progress: float = 0.0
    _last_message: str = ""

    def progress(self, done: int, total: int | None = None, unit: str = "", message: str = "") -> None:
        """Report progress; cheap to call often (events are throttled to ~10 per second, but
        a new phase, its message, is always told: it says where the phase starts). After a
        Cancel it is told too, then the node stops: a node that keeps its progress (Embed's
        stored batches) says exactly how much of it the next run need not do again."""
        from .events import NodeEvent  # not imported with this module (flowclass/events.py)
        from .states import PROGRESS

        if self.cancel_event.is_set():
            self.emit(NodeEvent(self.node_id, PROGRESS, done=done, total=total, unit=unit, message=message))
        self.check_cancelled()
        now = time.monotonic()
        if (total is not None and done < total and now - self._last_progress < 0.1
                and message == self._last_message):
            return
        self._last_progress, self._last_message = now, message
        self.emit(NodeEvent(self.node_id, PROGRESS, done=done, total=total, unit=unit,
                            message=message))

    def warn(self, message: str) -> None:
        """Something the user should know that does not stop the node (a skipped file)."""
        from .events import NodeEvent
        from .states import WARNING

        self.warnings.append(message)
        self.emit(NodeEvent(self.node_id, WARNING, message=message))

    def skip(self, rows: Any) -> None:
        """Declare input files passed over, as (path, reason) pairs. Every run lists them in
        ``skipped.csv`` and run.json, so a headless user sees which files and why."""
        self.skipped.extend((str(path), str(reason)) for path, reason in rows)

    def wrote(self, *paths: str | Path) -> None:
        """Declare files this node wrote. A cached result of the node is reused only while
        every one of them is still there, unchanged; otherwise the node runs again."""
        self.written.extend(str(p) for p in paths)

    def record(self, key: str, value: Any) -> None:
        """Keep a JSON-able fact in the run manifest (a weights hash, a model version)."""
        self.records[key] = value

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any],
            on_done: Callable[[int, Any], None] | None = None) -> list[Any]:
        """``[fn(item) for item in items]`` on the run's executor (threads, or a Dask cluster),
        in order. ``fn`` must be a module-level function (a cluster imports it by name) and
        items plain data; ``on_done(index, result)`` runs here as each finishes (for progress).
        Stops with Cancelled when the run is cancelled."""
        if self.executor is None:
            from .executors import LocalExecutor

            self.executor = LocalExecutor()
        results = self.executor.map(fn, list(items), on_done=on_done, cancel=self.cancel_event)
        self.check_cancelled()
        return results

    @property
    def remote(self) -> bool:
        """Whether ``map`` sends work to other processes or machines."""
        return bool(getattr(self.executor, "remote", False))

    def check_cancelled(self) -> None:
        if self.cancel_event.is_set():
            raise Cancelled()
