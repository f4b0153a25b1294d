"""The workflow model: nodes with named parameters, edges between named ports.

One model for the canvas and the CLI. A :class:`Workflow` is immutable; editing returns a
new one (which makes undo/redo a list of snapshots). Reading and writing JSON, schema
migrations and filling in defaults live in :mod:`flowclass.workflow_file`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Iterable, Iterator, Mapping, Sequence

NODE_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")  # \Z: "$" also matches before a final line break


@dataclass(frozen=True)
class PortRef:
    node: str
    port: str

    def __str__(self) -> str:
        return f"{self.node}.{self.port}"


@dataclass(frozen=True)
class Edge:
    source: PortRef
    target: PortRef

    def __str__(self) -> str:
        return f"{self.source} -> {self.target}"


@dataclass(frozen=True)
class NodeSpec:
    """One node of a workflow: which type, which version of it, and its parameters."""

    id: str
    type: str
    version: int = 1
    params: Mapping[str, Any] = field(default_factory=dict)
    position: tuple[float, float] = (0.0, 0.0)
    title: str = ""


@dataclass(frozen=True)
class Workflow:
    nodes: tuple[NodeSpec, ...] = ()
    edges: tuple[Edge, ...] = ()
    name: str = ""
    description: str = ""

    # --- queries -----------------------------------------------------------------
    # Looked up in indexes made once per workflow (it is immutable): walking every node or
    # edge per query made checking a shared workflow of 140,000 Predict nodes (32 MiB) take
    # some 45 minutes, each node's wiring check looking up its inputs.
    @cached_property
    def _nodes_by_id(self) -> dict[str, NodeSpec]:
        found: dict[str, NodeSpec] = {}
        for n in self.nodes:
            found.setdefault(n.id, n)  # the first of a duplicated id, as before
        return found

    @cached_property
    def _edges_by_target(self) -> dict[str, tuple[Edge, ...]]:
        found: dict[str, list[Edge]] = {}
        for e in self.edges:
            found.setdefault(e.target.node, []).append(e)
        return {node_id: tuple(edges) for node_id, edges in found.items()}

    def node(self, node_id: str) -> NodeSpec | None:
        return self._nodes_by_id.get(node_id)

    def __iter__(self) -> Iterator[NodeSpec]:
        return iter(self.nodes)

    def edges_into(self, node_id: str) -> tuple[Edge, ...]:
        return self._edges_by_target.get(node_id, ())

    def edge_into(self, node_id: str, port: str) -> Edge | None:
        """The edge feeding input ``port`` of a node (an input takes at most one)."""
        return next((e for e in self.edges_into(node_id) if e.target.port == port), None)

    def runs_in(self, order: Sequence[str]) -> bool:
        """Whether ``order`` names every node once, each after the nodes feeding it: proof
        that the workflow has no cycle (the engine's order is one such)."""
        place = {node: i for i, node in enumerate(order)}
        return len(place) == len(order) == len(self.nodes) and all(spec.id in place for spec in self.nodes) \
            and all(place.get(e.source.node, len(order)) < place.get(e.target.node, -1) for e in self.edges)

    def edges_from(self, node_id: str) -> tuple[Edge, ...]:
        return tuple(e for e in self.edges if e.source.node == node_id)

    def new_id(self, stem: str, reserved: Iterable[str] = ()) -> str:
        """A node id not used yet, readable: ``embed``, ``embed_2``, ``embed_3``... nor one of
        ``reserved`` (ids that something kept for a deleted node still names)."""
        stem = re.sub(r"[^A-Za-z0-9_]", "_", stem) or "node"
        taken = {n.id for n in self.nodes} | set(reserved)
        if stem not in taken:
            return stem
        i = 2
        while f"{stem}_{i}" in taken:
            i += 1
        return f"{stem}_{i}"

    # --- edits: each returns a new workflow ---------------------------------------
    def with_node(self, spec: NodeSpec) -> "Workflow":
        if self.node(spec.id) is not None:
            raise ValueError(f"a node with id '{spec.id}' already exists")
        return replace(self, nodes=self.nodes + (spec,))

    def replace_node(self, spec: NodeSpec) -> "Workflow":
        if self.node(spec.id) is None:
            raise KeyError(spec.id)
        return replace(self, nodes=tuple(spec if n.id == spec.id else n for n in self.nodes))

    def without_nodes(self, node_ids: set[str] | list[str]) -> "Workflow":
        gone = set(node_ids)
        return replace(
            self,
            nodes=tuple(n for n in self.nodes if n.id not in gone),
            edges=tuple(e for e in self.edges
                        if e.source.node not in gone and e.target.node not in gone),
        )

    def with_params(self, node_id: str, **params: Any) -> "Workflow":
        spec = self.node(node_id)
        if spec is None:
            raise KeyError(node_id)
        return self.replace_node(replace(spec, params={**spec.params, **params}))

    def moved(self, node_id: str, x: float, y: float) -> "Workflow":
        spec = self.node(node_id)
        if spec is None:
            raise KeyError(node_id)
        return self.replace_node(replace(spec, position=(float(x), float(y))))

    def with_edge(self, edge: Edge) -> "Workflow":
        """Add an edge; an input takes one edge, so an older edge into it is replaced."""
        kept = tuple(e for e in self.edges if e.target != edge.target)
        return replace(self, edges=kept + (edge,))

    def without_edge(self, edge: Edge) -> "Workflow":
        return replace(self, edges=tuple(e for e in self.edges if e != edge))
