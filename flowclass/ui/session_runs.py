"""Runs of a tab: started from the toolbar, the inspector or a viewer, cancelled, and their
results handed to the results panel as each node finishes; the footer's line.
"""

from __future__ import annotations

from typing import Sequence

from ..engine import RunResult
from ..errors import WorkflowInvalid
from ..graph import descendants
from ..run_clock import in_all, not_timed, whole_run
from .canvas_graph import in_words
from .confine import CODE as OUTSIDE_ROOTS
from .runner import Kept, RunPosition, plan_run, runnable_part, summary


class SessionRuns:
    """Runs; part of :class:`~flowclass.ui.session.EditorSession`, whose workflow, folders,
    ``runner``, ``store``, ``notify`` and ``emit`` they use."""

    def run_selected(self) -> None:
        if self.state.selected:
            self.start_run([self.state.selected])

    def run_from(self, node_id: str) -> None:
        """Run a node and every node downstream of it that can run: after a viewer changed the
        node (Apply this cut), what it feeds (an export's folders) follows."""
        _, left_out = runnable_part(self.state.workflow, self.problems)
        after = descendants(self.state.workflow, node_id) - left_out
        self.start_run([node_id] + sorted(after))

    def start_run(self, targets: Sequence[str] | None) -> None:
        if self.runner.running:
            self.notify("A run is already going on in this tab.", "warning")
            return
        stop = [p for p in self.problems if p.node is None and p.code == OUTSIDE_ROOTS]
        if stop:
            self.notify(f"Cannot run: {stop[0].message}.", "warning")
            return
        workflow = self.state.workflow
        plan = plan_run(workflow, self.problems, targets, lambda p: in_words(p, workflow, self.registry))
        if plan.message:
            self.notify(plan.message, "info" if plan.workflow else "warning")
        if plan.workflow is None:
            return
        self.runner.start(plan.workflow, base_dir=self.base_dir, out_dir=self.out_dir(), targets=targets,
                          source=str(self.state.path) if self.state.path else None, named=self.named)
        self._checked = None  # the run changes what is cached
        self._run_asked = self._asked()[:3]  # what the run's badges will hold for
        self.summary = "Running…"
        self.emit("run", "statuses")

    def run_line(self) -> str:
        """The footer's line while a run goes on, the whole run first (a narrow footer cuts the
        end): ``Running node 2 of 5 (3 more after it · about 2 min left in all), Embed:
        embedding: 776 / 2,000 images · about 40 s left``, then the nodes nobody timed yet."""
        if self.runner.cancel_event.is_set():  # "Cancelling…"
            return self.summary
        if self.runner.waiting:  # for another run into the output folder, before it starts
            return self.runner.waiting[:1].upper() + self.runner.waiting[1:]
        where = self.runner.where_the_run_is()
        if where is None:  # starting
            return self.summary
        spec = self.state.workflow.node(where.node)
        title = self.state.node_title(spec) if spec else where.node
        message = self.status(where.node).message
        more = f" ({where.waiting} more after it{whole_run(where.left)})" if where.waiting else ""
        untimed = not_timed(where.left, self._title) if where.waiting else ""
        return f"Running node {where.number} of {where.total}{more}, {title}" \
            + (f": {message}" if message else "") + (f"; {untimed}" if untimed else "")

    def run_place(self, node_id: str) -> str:
        """Where the run is, for the running node's results panel: ``Node 2 of 5; 3 more after
        it · about 2 min left in all`` (empty when ``node_id`` is not the one running)."""
        where = self.runner.where_the_run_is()
        if where is None or where.node != node_id or self.runner.cancel_event.is_set():
            return ""
        return f"Node {where.number} of {where.total}" + self._more(where)

    def _more(self, where: RunPosition) -> str:
        if not where.waiting:  # the last node: its own time left is all there is
            return ""
        return f"; {where.waiting} more after it" + in_all(where.left, self._title)

    def _deleted_since(self, result: RunResult) -> str:
        """The run took the workflow as it was when Run was pressed: nodes deleted while it ran
        ran anyway, and are counted; say which, or the count matches no canvas."""
        gone = [spec for spec in result.workflow if self.state.workflow.node(spec.id) is None]
        if not gone:
            return ""
        names = ", ".join(self.state.node_title(spec) for spec in gone)
        return f"; ran the workflow as it was when Run was pressed, with {names}, deleted since"

    def _title(self, node_id: str) -> str:
        spec = self.state.workflow.node(node_id)
        return self.state.node_title(spec) if spec else node_id

    def run_interrupted(self, node: str | None, kept: list | None = None) -> None:
        """The server stopped (was killed, crashed) while this tab's run went on: say so, and
        that Run goes on from what it finished (Embed's stored batches, cached nodes); the
        node says how much of it is kept (``kept``: [done, total, unit] from the draft)."""
        spec = self.state.workflow.node(node) if node else None
        at = f" at {self.state.node_title(spec)}" if spec else ""
        self.summary = f"The last run was interrupted{at} when the server stopped; Run resumes it."
        if spec is not None and isinstance(kept, list) and len(kept) == 3:
            done, total, unit = kept
            if isinstance(done, int) and isinstance(total, int) and 0 < done < total and isinstance(unit, str):
                self.runner.stopped_at(spec.id, Kept(done, total, unit))

    def cancel_run(self) -> None:
        """Stop the run; a click that arrives after it ended (the button was still shown) does
        nothing: the footer keeps the run's own line."""
        if not self.runner.running:
            return
        self.runner.cancel()
        self.summary = "Cancelling…"
        self.emit("run")

    def _node_result(self, node: str, result: RunResult) -> None:
        """A node finished while the run goes on, or a check found it cached: its results can be
        looked at now."""
        if self.store.key(node) == result.outcomes[node].key:
            return  # these very results are shown already
        self.store.add(result)
        self.emit("results")

    def _run_finished(self, result: RunResult | None, error: Exception | None) -> None:
        if result is None and error is None:  # cancelled while it waited for the folder
            self.summary = "Cancelled before it started: it was waiting for another run into the output folder."
            self.emit("run")
            return
        if error is not None:
            text = explain(error) if isinstance(error, WorkflowInvalid) else str(error)
            self.summary = "The run did not start."
            self.notify(f"The run did not start:\n{text}", "negative")
            self.emit("run")
            return
        assert result is not None
        self.store.add(result)
        if self._asked()[:3] == self._run_asked:
            # nothing changed while it ran: its badges hold, and a Save must not ask again (a
            # folder too big to look at while editing would turn "done" into "not checked")
            self._checked = self._asked()
        self.summary = summary(result) + self._deleted_since(result)
        failed = result.failed
        if failed:  # which node and why, as its badge says it: not only "1 node(s) failed"
            first = failed[0].node
            more = f"\n{len(failed) - 1} more did not finish either; see the red badges." if len(failed) > 1 else ""
            self.notify(f"{self._title(first)} did not finish: {self.status(first).message}{more}", "negative")
        self.emit("run", "results", "statuses")


def explain(exc: WorkflowInvalid) -> str:
    """The first few problems of an invalid workflow, one a line."""
    lines = [str(p) for p in exc.problems[:6]]
    more = len(exc.problems) - len(lines)
    return "\n".join(lines + ([f"... and {more} more"] if more > 0 else []))
