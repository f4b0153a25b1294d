"""The canvas app in a real headless Chromium (Debian's chromium + chromedriver).

What only a browser can show: the bundle loads without console errors, palette drag
and drop, port-to-port connections, keyboard shortcuts, the unsaved-changes warning,
thumbnails actually loading, and placeholders drawn as such. Screenshots go to
screenshots/ (README's pictures come from the journeys: test_journeys_browser.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from canvas_helpers import console_problems, drag_handle, drop_palette_item, handle, palette_entry, wait_until
from ui_helpers import CLUSTER_FOLDER, small_cluster_workflow
from nicegui.testing import Screen
from selenium.webdriver import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from flowclass.ui.app import setup
from flowclass.ui.browse import Roots
from flowclass.ui.page import AppConfig
from flowclass.workflow_file import dumps, load

REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / "screenshots"
pytestmark = [pytest.mark.browser, pytest.mark.slow]


def serve_workflow(registry, cache, folder: Path, workflow: Path | None) -> None:
    setup(AppConfig(registry=registry, cache=cache, roots=Roots([folder]), workflow=workflow))


def node_element(screen: Screen, node_id: str):
    return screen.selenium.find_element(By.CSS_SELECTOR, f'.vue-flow__node[data-id="{node_id}"]')


TAB = "//*[contains(@class, '{tabs}')]//*[@role='tab'][.//*[text()='{label}']]"


# Read through JavaScript: Vue re-renders nodes often, which makes Selenium's element handles stale.
def badge(screen: Screen, node_id: str) -> str | None:
    return screen.selenium.execute_script(
        "return document.querySelector(`.vue-flow__node[data-id='${arguments[0]}'] .fc-badge`)?.textContent.trim()",
        node_id)


def node_ids(screen: Screen) -> list[str]:
    return screen.selenium.execute_script(
        "return [...document.querySelectorAll('.vue-flow__node')].map(e => e.dataset.id)")


def open_page(screen: Screen, nodes: int) -> None:
    screen.selenium.set_window_size(1600, 1000)
    screen.open("/", timeout=20)
    wait_until(lambda: len(node_ids(screen)) == nodes, timeout=10, what=f"{nodes} nodes on the canvas")


def shot(screen: Screen, name: str) -> Path:
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / name
    screen.selenium.save_screenshot(str(path))
    return path


# What the browser does on leaving: a beforeunload handler that cancels it makes it ask first.
WOULD_WARN = """
const event = new Event("beforeunload", {cancelable: true});
window.dispatchEvent(event);
return event.defaultPrevented;
"""


# Hover the first point of the map (ECharts' own action), then look for the thumbnail in its tooltip.
SHOW_TIP = """
const chart = getElement(document.querySelector('.fc-map'))?.chart;
if (!chart || !chart.getOption().series?.length) return false;
chart.dispatchAction({type: 'showTip', seriesIndex: 0, dataIndex: 0});
return true;
"""
TIP_IMAGE_LOADED = "const i = document.querySelector('.fc-map img'); return !!i && i.complete && i.naturalWidth > 0;"


def press(screen: Screen, key: str) -> None:
    ActionChains(screen.selenium).key_down(Keys.CONTROL).send_keys(key).key_up(Keys.CONTROL).perform()


def test_build_connect_save_reopen(screen: Screen, registry, cache, tmp_path: Path) -> None:
    flow = tmp_path / "flow.json"
    shutil.copyfile(CLUSTER_FOLDER, flow)
    serve_workflow(registry, cache, tmp_path, flow)
    open_page(screen, 6)
    driver = screen.selenium
    assert console_problems(screen) == []
    screen.should_contain("Hierarchical Clustering")  # the palette, from the registry

    # drag "Distances" from the palette onto the canvas
    item = palette_entry(driver, "distances")
    pane = driver.find_element(By.CSS_SELECTOR, ".vue-flow__pane").rect
    drop_palette_item(screen, item, pane["x"] + pane["width"] * 0.5, pane["y"] + pane["height"] * 0.8)
    wait_until(lambda: "distances_2" in node_ids(screen), what="the dropped node")
    assert badge(screen, "distances_2") == "invalid"  # its input is not connected yet

    # embeddings -> the new node's embeddings input: an edge
    drag_handle(screen, handle(screen, "embed", "source", "embeddings"),
                handle(screen, "distances_2", "target", "embeddings"))
    edge = '.vue-flow__edge[data-id="embed:embeddings->distances_2:embeddings"]'
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, edge), what="the new edge")
    wait_until(lambda: badge(screen, "distances_2") != "invalid", what="the node to be complete")

    # images -> an embeddings input: refused with the reason, no edge
    edges = len(driver.find_elements(By.CSS_SELECTOR, ".vue-flow__edge"))
    drag_handle(screen, handle(screen, "import", "source", "images"),
                handle(screen, "cluster", "target", "distances"))
    screen.should_contain("does not fit input")
    assert len(driver.find_elements(By.CSS_SELECTOR, ".vue-flow__edge")) == edges
    shot(screen, "app_edited.png")

    # Ctrl+Z twice: the edge, then the node, are gone again; the workflow is as saved
    driver.find_element(By.CSS_SELECTOR, ".vue-flow__pane").click()
    press(screen, "z")
    wait_until(lambda: not driver.find_elements(By.CSS_SELECTOR, edge), what="undo of the edge")
    press(screen, "z")
    wait_until(lambda: "distances_2" not in node_ids(screen), what="undo of the node")
    wait_until(lambda: driver.execute_script(WOULD_WARN) is False, what="a clean workflow")

    # move a node: unsaved; leaving warns; Ctrl+S saves the same JSON the CLI reads
    title = node_element(screen, "embed").find_element(By.CSS_SELECTOR, ".fc-title")
    ActionChains(driver, duration=50).click_and_hold(title).move_by_offset(20, 10).move_by_offset(40, 60) \
        .release().perform()
    wait_until(lambda: driver.execute_script(WOULD_WARN), what="the unsaved-changes marker")
    screen.should_contain("unsaved changes")  # the browser asks before leaving
    press(screen, "s")
    wait_until(lambda: driver.execute_script(WOULD_WARN) is False, what="the save")
    screen.should_not_contain("unsaved changes")
    saved = flow.read_text()
    moved = load(flow, registry)
    assert saved == dumps(moved)
    assert moved.node("embed").position != load(CLUSTER_FOLDER, registry).node("embed").position

    # reopen in a fresh page: the same graph; saving it unchanged keeps every byte
    open_page(screen, 6)
    position = node_element(screen, "embed").rect
    assert position["width"] > 0
    driver.find_element(By.CSS_SELECTOR, ".vue-flow__pane").click()
    press(screen, "s")
    screen.should_contain("Saved")
    assert flow.read_text() == saved
    assert console_problems(screen) == []


def test_run_shows_cluster_thumbnails(screen: Screen, registry, shared_cache, tmp_path: Path) -> None:
    flow = small_cluster_workflow(registry, tmp_path, "cluster_digits.json")
    serve_workflow(registry, shared_cache, tmp_path, flow)
    open_page(screen, 6)
    driver = screen.selenium
    driver.find_element(By.CSS_SELECTOR, ".fc-run").click()
    wait_until(lambda: all(badge(screen, n) in ("done", "cached") for n in node_ids(screen)), timeout=120,
               what="every node done")
    node_element(screen, "cluster").find_element(By.CSS_SELECTOR, ".fc-title").click()
    images = wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, ".fc-gallery img"), timeout=10,
                        what="cluster thumbnails")
    assert len(images) == 30
    heads = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".fc-group-head")]
    assert [h.split()[0] for h in heads] == ["C1", "C2", "C3", "C4"]
    assert sum(int(h.split()[1]) for h in heads) == 30
    loaded = ("return [...document.querySelectorAll('.fc-gallery img')]"
              ".filter(i => i.complete && i.naturalWidth > 0).length")
    wait_until(lambda: driver.execute_script(loaded) == 30, timeout=20, what="thumbnails to load")
    assert console_problems(screen) == []
    shot(screen, "app_cluster_results.png")

    # the map of the clusters: hovering a point shows its thumbnail
    driver.find_element(By.XPATH, TAB.format(tabs="fc-viewer-tabs", label="Map")).click()
    screen.should_contain("PCA of 30 images")
    wait_until(lambda: driver.execute_script(SHOW_TIP), timeout=10, what="a tooltip on the map")
    wait_until(lambda: driver.execute_script(TIP_IMAGE_LOADED), timeout=10, what="the tooltip's thumbnail")
    shot(screen, "app_map.png")

    # the dendrogram of the other output
    driver.find_element(By.XPATH, TAB.format(tabs="fc-output-tabs", label="Dendrogram")).click()
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, ".fc-dendrogram canvas"), what="dendrogram")
    shot(screen, "app_dendrogram.png")


def test_unknown_node_type_is_a_placeholder(screen: Screen, registry, cache, tmp_path: Path) -> None:
    doc = json.loads(CLUSTER_FOLDER.read_text())
    doc["nodes"].append({"id": "classify", "type": "someone.classifier", "version": 1, "title": "",
                         "position": {"x": 600, "y": 250}, "params": {"k": 5}})
    doc["edges"].append({"from": {"node": "embed", "port": "embeddings"},
                         "to": {"node": "classify", "port": "features"}})
    flow = tmp_path / "plugin_flow.json"
    flow.write_text(json.dumps(doc))
    serve_workflow(registry, cache, tmp_path, flow)
    open_page(screen, 7)
    placeholder = node_element(screen, "classify").find_element(By.CSS_SELECTOR, ".fc-node")
    assert "fc-placeholder" in placeholder.get_attribute("class")
    assert placeholder.value_of_css_property("border-top-style") == "dashed"
    assert "someone.classifier" in placeholder.text and "Install the plugin" in placeholder.text
    assert handle(screen, "classify", "target", "features")  # its port, known from the edge
    assert "fc-placeholder" not in node_element(screen, "cluster").find_element(
        By.CSS_SELECTOR, ".fc-node").get_attribute("class")
    assert console_problems(screen) == []
    shot(screen, "app_placeholder.png")
