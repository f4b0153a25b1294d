"""The side panels fold away: the palette and the settings, each with a button in the header.

A laptop's 1280-pixel window gave the canvas 750 pixels between them, so a workflow was
either tiny or mostly out of sight. On a window narrower than :data:`NARROW` both start
folded, so a ready workflow opens whole with readable text (click-to-add and ``/`` search
still add nodes); the settings open by themselves when a node is selected, unless the
user folded them with their button. Either panel opens again from its button.
"""

from __future__ import annotations

from typing import Callable

from nicegui import Client, ui

NARROW = 1400  # window width (px) below which the side panels start folded away


class SidePanels:
    """Buttons that fold ``palette`` and ``settings`` (drawers of the page)."""

    def __init__(self, palette: ui.left_drawer, settings: ui.right_drawer,
                 selected: Callable[[], bool] = lambda: False):
        self.palette, self.settings, self.selected = palette, settings, selected
        self.asked = False  # whether the window's width was looked at
        self.settings_wait_for_selection = False  # folded for the width: a selection opens them

    def palette_button(self) -> ui.button:
        return ui.button(icon="view_sidebar", on_click=self.palette.toggle) \
            .props('flat dense round aria-label="Show or hide the nodes"').classes("-scale-x-100") \
            .tooltip("Show or hide the nodes").mark("toggle-palette")

    def settings_button(self) -> ui.button:
        return ui.button(icon="tune", on_click=self.toggle_settings) \
            .props('flat dense round aria-label="Show or hide the settings"') \
            .tooltip("Show or hide the settings").mark("toggle-settings")

    def toggle_settings(self) -> None:
        self.settings_wait_for_selection = False  # the user decides from now on
        self.settings.toggle()

    def node_selected(self) -> None:
        """A node was selected: show its settings, if they were folded for the window's width."""
        if self.settings_wait_for_selection and self.selected():
            self.settings_wait_for_selection = False
            self.settings.show()

    async def fold_if_narrow(self, client: Client) -> None:
        """Once the browser is connected (the first time only): fold the panels on a narrow
        window (the settings only while no node is selected)."""
        if self.asked:
            return
        self.asked = True
        try:
            width = await client.run_javascript("window.innerWidth", timeout=3)
        except (TimeoutError, RuntimeError):  # no browser to ask (a simulated one): keep it
            return
        if isinstance(width, (int, float)) and width < NARROW:
            self.palette.hide()
            if not self.selected():
                self.settings.hide()
                self.settings_wait_for_selection = True
