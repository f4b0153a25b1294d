"""A map and a dendrogram of 100,000 images in a real headless Chromium: they render
without console errors, hovering a drawn point shows its image, hovering a branch's bar
its number of images, and the dendrogram's cut can be dragged."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from canvas_helpers import console_problems, wait_until
from nicegui import app, ui
from nicegui.testing import Screen
from PIL import Image
from selenium.webdriver import ActionChains
from selenium.webdriver.common.actions.wheel_input import ScrollOrigin
from selenium.webdriver.common.by import By
from skimage.data import coffee

from nodes.viewers.maps import MAX_POINTS, show_map

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = Path(__file__).resolve().parents[1] / "screenshots"

N = 100_000
DRAWN = """
const chart = getElement(document.querySelector('.fc-map'))?.chart;
const series = chart ? chart.getOption().series : [];
const count = (silent) => series.filter(s => !!s.silent === silent).reduce((t, s) => t + s.data.length, 0);
return series.length ? [count(false), count(true)] : null;
"""
SHOW_TIP = """
const chart = getElement(document.querySelector('.fc-map')).chart;
chart.dispatchAction({type: 'showTip', seriesIndex: 1, dataIndex: 5});
return true;
"""
WINDOW = """const z = getElement(document.querySelector('.fc-map')).chart.getOption().dataZoom;
return z.map(w => [w.start, w.end]);"""
TIP_IMAGE = ("const i = document.querySelector('.fc-map img'); "
             "return i && i.complete && i.naturalWidth > 0 ? i.getAttribute('src') : null;")


def open_map(screen: Screen, tmp_path: Path, n: int) -> None:
    """A page with the map of ``n`` images in 3 groups, drawn."""
    picture = tmp_path / "coffee.png"
    Image.fromarray(coffee()[::8, ::8]).save(picture)
    app.add_static_file(local_file=picture, url_path="/coffee.png")
    rng = np.random.default_rng(0)
    groups = np.array([f"C{k}" for k in rng.integers(1, 4, n)])  # big series, drawn in chunks
    vectors = rng.normal(size=(n, 16)).astype(np.float32) + np.char.str_len(groups)[:, None]
    images = SimpleNamespace(paths=np.array([f"/photos/p{i:06d}.png" for i in range(n)]),
                             hashes=np.array([f"{i:064x}" for i in range(n)]), labels=np.full(n, ""))
    ctx = SimpleNamespace(store_dir=lambda name: tmp_path, image_url=lambda path, sha, size=160: f"/coffee.png?{sha[-6:]}")

    @ui.page("/")
    async def page() -> None:
        await show_map(vectors, images, groups, sorted(set(groups.tolist())), "Cluster", ctx)

    screen.open("/", timeout=60)
    wait_until(lambda: f"PCA of {n:,} images" in screen.selenium.page_source, timeout=120, what="the map")


def test_a_map_of_100000_images_renders_and_shows_images_on_hover(screen: Screen, tmp_path: Path) -> None:
    open_map(screen, tmp_path, N)
    drawn, under = wait_until(lambda: screen.selenium.execute_script(DRAWN), timeout=120,
                              what="the map's points")
    assert MAX_POINTS <= drawn < N and under == N  # every image, and a hoverable sample on top
    screen.should_contain(f"all drawn · fitted on a random {drawn:,} of them, which show their image on hover")
    wait_until(lambda: screen.selenium.execute_script(SHOW_TIP), timeout=30, what="a tooltip")
    src = wait_until(lambda: screen.selenium.execute_script(TIP_IMAGE), timeout=30, what="the tooltip's image")
    assert src.startswith("/coffee.png?")
    assert console_problems(screen) == []
    SHOTS.mkdir(exist_ok=True)
    screen.selenium.save_screenshot(str(SHOTS / "map_100000.png"))


def test_a_map_of_20000_images_zooms_with_the_wheel_and_pans_with_a_drag(screen: Screen, tmp_path: Path) -> None:
    """The crowd opens up: the wheel zooms in where the pointer is, a drag moves the view."""
    open_map(screen, tmp_path, 20_000)
    wait_until(lambda: screen.selenium.execute_script(DRAWN), timeout=120, what="the map's points")
    screen.should_contain("scroll to zoom, drag to move")
    driver = screen.selenium
    element = driver.find_element(By.CSS_SELECTOR, ".fc-map")
    assert driver.execute_script(WINDOW) == [[0, 100], [0, 100]]
    ActionChains(driver).scroll_from_origin(ScrollOrigin.from_element(element), 0, -600).perform()
    zoomed = wait_until(lambda: (w := driver.execute_script(WINDOW)) != [[0, 100], [0, 100]] and w,
                        what="the map to zoom")
    assert all(end - start < 99 for start, end in zoomed), zoomed
    ActionChains(driver, duration=50).move_to_element(element).click_and_hold() \
        .move_by_offset(-80, 0).move_by_offset(-80, 0).release().perform()
    moved = wait_until(lambda: (w := driver.execute_script(WINDOW)) != zoomed and w, what="the map to move")
    assert moved[0][0] > zoomed[0][0]  # dragged left: the view went right, as wide as before
    assert moved[0][1] - moved[0][0] == pytest.approx(zoomed[0][1] - zoomed[0][0], abs=0.5)
    assert console_problems(screen) == []
    SHOTS.mkdir(exist_ok=True)
    screen.selenium.save_screenshot(str(SHOTS / "map_20000_zoomed.png"))


TREE = """
const chart = getElement(document.querySelector('.fc-dendrogram'))?.chart;
if (!chart) return null;
const series = chart.getOption().series;
return [series[0].data.length, series[2].data.length];
"""
# Where the cut line is, where a cut into k clusters would be, and the foot of the largest bar
# (pixels inside the chart element), read from the chart itself.
PIXELS = """
const chart = getElement(document.querySelector('.fc-dendrogram')).chart;
const option = chart.getOption();
const bars = option.series[2].data;
const largest = bars.reduce((best, bar) => bar[1] > best[1] ? bar : best);
return [chart.convertToPixel({yAxisIndex: 0}, option.series[1].data[0][1]),
        chart.convertToPixel({yAxisIndex: 0}, arguments[0]),
        chart.convertToPixel({xAxisIndex: 1, yAxisIndex: 1}, [largest[0], 1.5]), largest[1]];
