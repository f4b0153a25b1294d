"""Canvas handling as a ComfyUI user expects it, in a real headless Chromium at 1280x720.

Adding nodes (drop, click, search) selects only the new node and never zooms past 1;
click-to-add lands next to the selected node, on screen, connected when the types fit;
the canvas fills most of a laptop screen, with a visible splitter, a minimap that can be
hidden and never covers a node, and node text one can read; node help comes from the
declarations. Screenshots go to screenshots/.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from canvas_helpers import console_problems, drop_palette_item, palette_entry, wait_until
from nicegui.testing import Screen
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from ui_helpers import CLUSTER_FOLDER

from flowclass.ui.app import setup
from flowclass.ui.browse import Roots
from flowclass.ui.page import AppConfig

REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / "screenshots"
pytestmark = [pytest.mark.browser, pytest.mark.slow]

NODE_IDS = "return [...document.querySelectorAll('.vue-flow__node')].map(e => e.dataset.id)"
SELECTED = "return [...document.querySelectorAll('.vue-flow__node.selected')].map(e => e.dataset.id)"
ZOOM = """
const t = getComputedStyle(document.querySelector('.vue-flow__transformationpane')).transform;
return t === 'none' ? 1 : new DOMMatrix(t).a;
"""
RECT = "const r = arguments[0].getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom];"
NODE_RECTS = """
return Object.fromEntries([...document.querySelectorAll('.vue-flow__node')].map(e => {
  const r = e.getBoundingClientRect(); return [e.dataset.id, [r.left, r.top, r.right, r.bottom]]; }));
"""
# The smallest text on any node, in screen pixels (font size times the zoom).
SMALLEST_TEXT = """
const zoom = arguments[0];
const sizes = [...document.querySelectorAll('.vue-flow__node *')]
  .filter(e => [...e.childNodes].some(c => c.nodeType === 3 && c.textContent.trim()))
  .map(e => parseFloat(getComputedStyle(e).fontSize) * zoom);
