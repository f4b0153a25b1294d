"""A dialog for viewers and the page alike, so both open it the same way."""

from __future__ import annotations

from nicegui import ui


def page_dialog() -> ui.dialog:
    """A dialog at the page's top level, so it outlives the menu or panel that opened it."""
    with ui.context.client.content:
        return ui.dialog()


async def confirm(message: str, action: str = "Discard changes") -> bool:
    with page_dialog() as dialog, ui.card():
        ui.label(message)
        with ui.row().classes("w-full justify-end"):
            ui.button("Cancel", on_click=lambda: dialog.submit(False)).props("flat")
            ui.button(action, on_click=lambda: dialog.submit(True)).props("color=negative").mark("confirm-ok")
    dialog.open()
    try:
        return bool(await dialog)
    finally:
        dialog.delete()
