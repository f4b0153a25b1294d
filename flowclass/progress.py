"""Showing a run on the terminal: a tqdm bar per node, a line per cached or failed node.

When the output is not a terminal (a log file, CI), bars would be a mess of carriage
returns, so a node gets a line as each of its steps begins and one when it finishes instead. With a
:class:`~flowclass.run_clock.RunClock`, bars and lines also tell the whole run's time left
while nodes are still to come.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

from .events import NodeEvent
from .states import PROGRESS, WARNING, NodeState
from .terminal import printable


if TYPE_CHECKING:
    from tqdm import tqdm

    from .run_clock import RunClock


class TerminalProgress:
    """An engine event handler that draws progress on ``stream`` (stderr by default)."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False, clock: RunClock | None = None):
        self.stream = stream or sys.stderr
        self.clock = clock
        self.quiet = quiet
        self.bars: dict[str, "tqdm"] = {}
        self.interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.totals: dict[str, str] = {}
        self.phases: dict[str, str] = {}  # node -> the phase (progress message) it is in

    def _bar(self, node: str) -> "tqdm":
        if node not in self.bars:
            from tqdm import tqdm  # imported when a node runs: a cached re-run never needs it

            self.bars[node] = tqdm(total=None, desc=f"{node:>12}", file=self.stream, leave=True,
                                   dynamic_ncols=True, disable=self.quiet or not self.interactive,
                                   unit="")
        return self.bars[node]

    def _line(self, text: str) -> None:
        """``text`` on a line of its own: above any bar drawn, through tqdm; with none drawn
        (a log, a re-run served from the cache) written as it is, without importing tqdm."""
        if self.quiet:
            return
        text = printable(text)  # a file name or a stranger's id never drives the terminal
        if any(not bar.disable for bar in self.bars.values()):
            from tqdm import tqdm

            tqdm.write(text, file=self.stream)
        else:
            self.stream.write(text + "\n")

    def _new_phase(self, node: str, bar: "tqdm", event: NodeEvent) -> None:
        """A node's next phase (preparing the model, decoding, embedding): the bar's rate and
        time left start over, so a slow first phase does not skew them; a log gets a line."""
        self.phases[node] = event.message
        if bar.disable:
            unit = f" {event.unit}" if event.unit else ""
            count = f" ({event.done or 0:,} / {event.total:,}{unit})" if event.total else ""
            self._line(f"{node:>12}: {event.message}{count}{self._in_all()}")
            return
        bar.reset(total=event.total)
        bar.initial = event.done or 0

    def _in_all(self, finished: bool = False) -> str:
        """`` · about 2 min left in all`` while nodes are still to come after the running one,
        or, as a node ``finished``, after it (see RunClock)."""
        where = self.clock.position() if self.clock is not None else None
        if where is None or not (where[1] or finished):
            return ""
        from .run_clock import in_all  # only with a clock: a re-run answered from its record has none

        return in_all(self.clock.left(*where))

    def __call__(self, event: NodeEvent) -> None:
        node = event.node
        if self.clock is not None:
            self.clock(event)
        if event.state == NodeState.RUNNING:
            self._bar(node)
        elif event.state == PROGRESS:
            if event.total is not None and event.unit:
                self.totals[node] = f" ({event.total} {event.unit})"
            bar = self._bar(node)
            if event.total is not None and bar.total != event.total:
                bar.total = event.total
                bar.unit = f" {event.unit}" if event.unit else ""
            if event.message and event.message != self.phases.get(node):
                self._new_phase(node, bar, event)
            if event.done is not None:
                bar.n = event.done
            postfix = f"{event.message}{self._in_all()}".strip(" ·")
            if postfix:
                bar.set_postfix_str(printable(postfix), refresh=False)
            bar.refresh()
        elif event.state in (NodeState.DONE, NodeState.FAILED, NodeState.CANCELLED):
            bar = self.bars.pop(node, None)
            if bar is not None:
                if bar.total is not None and event.state == NodeState.DONE:
                    bar.n = bar.total
                bar.set_postfix_str(f"{event.state} in {event.seconds or 0:.2f}s", refresh=False)
                bar.close()
            if event.state == NodeState.DONE and (bar is None or bar.disable):
                self._line(f"{node:>12}: done in {event.seconds or 0:.2f}s{self.totals.get(node, '')}"
                           f"{self._in_all(finished=True)}")
            if event.state == NodeState.FAILED:
                where = f" (parameter '{event.field}')" if event.field else ""
                self._line(f"{node:>12}: FAILED{where}: {event.message}")
                if event.hint:
                    self._line(f"{'':>12}  hint: {event.hint}")
        elif event.state == NodeState.CACHED:  # a node never stored says when it is made
            self._line(f"{node:>12}: {event.message or 'cached'}")
        elif event.state == NodeState.SKIPPED:
            self._line(f"{node:>12}: skipped, {event.message}")
        elif event.state == WARNING:
            self._line(f"{node:>12}: warning: {event.message}")
