"""A node's results after a change to its settings, on a laptop's 1280x720 window, in a real
Chromium: the results are still shown, marked out of date. Screenshot:
screenshots/stale_duplicates_1280.png."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from canvas_helpers import wait_until
from nicegui.testing import Screen
from selenium.webdriver.common.by import By
from test_journeys_browser import SHOTS, browser_errors, run_and_wait, show_results, type_into
from test_ui_cleaning import digit

from flowclass.library import ready_workflows_dir
from flowclass.ui.app import setup
from flowclass.ui.browse import Roots
from flowclass.ui.page import AppConfig
from flowclass.workflow_file import load, save

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# How much of the element arguments[0] lies in the results panel's visible part (0 to 1), as
# the panel first shows it (not scrolled).
IN_PANEL = """const panel = document.querySelector('.fc-main-splitter > .q-splitter__after').getBoundingClientRect();
const r = arguments[0].getBoundingClientRect();
return Math.max(0, Math.min(r.bottom, panel.bottom) - Math.max(r.top, panel.top)) / r.height;"""


def photos_with_copies(folder: Path) -> Path:
    """12 digits in 3 folders, a byte copy of one and a JPEG of another under new names."""
    for i in range(12):
        (folder / str(i % 3)).mkdir(parents=True, exist_ok=True)
        digit(i).save(folder / str(i % 3) / f"d{i:03d}.png")
    shutil.copyfile(folder / "0" / "d000.png", folder / "1" / "same_bytes.png")
    digit(1).save(folder / "2" / "as_jpeg.jpg", quality=90)
    return folder


def test_stale_duplicates_show_their_groups_marked_out_of_date_on_a_laptop(screen: Screen, registry, shared_cache,
                                                                         tmp_path: Path) -> None:
    """Find Duplicates run, then its Match changed: at 1280x720 its panel showed a note, a title,
    two rows of tabs, a summary and the choices, one line each, and the groups under the edge
    of the panel. Now the note, the title and the tabs share a line and the groups are in view."""
    home = tmp_path / "home"
    photos = photos_with_copies(home / "PHOTOS")
    flow = home / "mine" / "clean.json"
    flow.parent.mkdir(parents=True)
    save(load(ready_workflows_dir() / "clean_collection.json", registry)
         .with_params("import", folder=str(photos)).with_params("embed", backend="pixels"), flow)
    setup(AppConfig(registry=registry, cache=shared_cache, roots=Roots([home]), workflow=flow))
    driver = screen.selenium
    driver.set_window_size(1280, 720)
    screen.open("/", timeout=20)
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, ".vue-flow__node"), timeout=15, what="the nodes")
    run_and_wait(screen)
    show_results(screen, "duplicates")
    type_into(screen, "duplicates", "match", "0.99")
    badge = "return document.querySelector(`.vue-flow__node[data-id='duplicates'] .fc-badge`)?.textContent.trim()"
    wait_until(lambda: driver.execute_script(badge) == "stale", what="the stale badge")

    note = wait_until(lambda: [e for e in driver.find_elements(By.CSS_SELECTOR, ".fc-stale-note") if e.is_displayed()],
                      what="the out-of-date note")[0]
    picture = wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, ".fc-duplicate-group .q-img"),
                         timeout=20, what="the groups")[0]
    wait_until(lambda: driver.execute_script(IN_PANEL, note) == 1, what="the note in view")
    driver.save_screenshot(str(SHOTS / "stale_duplicates_1280.png"))
    assert driver.execute_script(IN_PANEL, picture) >= 0.75  # the first group's pictures, not only headings
    assert note.text == "Out of date since your last change: run again"
    problems = browser_errors(screen)
    assert problems == [], problems[0]["message"]
