"""File ▸ Unsaved work of closed tabs: reopen (or drop) the work a closed tab left unsaved.

A tab reopened from the browser's history finds its work by itself (its address carries
its id); a tab opened afresh does not, so it says that such work exists and this dialog
lists it: opening one goes to that tab's address, which restores it (:mod:`.tabs`).
"""

from __future__ import annotations

import time

from nicegui import ui

from ..viewers.dialog import confirm, page_dialog
from .messages import CLOSED_WORK as MENU_LABEL
from .tabs import Tabs


def mention_closed_work(tabs: Tabs) -> None:
    """On a new tab: say that closed tabs left unsaved work, and where to find it."""
    count = len(tabs.closed_with_unsaved_work())
    if count:
        ui.notify(f"{count} closed tab(s) left unsaved work: File ▸ {MENU_LABEL}", type="info",
                  position="top", timeout=10000)


async def show_closed_work(tabs: Tabs) -> None:
    with page_dialog() as dialog, ui.card().classes("w-[36rem] max-w-full fc-closed-work"):
        ui.label("Unsaved work of closed tabs").classes("text-h6")
        rows = ui.column().classes("w-full gap-1")

        async def discard(tab_id: str, title: str) -> None:  # beside Open: a slip must not lose it
            run = " Its run going on stops (what it finished is kept)." if tabs.running(tab_id) else ""
            if await confirm(f"Discard the unsaved work of {title}? It cannot be brought back.{run}", "Discard"):
                tabs.discard(tab_id)
                fill()

        def fill() -> None:
            rows.clear()
            found = tabs.closed_with_unsaved_work()
            with rows:
                if not found:
                    ui.label("None: every tab's work is saved or open.").classes("text-gray-600")
                for tab_id, draft, when in found:
                    with ui.row().classes("w-full items-center no-wrap"):
                        ui.label(draft.title).classes("font-medium grow truncate")
                        ui.label(time.strftime("%Y-%m-%d %H:%M", time.localtime(when))).classes("text-xs")
                        ui.button("Open", on_click=lambda t=tab_id: ui.navigate.to(f"/?tab={t}")) \
                            .props("flat dense").mark(f"reopen-{tab_id}")
                        ui.button("Discard", on_click=lambda t=tab_id, d=draft: discard(t, d.title)) \
                            .props("flat dense color=negative").mark(f"discard-{tab_id}")

        fill()
        with ui.row().classes("w-full justify-end"):
            ui.button("Close", on_click=lambda: dialog.submit(None)).props("flat")
    dialog.open()
    try:
        await dialog
    finally:
        dialog.delete()
