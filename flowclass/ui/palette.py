"""The palette: every node type of the registry, grouped by category.

Built from :meth:`Registry.by_category`, so a new node module shows up here without
any UI change. Drag an entry onto the canvas, or click it to add the node next to the
selected one.
"""

from __future__ import annotations

from typing import Callable

from nicegui import ui

from ..registry import Registry
from .canvas import palette_item


def build_palette(registry: Registry, on_add: Callable[[str], None]) -> None:
    ui.label("Nodes").classes("text-subtitle2 text-gray-700")
    ui.label("Drag onto the canvas, click to add beside the selected node, or press / on the canvas to "
             "search.").classes("text-xs text-gray-500 -mt-2")
    for category, node_types in registry.by_category():
        ui.label(category).classes("text-xs uppercase tracking-wide text-gray-500 mt-2")
        for node_type in node_types:
            summary = node_type.description.splitlines()[0] if node_type.description else ""
            item = ui.item(on_click=lambda t=node_type.type: on_add(t)).props("dense clickable")
            item.classes("fc-palette-item w-full shrink-0 rounded border bg-white cursor-grab select-none")
            item.props(f"data-node-type={node_type.type}").mark(f"palette-{node_type.type}")
            with item, ui.column().classes("gap-0 w-full"):
                ui.label(node_type.title).classes("text-sm font-medium")
                if summary:
                    ui.label(summary).classes("text-xs text-gray-500 line-clamp-2")
            if node_type.description:  # the entry shows two lines of it at most
                with item:
                    ui.tooltip(node_type.description).props('max-width="320px" anchor="center right" '
                                                            'self="center left"').classes("text-sm")
            palette_item(item, node_type.type)
