"""What a headless run leaves in ``--out`` for people to look at: tables and pictures.

A node type may declare ``reports``: given its results (and those upstream of it), the
files worth saving — a confusion matrix as CSV and PNG, a dendrogram with its cut, a 2-D
map, area bars — each as a file name and a function that writes it. This module only
collects them after a run and writes them through the caller's ``write`` (which keeps a
user's own files safe); how anything is drawn lives with the node families.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .graph import nearest_output
from .registry import Registry
from .states import FINISHED, NodeState
from .workflow import Workflow

Writer = Callable[[Path], None]


@dataclass(frozen=True)
class ReportSource:
    """A finished node as its ``reports`` function sees it."""

    node: str
    output: Callable[[str], Any]  # output(port) -> value
    upstream: Callable[[str], Any]  # upstream(data type name) -> nearest such value, or None


def _upstream(result: Any, workflow: Workflow, registry: Registry, node: str, data_type: str) -> Any:
    """The nearest output of ``data_type`` from ``node`` or its ancestors that finished."""
    finished = lambda n: n in result.outcomes and result.outcomes[n].state in FINISHED
    found = nearest_output(workflow, registry, node, data_type, finished)
    return result.output(*found) if found else None


def collect(result: Any, workflow: Workflow, registry: Registry) -> dict[str, tuple[Writer, bool]]:
    """File name -> (writer, came from cache) for every report of the nodes that finished.

    A name two nodes would both write is prefixed with each one's node id
    (``evaluate_train-confusion_matrix.png``), so nothing is written twice.
    """
    wanted: list[tuple[str, str, Writer]] = []
    for spec in workflow.nodes:
        node_type = registry.get(spec.type)
        outcome = result.outcomes.get(spec.id)
        if node_type is None or node_type.reports is None or outcome is None \
                or outcome.state not in FINISHED:
            continue
        source = ReportSource(spec.id, lambda port, n=spec.id: result.output(n, port),
                              lambda kind, n=spec.id: _upstream(result, workflow, registry, n, kind))
        for name, writer in node_type.reports(source).items():
            wanted.append((spec.id, name, (writer, outcome.state == NodeState.CACHED)))
    taken = Counter(name for _, name, _ in wanted)
    return {(name if taken[name] == 1 else f"{node}-{name}"): report
            for node, name, report in wanted}


def write_reports(result: Any, workflow: Workflow, registry: Registry,
                  write: Callable[[str, Writer], None],
                  still_there: Callable[[str], bool] = lambda name: False
                  ) -> tuple[list[str], list[str]]:
    """Write every report with ``write(name, writer)``; returns (written, problems).

    A report of a node served from cache is not drawn again while ``still_there(name)``
    (the file an earlier run wrote is unchanged), so an unchanged re-run stays fast.
    """
    written, problems = [], []
    for name, (writer, cached) in sorted(collect(result, workflow, registry).items()):
        if cached and still_there(name):
            continue
        try:
            write(name, writer)
            written.append(name)
        except (OSError, ValueError) as exc:
            problems.append(f"{name}: {exc}")
    return written, problems
