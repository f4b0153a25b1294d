"""Cancel Find Duplicates in a real Chromium: the node says *partly done* with the verdicts
kept, and Run again checks only the pairs left and writes what ``flowclass run`` writes.

The simulated-user version, and the badge after each phase, are in
test_ui_resume_duplicates.py. Screenshot: screenshots/keep_duplicates_cancelled.png.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from canvas_helpers import wait_until
from nicegui.testing import Screen
from selenium.webdriver.common.by import By
from test_journeys_browser import SUMMARY, click, select_node
from test_keep_work_browser import BADGE, NOTE, open_canvas, shot
from test_resume import files_of, finish, start_run
from test_resume_duplicates import edited_photos, kept_verdicts
from test_ui_resume_duplicates import clean_collection_on

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_cancel_find_duplicates_then_run_again_resumes_its_checks(screen: Screen, registry, cache,
                                                                  tmp_path: Path, monkeypatch) -> None:
    import nodes.lib.cleaning.duplicates as dup

    workspace = tmp_path / "home"
    edited_photos(workspace, photos=6)
    flow = clean_collection_on(registry, workspace / "collection", workspace / "mine" / "clean.json")
    out = workspace / "mine" / "flowclass-out" / "clean"
    finish(start_run(flow, out, tmp_path / "cache_whole"))  # never interrupted, in a cache of its own
    whole, pairs = files_of(out), kept_verdicts(tmp_path / "cache_whole")
    shutil.rmtree(out)

    # from the sixth fine check on, the checks wait until the test has pressed Cancel
    gate, checks, fine_check = threading.Event(), [], dup._fine_check  # pylint: disable=protected-access

    def held_check(*args, **kwargs):
        checks.append(1)
        if len(checks) > 5:
            assert gate.wait(120), "the test never let the checks go on"
        return fine_check(*args, **kwargs)

    monkeypatch.setattr(dup, "_fine_check", held_check)
    monkeypatch.setattr(dup, "cores", lambda: 1)  # the checks made in this process, where the gate is
    open_canvas(screen, registry, cache, workspace, flow)
    driver = screen.selenium
    driver.find_element(By.CSS_SELECTOR, ".fc-run").click()
    wait_until(lambda: kept_verdicts(cache.root) == 5, timeout=180, what="five fine checks kept")
    click(screen, "//button[.//*[text()='Cancel']]")
    wait_until(lambda: driver.execute_script(SUMMARY) == "Cancelling…", what="the Cancel taken")
    gate.set()  # the sixth check ends, its verdict is kept, and the node stops there
    wait_until(lambda: "(cancelled)" in driver.execute_script(SUMMARY), timeout=60, what="the run's end")
    assert kept_verdicts(cache.root) == 6

    said = lambda: (driver.execute_script(BADGE, "duplicates"), driver.execute_script(NOTE, "duplicates"))  # noqa: E731
    wait_until(lambda: said() == ("partly done", f"6 of {pairs} pairs kept"), what="the node saying 6 kept")
    select_node(screen, "duplicates")
    wait_until(lambda: f"Find Duplicates: stopped part way: 6 of {pairs} pairs are kept; Run resumes from there."
               in driver.find_element(By.CSS_SELECTOR, ".fc-results").text, what="Run resumes from there")
    shot(screen, "duplicates_cancelled")

    checks.clear()
    driver.find_element(By.CSS_SELECTOR, ".fc-run").click()
    wait_until(lambda: (line := driver.execute_script(SUMMARY)).startswith("Last run") and "(cancelled)" not in line,
               timeout=180, what="the second run's end")
    assert " 0 failed" in driver.execute_script(SUMMARY)
    assert len(checks) == pairs - 6  # only the pairs left
    assert kept_verdicts(cache.root) == pairs
    wait_until(lambda: said()[0] == "done", what="the node done")
    resumed = files_of(out)
    assert resumed.keys() == whole.keys()
    assert [name for name in resumed if resumed[name] != whole[name]] == []
