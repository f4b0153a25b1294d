"""The side panels fold away: the palette and the settings, each with a button in the header.

A laptop's 1280-pixel window gave the canvas 750 pixels between them, so a workflow was
either tiny or mostly out of sight. On a window narrower than :data:`NARROW` the palette
starts folded (click-to-add and ``/`` search still add nodes); either panel opens again
from its button.
"""

from __future__ import annotations

from nicegui import Client, ui

NARROW = 1400  # window width (px) below which the palette starts folded away


class SidePanels:
    """Buttons that fold ``palette`` and ``settings`` (drawers of the page)."""

    def __init__(self, palette: ui.left_drawer, settings: ui.right_drawer):
        self.palette, self.settings = palette, settings
        self.asked = False  # whether the window's width was looked at

    def palette_button(self) -> ui.button:
        return ui.button(icon="view_sidebar", on_click=self.palette.toggle) \
            .props('flat dense round aria-label="Show or hide the nodes"').classes("-scale-x-100") \
            .tooltip("Show or hide the nodes").mark("toggle-palette")

    def settings_button(self) -> ui.button:
        return ui.button(icon="tune", on_click=self.settings.toggle) \
            .props('flat dense round aria-label="Show or hide the settings"') \
            .tooltip("Show or hide the settings").mark("toggle-settings")

    async def fold_if_narrow(self, client: Client) -> None:
        """Once the browser is connected (the first time only): fold the palette on a narrow window."""
        if self.asked:
            return
        self.asked = True
        try:
            width = await client.run_javascript("window.innerWidth", timeout=3)
        except (TimeoutError, RuntimeError):  # no browser to ask (a simulated one): keep it
            return
        if isinstance(width, (int, float)) and width < NARROW:
            self.palette.hide()
