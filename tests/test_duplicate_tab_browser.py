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
from contextlib import contextmanager
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


def serve_a_copy_of_cluster_folder(registry, cache, tmp_path: Path) -> AppConfig:
    """The canvas set up on a copy of cluster_folder.json in a home folder of its own."""
    workspace = tmp_path / "home"
    workspace.mkdir()
    flow = workspace / "flow.json"
    shutil.copyfile(ready_workflows_dir() / "cluster_folder.json", flow)
    config = AppConfig(registry=registry, cache=cache, roots=Roots([workspace]), workflow=flow)
    setup(config)
    return config


def test_an_edit_at_once_in_a_duplicated_tab_stays_in_that_tab(screen: Screen, registry, cache, tmp_path: Path):
    config = serve_a_copy_of_cluster_folder(registry, cache, tmp_path)
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



@contextmanager
def chromium_that_asks_before_leaving():
    """A Chromium of its own that shows the *Leave site?* prompt: under WebDriver, Chromium
    accepts it unseen, unless the session asks otherwise (WebDriver BiDi's ``beforeUnload``)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from tests.conftest import CHROMEDRIVER, CHROMIUM

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("headless=new", "no-sandbox", "disable-dev-shm-usage", "window-size=1600,1000"):
        options.add_argument(argument)
    options.set_capability("webSocketUrl", True)
    options.set_capability("unhandledPromptBehavior", {"beforeUnload": "ignore", "default": "dismiss"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(4)
    try:
        yield driver
    finally:
        driver.quit()


def ask_to_reload(driver, stay: bool) -> None:
    """A reload asked for while the workflow has unsaved changes: the browser asks *Leave
    site?*, and the user stays (Cancel) or leaves."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script("setTimeout(() => location.reload(), 0)")
    prompt = WebDriverWait(driver, 10).until(expected_conditions.alert_is_present())
    prompt.dismiss() if stay else prompt.accept()


def browser_tab_name(driver) -> str:
    return driver.execute_script("return sessionStorage.__nicegui_tab_id")


def test_a_tab_duplicated_after_a_cancelled_leave_prompt_is_still_a_tab_of_its_own(
        screen: Screen, registry, cache, tmp_path: Path):
    """The *Leave site?* prompt answered with Cancel left the page marked as closed in its
    session storage (NiceGUI marks it as the prompt opens): a tab duplicated from it took the
    same browser-tab name, so the server could not tell it from a reload, waited 3 s, and an
    edit made meanwhile went into the first tab's workflow. The page is now marked closed only
    when it really goes (``pagehide``): the duplicate is a browser tab of its own at once, and
    a reload after the cancelled prompt is still the same tab, unsaved work and all.
    Screenshot: screenshots/duplicate_after_cancelled_leave.png."""
    config = serve_a_copy_of_cluster_folder(registry, cache, tmp_path)
    screen.open("/", timeout=20)  # starts the server
    with chromium_that_asks_before_leaving() as driver:
        driver.get(screen.url + "/")
        wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, NODES), timeout=15, what="the workflow's nodes")
        count = len(driver.find_elements(By.CSS_SELECTOR, NODES))
        palette_entry(driver, "save_table").click()  # an unsaved change: leaving asks first
        wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, '[data-fc-dirty="1"]'), what="the unsaved mark")
        original, name = tab_of(driver.current_url), browser_tab_name(driver)
        assert len(config.tabs.tabs[original].session.workflow.nodes) == count + 1

        ask_to_reload(driver, stay=True)
        time.sleep(0.5)
        assert tab_of(driver.current_url) == original and browser_tab_name(driver) == name
        driver.execute_script("window.open(location.href)")  # a copy of this browser tab, session storage too
        driver.switch_to.window(driver.window_handles[-1])
        wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, NODES), timeout=15, what="the duplicate's nodes")
        assert browser_tab_name(driver) != name  # a browser tab of its own, known as it connects
        wait_until(lambda: tab_of(driver.current_url) != original, timeout=RELOAD_WAIT - 1,
                   what="the duplicate on a copy of its own, before a reload's wait is over")
        copy = tab_of(driver.current_url)
        wait_until(lambda: len(driver.find_elements(By.CSS_SELECTOR, NODES)) == count + 1, what="the copy's nodes")
        (REPO / "screenshots").mkdir(exist_ok=True)
        driver.save_screenshot(str(REPO / "screenshots" / "duplicate_after_cancelled_leave.png"))
        driver.close()

        driver.switch_to.window(driver.window_handles[0])
        ask_to_reload(driver, stay=True)  # once more, then the reload is let through
        time.sleep(0.5)
        ask_to_reload(driver, stay=False)
        wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, NODES), timeout=15, what="the reloaded page")
        time.sleep(RELOAD_WAIT + 0.5)  # past the wait a reload's old page is given
        assert tab_of(driver.current_url) == original and browser_tab_name(driver) == name  # the same tab
        assert len(driver.find_elements(By.CSS_SELECTOR, NODES)) == count + 1  # its unsaved node still there
        assert driver.find_elements(By.CSS_SELECTOR, '[data-fc-dirty="1"]')
        assert set(config.tabs.tabs) >= {original, copy}
