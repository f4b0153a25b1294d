"""A stranger's workflow names a label file outside its folder: in a real Chromium, the label
queue says why nothing is written there, Accept (click or key) writes nothing, *Write to this
file* makes the file the user's, Accept then writes into it, and the choice outlives a reload
and a server killed and started again (the tab's draft). The same for its kept-copies file:
*Keep this* is refused until *Write to this file*, then writes the choice into it. The server is a real ``flowclass ui``,
as in tests/test_restart_browser.py. Screenshots: screenshots/stranger_refused.png,
screenshots/stranger_adopted.png, screenshots/stranger_kept.png.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from canvas_helpers import wait_until
from selenium.webdriver import ActionChains
from selenium.webdriver.common.by import By
from server_helpers import CanvasServer
from test_cleaning_browser import PROGRESS, kept_names
from test_journeys_browser import SHOTS, SUMMARY, click, select_node
from test_keep_work_browser import BADGE
from test_restart_browser import TOKEN, browser, draft  # noqa: F401 (browser: the fixture)
from test_stranger_decision_files import strangers_bundle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MINE = "sha256,path,label\n,mine/cat.png,cat\n"  # the user's own label file, of another project
NOTES = "sha256,path\n,mine/keep.png\n"  # and a CSV of theirs that reads as a kept-copies file
ADOPT = "//button[.//*[text()='Write to this file']]"
ACCEPT = "(//*[contains(@class, 'fc-queue-item')]//button[.//*[starts-with(text(), 'Accept ')]])[1]"


def opened(screen, address: str) -> None:
    screen.selenium.get(address)
    wait_until(lambda: len(screen.selenium.find_elements(By.CSS_SELECTOR, ".vue-flow__node")) == 7, timeout=20,
               what="the workflow's nodes")


def body(screen) -> str:
    return screen.selenium.find_element(By.TAG_NAME, "body").text


def shot(screen, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    screen.selenium.save_screenshot(str(SHOTS / f"stranger_{name}.png"))


def test_write_to_this_file_lets_accept_write_a_file_the_workflow_named_outside_its_folder(
        browser, tmp_path: Path) -> None:
    home = tmp_path / "home"
    flow = strangers_bundle(home)  # ~/Downloads/bundle/flow.json naming ../../labels.csv
    labels = home / "labels.csv"
    labels.write_text(MINE, encoding="utf-8")
    notes = home / "notes.csv"
    notes.write_text(NOTES, encoding="utf-8")
    server = CanvasServer(home, tmp_path / "cache", TOKEN, workflow=flow)
    server.start()
    try:
        decide_in(browser, server, labels)
        keep_in(browser, notes)
    finally:
        server.stop()


def decide_in(screen, server: CanvasServer, labels: Path) -> None:
    driver = screen.selenium
    opened(screen, f"{server.base}/?token={TOKEN}")
    wait_until(lambda: "tab=" in driver.current_url, what="the tab's id in its address")
    address = driver.current_url
    driver.find_element(By.CSS_SELECTOR, ".fc-run").click()
    wait_until(lambda: driver.execute_script(SUMMARY).startswith("Last run"), timeout=300, what="the run's end")
    select_node(screen, "issues")
    wait_until(lambda: driver.execute_script(PROGRESS).startswith("0 decided"), timeout=30, what="the queue")

    why = f"Nothing is written to {labels}: the workflow file named it, and it lies outside the workflow's folder"
    wait_until(lambda: why in body(screen), what="why nothing is written")
    assert "type another path into the field 'File' of Label Overrides (labels)." in body(screen)  # as shown there
    accept = driver.find_element(By.XPATH, ACCEPT)
    assert not accept.is_enabled()
    driver.execute_script("arguments[0].click()", accept)  # a click that reaches it all the same
    ActionChains(driver).send_keys("a").perform()  # and the key that accepts the first suggestion
    adopt = driver.find_element(By.XPATH, ADOPT)
    assert adopt.is_displayed()
    shot(screen, "refused")
    time.sleep(1)  # time for a decision, were one taken, to reach the file
    assert driver.execute_script(PROGRESS).startswith("0 decided")
    assert labels.read_text(encoding="utf-8") == MINE

    adopt.click()  # the user takes ~/labels.csv as theirs
    wait_until(lambda: f"Corrections go to {labels}, not beside the workflow." in body(screen),
               what="where corrections go now")
    assert why not in body(screen)
    assert driver.execute_script(BADGE, "labels") == "done"  # the same value: the run's results still hold
    click(screen, ACCEPT)
    wait_until(lambda: driver.execute_script(PROGRESS).startswith("1 decided"), timeout=30, what="one decision")
    wait_until(lambda: labels.read_text(encoding="utf-8").count("\n") == 3, what="the decision in labels.csv")
    assert labels.read_text(encoding="utf-8").startswith(MINE)  # added to, the user's row kept
    shot(screen, "adopted")

    wait_until(lambda: draft(server, address).get("typed") == [["labels", "file", "../../labels.csv"]],
               what="the choice in the tab's draft")

    for decided, again in ((1, "a reload"), (2, "a restart")):  # the tab's session, then its draft
        if again == "a restart":
            server.kill()  # kill -9: only the draft on disk keeps the choice
            server.start()
        opened(screen, address)
        if again == "a restart":  # Label Overrides' file changed: the cache holds no run of it now
            driver.find_element(By.CSS_SELECTOR, ".fc-run").click()
            wait_until(lambda: driver.execute_script(SUMMARY).startswith("Last run"), timeout=300,
                       what="the run after the restart")
        select_node(screen, "issues")
        wait_until(lambda: driver.execute_script(PROGRESS).startswith(f"{decided} decided"), timeout=30,
                   what=f"the queue after {again}")
        assert f"Corrections go to {labels}, not beside the workflow." in body(screen), again
        assert why not in body(screen), again
        if again == "a reload":  # the key refused above, now heard (the head's suggestion differs)
            ActionChains(driver).send_keys("a").perform()
        else:
            click(screen, ACCEPT)
        wait_until(lambda: driver.execute_script(PROGRESS).startswith(f"{decided + 1} decided"), timeout=30,
                   what=f"a decision after {again}")
        wait_until(lambda: labels.read_text(encoding="utf-8").count("\n") == decided + 3,
                   what=f"the decision after {again} in labels.csv")
    assert labels.read_text(encoding="utf-8").startswith(MINE)


def keep_in(screen, notes: Path) -> None:
    """The duplicates view of the same tab: *Keep this* writes nothing into the kept-copies file
    the stranger's workflow named, until the user takes it as theirs."""
    driver = screen.selenium
    select_node(screen, "duplicates")
    why = f"Nothing is written to {notes}: the workflow file named it, and it lies outside the workflow's folder"
    wait_until(lambda: why in body(screen), timeout=20, what="why nothing is written")
    assert "type another path into the field 'Keep file' of Find Duplicates (duplicates)." in body(screen)
    (first_kept,) = kept_names(screen)  # one group: d00.png and its copy
    assert "1 group of copies · 2 images (2 exact, 0 near)" in body(screen)
    keep = driver.find_element(By.XPATH, "//button[.//*[text()='Keep this']]")
    assert not keep.is_enabled()
    driver.execute_script("arguments[0].click()", keep)  # a click that reaches it all the same
    time.sleep(1)  # time for a choice, were one taken, to reach the file
    assert kept_names(screen) == [first_kept]
    assert notes.read_text(encoding="utf-8") == NOTES

    click(screen, ADOPT)  # the user takes ~/notes.csv as theirs
    wait_until(lambda: f"Choices go to {notes}, not beside the workflow." in body(screen), what="where choices go")
    assert why not in body(screen)
    click(screen, "//button[.//*[text()='Keep this']]")
    wait_until(lambda: kept_names(screen) != [first_kept], what="the kept mark to move")
    wait_until(lambda: notes.read_text(encoding="utf-8").count("\n") == 3, what="the choice in notes.csv")
    assert notes.read_text(encoding="utf-8").startswith(NOTES)  # added to, the user's row kept
    chosen = notes.read_text(encoding="utf-8").splitlines()[-1]
    assert chosen.endswith(kept_names(screen)[0]), chosen
    shot(screen, "kept")
