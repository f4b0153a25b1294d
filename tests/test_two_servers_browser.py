"""Two ``flowclass ui`` servers on one cache folder, in a real Chromium.

Each server holds an OS lock per tab it holds (``stores/drafts_held/``). A tab's address
opened on the other server (typed, from the history, a bookmark) showed the same tab there,
restored from its draft: two live copies wrote one draft, and the last writer's edits won
without a word. It now opens as a copy of its own on that server, with the work so far, a
new address, and a message that says why; the first server's tab keeps its own work.
Screenshots: screenshots/two_servers_*.png.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from canvas_helpers import wait_until
from selenium.webdriver.common.by import By
from server_helpers import CanvasServer
from test_keep_work_browser import DIRTY, faces_workflow, field, retype, workspace  # noqa: F401 (fixture)
from test_restart_browser import TOKEN, browser  # noqa: F401 (fixture)

from tests.conftest import REPO

SHOTS = REPO / "screenshots"
pytestmark = [pytest.mark.browser, pytest.mark.slow]


def tab_of(address: str) -> str:
    return address.split("tab=")[1].split("&")[0]


def drafted(cache: Path, tab: str) -> dict:
    try:
        return json.loads((cache / "stores" / "drafts" / f"{tab}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def test_a_tabs_address_opened_on_a_second_server_is_a_copy_of_its_own(browser, workspace: Path,  # noqa: F811
                                                                       tmp_path: Path, registry) -> None:
    flow = faces_workflow(registry, workspace)
    cache = tmp_path / "cache"
    first, second = (CanvasServer(workspace, cache, TOKEN, workflow=flow) for _ in range(2))
    first.start()
    second.start()
    driver = browser.selenium
    try:
        driver.get(f"{first.base}/?token={TOKEN}")
        wait_until(lambda: "tab=" in driver.current_url, timeout=20, what="the first tab's address")
        tab = tab_of(driver.current_url)
        retype(field(browser, "cluster", "n_clusters"), "3")  # unsaved: the file says 2
        wait_until(lambda: '"n_clusters": 3' in drafted(cache, tab).get("workflow", ""), what="its draft")

        driver.switch_to.new_window("tab")  # the same address, on the second server
        driver.get(f"{second.base}/?token={TOKEN}&tab={tab}")
        wait_until(lambda: driver.find_elements(By.XPATH, "//*[contains(@class, 'q-notification')]"
                                                          "[contains(., 'another FlowClass server')]"),
                   timeout=20, what="the message")
        SHOTS.mkdir(exist_ok=True)
        time.sleep(1.0)  # the message's slide-in, for the screenshot
        driver.save_screenshot(str(SHOTS / "two_servers_copy.png"))
        wait_until(lambda: tab_of(driver.current_url) != tab, what="an address of its own")
        copy = tab_of(driver.current_url)
        assert field(browser, "cluster", "n_clusters").get_attribute("value") == "3"  # the work so far
        assert driver.execute_script(DIRTY)
        retype(field(browser, "cluster", "n_clusters"), "5")  # the copy's own edit
        wait_until(lambda: '"n_clusters": 5' in drafted(cache, copy).get("workflow", ""), what="the copy's draft")
        assert '"n_clusters": 3' in drafted(cache, tab)["workflow"]  # the first tab's, untouched

        driver.switch_to.window(driver.window_handles[0])  # the first server's tab: its own work
        assert tab_of(driver.current_url) == tab
        assert field(browser, "cluster", "n_clusters").get_attribute("value") == "3"
    finally:
        for handle in driver.window_handles[1:]:
            driver.switch_to.window(handle)
            driver.close()
        driver.switch_to.window(driver.window_handles[0])
        first.stop()
        second.stop()
