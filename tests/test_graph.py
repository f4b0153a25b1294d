"""The workflow's graph: run order, what a target needs, cycles, and who depends on whom."""

from __future__ import annotations

import subprocess
import sys

import pytest

from flowclass.graph import build_graph, descendants, execution_order, find_cycle
from flowclass.workflow import Edge, NodeSpec, PortRef, Workflow


def workflow(ids: str, edges: str) -> Workflow:
    """``workflow("a b c", "a>c b>c")``: nodes in file order, edges parent>child."""
    pairs = [pair.split(">") for pair in edges.split()]
    return Workflow(nodes=tuple(NodeSpec(i, "t") for i in ids.split()),
                    edges=tuple(Edge(PortRef(u, "out"), PortRef(v, f"in_{u}")) for u, v in pairs))


def test_parents_come_first_and_ties_follow_the_file_order():
    graph = build_graph(workflow("e d c b a", "a>b c>b b>d"))
    # e, c and a are ready at once: file order; b waits for a and c; d for b
    assert execution_order(graph) == ["e", "c", "a", "b", "d"]


def test_a_target_needs_only_its_ancestors():
    graph = build_graph(workflow("a b c d", "a>b b>c a>d"))
    assert execution_order(graph, ["c"]) == ["a", "b", "c"]
    assert execution_order(graph, ["d", "b"]) == ["a", "b", "d"]


def test_two_edges_between_the_same_nodes_are_one_dependency():
    wf = workflow("a b", "a>b")
    wf = Workflow(nodes=wf.nodes, edges=wf.edges + (Edge(PortRef("a", "other"), PortRef("b", "x")),))
    graph = build_graph(wf)
    assert graph.predecessors("b") == ["a"] and execution_order(graph) == ["a", "b"]


def test_a_cycle_is_refused_and_named_in_edge_order():
    wf = workflow("a b c d", "a>b b>c c>d d>b")
    with pytest.raises(ValueError, match="cycle"):
        execution_order(build_graph(wf))
    assert find_cycle(wf) == ["b", "c", "d"]
    assert find_cycle(workflow("a b c", "a>b b>c a>c")) is None


def test_descendants_reach_through_nodes_and_leave_out_the_node_itself():
    wf = workflow("a b c d e", "a>b b>c c>a b>d")
    assert descendants(wf, "b") == {"a", "c", "d"}
    assert descendants(wf, "e") == set() and descendants(wf, "zz") == set()


def test_an_edge_naming_an_unknown_node_does_not_break_the_graph():
    graph = build_graph(workflow("a", "a>ghost"))
    assert "ghost" in graph and graph.successors("a") == ["ghost"]


def test_the_engine_imports_no_graph_library():
    """A re-run served from the cache pays for every module the engine imports."""
    script = "import sys, flowclass.engine; print('networkx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
