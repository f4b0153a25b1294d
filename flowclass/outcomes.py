"""How a run went: each node's outcome, and the run's result as front ends read it.

Apart from the engine so that a re-run found up to date (:mod:`flowclass.run_record`)
reports itself in the same terms, and run.json is written from the same objects, without
importing what the engine needs to run nodes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from .cache import Cache
from .cache_entry import CacheDamaged, CachedResult
from .states import FINISHED, NodeState
from .workflow import Workflow


@dataclass
class NodeOutcome:
    """How one node fared in a run; what run.json records per node."""

    node: str
    type: str
    version: int
    state: NodeState = NodeState.PENDING  # then DONE, CACHED, FAILED, SKIPPED or CANCELLED
    seconds: float = 0.0
    key: str | None = None
    fingerprint: str | None = None
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    error: str | None = None
    field: str | None = None
    hint: str | None = None
    traceback: str | None = None
    warnings: list[str] = dataclasses.field(default_factory=list)
    records: dict[str, Any] = dataclasses.field(default_factory=dict)
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (path, reason)
    # what its fingerprint read (flowclass/reads.py; None: not all told); not in run.json
    reads: dict[str, Any] | None = dataclasses.field(default=None, repr=False)

    def reported(self, meta: Mapping[str, Any]) -> None:
        """Take what the node reported when its cached result was made (``meta``): its
        warnings, records and skipped files."""
        self.warnings = list(meta.get("warnings", []))
        self.records = dict(meta.get("records", {}))
        self.skipped = [(str(path), str(reason)) for path, reason in meta.get("skipped", [])]


@dataclass
class RunResult:
    workflow: Workflow
    outcomes: dict[str, NodeOutcome]
    cache: Cache
    seconds: float
    manifest_path: Path | None = None
    manifest_error: str | None = None  # why run.json could not be written (a full disk...)
    skipped_note: str | None = None  # where the list of skipped files is (skipped.csv)
    without_cache: str | None = None  # why the run went on without its cache (a full disk...)
    scheduler: dict[str, Any] = dataclasses.field(default_factory=dict)  # where ctx.map's jobs ran
    reports: Any = None  # what the front end saved in the output folder (flowclass.reports.Saved)
    _values: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict, repr=False)
    # the cached results this run read or stored, leased: no prune removes them meanwhile
    _held: dict[str, CachedResult] = dataclasses.field(default_factory=dict, repr=False)
    # makes the outputs of a node that is not cached, when asked for after the run
    _deferred: Callable[[str], dict[str, Any]] | None = dataclasses.field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return all(o.state in FINISHED for o in self.outcomes.values())

    @property
    def skipped_files(self) -> list[tuple[str, str, str]]:
        """(node, path, reason) of every input file a node passed over, in run order."""
        return [(o.node, path, reason) for o in self.outcomes.values() for path, reason in o.skipped]

    @property
    def failed(self) -> list[NodeOutcome]:
        return [o for o in self.outcomes.values() if o.state == NodeState.FAILED]

    def release(self, node: str) -> bool:
        """Drop a node's in-memory outputs when the cache holds them (``output`` then reads
        them from disk); returns whether it did. Keeps long-lived results panels small."""
        outcome = self.outcomes.get(node)
        held = self._held.get(node) or (self.cache.get(outcome.key) if outcome and outcome.key else None)
        if held is None:
            return False
        self._held[node] = held
        self._values.pop(node, None)
        return True

    def output(self, node: str, port: str) -> Any:
        """An output value of a node of this run, from memory or from the cache."""
        if port in self._values.get(node, {}):
            return self._values[node][port]
        outcome = self.outcomes[node]
        cached = self._held.get(node) or (self.cache.get(outcome.key) if outcome.key else None)
        if cached is None and self._deferred is not None and outcome.state in FINISHED:
            try:  # a node that is never cached: made again from its inputs
                return self._deferred(node)[port]
            except KeyError:
                pass
        if cached is None:
            raise KeyError(f"node '{node}' has no output '{port}' (state: {outcome.state})")
        try:
            return cached.output(port)
        except CacheDamaged:  # nobody can read it: gone, the node's next run makes it again
            self._held.pop(node, None)
            cached.close()
            self.cache.discard(cached.folder)
            raise
