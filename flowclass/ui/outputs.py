"""A tab's results: for each node, the run that last produced it, and its output values.

Runs may cover part of the graph (Run this node), so each node remembers the run that
last finished it. Values stay on disk in the cache and load when a viewer asks for
them; only the few most recently viewed are kept in memory, so results of a
10,000-image run do not pile up per tab.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any, Iterable, Iterator

from ..engine import RunResult
from ..registry import Registry
from ..workflow import Workflow

KEEP_IN_MEMORY = 6


class ResultStore:
    def __init__(self) -> None:
        self.runs: dict[str, RunResult] = {}
        self._loaded: OrderedDict[tuple[str, str, str], Any] = OrderedDict()

    def add(self, result: RunResult) -> None:
        """Take the finished nodes of a run; values the cache holds are dropped from memory."""
        for node, outcome in result.outcomes.items():
            if outcome.state not in ("done", "cached"):
                continue
            self.runs[node] = result
            result.release(node)  # the cache has it: read it from disk when it is shown

    def has(self, node: str) -> bool:
        return node in self.runs

    def nodes(self) -> set[str]:
        return set(self.runs)

    def forget(self, nodes: Iterable[str]) -> None:
        for node in nodes:
            self.runs.pop(node, None)

    def key(self, node: str) -> str | None:
        result = self.runs.get(node)
        return result.outcomes[node].key if result else None

    def warnings(self, node: str) -> list[str]:
        result = self.runs.get(node)
        return list(result.outcomes[node].warnings) if result else []

    def value(self, node: str, port: str) -> Any:
        """An output value of the run that last finished ``node`` (KeyError if none)."""
        result = self.runs.get(node)
        if result is None:
            raise KeyError(f"node '{node}' has no results yet")
        memo = (node, port, result.outcomes[node].key or "")
        if memo in self._loaded:
            self._loaded.move_to_end(memo)
            return self._loaded[memo]
        value = result.output(node, port)
        self._loaded[memo] = value
        while len(self._loaded) > KEEP_IN_MEMORY:
            self._loaded.popitem(last=False)
        return value

    def upstream(self, workflow: Workflow, registry: Registry, node: str, data_type: str) -> Any:
        """The nearest output of ``data_type`` from ``node`` itself or its ancestors, or None."""
        for current in nearest_first(workflow, node):
            spec = workflow.node(current)
            node_type = registry.get(spec.type) if spec else None
            if node_type is not None and self.has(current):
                for output in node_type.outputs:
                    if output.type.name == data_type:
                        return self.value(current, output.name)
        return None


def nearest_first(workflow: Workflow, node: str) -> Iterator[str]:
    """``node``, then its ancestors, nearest first (breadth-first against the edges)."""
    seen, todo = set(), deque([node])
    while todo:
        current = todo.popleft()
        if current in seen:
            continue
        seen.add(current)
        yield current
        todo.extend(e.source.node for e in workflow.edges_into(current))


def upstream_node(workflow: Workflow, node: str, node_type: str) -> str | None:
    """The nearest node of type ``node_type`` among ``node`` and its ancestors, or None."""
    return next((n for n in nearest_first(workflow, node)
                 if (spec := workflow.node(n)) is not None and spec.type == node_type), None)
