"""Node help, from the node's declaration: what it does, its ports, each parameter, an example.

Opened by the "?" on a canvas node and in the inspector. Everything shown comes from the
:class:`~flowclass.node.NodeType` and from the ready workflows that use the node, so a new
node type documents itself. Text only (labels, never HTML): declarations may come from plugins.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from nicegui import ui

from ..node import NodeType
from ..params import Path as PathParam
from .files import ready_workflows


@dataclass(frozen=True)
class Example:
    """A ready workflow that uses the node, and a command line that changes one of its settings."""

    workflow: str  # file name
    title: str
    node_id: str
    command: str  # quoted: it pastes into a shell as it is


def examples(node_type: NodeType) -> list[Example]:
    found = []
    for ready in ready_workflows():
        node = next((n for n in ready.doc.get("nodes", []) if n.get("type") == node_type.type), None)
        if node is None:
            continue
        command = f"flowclass run {shlex.quote(str(ready.path))}"
        param = next((p for p in node_type.params if not isinstance(p, PathParam)
                      and p.name in node.get("params", {})), None)
        if param is not None:
            command += " --set " + shlex.quote(f"{node['id']}.{param.name}={set_text(param, node['params'][param.name])}")
        found.append(Example(ready.path.name, ready.name, node["id"], command))
    return found


def set_text(param: Any, value: Any) -> str:
    """A value as ``--set`` reads it back: ``true``, ``jpg, png`` (not Python's ``['jpg', 'png']``)."""
    if isinstance(value, bool):
        return str(value).lower()
    as_text = getattr(param, "as_text", None)
    return as_text(value) if as_text is not None else str(value)


def _ports(title: str, ports: tuple) -> None:
    if not ports:
        return
    ui.label(title).classes("text-subtitle2 mt-2")
    for port in ports:
        with ui.row().classes("gap-1 items-baseline no-wrap"):
            ui.label(port.label).classes("font-medium")
            ui.label(f"({port.type.title}{', optional' if getattr(port, 'optional', False) else ''})") \
                .classes("text-gray-500")
            if port.help:
                ui.label(f"— {port.help}").classes("text-gray-700")


def show_node_help(node_type: NodeType) -> ui.dialog:
    """Open a dialog with ``node_type``'s help (closed with Escape or its button)."""
    with ui.dialog() as dialog, ui.card().classes("w-[640px] max-w-[95vw] fc-node-help text-sm"):
        ui.label(node_type.title).classes("text-h6")
        ui.label(f"{node_type.category} · type {node_type.type}, version {node_type.version}") \
            .classes("text-xs text-gray-500 -mt-2")
        if node_type.description:
            ui.label(node_type.description).classes("whitespace-pre-line")
        _ports("Inputs", node_type.inputs)
        _ports("Outputs", node_type.outputs)
        if node_type.params:
            ui.label("Parameters").classes("text-subtitle2 mt-2")
            for param in node_type.params:
                with ui.column().classes("gap-0 fc-help-param"):
                    default = "required" if param.required else f"default {param.default!r}"
                    with ui.row().classes("gap-1 items-baseline"):
                        ui.label(param.label).classes("font-medium")
                        ui.label(f"{param.name}: {param.expected()}; {default}").classes("text-xs text-gray-500")
                    if param.help:
                        ui.label(param.help).classes("text-gray-700")
        ui.label("Example").classes("text-subtitle2 mt-2")
        found = examples(node_type)
        if not found:
            ui.label("No ready workflow uses it yet: add it after a node whose output fits one of its inputs "
                     "(same colour).").classes("text-gray-700")
        for example in found[:3]:
            ui.label(f"The ready workflow {example.workflow} ({example.title}) uses it as node "
                     f"'{example.node_id}'; on the command line:").classes("text-gray-700")
            ui.code(example.command, language="bash").classes("w-full text-xs")
        with ui.row().classes("w-full justify-end"):
            ui.button("Close", on_click=dialog.close).props("flat")
    dialog.on_value_change(lambda e: None if e.value else dialog.delete())
    dialog.open()
    return dialog
