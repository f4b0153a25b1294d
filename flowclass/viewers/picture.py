"""How a picture file is shown, in one place: the thumbnails show what the nodes compute on."""

from __future__ import annotations

from PIL import Image


def as_shown(image: Image.Image) -> Image.Image:
    """The picture as viewers show it, in RGB or 8-bit gray.

    16-bit gray (scanners, microscopes) keeps its contrast: 0..65535 becomes 0..255, where a
    plain conversion clips at 255 and makes it nearly white. Transparent parts are white, as
    the canvas's thumbnails show them, not the colour saved under them (often black).
    """
    if image.mode in ("RGB", "L"):
        return image
    if image.mode.startswith("I"):
        return image.convert("I").point(lambda value: value / 257).convert("L")
    if "A" in image.getbands() or "transparency" in image.info:
        image = image.convert("RGBA")
        flat = Image.new("RGB", image.size, "white")
        flat.paste(image, mask=image.getchannel("A"))
        return flat
    return image.convert("RGB")
