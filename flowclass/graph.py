"""The workflow as a networkx DiGraph, and the order to run it in.

Pure functions: they read a workflow and return graphs and lists, nothing else.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable, Iterable, Iterator

import networkx as nx

from .workflow import Workflow


def build_graph(workflow: Workflow) -> nx.DiGraph:
    """Nodes carry their spec and file position; an edge carries its (output, input) port pairs."""
    graph = nx.DiGraph()
    for index, spec in enumerate(workflow.nodes):
        graph.add_node(spec.id, spec=spec, index=index)
    for edge in workflow.edges:
        u, v = edge.source.node, edge.target.node
        if not graph.has_edge(u, v):
            graph.add_edge(u, v, ports=[])
        graph.edges[u, v]["ports"].append((edge.source.port, edge.target.port))
    return graph


def execution_order(graph: nx.DiGraph, targets: Iterable[str] | None = None) -> list[str]:
    """The nodes needed for ``targets`` (all nodes if None), parents before children.

    Ties are broken by the nodes' order in the workflow file, so every run of the same
    workflow visits nodes in the same order.
    """
    if targets is None:
        needed = set(graph.nodes)
    else:
        needed = set()
        for target in targets:
            needed |= {target} | nx.ancestors(graph, target)
    sub = graph.subgraph(needed)
    try:
        return list(nx.lexicographical_topological_sort(sub, key=lambda n: graph.nodes[n].get("index", 0)))
    except nx.NetworkXUnfeasible:
        raise ValueError("the workflow has a cycle") from None


def descendants(workflow: Workflow, node: str) -> set[str]:
    """Every node that ``node`` feeds, directly or through others."""
    graph = build_graph(workflow)
    return nx.descendants(graph, node) if node in graph else set()


def find_cycle(workflow: Workflow) -> list[str] | None:
    """The nodes of one cycle in edge order (its first node not repeated), or None."""
    graph = nx.DiGraph((e.source.node, e.target.node) for e in workflow.edges)
    try:
        return [u for u, _ in nx.find_cycle(graph)]
    except nx.NetworkXNoCycle:
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
