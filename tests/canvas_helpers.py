"""Helpers for driving the Vue Flow canvas in a real browser (Selenium)."""

from __future__ import annotations

import time
from typing import Any, Callable

from nicegui.testing import Screen
from selenium.webdriver import ActionChains
from selenium.webdriver.common.by import By


def wait_until(condition: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def handle(screen: Screen, node: str, kind: str, port: str):
    return screen.selenium.find_element(
        By.CSS_SELECTOR, f'.vue-flow__handle.{kind}[data-nodeid="{node}"][data-handleid="{port}"]')


def drag_handle(screen: Screen, source, target) -> None:
    """Press on one handle, move in steps (Vue Flow listens to mousemove), release on the other."""
    actions = ActionChains(screen.selenium, duration=50)
    actions.move_to_element(source).click_and_hold()
    for _ in range(3):
        actions.move_by_offset(15, 5)
    actions.move_to_element(target).move_by_offset(1, 0).move_to_element(target).release().perform()


# Selenium cannot drag between HTML5 drag-and-drop targets; fire the events as a browser does.
DROP_JS = """
const [item, pane, x, y] = arguments;
const dt = new DataTransfer();
const fire = (el, type, cx, cy) => el.dispatchEvent(new DragEvent(type, {
  bubbles: true, cancelable: true, dataTransfer: dt, clientX: cx, clientY: cy}));
const r = item.getBoundingClientRect();
fire(item, 'dragstart', r.x + 5, r.y + 5);
fire(pane, 'dragenter', x, y);
fire(pane, 'dragover', x, y);
fire(pane, 'drop', x, y);
fire(item, 'dragend', x, y);
return dt.types;
"""


def palette_entry(driver, node_type: str):
    """The palette's entry for ``node_type``, opening the palette first if it is folded away
    (it starts folded on a window narrower than 1,400 px, as a user would find it).

    The page may fold the palette a moment after it appears (once it knows the window's
    width), so the entry counts only once it has stopped moving, on screen."""
    entry = f'[data-node-type="{node_type}"]'
    toggle = 'button[aria-label="Show or hide the nodes"]'
    deadline, clicks = time.time() + 15, 0
    while time.time() < deadline:
        before = driver.find_element(By.CSS_SELECTOR, entry).rect
        time.sleep(0.3)
        element = driver.find_element(By.CSS_SELECTOR, entry)
        if element.rect != before:
            continue  # the drawer is sliding
        if element.is_displayed() and element.rect["x"] >= 0:
            return element
        if clicks < 3:
            driver.find_element(By.CSS_SELECTOR, toggle).click()
            clicks += 1
    raise AssertionError(f"the palette entry {node_type} never came into view")

def drop_palette_item(screen: Screen, item, x: float, y: float) -> list[str]:
    pane = screen.selenium.find_element(By.CSS_SELECTOR, ".vue-flow__pane")
    return screen.selenium.execute_script(DROP_JS, item, pane, x, y)


def console_problems(screen: Screen) -> list[dict]:
    return [entry for entry in screen.selenium.get_log("browser")
            if entry["level"] in ("SEVERE", "ERROR") or "[Vue warn]" in entry["message"]]


# Scrolls the picture into view as arguments[1] says ('start', 'center', 'end'), then asks the
# browser what a press at each corner (and the middle) of it would land on.
COVERED_JS = """
const [picture, block] = arguments;
picture.scrollIntoView({block});
const r = picture.getBoundingClientRect(), covered = [];
for (const [fx, fy] of [[0.01, 0.01], [0.99, 0.01], [0.5, 0.5], [0.01, 0.99], [0.99, 0.99]]) {
  const hit = document.elementFromPoint(r.left + fx * r.width, r.top + fy * r.height);
  if (hit !== picture) covered.push([fx, fy, hit ? `${hit.tagName}.${hit.className}` : 'outside the window']);
}
return covered;
"""


def covered_parts(screen: Screen, css: str) -> dict[str, list]:
    """The parts of the picture ``css`` that a press would miss (something else on top, or off
    screen), however it is scrolled into view: none, for a picture the whole of which can be painted."""
    picture = screen.selenium.find_element(By.CSS_SELECTOR, css)
    found = {block: screen.selenium.execute_script(COVERED_JS, picture, block) for block in ("start", "center", "end")}
    return {block: parts for block, parts in found.items() if parts}


def paint_stroke(screen: Screen, css: str, width: int, points: list[tuple[float, float]]) -> None:
    """Press, drag through the points and release over the picture ``css`` (points in the
    pixels of the image shown, ``width`` pixels wide), as a user paints with the mouse."""
    picture = screen.selenium.find_element(By.CSS_SELECTOR, css)
    screen.selenium.execute_script("arguments[0].scrollIntoView({block: 'center'})", picture)
    box = picture.rect
    scale = box["width"] / width

    def offset(x: float, y: float) -> tuple[int, int]:
        return round(x * scale - box["width"] / 2), round(y * scale - box["height"] / 2)

    actions = ActionChains(screen.selenium, duration=20)
    actions.move_to_element_with_offset(picture, *offset(*points[0])).click_and_hold()
    for x, y in points[1:]:
        actions.move_to_element_with_offset(picture, *offset(x, y))
    actions.release().perform()
