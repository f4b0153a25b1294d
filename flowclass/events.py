"""What the engine tells front ends about a node: :class:`NodeEvent`.

Apart from :mod:`flowclass.context`, whose :class:`~flowclass.context.RunContext` makes
them only when a node reports progress or a warning: an unchanged re-run into a new
``--out`` hands each relocating node a RunContext but tells no event, and the events'
frozen dataclass and :class:`~flowclass.states.NodeState` cost it about 2 % of its
instructions (flowclass/new_out.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .states import NodeState


@dataclass(frozen=True)
class NodeEvent:
    """Something that happened to a node during a run.

    ``state`` is the node's new :class:`~flowclass.states.NodeState` (``pending``,
    ``running``, ``cached``, ``done``, ``failed``, ``skipped``, ``cancelled``), or
    ``progress`` / ``warning`` for a report while it runs.
    """

    node: str
    state: NodeState | str  # a NodeState, PROGRESS or WARNING
    done: int | None = None
    total: int | None = None
    unit: str = ""
    message: str = ""
    seconds: float | None = None
    field: str | None = None
    hint: str | None = None
    key: str | None = None  # with done and cached: where the cache holds the node's outputs

    @property
    def fraction(self) -> float | None:
        if self.done is None or not self.total:
            return None
        return min(1.0, self.done / self.total)
