"""A duplicated browser tab edits a copy of its own from its first click, in a real Chromium.

The second page of one address used to wait 3 s (the time a reload's old page is given to
go) before it took a copy of its own; an edit made in that time went to the first tab's
workflow, and the copy took it too. Now the page knows on connecting that another browser
tab shows the address (NiceGUI names each browser tab; a reload keeps its name), and the
first click already edits the copy. Screenshot: screenshots/duplicate_tab_copy.png.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from canvas_helpers import palette_entry, wait_until
from nicegui.testing import Screen
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By

from flowclass.library import ready_workflows_dir
from flowclass.ui.app import setup
from flowclass.ui.browse import Roots
from flowclass.ui.page import AppConfig
from flowclass.ui.tabs import RELOAD_WAIT
from tests.conftest import REPO

pytestmark = [pytest.mark.browser, pytest.mark.slow]
NODES = ".vue-flow__node"


def tab_of(address: str) -> str:
    return parse_qs(urlparse(address).query)["tab"][0]


def test_an_edit_at_once_in_a_duplicated_tab_stays_in_that_tab(screen: Screen, registry, cache, tmp_path: Path):
    workspace = tmp_path / "home"
    workspace.mkdir()
    flow = workspace / "flow.json"
    shutil.copyfile(ready_workflows_dir() / "cluster_folder.json", flow)
    config = AppConfig(registry=registry, cache=cache, roots=Roots([workspace]), workflow=flow)
    setup(config)
    driver = screen.selenium
    driver.set_window_size(1600, 1000)
    screen.open("/", timeout=20)
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, NODES), timeout=15, what="the workflow's nodes")
    address = driver.current_url
    original = tab_of(address)
    count = len(config.tabs.tabs[original].session.workflow.nodes)

    driver.switch_to.new_window("tab")  # the same address in a second browser tab
    driver.get(address)
    began = time.monotonic()
    added = False
    while not added and time.monotonic() - began < 20:  # as soon as the palette is there, add a node
        try:
            palette_entry(driver, "save_table").click()
        except WebDriverException:  # the page went to its copy under the click: click again
            continue
        try:
            wait_until(lambda: len(driver.find_elements(By.CSS_SELECTOR, NODES)) == count + 1, timeout=3,
                       what="the node added")
            added = True
        except AssertionError:
            continue  # the click met the page as it left for its copy (nothing reached any tab)
    assert added
    time.sleep(RELOAD_WAIT + 0.5)  # past the wait a reload's old page is given
    copy = tab_of(driver.current_url)
    assert copy != original
    assert len(config.tabs.tabs[original].session.workflow.nodes) == count  # the first tab never saw it
    assert len(config.tabs.tabs[copy].session.workflow.nodes) == count + 1
    assert len(driver.find_elements(By.CSS_SELECTOR, NODES)) == count + 1
    (REPO / "screenshots").mkdir(exist_ok=True)
    driver.save_screenshot(str(REPO / "screenshots" / "duplicate_tab_copy.png"))
    driver.switch_to.window(driver.window_handles[0])
    wait_until(lambda: len(driver.find_elements(By.CSS_SELECTOR, NODES)) == count, what="the first tab as it was")
