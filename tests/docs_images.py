"""README's pictures are screenshots the browser tests take.

With FLOWCLASS_DOCS_SCREENSHOTS=1, a test that takes one of them also refreshes its copy in
docs/: scaled to at most 1280 px wide and reduced to 256 colours, narrower still if need
be, so each stays under 300 KB in the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

DOCS = Path(__file__).resolve().parents[1] / "docs"
SWITCH = "FLOWCLASS_DOCS_SCREENSHOTS"
WIDTH = 1280
LIMIT = 300_000  # bytes


def refresh_docs_image(screenshot: Path, name: str, docs: Path = DOCS) -> Path | None:
    """Write ``docs/name`` from ``screenshot`` when the switch is on; the file written, or None."""
    if os.environ.get(SWITCH) != "1":
        return None
    target = docs / name
    tmp = target.with_name(f".{target.name}.tmp")
    with Image.open(screenshot) as shot:
        image = shot.convert("RGB")
    width = min(WIDTH, image.width)
    while True:
        small = image.resize((width, round(image.height * width / image.width)), Image.Resampling.LANCZOS)
        small.quantize(256, method=Image.Quantize.MEDIANCUT).save(tmp, "PNG", optimize=True)
        if tmp.stat().st_size < LIMIT or width <= 640:
            break
        width = round(width * 0.85)
    os.replace(tmp, target)
    return target
