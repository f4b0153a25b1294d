"""Messages to the user, shown at the top of the page (the footer would hide them below)."""

from __future__ import annotations

from nicegui import ui

CLOSED_WORK = "Unsaved work of closed tabs…"  # the File menu's item (recover.py)


def tell(message: str, kind: str = "info") -> None:
    """``kind``: info, positive, warning or negative. Multi-line messages keep their lines."""
    ui.notify(message, type=kind, position="top", multi_line="\n" in message,
              classes="whitespace-pre-line", timeout=8000 if kind in ("warning", "negative") else 4000)