"""
END_LABEL = "return getElement(document.querySelector('.fc-dendrogram')).chart.getOption().series[1].endLabel.formatter;"
# What one pointer move of a drag costs the browser (the drag layer's own handler), and what
# one redraw of the chart costs (which a move no longer does).
MOVES = """
const c = getElement(document.querySelector('.fc-dendrogram'));
const move = c.options.graphic[0].onmousemove, chart = c.chart;
c.fcDrag = true;
let started = performance.now();
for (let i = 0; i < 30; i++) move({offsetX: 300, offsetY: 100 + i * 5, event: {buttons: 1}});
const moving = (performance.now() - started) / 30;
c.fcDrag = false;
c.fcGhost.style.display = 'none';
started = performance.now();
chart.setOption({series: [{}, {data: chart.getOption().series[1].data}]});
return [moving, performance.now() - started];
"""


def test_a_dendrogram_of_100000_images_renders_with_sizes_and_its_cut_drags(screen: Screen, tmp_path: Path) -> None:
    from linkages import clustered_linkage
    from scipy.cluster.hierarchy import fcluster
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    from flowclass.viewers import ViewerContext
    from nodes.datatypes import Dendrogram
    from nodes.viewers.clustering import clusters_at, dendrogram_view

    z = clustered_linkage(N)
    flat = fcluster(z, 24, "maxclust")
    by_size = {c: f"C{rank + 1}" for rank, c in enumerate(np.argsort(-np.bincount(flat))[:24])}
    labels = np.array([by_size[c] for c in flat])
    images = SimpleNamespace(paths=np.array([f"/photos/p{i:06d}.png" for i in range(N)]))
    tree = Dendrogram(images, z, "ward", float(z[-24, 2] + z[-23, 2]) / 2, labels, "nearest_neighbours")
    applied, runs = [], []
    ctx = ViewerContext(node_id="cluster", port="dendrogram", data_type="dendrogram", workflow_dir=None,
                        out_dir=tmp_path, image_url=lambda *a, **k: "", upstream=lambda t: None,
                        set_params=lambda node, params: applied.append(params), run=runs.append,
                        refresh=lambda: None, store_dir=lambda name: tmp_path,
                        node_params={"cut": "n_clusters", "n_clusters": 24, "height_ratio": 0.7, "distance": 0.0})

    @ui.page("/")
    def page() -> None:
        with ui.column().classes("w-full p-4"):
            dendrogram_view.show(tree, ctx)

    driver = screen.selenium
    screen.open("/", timeout=60)
    assert wait_until(lambda: driver.execute_script(TREE), timeout=60, what="the dendrogram") == [1_000, 1_001]
    screen.should_contain("showing the last 1,000 merges")
    chart = driver.find_element(By.CSS_SELECTOR, ".fc-dendrogram")
    moving, redraw = driver.execute_script(MOVES)
    print(f"\ndragging the cut: {moving:.2f} ms per pointer move; one redraw of the chart: {redraw:.0f} ms")
    target = float(z[-5, 2] + z[-4, 2]) / 2  # 5 clusters
    y_from, y_to, (bar_x, bar_y), largest = driver.execute_script(PIXELS, target)

    def at(x: float, y: float) -> tuple[int, int]:  # selenium's offsets count from the element's centre
        return round(x - chart.rect["width"] / 2), round(y - chart.rect["height"] / 2)

    ActionChains(driver).move_to_element_with_offset(chart, *at(bar_x, bar_y - 2)).perform()
    wait_until(lambda: f"{largest:,} images" in chart.text, timeout=10, what="the largest bar's tooltip")
    SHOTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(SHOTS / "dendrogram_100000_hover.png"))
    ActionChains(driver, duration=30).move_to_element_with_offset(chart, *at(chart.rect["width"] / 2, y_from)) \
        .click_and_hold().move_by_offset(0, round((y_to - y_from) / 2)) \
        .move_to_element_with_offset(chart, *at(chart.rect["width"] / 2, y_to)).perform()
    ghost = driver.find_element(By.CSS_SELECTOR, ".fc-cut-ghost")  # the new cut follows the pointer
    assert ghost.is_displayed() and abs(ghost.rect["y"] - chart.rect["y"] - y_to) <= 3
    dragging = ghost.text  # how many clusters, while the line moves
    driver.save_screenshot(str(SHOTS / "dendrogram_100000_dragging.png"))
    ActionChains(driver).release().perform()
    count = lambda: driver.find_element(By.CSS_SELECTOR, ".fc-cut-count").text  # noqa: E731
    wait_until(lambda: count() != "24 clusters", what="the dragged cut")
    chosen = int(count().split()[0])
    assert 4 <= chosen <= 6 and clusters_at(z, target) == 5  # about where it was let go
    assert dragging == count()  # the count shown while dragging was the cut's
    assert driver.execute_script(END_LABEL) == f"cut: {count()}"
    driver.save_screenshot(str(SHOTS / "dendrogram_100000.png"))
    driver.find_element(By.XPATH, "//button[.//*[text()='Apply this cut']]").click()
    wait_until(lambda: applied, what="the applied cut")
    assert applied == [{"n_clusters": chosen}] and runs == [["cluster"]]  # a count stays a count
    foot = driver.execute_script(PIXELS, 0.0)[1] - 3  # a click just above the foot: thousands of clusters
    ActionChains(driver).move_to_element_with_offset(chart, *at(chart.rect["width"] / 2, foot)).click().perform()
    wait_until(lambda: int(count().split()[0].replace(",", "")) > 1_001, what="the fine cut")
    assert driver.execute_script("return document.querySelector('.fc-cut-ghost').textContent") \
        == "1,001 or more clusters"  # all the browser can count from the drawn merges
    wait_until(lambda: driver.execute_script(END_LABEL) == f"cut: {count()}", what="the exact count on the chart")
    assert console_problems(screen) == []
