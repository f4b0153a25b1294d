"""A run's time left: the running node's, at its own pace, and the whole run's.

The canvas and the terminal feed it the engine's events. The nodes still to come count
with what they took the last time they ran (same node, same output folder), else with the
pace their type showed in any earlier run (:mod:`flowclass.timings`), scaled to this run's
item count (the largest count of images, files... reported so far; before any, the count
of the type's last run), else as long as the running node will take, when of its type. A node
nobody has timed yet is named instead: the total is then a lower bound, and says so.
Each node that finishes teaches its type's pace to the history.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from .events import NodeEvent
from .states import PROGRESS, NodeState
from .timings import FirstMove, Sample, TimingHistory, measure


@dataclass(frozen=True)
class RunLeft:
    """The whole run's seconds left; a lower bound when some nodes are ``untimed``."""

    seconds: float
    untimed: tuple[str, ...] = ()


def time_left(seconds: float, at_least: bool = False) -> str:
    """Rounded as a person would say it: ``about 10 s left``, ``about 3 min left``; a lower
    bound rounded down: ``at least 10 s left``."""
    if at_least:
        if seconds < 60:
            return f"at least {max(5, 5 * math.floor(seconds / 5))} s left"
        return f"at least {math.floor(seconds / 60)} min left"
    if seconds < 60:
        return f"about {max(5, 5 * math.ceil(seconds / 5))} s left"
    return f"about {math.ceil(seconds / 60)} min left"


def whole_run(left: RunLeft | None) -> str:
    """`` · about 2 min left in all``, or a lower bound when nodes are untimed (`` · at least
    1 min left in all``; nothing below 5 s)."""
    if left is None:
        return ""
    if not left.untimed:
        return f" · {time_left(left.seconds)} in all"
    return f" · {time_left(left.seconds, at_least=True)} in all" if left.seconds >= 5 else ""


def not_timed(left: RunLeft | None, title: Callable[[str], str] = str) -> str:
    """``Export to Folders not timed yet``: the nodes whose time nobody knows, or ""."""
    if left is None or not left.untimed:
        return ""
    return f"{', '.join(dict.fromkeys(title(n) for n in left.untimed))} not timed yet"


def in_all(left: RunLeft | None, title: Callable[[str], str] = str) -> str:
    """`` · about 2 min left in all``; with nodes nobody timed yet a lower bound that names
    them: `` · at least 1 min left in all (Export to Folders not timed yet)``."""
    names = not_timed(left, title)
    return whole_run(left) + (f" ({names})" if names else "")


@dataclass
class _ItemPhase:
    """A node's phase with the largest total so far, and its first move."""

    total: int
    start: int
    move: FirstMove | None = None


class RunClock:
    """Follows one run's events (call it with each :class:`NodeEvent`)."""

    def __init__(self, kinds: Mapping[str, str], history: TimingHistory | None = None,
                 took: Mapping[str, float] | None = None, clock: Callable[[], float] = time.monotonic):
        self.kinds = dict(kinds)  # node -> "type@version"
        self.history = history
        self.took = dict(took or {})  # node -> seconds it took when it last ran
        self.clock = clock
        self.order: list[str] = []  # the nodes of the run, in the order they run
        self.finished: set[str] = set()
        self.started: dict[str, float] = {}
        self.run_items: int | None = None  # the largest count reported in the run
        self.latest: dict[str, float | None] = {}  # node -> its time left as of its last report
        self._left: dict[str, float] = {}  # node -> its last known time left
        self._pace: dict[str, tuple[tuple, float, int]] = {}  # node -> (phase, since, count then)
        self._items: dict[str, _ItemPhase] = {}

    def __call__(self, event: NodeEvent) -> None:
        node, now = event.node, self.clock()
        if event.state == NodeState.PENDING and node not in self.order:
            self.order.append(node)
        elif event.state == NodeState.RUNNING:
            self.started[node] = now
        elif event.state == PROGRESS:
            self._progress(event, now)
        elif event.state in (NodeState.DONE, NodeState.CACHED, NodeState.FAILED, NodeState.SKIPPED,
                             NodeState.CANCELLED):
            self.finished.add(node)
            self._left.pop(node, None)
            if event.state == NodeState.DONE and self.history is not None and node in self.kinds:
                seconds = event.seconds if event.seconds is not None else now - self.started.get(node, now)
                self.history.learn(self.kinds[node], self._sample(node, seconds, now))

    def _progress(self, event: NodeEvent, now: float) -> None:
        node, done = event.node, event.done or 0
        if event.total and event.unit:  # items (images, files); a count of steps says nothing of the run's size
            self.run_items = max(self.run_items or 0, event.total)
            phase = self._items.get(node)
            if phase is None or event.total > phase.total:
                self._items[node] = _ItemPhase(event.total, done)
            elif event.total == phase.total and phase.move is None and done > phase.start:
                phase.move = FirstMove(now, phase.start, done, phase.total)
        self.latest[node] = left = self._pace_left(event, now, done)
        if left is not None:
            self._left[node] = left

    def _pace_left(self, event: NodeEvent, now: float, done: int) -> float | None:
        """The node's time left at the pace of its phase so far (a new phase starts over)."""
        phase = (event.message, event.unit, event.total)
        seen = self._pace.get(event.node)
        if seen is None or seen[0] != phase or done < seen[2]:
            self._pace[event.node] = (phase, now, done)
            return None
        _, since, done_then = seen
        if not event.total or done <= done_then or now - since < 1.0:
            return None
        return (event.total - done) * (now - since) / (done - done_then)

    def _sample(self, node: str, seconds: float, now: float) -> Sample:
        phase = self._items.get(node)
        return measure(seconds, now, self.run_items, phase.move if phase else None)

    def estimate(self, node: str) -> float | None:
        """Seconds ``node`` will take in this run, from start to end; None if nobody knows."""
        if node in self.took:
            return self.took[node]
        kind = self.kinds.get(node)
        if kind is None:
            return None
        if self.history is not None and kind in self.history.paces:
            return self.history.estimate(kind, self.run_items)
        for other, left in self._left.items():  # a node of its type running now: as long as it
            if other != node and self.kinds.get(other) == kind and other in self.started:
                return self.clock() - self.started[other] + left
        return None

    def node_left(self, node: str) -> float | None:
        """The running (or next) node's time left: at its pace, else as estimated."""
        if node in self._left:
            return self._left[node]
        expected = self.estimate(node)
        if expected is None:
            return None
        return max(0.0, expected - (self.clock() - self.started[node])) if node in self.started else expected

    def left(self, current: str, after: Sequence[str]) -> RunLeft:
        """Time left of ``current`` and of the nodes ``after`` it."""
        seconds, untimed = 0.0, []
        for node, left in [(current, self.node_left(current))] + [(n, self.estimate(n)) for n in after]:
            if left is None:
                untimed.append(node)
            else:
                seconds += left
        return RunLeft(seconds, tuple(untimed))

    def position(self) -> tuple[str, list[str]] | None:
        """The node going on (the first started and not finished) and those still to come."""
        busy = [n for n in self.order if n not in self.finished]
        if not busy:
            return None
        current = next((n for n in busy if n in self.started), busy[0])
        return current, [n for n in busy if n != current]


def node_kinds(workflow, registry) -> dict[str, str]:
    """``type@version`` of each node of ``workflow`` whose type ``registry`` knows."""
    return {spec.id: f"{spec.type}@{node_type.version}" for spec in workflow.nodes
            if (node_type := registry.get(spec.type)) is not None}
