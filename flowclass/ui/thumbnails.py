"""Thumbnails of result images, made once, kept on disk, served by one route.

Viewers never put file paths in the page. They ask :meth:`ImageServer.url` for a URL,
which registers the file under an opaque id (its content hash when known); the route
serves only registered ids, so a browser cannot ask for an arbitrary file. Thumbnails
are JPEGs in the cache's ``thumbnails`` store, keyed by content and size, so a
10,000-image folder is scaled once and later views cost a file read.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from PIL import Image

from ..fsutil import atomic_path, file_stamp
from ..userfiles.pictures import open_picture, upright_as_shown

ROUTE = "/flowclass/image"
SIZES = (64, 96, 128, 160, 256, 512, 1024)
FULL = 0  # size 0: the image itself, re-encoded only if browsers cannot show its format
BROWSER_FORMATS = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp"}
THUMBNAIL_VERSION = 3  # 2: 16-bit gray scaled, not clipped to white; 3: tiny images enlarged sharp


class ImageServer:
    """Registered images of this server (all tabs) and their thumbnails on disk."""

    def __init__(self, store: Path):
        self.store = Path(store)
        self._paths: dict[str, str] = {}
        self._lock = threading.Lock()

    def register(self, path: str | os.PathLike[str], sha256: str | None = None) -> str:
        """The id under which the route serves ``path``."""
        path = os.fspath(path)
        if sha256 is None:
            try:
                stamp = str(file_stamp(path))
            except OSError:
                stamp = "missing"
            sha256 = hashlib.sha256(f"{path}\0{stamp}".encode()).hexdigest()
        with self._lock:
            self._paths[sha256] = path
        return sha256

    def url(self, path: str | os.PathLike[str], sha256: str | None = None,
            size: int | None = 160) -> str:
        """URL of ``path`` scaled to fit ``size`` px (rounded up to a cached size)."""
        image_id = self.register(path, sha256)
        return f"{ROUTE}/{image_id}/{fitting_size(size)}"

    def source(self, image_id: str) -> str | None:
        return self._paths.get(image_id)

    def file_for(self, image_id: str, size: int) -> Path | None:
        """The file to send for a registered id: a cached thumbnail, made if need be."""
        source = self.source(image_id)
        if source is None or not os.path.isfile(source):
            return None
        if size == FULL and Path(source).suffix.lower() in BROWSER_FORMATS:
            return Path(source)
        target = self.store / f"v{THUMBNAIL_VERSION}" / image_id[:2] / f"{image_id}-{size}.jpg"
        if not target.is_file():
            make_thumbnail(Path(source), target, size)
        return target


def fitting_size(size: int | None) -> int:
    if not size:
        return FULL
    return next((s for s in SIZES if s >= size), SIZES[-1])


def make_thumbnail(source: Path, target: Path, size: int) -> None:
    """Write a JPEG of ``source`` that fits ``size`` x ``size`` (any size when 0), upright."""
    with open_picture(source) as image:
        if size:
            image.draft("RGB", (size, size))  # JPEGs decode at a fraction of full size: fast
        image = upright_as_shown(image)
        if size:
            image.thumbnail((size, size), Image.Resampling.LANCZOS)
            image = sharp_enlargement(image, size)
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target, fsync=False) as tmp:  # a thumbnail can always be made again
            image.save(tmp, "JPEG", quality=85)


TINY = 64  # images this small (digits, icons) are enlarged by whole pixels


def sharp_enlargement(image: Image.Image, size: int) -> Image.Image:
    """A tiny image, enlarged by a whole factor to fit ``size`` with each pixel a crisp
    block: a browser stretching an 8 x 8 digit to 36 rem would blur it into a smudge."""
    factor = size // max(image.size)
    if max(image.size) > TINY or factor < 2:
        return image
    return image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
