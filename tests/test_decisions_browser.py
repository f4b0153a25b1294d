"""Decisions in the label-issue queue survive a reload and a second tab, in a real Chromium.

README promises that decisions are saved beside the workflow as they are made, that a
reload shows the same work, and that a headless re-run of the saved file makes the same
decisions. Tab 1 accepts a suggestion and is reloaded at once; tab 2, opened before and now a
step behind, presses K on the card tab 1 decided: that decision stays, tab 2 says so and shows
the queue as the file has it. Then ``flowclass run`` of the saved file finds both decisions.
Screenshot: screenshots/keep_second_tab_caught_up.png.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from canvas_helpers import wait_until
from nicegui.testing import Screen
from selenium.webdriver import ActionChains
from selenium.webdriver.common.by import By
from test_cleaning_browser import PROGRESS, queue_head
from test_journeys_browser import SUMMARY, click, select_node
from test_keep_work_browser import BADGE, open_canvas, shot
from test_resume import finish, start_run
from test_ui_cleaning import digit
from test_ui_resume_duplicates import clean_collection_on

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def digits_in_folders(folder: Path, count: int = 120) -> None:
    """``count`` scikit-learn digits, a folder per digit, every 30th in a wrong one."""
    from sklearn.datasets import load_digits

    target = load_digits().target
    for i in range(count):
        label = str((target[i] + 3) % 10) if i % 30 == 7 else str(target[i])
        (folder / label).mkdir(parents=True, exist_ok=True)
        digit(i).save(folder / label / f"d{i:03d}.png")


def queue_shown(screen: Screen, decided: int) -> None:
    wait_until(lambda: screen.selenium.execute_script(PROGRESS).startswith(f"{decided} decided"), timeout=30,
               what=f"the queue with {decided} decided")


def test_a_reload_and_a_second_tab_keep_every_decision(screen: Screen, registry, cache, tmp_path: Path) -> None:
    workspace = tmp_path / "home"
    digits_in_folders(workspace / "PHOTOS")
    flow = clean_collection_on(registry, workspace / "PHOTOS", workspace / "mine" / "clean.json")
    overrides = workspace / "mine" / "label-overrides.csv"
    open_canvas(screen, registry, cache, workspace, flow)
    driver = screen.selenium
    driver.find_element(By.CSS_SELECTOR, ".fc-run").click()
    wait_until(lambda: driver.execute_script(SUMMARY).startswith("Last run"), timeout=300, what="the run's end")
    select_node(screen, "issues")
    queue_shown(screen, 0)
    first = driver.current_window_handle

    driver.switch_to.new_window("tab")  # tab 2: the same workflow, its queue from the cache
    driver.get(first_address(driver, first))
    select_node(screen, "issues")
    queue_shown(screen, 0)
    second = driver.current_window_handle
    stale_head = queue_head(screen)

    driver.switch_to.window(first)
    name, given, suggested = queue_head(screen)
    assert (name, given, suggested) == stale_head
    click(screen, f"(//*[contains(@class, 'fc-queue-item')])[1]//button[.//*[text()='Accept {suggested}']]")
    queue_shown(screen, 1)
    driver.refresh()  # at once: the decision is on disk, and the reloaded queue says so
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, ".vue-flow__node"), timeout=20, what="the page again")
    queue_shown(screen, 1)
    assert queue_head(screen)[0] != name
    assert pd.read_csv(overrides, dtype=str)[["label"]].values.tolist() == [[suggested]]

    driver.switch_to.window(second)  # still shows the accepted image first
    assert queue_head(screen)[0] == name
    ActionChains(driver).send_keys("k").perform()  # K would keep its folder label: undo tab 1's Accept
    queue_shown(screen, 1)
    wait_until(lambda: "decided meanwhile" in driver.find_element(By.TAG_NAME, "body").text, what="the warning")
    wait_until(lambda: driver.execute_script(BADGE, "labels") == "stale", what="Label Overrides stale in tab 2")
    shot(screen, "second_tab_caught_up")
    kept_name, kept_label, _ = queue_head(screen)
    assert kept_name != name
    ActionChains(driver).send_keys("k").perform()  # now on what it shows: the new head's label kept
    queue_shown(screen, 2)
    rows = pd.read_csv(overrides, dtype=str)
    assert [(Path(p).name, label) for p, label in zip(rows["path"], rows["label"])] == \
        [(name, suggested), (kept_name, kept_label)]

    # headless, from the saved file: both decisions
    out = workspace / "OUT"
    finish(start_run(flow, out, tmp_path / "cli_cache"))
    issues = pd.read_csv(out / "label_issues.csv", dtype=str, keep_default_na=False)
    labels = dict(zip(issues["path"].map(lambda p: Path(p).name), issues["label"]))
    assert (labels[name], labels[kept_name]) == (suggested, kept_label)


def first_address(driver, window: str) -> str:
    """The canvas's address without the first tab's id (a tab of its own, not a copy of that one)."""
    here = driver.current_window_handle
    driver.switch_to.window(window)
    address = driver.current_url.split("?")[0]
    driver.switch_to.window(here)
    return address
