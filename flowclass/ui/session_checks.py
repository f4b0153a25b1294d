"""The badges of a tab: which results the cache holds and which paths the disk refuses, asked
again (debounced) only when something that feeds a node changed.
"""

from __future__ import annotations

from ..resolution import path_problems
from ..workflow import Workflow
from .confine import CODE as OUTSIDE_ROOTS
from .runner import runnable_part

CHECK_DELAY = 0.3  # seconds of quiet after an edit before the cache is asked again
DISK_RECHECK = 1.0  # seconds between looks at paths flagged on disk (a folder made meanwhile)


class SessionChecks:
    """Status checks; part of :class:`~flowclass.ui.session.EditorSession`, whose workflow,
    folders, ``runner``, ``store`` and ``emit`` they use."""

    def request_check(self) -> None:
        """Ask the cache again once edits have paused for :data:`CHECK_DELAY` seconds."""
        self._check_due = self.clock() + CHECK_DELAY

    def check_now(self) -> None:
        """Ask the cache which nodes' results hold, unless nothing it depends on changed."""
        self._check_due = None
        asked = self._asked()
        if asked == self._checked:
            return
        self._checked = asked
        self._check_files()
        runnable, _ = runnable_part(self.state.workflow, self.problems)
        self.runner.check(runnable, base_dir=self.base_dir, out_dir=self.out_dir(),
                          had_result=self.store.nodes(), named=self.named)

    def _asked(self) -> tuple:
        """What a status check answers for: the workflow's structure, its folders, which nodes have results."""
        return (structure(self.state.workflow), self.base_dir, self.out_dir(), frozenset(self.store.nodes()),
                self.named)

    def _check_files(self) -> bool:
        """Look at the paths on disk: inputs there and of the right kind, outputs writable.
        True when what was found changed."""
        resolved = self.resolved
        found = []
        confined = {p.node for p in resolved.problems if p.code == OUTSIDE_ROOTS}  # not even looked at
        for node_id, params in resolved.params.items():
            if node_id in confined:
                continue
            node_type = self.registry.get(self.state.workflow.node(node_id).type)
            found.extend(path_problems(node_id, node_type, params))
        changed = found != self.problems[len(resolved.problems):]
        self._file_problems = (self._resolved[0], found)
        if changed:
            self.emit("statuses")
        return changed

    def refresh(self) -> None:
        """Check again even if nothing changed here (a viewer changed files on disk)."""
        self._checked = None
        self.check_now()

    def tick(self) -> None:
        """Called often from the event loop: drain run events, start a due status check, and
        look again at paths flagged on disk: a folder the user makes clears its node's flag
        without an edit (only those paths are looked at, which costs a few stat calls)."""
        self.runner.poll()
        now = self.clock()
        if self._check_due is not None and now >= self._check_due:
            self.check_now()
        elif self._file_problems[1] and now >= self._disk_due:
            self._disk_due = now + DISK_RECHECK
            if self._file_problems[0] == self._resolved[0] and self._check_files():
                self.refresh()  # the badges too: the node joins the part that can run

    def _statuses_changed(self) -> None:
        self.emit("statuses", "run")


def structure(workflow: Workflow) -> tuple:
    """What validation and the cache keys depend on: not positions, not titles."""
    return (tuple((n.id, n.type, n.version, tuple(sorted(n.params.items(), key=lambda kv: kv[0])))
                  for n in workflow.nodes), workflow.edges)
