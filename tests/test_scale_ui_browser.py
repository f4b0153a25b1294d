"""A map of 100,000 images in a real headless Chromium: it renders without console
errors, and hovering a drawn point shows its image."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from canvas_helpers import console_problems, wait_until
from nicegui import app, ui
from nicegui.testing import Screen
from PIL import Image
from skimage.data import coffee

from nodes.viewers.maps import MAX_POINTS, show_map

pytestmark = [pytest.mark.browser, pytest.mark.slow]

N = 100_000
SHOTS = Path(__file__).resolve().parents[1] / "screenshots"
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
TIP_IMAGE = ("const i = document.querySelector('.fc-map img'); "
             "return i && i.complete && i.naturalWidth > 0 ? i.getAttribute('src') : null;")


def test_a_map_of_100000_images_renders_and_shows_images_on_hover(screen: Screen, tmp_path: Path) -> None:
    picture = tmp_path / "coffee.png"
    Image.fromarray(coffee()[::8, ::8]).save(picture)
    app.add_static_file(local_file=picture, url_path="/coffee.png")
    rng = np.random.default_rng(0)
    groups = np.array([f"C{k}" for k in rng.integers(1, 4, N)])  # big series, drawn in chunks
    vectors = rng.normal(size=(N, 16)).astype(np.float32) + np.char.str_len(groups)[:, None]
    images = SimpleNamespace(paths=np.array([f"/photos/p{i:06d}.png" for i in range(N)]),
                             hashes=np.array([f"{i:064x}" for i in range(N)]), labels=np.full(N, ""))
    ctx = SimpleNamespace(store_dir=lambda name: tmp_path, image_url=lambda path, sha, size=160: f"/coffee.png?{sha[-6:]}")

    @ui.page("/")
    async def page() -> None:
        await show_map(vectors, images, groups, sorted(set(groups.tolist())), "Cluster", ctx)

    screen.open("/", timeout=60)
    wait_until(lambda: f"PCA of {N:,} images" in screen.selenium.page_source, timeout=120, what="the map")
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
