"""F5 pressed while a settings field is still being typed in, in a real Chromium.

README promises that a reload shows the same workflow with its unsaved edits. The hostile
moment is the keystroke just before F5: typed, never left with Enter or Tab, the page
reloaded at once. What was typed is in the reloaded page, and nothing was saved to the file.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from canvas_helpers import wait_until
from nicegui.testing import Screen
from selenium.webdriver.common.by import By
from test_keep_work_browser import field, open_canvas

from flowclass.library import ready_workflows_dir

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_f5_right_after_a_keystroke_keeps_what_was_typed(screen: Screen, registry, cache, tmp_path: Path) -> None:
    workspace = tmp_path / "home"
    workspace.mkdir()
    flow = workspace / "flow.json"
    shutil.copyfile(ready_workflows_dir() / "cluster_folder.json", flow)
    before = flow.read_bytes()
    open_canvas(screen, registry, cache, workspace, flow)
    driver = screen.selenium
    box = field(screen, "table", "path")
    box.click()
    box.send_keys("x")  # clusters.csv -> clusters.csvx, the cursor still in the field
    driver.refresh()  # at once
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, ".vue-flow__node"), timeout=20, what="the page again")
    wait_until(lambda: field(screen, "table", "path").get_attribute("value") == "clusters.csvx", timeout=10,
               what="the typed value after the reload")
    assert flow.read_bytes() == before
    assert json.loads(before)["nodes"][-1]["params"]["path"] == "clusters.csv"
