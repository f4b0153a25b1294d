"""How long each node type takes, learnt from every run on this computer.

A first run of a workflow knows nothing of the nodes still to come, unless nodes of the
same type ran before, in any workflow. Each finished node teaches its type (and version)
a :class:`Pace`: a fixed cost, and a cost per item of the run (the largest count any node
of the run reported, e.g. its images), so that a run over 20,000 images expects what 200
taught, scaled. The history is one small JSON file in FlowClass's data folder (the cache's
``stores/timings/``), never in a user's folder; losing it only loses estimates.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from . import safe_json
from .fsutil import atomic_write_text

FILE_NAME = "timings.json"
MEMORY = 3  # a new run weighs as much as the last three together: paces follow a changed machine


@dataclass(frozen=True)
class Sample:
    """One node's run, as its progress reports and its end told it."""

    seconds: float  # the whole run of the node
    run_items: int | None  # items of the run when it ended (None: nobody reported a count)
    fixed: float  # seconds spent before items started to move (loading a model)
    per_item: float  # seconds per item of the run after that (0: the node reported no count)


@dataclass(frozen=True)
class Pace:
    """What a node type costs: ``fixed + per_item * items`` seconds for a run of ``items``."""

    fixed: float
    per_item: float
    runs: int = 1
    items: int | None = None  # the run's item count the last time

    def seconds(self, items: int | None) -> float:
        """For a run of ``items`` (None: not known yet, as many as the last time)."""
        return self.fixed + self.per_item * (items if items is not None else self.items or 0)

    def learn(self, sample: Sample) -> "Pace":
        """This pace moved towards ``sample`` (an average over about the last few runs)."""
        weight = min(self.runs, MEMORY)
        blend = lambda old, new: (old * weight + new) / (weight + 1)  # noqa: E731
        return Pace(blend(self.fixed, sample.fixed), blend(self.per_item, sample.per_item), self.runs + 1,
                    sample.run_items if sample.run_items is not None else self.items)


def first_pace(sample: Sample) -> Pace:
    return Pace(sample.fixed, sample.per_item, 1, sample.run_items)


@dataclass(frozen=True)
class FirstMove:
    """When a node's count first moved, in its phase with the largest total: from ``start``
    (more than 0 when a stopped run left work done) to ``reached`` of ``total``, at ``at``."""

    at: float
    start: int
    reached: int
    total: int


def measure(seconds: float, ended: float, run_items: int | None, move: FirstMove | None) -> Sample:
    """A node's :class:`Sample`: everything before its count first moved is fixed cost (a
    model loading), and the items left then took the time after it (``ended``: when the
    node finished, on the clock of ``move.at``)."""
    if move is None or not run_items or move.reached >= move.total:
        return Sample(seconds, run_items, seconds, 0.0)  # quick, or no count: all of it fixed
    per_own_item = max(0.0, ended - move.at) / (move.total - move.reached)
    fixed = max(0.0, seconds - per_own_item * (move.total - move.start))
    # a run of N items gives the node about total * N / run_items of its own (masks, fits...)
    return Sample(seconds, run_items, fixed, per_own_item * move.total / run_items)


class TimingHistory:
    """The paces of node types (``type@version``), read from and written to ``folder``."""

    def __init__(self, folder: Callable[[], Path] | Path | None):
        self._folder = folder
        self.paces: dict[str, Pace] = self._read()

    @property
    def path(self) -> Path | None:
        if self._folder is None:
            return None
        try:
            folder = self._folder() if callable(self._folder) else self._folder
        except (OSError, ValueError):  # a cache that cannot be written, or not FlowClass's: no history
            return None
        return folder / FILE_NAME

    def _read(self) -> dict[str, Pace]:
        path = self.path
        try:
            doc = safe_json.loads(path.read_text(encoding="utf-8")) if path else {}
        except (OSError, ValueError):
            return {}
        paces = {}
        for key, entry in (doc.get("paces", {}) if isinstance(doc, dict) else {}).items():
            try:
                items = entry.get("items")
                pace = Pace(float(entry["fixed"]), float(entry["per_item"]), int(entry["runs"]),
                            int(items) if items is not None else None)
            except (TypeError, KeyError, ValueError, AttributeError):
                continue
            if all(math.isfinite(v) and v >= 0 for v in (pace.fixed, pace.per_item)) and pace.runs > 0 \
                    and (pace.items is None or pace.items >= 0):
                paces[key] = pace
        return paces

    def estimate(self, kind: str, run_items: int | None) -> float | None:
        """Seconds a node of ``kind`` takes in a run of ``run_items``; None if it never ran."""
        pace = self.paces.get(kind)
        return pace.seconds(run_items) if pace else None

    def learn(self, kind: str, sample: Sample) -> None:
        """Fold ``sample`` in and write the file (what other processes learnt meanwhile kept)."""
        self.paces.update(self._read())
        old = self.paces.get(kind)
        self.paces[kind] = old.learn(sample) if old else first_pace(sample)
        path = self.path
        if path is None:
            return
        doc = {"paces": {key: asdict(pace) for key, pace in sorted(self.paces.items())}}
        try:
            atomic_write_text(path, json.dumps(doc, indent=1) + "\n")
        except OSError:  # a cache that cannot be written: the run goes on without estimates
            pass
