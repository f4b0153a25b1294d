"""The first frame of every ready workflow on a laptop's 1280x720 window and on 1920x1080, in a
real Chromium: every node wholly in view, under no panel and not under the minimap, with node
text of 12 px or more. Selecting a node opens its settings beside the canvas and keeps the node
in view. Screenshots: screenshots/frame_ready_<name>_<width>.png.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from canvas_helpers import wait_until
from nicegui.testing import Screen
from selenium.webdriver.common.by import By
from test_canvas_handling import NODE_RECTS, SMALLEST_TEXT, ZOOM
from test_journeys_browser import browser_errors, in_sight, open_ready_copy, select_node, settled, shot

from flowclass.library import ready_workflows_dir
from flowclass.ui.app import setup
from flowclass.ui.browse import Roots
from flowclass.ui.page import AppConfig

READY = sorted(path.stem for path in ready_workflows_dir().glob("*.json"))
pytestmark = [pytest.mark.browser, pytest.mark.slow]
SETTINGS_SHOWN = "return document.querySelector('.fc-settings')?.getBoundingClientRect().left < window.innerWidth - 10"


def node_count(stem: str) -> int:
    return len(json.loads((ready_workflows_dir() / f"{stem}.json").read_text(encoding="utf-8"))["nodes"])


def readable(screen: Screen) -> float:
    driver = screen.selenium
    return driver.execute_script(SMALLEST_TEXT, driver.execute_script(ZOOM))


def test_every_ready_workflow_opens_whole_and_readable(screen: Screen, registry, shared_cache,
                                                       tmp_path: Path) -> None:
    setup(AppConfig(registry=registry, cache=shared_cache, roots=Roots([tmp_path])))
    driver = screen.selenium
    assert len(READY) >= 7
    for width, height in ((1280, 720), (1920, 1080)):
        for stem in READY:
            open_ready_copy(screen, stem, width, height, nodes=node_count(stem))
            settled(screen, ".vue-flow__transformationpane")
            shot(screen, f"frame_ready_{stem}_{width}")
            nodes = set(driver.execute_script(NODE_RECTS))
            assert in_sight(screen) == nodes, (stem, width, sorted(nodes - in_sight(screen)))
            assert readable(screen) >= 12, (stem, width)
            assert not driver.execute_script(SETTINGS_SHOWN) if width == 1280 else True  # room for the canvas
    problems = browser_errors(screen)
    assert problems == [], problems[0]["message"]


def test_selecting_a_node_on_a_laptop_shows_its_settings_and_keeps_it_in_view(screen: Screen, registry,
                                                                           shared_cache, tmp_path: Path) -> None:
    setup(AppConfig(registry=registry, cache=shared_cache, roots=Roots([tmp_path])))
    driver = screen.selenium
    open_ready_copy(screen, "lobe_train_predict", 1280, 720, nodes=10)
    settled(screen, ".vue-flow__transformationpane")
    assert not driver.execute_script(SETTINGS_SHOWN)
    select_node(screen, "save_model")  # the last node, at the right end
    wait_until(lambda: driver.execute_script(SETTINGS_SHOWN), what="the settings opened")
    settled(screen, ".fc-settings")
    settled(screen, ".vue-flow__transformationpane")
    shot(screen, "frame_ready_selected_1280")
    assert "save_model" in in_sight(screen)  # beside the settings, not under them
    assert readable(screen) >= 12
    inspector = "return document.querySelector('.fc-inspector')?.textContent.includes('save_model · ')"
    assert driver.execute_script(inspector)

    click_fold = driver.find_element(By.CSS_SELECTOR, "button[aria-label='Show or hide the settings']")
    click_fold.click()  # the user folds them: the next selection leaves them folded
    wait_until(lambda: not driver.execute_script(SETTINGS_SHOWN), what="the settings folded")
    select_node(screen, "evaluate")
    wait_until(lambda: driver.execute_script(
        "return document.querySelector('.fc-inspector')?.textContent.includes('evaluate · ')"),
        what="evaluate's settings (in the folded panel)")
    settled(screen, ".fc-settings")
    assert not driver.execute_script(SETTINGS_SHOWN)


def test_a_node_selected_after_a_reload_is_not_left_under_its_settings(screen: Screen, registry, shared_cache,
                                                                       tmp_path: Path) -> None:
    """On a small window (1024x640) a newcomer reloaded the page (or came Back to it), then
    clicked the clustering node: its settings opened over it, as the view was the restored one
    and not one the canvas had chosen, which it frames again. The node must stay in sight,
    whoever chose the view."""
    setup(AppConfig(registry=registry, cache=shared_cache, roots=Roots([tmp_path])))
    driver = screen.selenium
    open_ready_copy(screen, "cluster_folder", 1024, 640, nodes=6)
    settled(screen, ".vue-flow__transformationpane")
    driver.refresh()  # the tab comes back as the server kept it, its view too
    wait_until(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".vue-flow__node")) == 6, timeout=10,
               what="the workflow shown again")
    settled(screen, ".vue-flow__transformationpane")
    assert not driver.execute_script(SETTINGS_SHOWN)
    select_node(screen, "cluster")
    wait_until(lambda: driver.execute_script(SETTINGS_SHOWN), what="the settings opened")
    settled(screen, ".fc-settings")
    settled(screen, ".vue-flow__transformationpane")
    shot(screen, "frame_selected_after_reload_1024")
    assert "cluster" in in_sight(screen), sorted(in_sight(screen))


CONTROLS = """const r = document.querySelector('.vue-flow__controls').getBoundingClientRect();
return [r.left, r.top, r.right, r.bottom];"""


def test_on_a_small_window_no_button_covers_a_node_and_fit_brings_back_a_node_far_away(
        screen: Screen, registry, shared_cache, tmp_path: Path) -> None:
    """At 1024x640 the zoom buttons stood over the ports of the leftmost nodes; Save Model dragged
    some 30,000 px away stayed out of sight after Fit, which stopped at the least zoom the wheel
    allows (0.2). Fit now zooms out as far as it takes: every node inside the canvas, none under
    the buttons. Screenshot: screenshots/journey_frame_far_node_1024.png."""
    from flowclass.workflow_file import load, save

    flow = tmp_path / "far.json"
    save(load(ready_workflows_dir() / "lobe_train_predict.json", registry).moved("save_model", 31040, 200), flow)
    setup(AppConfig(registry=registry, cache=shared_cache, roots=Roots([tmp_path]), workflow=flow))
    driver = screen.selenium
    driver.set_window_size(1024, 640)
    screen.open("/", timeout=20)
    wait_until(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".vue-flow__node")) == 10, timeout=15,
               what="the nodes")
    settled(screen, ".vue-flow__transformationpane")
    meets = lambda a, b: a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]  # noqa: E731

    def under_buttons() -> list[str]:
        buttons = driver.execute_script(CONTROLS)
        return sorted(n for n, r in driver.execute_script(NODE_RECTS).items() if meets(r, buttons))

    assert "import" in in_sight(screen) and under_buttons() == []  # opened from its start, readable
    driver.find_element(By.CSS_SELECTOR, '[aria-label="Fit the workflow in view"]').click()
    settled(screen, ".vue-flow__transformationpane")
    shot(screen, "frame_far_node_1024")
    canvas = driver.execute_script("const r = document.querySelector('.vue-flow').getBoundingClientRect();"
                                   "return [r.left, r.top, r.right, r.bottom];")
    inside = {n for n, r in driver.execute_script(NODE_RECTS).items()
              if r[0] >= canvas[0] and r[1] >= canvas[1] and r[2] <= canvas[2] and r[3] <= canvas[3]}
    assert inside == set(driver.execute_script(NODE_RECTS)), inside
    assert under_buttons() == []
    problems = browser_errors(screen)
    assert problems == [], problems[0]["message"]
