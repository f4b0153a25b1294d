"""A tab's results: for each node, the run that last produced it, and its output values.

Runs may cover part of the graph (Run this node), so each node remembers the run that
last finished it. Values stay on disk in the cache and load when a viewer asks for
them; only the few most recently viewed are kept in memory, so results of a
10,000-image run do not pile up per tab.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterable

from ..engine import RunResult
from ..graph import nearest_output
from ..registry import Registry
from ..states import FINISHED
from ..workflow import Workflow

KEEP_IN_MEMORY = 6


class ResultStore:
    def __init__(self) -> None:
        self.runs: dict[str, RunResult] = {}
        self._loaded: OrderedDict[tuple[str, str, str], Any] = OrderedDict()

    def add(self, result: RunResult) -> None:
        """Take the finished nodes of a run; values the cache holds are dropped from memory."""
        for node, outcome in result.outcomes.items():
            if outcome.state not in FINISHED:
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
        found = nearest_output(workflow, registry, node, data_type, self.has)
        return self.value(*found) if found else None
