"""The inspector: the selected node's parameters, as widgets derived from their declarations.

Each :class:`~flowclass.params.Param` kind has one widget (number with its range,
choice, switch, text, folder or file with a browse button), so a new node type needs no
UI code. Every change goes to the session at once, which stores it normalised;
problems (validation, or the last run's error) show under the field they name, and
``shown_when`` hides what does not apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from nicegui import ui

from ..problems import Problem
from ..node import NodeType
from ..params import Bool, Choice, Float, Int, List, Param, Path as PathParam, Text
from ..states import NodeState
from ..workflow import NodeSpec
from ..workflow_file import MAX_LINE
from .node_help import show_node_help
from .runner import NodeStatus

BrowseFor = Callable[[PathParam, str], Awaitable[str | None]]


@dataclass
class Field:
    param: Param
    row: ui.element
    widget: ui.element
    error: ui.label


class Inspector:
    def __init__(self, *, set_param: Callable[[str, str, Any], None], rename: Callable[[str, str], None],
                 run_node: Callable[[str], None], browse: BrowseFor):
        self.set_param, self.rename, self.run_node, self.browse = set_param, rename, run_node, browse
        self.container = ui.column().classes("w-full gap-2 fc-inspector")
        self.node_id: str | None = None
        self.fields: dict[str, Field] = {}
        self.node_message: ui.label | None = None
        self.show(None, None, [], NodeStatus())

    # --- building -----------------------------------------------------------------------
    def show(self, spec: NodeSpec | None, node_type: NodeType | None, problems: list[Problem],
             status: NodeStatus) -> None:
        """Rebuild for ``spec`` (None: nothing selected)."""
        self.container.clear()
        self.fields = {}
        self.node_id = spec.id if spec else None
        with self.container:
            if spec is None:
                ui.label("Select a node to see its settings.").classes("text-sm text-gray-500")
                return
            if node_type is None:
                self._placeholder(spec, problems)
                return
            self._header(spec, node_type)
            for param in node_type.params:
                self.fields[param.name] = self._field(spec, param)
        self.update(spec, problems, status)

    def _header(self, spec: NodeSpec, node_type: NodeType) -> None:
        with ui.row().classes("w-full items-center no-wrap gap-1"):
            ui.label(node_type.title).classes("text-subtitle1 font-medium")
            ui.space()
            ui.button(icon="help_outline", on_click=lambda: show_node_help(node_type)) \
                .props('flat dense round aria-label="Help on this node"').classes("fc-inspector-help") \
                .tooltip("What this node does, each parameter, an example")
        ui.label(f"{spec.id} · {node_type.category}").classes("text-xs text-gray-500 -mt-2")
        if node_type.description:
            ui.label(node_type.description).classes("text-xs text-gray-600")
        ui.input("Title on the canvas", value=spec.title, placeholder=node_type.title,
                 on_change=lambda e: self.rename(spec.id, e.value or "")).props(f"dense maxlength={MAX_LINE}") \
            .classes("w-full")
        ui.button("Run this node", icon="play_arrow", on_click=lambda: self.run_node(spec.id)) \
            .props("outline dense").classes("fc-run-node").tooltip("Run this node and the nodes it needs")
        self.node_message = ui.label().classes("text-xs whitespace-pre-line fc-node-message")

    def _placeholder(self, spec: NodeSpec, problems: list[Problem]) -> None:
        ui.label(spec.title or spec.type).classes("text-subtitle1 font-medium")
        for problem in problems:
            ui.label(problem.message).classes("text-sm text-orange-800 fc-node-message")
        ui.label("Its settings are kept as they are and saved unchanged:").classes("text-xs text-gray-600")
        ui.code("\n".join(f"{k} = {v!r}" for k, v in spec.params.items()) or "(none)").classes("w-full text-xs")

    def _field(self, spec: NodeSpec, param: Param) -> Field:
        value = spec.params.get(param.name, None if param.required else param.default)
        with ui.column().classes("w-full gap-0").props(f"data-field={param.name}") as row:
            widget = param_widget(param, value, lambda v, name=param.name: self.set_param(spec.id, name, v),
                                  self.browse)
            if param.help:
                ui.label(param.help).classes("text-xs text-gray-500")
            error = ui.label().classes("text-xs text-red-700 fc-field-error")
        return Field(param, row, widget, error)

    # --- updating in place (keeps focus while typing) -------------------------------------
    def update(self, spec: NodeSpec, problems: list[Problem], status: NodeStatus) -> None:
        """Show ``problems`` and the run error on their fields, and apply ``shown_when``."""
        by_field: dict[str | None, list[str]] = {}
        for problem in problems:
            key = problem.field if problem.field in self.fields else None
            by_field.setdefault(key, []).append(problem.message)
        if status.state == NodeState.FAILED and status.message:
            key = status.field if status.field in self.fields else None
            by_field.setdefault(key, []).append(status.message)
        for name, field in self.fields.items():
            messages = by_field.get(name, [])
            field.error.text = "\n".join(messages)
            field.error.set_visibility(bool(messages))
            field.row.set_visibility(is_shown(field.param, spec.params) or bool(messages))
        if self.node_message is not None:
            messages = by_field.get(None, [])
            # else what a status check could not tell (a folder too large to look at meanwhile)
            note = status.message if not messages and status.state == NodeState.IDLE else ""
            self.node_message.text = "\n".join(messages) or note
            colour = "text-red-700" if messages else "text-gray-600"
            self.node_message.classes(replace=f"text-xs whitespace-pre-line fc-node-message {colour}")
            self.node_message.set_visibility(bool(messages or note))


def is_shown(param: Param, params: dict[str, Any]) -> bool:
    if not param.shown_when:
        return True
    return all(params.get(name) in values for name, values in param.shown_when.items())


def param_widget(param: Param, value: Any, on_change: Callable[[Any], None], browse: BrowseFor) -> ui.element:
    """The widget for one parameter; ``on_change`` gets values in the parameter's own type."""
    label = param.label + (" *" if param.required else "")
    if isinstance(param, Bool):
        return ui.switch(label, value=bool(value), on_change=lambda e: on_change(e.value))
    if isinstance(param, Choice):
        options = {c: param.choice_titles.get(c, c) for c in param.choices}
        return ui.select(options, label=label, value=value if value in options else None,
                         on_change=lambda e: on_change(e.value)).classes("w-full").props("dense")
    if isinstance(param, (Int, Float)):
        return _number(param, label, value, on_change)
    if isinstance(param, PathParam):
        return _path(param, label, value, on_change, browse)
    if isinstance(param, List):  # typed comma-separated, stored as a list
        return ui.input(label, value=param.as_text(value), placeholder="e.g. a, b",
                        on_change=lambda e: on_change(param.split(e.value or ""))).classes("w-full").props("dense")
    if isinstance(param, Text):
        make = ui.textarea if param.multiline else ui.input
        return make(label, value=value if isinstance(value, str) else "",
                    on_change=lambda e: on_change(e.value or "")).classes("w-full").props("dense")
    return ui.input(label, value=str(value), on_change=lambda e: on_change(e.value)).classes("w-full")


