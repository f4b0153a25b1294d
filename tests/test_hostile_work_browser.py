"""A stranger's pass over the canvas's promises about the user's work, in a real Chromium.

What lives in the browser or needs a real process: a value typed into a settings field and
the page reloaded (F5) before the field was left; a real ``flowclass ui`` killed with
``kill -9`` the moment an edit, or a Save, has reached it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from canvas_helpers import wait_until
from nicegui.testing import Screen
from selenium.webdriver import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from server_helpers import CanvasServer
from test_keep_work_browser import DIRTY, faces_workflow, field, open_canvas, retype, saved_param
from test_restart_browser import browser, dataset, open_tab, restart, server  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    (folder / "mine").mkdir(parents=True)
    return folder


def test_f5_with_the_cursor_still_in_a_field_keeps_what_was_typed(screen: Screen, registry, cache,
                                                                   workspace: Path) -> None:
    """Nothing else reloads before the field is left (Ctrl+S does, test_keep_work_browser.py);
    found nothing broken: the number field sends each key as it is typed."""
    flow = faces_workflow(registry, workspace, clusters=6)
    open_canvas(screen, registry, cache, workspace, flow)
    driver = screen.selenium
    retype(field(screen, "cluster", "n_clusters"), "5")
    wait_until(lambda: driver.execute_script(DIRTY), what="the unsaved-changes mark")
    driver.refresh()
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, ".vue-flow__node"), timeout=20, what="the page again")
    assert field(screen, "cluster", "n_clusters").get_attribute("value") == "5"
    assert driver.execute_script(DIRTY) and saved_param(flow, "cluster", "n_clusters") == 6


def test_kill_9_the_moment_an_edit_or_a_save_arrived_loses_neither(browser, server: CanvasServer,  # noqa: F811
                                                                    workspace: Path) -> None:
    """The draft was written by a timer twice a second: a server killed as soon as the edit
    had reached it (the page shows the unsaved mark the server sent) came back without the
    edit, and killed just after a Save, came back saying the saved work was unsaved."""
    driver, flow = browser.selenium, workspace / "mine" / "faces.json"
    address = open_tab(browser, server)
    retype(field(browser, "cluster", "n_clusters"), "3")
    wait_until(lambda: driver.execute_script(DIRTY), timeout=5, what="the unsaved-changes mark")
    restart(browser, server, address)  # kill -9 at once
    assert field(browser, "cluster", "n_clusters").get_attribute("value") == "3"
    assert driver.execute_script(DIRTY) and saved_param(flow, "cluster", "n_clusters") == 2

    ActionChains(driver).key_down(Keys.CONTROL).send_keys("s").key_up(Keys.CONTROL).perform()
    wait_until(lambda: not driver.execute_script(DIRTY), timeout=5, what="the clean mark")
    restart(browser, server, address)  # kill -9 at once
    assert not driver.execute_script(DIRTY) and saved_param(flow, "cluster", "n_clusters") == 3
    retype(field(browser, "cluster", "n_clusters"), "4")
    ActionChains(driver).key_down(Keys.CONTROL).send_keys("s").key_up(Keys.CONTROL).perform()
    wait_until(lambda: saved_param(flow, "cluster", "n_clusters") == 4, what="the next save, not asked")
    assert "changed on disk" not in driver.page_source
