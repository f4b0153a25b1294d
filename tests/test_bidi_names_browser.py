"""Names that reverse text, in a real browser: a label from a stranger's folder or label file
(``cat\\u202egpj.exe``) showed in the label queue as *labelled catgod detseggus · exe.jpg*, the
suggestion read backwards and the label disguised as a picture's name. Every viewer now shows
such characters as their escapes, as the terminal does. Screenshot: screenshots/bidi_label_queue.png.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from nicegui import ui
from nicegui.testing import Screen
from PIL import Image
from selenium.webdriver.common.by import By

from nodes.cleaning_types import LabelIssues
from nodes.datatypes import ImageSet

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SHOTS = Path(__file__).resolve().parents[1] / "screenshots"
REVERSED = "cat\u202egpj.exe"


def _picture_url() -> str:
    data = io.BytesIO()
    Image.new("RGB", (8, 8), "gray").save(data, format="PNG")
    return "data:image/png;base64," + base64.b64encode(data.getvalue()).decode("ascii")


def test_a_label_that_reverses_text_does_not_disguise_the_queue(screen: Screen, tmp_path: Path) -> None:
    from test_ui_cleaning import queue_context

    from nodes.viewers.cleaning_labels import label_queue

    images = ImageSet(np.array([str(tmp_path / "a" / "i0.png")]), np.array([REVERSED]),
                      np.array(["0" * 64]), np.full(1, 8), np.full(1, 8), str(tmp_path))
    issues = LabelIssues(images, np.array(["dog"]), np.array([0.9]), np.array([True]), (REVERSED, "dog"))
    url = _picture_url()

    @ui.page("/")
    def page() -> None:
        label_queue.show(issues, queue_context(tmp_path, [], image_url=lambda path, sha256=None, size=160: url))

    screen.open("/")
    screen.should_contain("suggested")
    SHOTS.mkdir(exist_ok=True)
    screen.selenium.save_screenshot(str(SHOTS / "bidi_label_queue.png"))
    line = screen.selenium.find_element(By.CSS_SELECTOR, ".fc-queue-labels").text
    assert line == "labelled cat\\u202egpj.exe · suggested dog"
    buttons = [b.text for b in screen.selenium.find_elements(By.CSS_SELECTOR, ".fc-queue-item button")]
    assert "KEEP CAT\\U202EGPJ.EXE" in [b.upper() for b in buttons]


def test_a_name_that_reverses_text_does_not_disguise_a_table_row(screen: Screen, tmp_path: Path) -> None:
    """The table viewer (predictions, label issues...): a row *cat\\u202egpj.exe.png | dog | 0.9*
    read with its cells reversed after the name. Screenshot: screenshots/bidi_table.png."""
    import pandas as pd
    from test_ui_cleaning import context

    from flowclass.viewers.tables import show_table

    table = pd.DataFrame({"path": [str(tmp_path / f"{REVERSED}.png")], "label": [REVERSED],
                          "predicted": ["dog"], "score": [0.9]})

    @ui.page("/")
    def page() -> None:
        show_table(table, context(tmp_path, []))

    screen.open("/")
    screen.should_contain("dog")
    SHOTS.mkdir(exist_ok=True)
    screen.selenium.save_screenshot(str(SHOTS / "bidi_table.png"))
    cells = [td.text for td in screen.selenium.find_elements(By.CSS_SELECTOR, ".fc-result-table tbody td")]
    assert cells[1:] == ["cat\\u202egpj.exe", "dog", "0.9"] and cells[0].endswith("cat\\u202egpj.exe.png")
    assert not any("\u202e" in cell for cell in cells)
