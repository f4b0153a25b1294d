"""The workflow as a graph of node ids, and the order to run it in.

Pure functions: they read a workflow and return graphs and lists, nothing else. A
workflow has a handful of nodes, so plain adjacency lists do; a graph library would cost
every run (a re-run that serves everything from the cache included) its import time.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Any, Callable, Iterable, Iterator

from .workflow import Workflow


class Graph:
    """Node ids with their parents and children, each list in the order of the workflow's
    edges (a node named only by an edge is there too, after the workflow's own)."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}  # node -> position (the workflow file's order)
        self._children: dict[str, list[str]] = {}
        self._parents: dict[str, list[str]] = {}

    def add_node(self, node: str) -> None:
        if node not in self.index:
            self.index[node] = len(self.index)
            self._children[node], self._parents[node] = [], []

    def add_edge(self, parent: str, child: str) -> None:
        self.add_node(parent)
        self.add_node(child)
        if child not in self._children[parent]:
            self._children[parent].append(child)
            self._parents[child].append(parent)

    def __contains__(self, node: object) -> bool:
        return node in self.index

    def __iter__(self) -> Iterator[str]:
        return iter(self.index)

    def successors(self, node: str) -> list[str]:
        return list(self._children[node])

    def predecessors(self, node: str) -> list[str]:
        return list(self._parents[node])

    def ancestors(self, node: str) -> set[str]:
        """Every node that feeds ``node``, directly or through others (not ``node`` itself)."""
        return _reach(node, self._parents)

    def descendants(self, node: str) -> set[str]:
        """Every node that ``node`` feeds, directly or through others (not ``node`` itself)."""
        return _reach(node, self._children)


def _reach(node: str, links: dict[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    todo = deque(links[node])
    while todo:
        current = todo.popleft()
        if current not in seen:
            seen.add(current)
            todo.extend(links[current])
    seen.discard(node)
    return seen


def build_graph(workflow: Workflow) -> Graph:
    """The workflow's nodes, in file order, and who feeds whom."""
    graph = Graph()
    for spec in workflow.nodes:
        graph.add_node(spec.id)
    for edge in workflow.edges:
        graph.add_edge(edge.source.node, edge.target.node)
    return graph


def execution_order(graph: Graph, targets: Iterable[str] | None = None) -> list[str]:
    """The nodes needed for ``targets`` (all nodes if None), parents before children.

    Ties are broken by the nodes' order in the workflow file, so every run of the same
    workflow visits nodes in the same order. Raises ValueError when the nodes form a cycle.
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
            if child in waiting:
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(ready, (graph.index[child], child))
    if len(order) != len(needed):
        raise ValueError("the workflow has a cycle")
    return order


def descendants(workflow: Workflow, node: str) -> set[str]:
    """Every node that ``node`` feeds, directly or through others."""
    graph = build_graph(workflow)
    return graph.descendants(node) if node in graph else set()


def find_cycle(workflow: Workflow) -> list[str] | None:
    """The nodes of one cycle in edge order (its first node not repeated), or None."""
    graph = Graph()
    for edge in workflow.edges:
        graph.add_edge(edge.source.node, edge.target.node)
    done: set[str] = set()
    for start in graph:
        if start in done:
            continue
        path, on_path = [start], {start}
        branches = [iter(graph.successors(start))]
        while branches:  # depth first, without recursion
            child = next(branches[-1], None)
            if child is None:
                done.add(path[-1])
                on_path.discard(path.pop())
                branches.pop()
            elif child in on_path:
                return path[path.index(child):]
            elif child not in done:
                path.append(child)
                on_path.add(child)
                branches.append(iter(graph.successors(child)))
    return None


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
