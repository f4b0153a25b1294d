"""The ``graph`` prop of the canvas, derived from the workflow, its problems and the badges.

A pure function: the canvas draws exactly this, so what the user sees is always the
editor's workflow. Nodes of unknown types (and of newer versions than this FlowClass
knows) become placeholders that say what is missing; nodes with problems carry them.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..node import NodeType
from ..problems import Problem
from ..registry import Registry
from ..states import NodeState
from ..workflow import Workflow
from .runner import NodeStatus

PLACEHOLDER_CODES = ("unknown_type", "newer_version")


def placeholder_message(problem: Problem) -> str:
    if problem.code == "unknown_type":
        text = f"{problem.message[0].upper()}{problem.message[1:]}"
        return (f"{text}{' ' if text.endswith('?') else '. '}Install the plugin that "
                "provides it (flowclass ui --plugins DIR); its settings are kept and saved "
                "unchanged, and the rest of the workflow still runs.")
    return problem.message


def canvas_graph(workflow: Workflow, registry: Registry, problems: list[Problem],
                 statuses: Mapping[str, NodeStatus]) -> dict[str, Any]:
    by_node: dict[str, list[Problem]] = {}
    for problem in problems:
        if problem.node is not None:
            by_node.setdefault(problem.node, []).append(problem)
    nodes = []
    for spec in workflow.nodes:
        node_type = registry.get(spec.type)
        found = by_node.get(spec.id, [])
        placeholder = next((p for p in found if p.code in PLACEHOLDER_CODES), None)
        status = statuses.get(spec.id, NodeStatus())
        if placeholder is None and found:
            status = invalid_status(found, node_type)
        nodes.append({
            "id": spec.id,
            "type": spec.type,
            "title": registry.title(spec),
            "position": {"x": spec.position[0], "y": spec.position[1]},
            "placeholder": placeholder is not None,
            "message": placeholder_message(placeholder) if placeholder else "",
            "status": status.describe() if placeholder is None else {"state": NodeState.IDLE, "progress": None,
                                                                     "message": "", "label": "missing"},
        })
    edges = [{"from": {"node": e.source.node, "port": e.source.port},
              "to": {"node": e.target.node, "port": e.target.port}} for e in workflow.edges]
    return {"nodes": nodes, "edges": edges}


def invalid_status(problems: list[Problem], node_type: NodeType | None) -> NodeStatus:
    """The status of a node that cannot run because of these problems (its badge, its results)."""
    return NodeStatus(NodeState.INVALID, message="\n".join(_where(p, node_type) for p in problems))


def _where(problem: Problem, node_type: NodeType | None) -> str:
    """``Folder: folder not found: ...``: the field as the settings label it, not its key."""
    if not problem.field:
        return problem.message
    ports = {port.name: port.label for port in (node_type.inputs if node_type else [])}
    params = {param.name: param.label for param in (node_type.params if node_type else [])}
    return f"{params.get(problem.field) or ports.get(problem.field) or problem.field}: {problem.message}"


def in_words(problem: Problem, workflow: Workflow, registry: Registry) -> str:
    """A problem as the canvas shows its node and field: ``Import Images ▸ Folder: folder not
    found: /x``, not the workflow file's ids (``node 'import', 'folder'``), which a newcomer
    sees nowhere."""
    spec = workflow.node(problem.node) if problem.node is not None else None
    if spec is None:
        return str(problem)
    node_type = registry.get(spec.type)
    return f"{registry.title(spec)} ▸ {_where(problem, node_type)}"
