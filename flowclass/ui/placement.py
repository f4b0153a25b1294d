"""Where a node added by a click (palette, or the search box's ``/``) goes, and what feeds it.

As in ComfyUI: the new node lands to the right of the selected node (or of the last one),
on a free spot, and is fed by that node when an output fits one of its inputs. Pure
functions of the workflow and the registry; the canvas then pans to show it.
"""

from __future__ import annotations

from ..node import NodeType
from ..registry import Registry
from ..workflow import NodeSpec, PortRef, Workflow

NODE_WIDTH = 230.0  # as drawn (frontend/src/canvas.css)
GAP = 30.0
STEP_X = NODE_WIDTH + GAP  # the ready workflows' columns (five fit a 1280-pixel window readably)


def node_height(node_type: NodeType | None) -> float:
    """About how tall the canvas draws a node: its header and one row per port pair."""
    rows = max(len(node_type.inputs), len(node_type.outputs)) if node_type else 1
    return 64.0 + 24.0 * rows


def _box(spec: NodeSpec, registry: Registry) -> tuple[float, float, float, float]:
    x, y = spec.position
    return x, y, x + NODE_WIDTH, y + node_height(registry.get(spec.type))


def _overlaps(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] + GAP and b[0] < a[2] + GAP and a[1] < b[3] + GAP and b[1] < a[3] + GAP


def anchor_of(workflow: Workflow, selected: str | None) -> NodeSpec | None:
    """The node a click-added node goes beside: the selected one, else the last added."""
    return workflow.node(selected or "") or (workflow.nodes[-1] if workflow.nodes else None)


def free_spot(workflow: Workflow, registry: Registry, node_type: NodeType,
              anchor: NodeSpec | None) -> tuple[float, float]:
    """Right of ``anchor`` at its height, moved down past any node already there."""
    if anchor is None:
        return 0.0, 0.0
    x, y = anchor.position[0] + STEP_X, anchor.position[1]
    height = node_height(node_type)
    boxes = [_box(spec, registry) for spec in workflow.nodes]
    while True:
        mine = (x, y, x + NODE_WIDTH, y + height)
        blocking = [b for b in boxes if _overlaps(mine, b)]
        if not blocking:
            return x, y
        y = max(b[3] for b in blocking) + GAP


def feeding_edges(workflow: Workflow, registry: Registry, node_type: NodeType,
                  anchor: NodeSpec | None) -> dict[str, PortRef]:
    """Inputs of a new ``node_type`` that ``anchor``'s outputs fit: ``{input: anchor output}``.

    Each input takes the first output whose type it takes; each output feeds one input,
    so an Images output does not also become, say, a Labels input by conversion.
    """
    source = registry.get(anchor.type) if anchor is not None else None
    if source is None:
        return {}
    feeds: dict[str, PortRef] = {}
    used: set[str] = set()
    for inp in node_type.inputs:
        out = next((o for o in source.outputs if o.name not in used and inp.type.takes(o.type)), None)
        if out is not None:
            feeds[inp.name] = PortRef(anchor.id, out.name)
            used.add(out.name)
    return feeds
