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
from selenium.webdriver.common.keys import Keys
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


def test_a_tab_refused_after_a_restart_with_a_new_token_gets_its_work_back_in_place(
        browser, workspace: Path, tmp_path: Path, registry) -> None:  # noqa: F811
    """`flowclass ui` makes a new access token at each start, so after a restart every open tab
    showed *Access token needed*, and the printed link opened in it went to a new tab: the
    tab's own address, and its unsaved work with it, was left behind (listed among closed
    tabs' work). The refusal page takes the new link (or token) and goes back to the same
    address, which shows the tab's work."""
    flow = faces_workflow(registry, workspace)
    cache = tmp_path / "cache"
    server = CanvasServer(workspace, cache, TOKEN, workflow=flow)
    server.start()
    driver = browser.selenium
    try:
        driver.get(f"{server.base}/?token={TOKEN}")
        wait_until(lambda: "tab=" in driver.current_url, timeout=20, what="the tab's address")
        address, tab = driver.current_url, tab_of(driver.current_url)
        retype(field(browser, "cluster", "n_clusters"), "3")  # unsaved: the file says 2
        wait_until(lambda: '"n_clusters": 3' in drafted(cache, tab).get("workflow", ""), what="its draft")
        server.stop()
        server.token = TOKEN[::-1]  # started again, with a token of its own
        server.start()
        driver.get(address)  # F5 (the page's own reconnection may have reloaded it already)
        wait_until(lambda: "Access token needed" in driver.page_source, what="the refusal")
        link = f"http://localhost:{server.port}/?token={server.token}"
        box = driver.find_element(By.CSS_SELECTOR, "input[name=link]")
        box.send_keys(link)
        SHOTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(SHOTS / "two_servers_new_token.png"))
        box.send_keys(Keys.ENTER)
        wait_until(lambda: driver.current_url == address, timeout=20, what="the tab's own address")
        wait_until(lambda: driver.execute_script(DIRTY), timeout=20, what="the tab's unsaved work")
        assert field(browser, "cluster", "n_clusters").get_attribute("value") == "3"
        assert server.token not in driver.current_url
    finally:
        server.stop()
