"""A dialog for viewers and the page alike, so both open it the same way."""

from __future__ import annotations

from nicegui import ui


def page_dialog() -> ui.dialog:
    """A dialog at the page's top level, so it outlives the menu or panel that opened it."""
    with ui.context.client.content:
        return ui.dialog()
