"""The edits a tab's canvas and inspector ask for: add, connect, delete, move, select, undo,
parameters and titles. Each is one method of :class:`~flowclass.ui.session.EditorSession`;
after it the session checks again (debounced) and tells its views what changed.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

from ..errors import ParamValueError
from ..workflow import Edge, PortRef
from .editor import EditRefused
from .placement import anchor_of, feeding_edges, free_spot

EDIT = frozenset({"graph", "params", "file"})


class SessionEdits:
    """Edits of the workflow; part of :class:`~flowclass.ui.session.EditorSession`, whose
    ``state``, ``registry``, ``notify``, ``emit`` and ``request_check`` they use."""

    def edit(self, action: Callable[[], Any], changes: Iterable[str] = EDIT) -> bool:
        """Make an edit; a refused one is told to the user and changes nothing."""
        try:
            action()
        except EditRefused as exc:
            self.notify(str(exc), "warning")
            return False
        self.request_check()
        self.emit(*changes, "selection", "statuses")
        return True

    def add_node(self, type_id: str, position: tuple[float, float],
                 feeds: Mapping[str, PortRef] | None = None) -> bool:
        return self.edit(lambda: self.state.add_node(type_id, position, feeds))

    def add_beside(self, type_id: str) -> bool:
        """A click on the palette (or ``/`` search): the node goes right of the selected (or last)
        node on a free spot, fed by it where the types fit (see :mod:`.placement`)."""
        workflow, node_type = self.state.workflow, self.registry.get(type_id)
        if node_type is None:
            self.notify(f"Unknown node type '{type_id}'.", "warning")
            return False
        anchor = anchor_of(workflow, self.state.selected)
        return self.add_node(type_id, free_spot(workflow, self.registry, node_type, anchor),
                             feeding_edges(workflow, self.registry, node_type, anchor))

    def connect(self, source: PortRef, target: PortRef) -> bool:
        return self.edit(lambda: self.state.connect(source, target))

    def delete(self, node_ids: Iterable[str] = (), edges: Iterable[Edge] = ()) -> bool:
        return self.edit(lambda: self.state.delete(list(node_ids), list(edges)))

    def delete_selected(self) -> bool:
        return bool(self.state.selected) and self.delete([self.state.selected])

    def duplicate(self) -> bool:
        return bool(self.state.selected) and self.edit(lambda: self.state.duplicate([self.state.selected]))

    def move(self, moves: Mapping[str, tuple[float, float]]) -> None:
        """Positions only: no validation, no status check, nothing to re-send to the canvas."""
        self.state.move(moves)
        self.emit("layout", "file")

    def select(self, node_id: str | None) -> None:
        self.state.selected = node_id if node_id and self.state.workflow.node(node_id) else None
        self.emit("selection")

    def undo(self) -> bool:
        return self.state.undo() and self.edit(lambda: None)

    def redo(self) -> bool:
        return self.state.redo() and self.edit(lambda: None)

    def set_param(self, node_id: str, name: str, value: Any) -> None:
        """A value typed into the inspector; stored normalised (``3.0`` -> ``3`` for an integer)."""
        values = self.normalised(node_id, {name: value})
        self.typed[(node_id, name)] = values[name]
        self.state.set_params(node_id, values)
        self.request_check()
        self.emit("params", "file", "statuses")

    def set_params(self, node_id: str, params: Mapping[str, Any]) -> None:
        """A viewer's action: like the inspector, and the inspector then shows the new values."""
        self.state.set_params(node_id, self.normalised(node_id, params))
        self.request_check()
        self.emit("params", "file", "statuses", "selection")

    def normalised(self, node_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Each value as its parameter validates it; an invalid one is kept as given, so the
        inspector shows its problem on the field."""
        spec = self.state.workflow.node(node_id)
        node_type = self.registry.get(spec.type) if spec else None
        out = dict(params)
        for name, value in params.items():
            param = node_type.param(name) if node_type else None
            if param is not None:
                try:
                    out[name] = param.validate(value)
                except ParamValueError:
                    pass
        return out

    def rename(self, node_id: str, title: str) -> None:
        self.state.rename(node_id, title)
        self.emit("graph", "file")
