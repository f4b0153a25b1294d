"""The canvas above the results, split by a bar the user can see and drag.

While the selected node has no results to show, the canvas takes most of the height (a
laptop's 1280x720 screen leaves little room); when results appear, the bar moves up so
both share it. Once the user drags the bar, it stays where they put it.
"""

from __future__ import annotations

from nicegui import ui

CANVAS_ALONE = 90  # percent of the height for the canvas while there is nothing to show below (a line)
CANVAS_SHARED = 55  # once results are shown


class CanvasAndResults:
    """Build inside the page: fill ``before`` with the canvas and ``after`` with the results."""

    def __init__(self) -> None:
        self.splitter = ui.splitter(horizontal=True, value=CANVAS_ALONE, limits=(15, 92)) \
            .classes("w-full fc-main-splitter")
        with self.splitter.separator:
            ui.icon("drag_handle").classes("text-gray-500 fc-splitter-grip") \
                .tooltip("Drag to share the height between the canvas and the results")
        self.before, self.after = self.splitter.before, self.splitter.after
        self.moved_by_user = False
        self._placing = False
        self.splitter.on_value_change(self._moved)

    def _moved(self) -> None:
        if not self._placing:
            self.moved_by_user = True

    def results_shown(self, shown: bool) -> None:
        """Give the results room when there are some, the canvas when there are none."""
        if self.moved_by_user:
            return
        target = CANVAS_SHARED if shown else CANVAS_ALONE
        if self.splitter.value != target:
            self._placing = True
            try:
                self.splitter.value = target
            finally:
                self._placing = False
