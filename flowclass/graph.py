"""The workflow as a graph of which node feeds which, and the order to run it in.

Pure functions and a small graph class: they read a workflow and return graphs and lists,
nothing else. (A dozen lines of graph walking instead of networkx, whose import alone cost
a re-run more than the engine's whole work.)
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Any, Callable, Iterable, Iterator

from .workflow import Workflow


class Dag:
    """Node ids in workflow order, and the edges between them (without ports)."""

    def __init__(self, nodes: Iterable[str], edges: Iterable[tuple[str, str]]):
        self.index = {node: i for i, node in enumerate(nodes)}
        self._into: dict[str, list[str]] = {node: [] for node in self.index}
        self._out: dict[str, list[str]] = {node: [] for node in self.index}
        for source, target in edges:
            for node in (source, target):
                if node not in self.index:
                    self.index[node] = len(self.index)
                    self._into[node], self._out[node] = [], []
            if source not in self._into[target]:
                self._into[target].append(source)
                self._out[source].append(target)

    def __contains__(self, node: object) -> bool:
        return node in self.index

    def __iter__(self) -> Iterator[str]:
        return iter(self.index)

    def predecessors(self, node: str) -> list[str]:
        return self._into[node]

    def successors(self, node: str) -> list[str]:
        return self._out[node]

    def _reach(self, node: str, step: Callable[[str], list[str]]) -> set[str]:
        seen: set[str] = set()
        todo = list(step(node))
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(step(current))
        return seen

    def ancestors(self, node: str) -> set[str]:
        return self._reach(node, self.predecessors)

    def descendants(self, node: str) -> set[str]:
        return self._reach(node, self.successors)

    def cycle(self) -> list[str] | None:
        """The nodes of one cycle in edge order (its first node not repeated), or None."""
        state: dict[str, int] = {}  # 1: on the current path, 2: finished
        for root in self.index:
            if root in state:
                continue
            path, stack = [root], [iter(self._out[root])]
            state[root] = 1
            while stack:
                nxt = next(stack[-1], None)
                if nxt is None:
                    state[path.pop()] = 2
                    stack.pop()
                elif state.get(nxt) == 1:
                    return path[path.index(nxt):]
                elif nxt not in state:
                    state[nxt] = 1
                    path.append(nxt)
                    stack.append(iter(self._out[nxt]))
        return None


def build_graph(workflow: Workflow) -> Dag:
    """The workflow's nodes, in file order, and which feeds which."""
    return Dag((spec.id for spec in workflow.nodes),
               ((edge.source.node, edge.target.node) for edge in workflow.edges))


def execution_order(graph: Dag, targets: Iterable[str] | None = None) -> list[str]:
    """The nodes needed for ``targets`` (all nodes if None), parents before children.

    Ties are broken by the nodes' order in the workflow file, so every run of the same
    workflow visits nodes in the same order.
    """
    if targets is None:
        needed = set(graph)
    else:
        needed = set()
        for target in targets:
            needed |= {target} | graph.ancestors(target)
    waiting = {n: sum(1 for p in graph.predecessors(n) if p in needed) for n in needed}
    ready = [(graph.index[n], n) for n, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, node = heapq.heappop(ready)
        order.append(node)
        for child in graph.successors(node):
            if child in needed:
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(ready, (graph.index[child], child))
    if len(order) < len(needed):
        raise ValueError("the workflow has a cycle")
    return order


def nearest_first(workflow: Workflow, node: str) -> Iterator[str]:
    """``node``, then its ancestors, nearest first (breadth first against the edges)."""
    seen, todo = set(), deque([node])
    while todo:
        current = todo.popleft()
        if current in seen:
            continue
        seen.add(current)
        yield current
        todo.extend(e.source.node for e in workflow.edges_into(current))


def nearest_output(workflow: Workflow, registry: Any, node: str, data_type: str,
                   available: Callable[[str], bool]) -> tuple[str, str] | None:
    """(node, port) of the nearest output of ``data_type``, from ``node`` itself up through
    its ancestors breadth first, among the nodes ``available`` says have results."""
    for current in nearest_first(workflow, node):
        spec = workflow.node(current)
        node_type = registry.get(spec.type) if spec else None
        if node_type is not None and available(current):
            for output in node_type.outputs:
                if output.type.name == data_type:
                    return current, output.name
    return None


def nearest_of_type(workflow: Workflow, node: str, node_type: str) -> str | None:
    """The nearest node of type ``node_type`` among ``node`` and its ancestors, or None
    (e.g. the Label Overrides node whose file a correction on an evaluation goes to)."""
    return next((n for n in nearest_first(workflow, node)
                 if (spec := workflow.node(n)) is not None and spec.type == node_type), None)