return Math.min(...sizes);
"""


def serve(registry, cache, folder: Path, workflow: Path | None = None) -> None:
    setup(AppConfig(registry=registry, cache=cache, roots=Roots([folder]), workflow=workflow))


def open_laptop(screen: Screen, nodes: int) -> None:
    screen.selenium.set_window_size(1280, 720)
    screen.open("/", timeout=20)
    wait_until(lambda: len(node_ids(screen)) == nodes, timeout=10, what=f"{nodes} nodes on the canvas")


def open_cluster_folder(screen: Screen, registry, cache, folder: Path) -> None:
    """A saved copy of the ready workflow cluster_folder.json (6 nodes), opened at 1280x720."""
    flow = folder / "flow.json"
    shutil.copyfile(CLUSTER_FOLDER, flow)
    serve(registry, cache, folder, flow)
    open_laptop(screen, 6)


def select_node(screen: Screen, node_id: str) -> None:
    screen.selenium.find_element(By.CSS_SELECTOR, f'.vue-flow__node[data-id="{node_id}"] .fc-title').click()
    wait_until(lambda: selected(screen) == [node_id], what=f"{node_id} selected")


def node_ids(screen: Screen) -> list[str]:
    return screen.selenium.execute_script(NODE_IDS)


def selected(screen: Screen) -> list[str]:
    return screen.selenium.execute_script(SELECTED)


def zoom(screen: Screen) -> float:
    return screen.selenium.execute_script(ZOOM)


def steady_zoom(screen: Screen) -> float:
    """The zoom once no pan is under way (an animated pan zooms out a little on its way)."""
    def settled() -> bool:
        now = zoom(screen)
        time.sleep(0.3)
        return abs(zoom(screen) - now) < 1e-9

    wait_until(settled, what="the viewport to settle")
    return zoom(screen)


def rect(screen: Screen, element) -> list[float]:
    return screen.selenium.execute_script(RECT, element)


def inside(inner: list[float], outer: list[float]) -> bool:
    return inner[0] >= outer[0] and inner[1] >= outer[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def overlaps(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def pane(screen: Screen):
    return screen.selenium.find_element(By.CSS_SELECTOR, ".vue-flow__pane")


def shot(screen: Screen, name: str) -> Path:
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / name
    screen.selenium.save_screenshot(str(path))
    return path


def test_drops_select_only_the_new_node_and_never_zoom_past_one(screen: Screen, registry, cache,
                                                               tmp_path: Path) -> None:
    serve(registry, cache, tmp_path)
    open_laptop(screen, 0)
    driver = screen.selenium
    box = rect(screen, pane(screen))
    spots = [(0.02, 0.1), (0.36, 0.45), (0.69, 0.1)]  # a node is 230 px wide
    for count, (node_type, (fx, fy)) in enumerate(zip(["import_images", "embed", "distances"], spots), start=1):
        item = palette_entry(driver, node_type)
        drop_palette_item(screen, item, box[0] + (box[2] - box[0]) * fx, box[1] + (box[3] - box[1]) * fy)
        wait_until(lambda: len(node_ids(screen)) == count, what=f"node {count}")
        new = node_ids(screen)[-1]
        wait_until(lambda: selected(screen) == [new], what=f"only {new} selected, not {selected(screen)}")
        assert zoom(screen) <= 1.0 + 1e-6
    # the dropped nodes stay where they were dropped, apart from each other
    rects = list(driver.execute_script(NODE_RECTS).values())
    assert not any(overlaps(a, b) for i, a in enumerate(rects) for b in rects[i + 1:])
    # one Delete removes the selected node only
    ActionChains(driver).send_keys(Keys.DELETE).perform()
    wait_until(lambda: len(node_ids(screen)) == 2, what="one node deleted")
    assert console_problems(screen) == []


def test_click_to_add_lands_beside_the_selected_node_and_connects(screen: Screen, registry, cache,
                                                                  tmp_path: Path) -> None:
    open_cluster_folder(screen, registry, cache, tmp_path)
    driver = screen.selenium
    select_node(screen, "embed")
    palette_entry(driver, "distances").click()
    wait_until(lambda: "distances_2" in node_ids(screen), what="the added node")
    wait_until(lambda: selected(screen) == ["distances_2"], what="only the new node selected")
    edge = '.vue-flow__edge[data-id="embed:embeddings->distances_2:embeddings"]'
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, edge), what="the new node connected to embed")
    rects = driver.execute_script(NODE_RECTS)
    new, anchor = rects["distances_2"], rects["embed"]
    wait_until(lambda: inside(driver.execute_script(NODE_RECTS)["distances_2"], rect(screen, pane(screen))),
               what="the new node on screen")
    assert new[0] > anchor[0]  # to the right of what feeds it
    assert not any(overlaps(new, r) for n, r in rects.items() if n != "distances_2")
    assert zoom(screen) <= 1.0 + 1e-6

    # an unrelated type is added beside it but not connected
    palette_entry(driver, "sample_images").click()
    wait_until(lambda: "sample_images" in " ".join(node_ids(screen)), what="sample images added")
    assert not driver.find_elements(By.CSS_SELECTOR, '.vue-flow__edge[data-id*="->sample_images"]')
    shot(screen, "canvas_click_to_add.png")
    assert console_problems(screen) == []


def test_laptop_layout_splitter_minimap_and_readable_text(screen: Screen, registry, cache,
                                                         tmp_path: Path) -> None:
    open_cluster_folder(screen, registry, cache, tmp_path)
    driver = screen.selenium
    height = driver.execute_script("return window.innerHeight")
    canvas = rect(screen, pane(screen))
    assert canvas[3] - canvas[1] >= 0.6 * height, f"the canvas is {canvas[3] - canvas[1]} of {height} px"

    # the splitter is visible and drags
    bar = driver.find_element(By.CSS_SELECTOR, ".fc-main-splitter > .q-splitter__separator")
    bar_rect = rect(screen, bar)
    assert bar_rect[3] - bar_rect[1] >= 6
    assert bar.value_of_css_property("background-color") not in ("rgba(0, 0, 0, 0)", "transparent")
    ActionChains(driver, duration=50).click_and_hold(bar).move_by_offset(0, -40).move_by_offset(0, -60) \
        .release().perform()
    wait_until(lambda: rect(screen, pane(screen))[3] < canvas[3] - 60, what="the splitter to move")

    # node text is readable on screen
    wait_until(lambda: zoom(screen) > 0, what="the viewport")
    assert driver.execute_script(SMALLEST_TEXT, zoom(screen)) >= 12

    # the minimap covers no node while the whole workflow is in view, and can be hidden
    minimap = driver.find_elements(By.CSS_SELECTOR, ".vue-flow__minimap")
    nodes = driver.execute_script(NODE_RECTS)
    if minimap:
        assert not any(overlaps(rect(screen, minimap[0]), r) for r in nodes.values())
    for _ in range(2):  # zoomed in, part of the workflow is out of view: the minimap shows the way
        driver.find_element(By.CSS_SELECTOR, ".vue-flow__controls-zoomin").click()
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, ".vue-flow__minimap"), what="the minimap")
    driver.find_element(By.CSS_SELECTOR, ".fc-minimap-toggle").click()
    wait_until(lambda: not driver.find_elements(By.CSS_SELECTOR, ".vue-flow__minimap"), what="the minimap hidden")
    driver.find_element(By.CSS_SELECTOR, ".fc-minimap-toggle").click()  # back (the browser keeps the choice)
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, ".vue-flow__minimap"), what="the minimap back")
    shot(screen, "canvas_laptop.png")
    assert console_problems(screen) == []


def test_search_to_add_with_slash_and_double_click(screen: Screen, registry, cache, tmp_path: Path) -> None:
    open_cluster_folder(screen, registry, cache, tmp_path)
    driver = screen.selenium
    select_node(screen, "embed")
    ActionChains(driver).send_keys("/").perform()
    box = wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, ".fc-search input"), what="the search box")[0]
    box.send_keys("distan")
    wait_until(lambda: "Distances" in driver.find_element(By.CSS_SELECTOR, ".fc-search").text,
               what="Distances listed")
    shot(screen, "canvas_search.png")
    box.send_keys(Keys.ENTER)
    wait_until(lambda: "distances_2" in node_ids(screen), what="the node from the search")
    assert not driver.find_elements(By.CSS_SELECTOR, ".fc-search")
    wait_until(lambda: driver.find_elements(
        By.CSS_SELECTOR, '.vue-flow__edge[data-id="embed:embeddings->distances_2:embeddings"]'),
        what="the searched node connected to the selected one")

    # double-click on empty canvas: the search opens there, Escape closes it, Enter adds at that point
    area = rect(screen, pane(screen))
    ActionChains(driver).move_to_element_with_offset(pane(screen), 0, int((area[3] - area[1]) * 0.35)) \
        .double_click().perform()
    box = wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, ".fc-search input"), what="search on dblclick")[0]
    before = steady_zoom(screen)
    box.send_keys("hierarch", Keys.ENTER)
    wait_until(lambda: "hierarchical_clustering" in node_ids(screen), what="the node added by the search")
    assert abs(steady_zoom(screen) - before) < 1e-6  # double-click did not zoom
    assert selected(screen) == ["hierarchical_clustering"]
    assert console_problems(screen) == []


def tooltip_text(driver) -> str:
    """The text of the tooltips shown now (the tooltip may be redrawn as the mouse settles)."""
    try:
        return " ".join(tip.text for tip in driver.find_elements(By.CSS_SELECTOR, ".q-tooltip"))
    except StaleElementReferenceException:
        return ""


def test_node_help_and_palette_tooltips(screen: Screen, registry, cache, tmp_path: Path) -> None:
    open_cluster_folder(screen, registry, cache, tmp_path)
    driver = screen.selenium
    driver.find_element(By.CSS_SELECTOR, '.vue-flow__node[data-id="embed"] .fc-help').click()
    dialog = wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, ".fc-node-help"), what="node help")[0]
    embed = registry.get("embed")
    wait_until(lambda: embed.title in dialog.text, what="the help's title")
    text = dialog.text
    assert embed.description.split("\n")[0][:40] in text
    for param in embed.params:
        assert param.label in text
        if param.help:
            assert param.help[:30] in text
    assert "Example" in text and "cluster_folder" in text
    shot(screen, "canvas_help.png")
    ActionChains(driver).send_keys(Keys.ESCAPE).perform()
    wait_until(lambda: not driver.find_elements(By.CSS_SELECTOR, ".fc-node-help"), what="help closed")

    # a palette entry whose summary is cut short shows it all on hover
    item = palette_entry(driver, "embed")
    ActionChains(driver).move_to_element(item).perform()
    wait_until(lambda: embed.description.split("\n")[0][-30:] in tooltip_text(driver), what="the full description")
