"""README's pictures from the browser tests' screenshots: small enough to commit, only on request."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image

from docs_images import LIMIT, SWITCH, WIDTH, refresh_docs_image


def screenshot(path: Path) -> Path:
    """A window-sized picture with photographs in it, like a results panel (1600 x 1000)."""
    page = np.full((1000, 1600, 3), 248, np.uint8)
    page[100:612, 300:812] = skimage.data.astronaut()
    page[100:400, 900:1300] = skimage.data.coffee()[:300, :400]
    Image.fromarray(page).save(path)
    return path


def test_only_on_request(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(SWITCH, raising=False)
    assert refresh_docs_image(screenshot(tmp_path / "shot.png"), "x.png", docs=tmp_path) is None
    assert not (tmp_path / "x.png").exists()


def test_refreshed_small(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(SWITCH, "1")
    written = refresh_docs_image(screenshot(tmp_path / "shot.png"), "x.png", docs=tmp_path)
    assert written == tmp_path / "x.png" and written.stat().st_size < LIMIT
    with Image.open(written) as image:
        assert image.width <= WIDTH and abs(image.width / image.height - 1.6) < 0.01
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shot.png", "x.png"]  # no temporary file left