def _number(param: Int | Float, label: str, value: Any, on_change: Callable[[Any], None]) -> ui.number:
    is_int = isinstance(param, Int)
    step = 1 if is_int else (param.step or None)
    hint = param.expected()

    # The session stores the value as the parameter normalises it (3.0 -> 3 for an integer).
    widget = RangeNumber(label, value=value, min=param.min, max=param.max, step=step,
                         format="%d" if is_int else None, on_change=lambda e: on_change(e.value))
    widget.props["hint"] = hint
    widget.classes("w-full").props("dense").mark(f"param-{param.name}")
    note = ui.label().classes("text-xs text-amber-800 fc-clamped")
    note.set_visibility(False)

    def clamped(typed: float, kept: float) -> None:
        show = (lambda v: f"{int(v)}" if is_int and float(v).is_integer() else f"{v:g}")
        bound = "minimum" if typed < kept else "maximum"
        note.text = f"{show(typed)} is beyond the {bound} ({show(kept)}), so it was set to {show(kept)}."
        note.set_visibility(True)

    widget.on_clamped = clamped
    widget.on_value_change(lambda: note.set_visibility(False) if not widget.clamping else None)
    return widget


class RangeNumber(ui.number):
    """A number field that says so when it moves a typed value into its range (on leaving the
    field), where ``ui.number`` does it silently: 0 clusters must not quietly become 1."""

    on_clamped: Callable[[float, float], None] = staticmethod(lambda typed, kept: None)
    clamping = False

    def sanitize(self) -> None:
        typed = self.value
        self.clamping = True
        try:
            super().sanitize()
        finally:
            self.clamping = False
        if typed is not None and self.value is not None and float(typed) != float(self.value):
            self.on_clamped(float(typed), float(self.value))


def _path(param: PathParam, label: str, value: Any, on_change: Callable[[Any], None],
          browse: BrowseFor) -> ui.input:
    widget = ui.input(label, value=value if isinstance(value, str) else "",
                      on_change=lambda e: on_change(e.value or "")).classes("w-full").props("dense")

    async def pick() -> None:
        chosen = await browse(param, widget.value or "")
        if chosen is not None:
            widget.value = chosen  # fires on_change

    with widget.add_slot("append"):
        ui.button(icon="description" if param.target == "file" else "folder_open", on_click=pick) \
            .props("flat dense round").classes("fc-browse").mark(f"browse-{param.name}") \
            .tooltip("Choose a file" if param.target == "file" else "Choose a folder")
    return widget
