"""A dialog for viewers and the page alike, so both open it the same way."""

from __future__ import annotations

from nicegui import ui


def page_dialog() -> ui.dialog:
    """A dialog at the page's top level, so it outlives the menu or panel that opened it."""
    with ui.context.client.content:
        return ui.dialog()


async def confirm(message: str, action: str = "Discard changes", *, cancel: str = "Cancel",
                  color: str = "negative") -> bool:
    return bool(await ask(message, action, cancel=cancel, color=color))


async def ask(message: str, action: str, *, cancel: str = "Cancel", color: str = "negative") -> bool | None:
    """:func:`confirm`'s question, and None when nobody chose either button: the page went away
    (a reload), or the question was put away (Escape, a click beside it), which is no answer."""
    with page_dialog() as dialog, ui.card().classes("max-w-lg"):
        ui.label(message)
        with ui.row().classes("w-full justify-end"):
            ui.button(cancel, on_click=lambda: dialog.submit(False)).props("flat").mark("confirm-cancel")
            ui.button(action, on_click=lambda: dialog.submit(True)).props(f"color={color}").mark("confirm-ok")
    result = await answer(dialog)
    return None if dialog.client.is_deleted or result is None else bool(result)


async def answer(dialog: ui.dialog):
    """Open ``dialog`` and wait for what it submits; None when its page went away (a reload,
    a closed tab), which the caller must not take for the user's answer."""
    dialog.open()
    try:
        return await dialog
    finally:
        if not dialog.is_deleted:  # the page's going away deleted it already
            dialog.delete()
