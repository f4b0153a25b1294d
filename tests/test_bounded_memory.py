"""Memory does not grow with a file's size: Import hashes in chunks and probes headers.

Measured for real: a 1 GiB sparse file (a JPEG's first bytes, then a hole) is imported in
a fresh Python process, whose peak resident memory is compared with the same import of
one small image. Reading the file whole (as Import once did) adds the file's size.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

SPARSE_BYTES = 2**30

# The peak resident memory of the measuring process itself: /proc's VmHWM belongs to the process's
# own memory, made new by exec. getrusage's ru_maxrss is kept across exec, so a process started by
# a large one (a pytest worker that loaded torch) began at its parent's size and hid what it used.
PEAK_KB = """
def peak_kb():
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
"""

IMPORT_AND_REPORT_PEAK = """
import json, resource, sys
""" + PEAK_KB + """
from flowclass.cache import Cache
from flowclass.engine import Engine
from flowclass.library import default_registry
from flowclass.workflow_file import from_document

folder, cache, node = sys.argv[1:4]
params = {"folder": folder} if node == "import_images" else {"file": folder}
doc = {"schema_version": 1, "nodes": [{"id": "n", "type": node, "params": params}]}
result = Engine(default_registry(), Cache(cache)).run(from_document(doc), manifest=False)
outcome = result.outcomes["n"]
print(json.dumps({"peak_kb": peak_kb(),
                  "state": str(outcome.state), "error": outcome.error,
                  "skipped": [list(row) for row in outcome.skipped]}))
"""


def _peak(target, cache, node="import_images") -> dict:
    done = subprocess.run([sys.executable, "-c", IMPORT_AND_REPORT_PEAK, str(target), str(cache), node],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _small_jpeg() -> bytes:
    import io

    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()[:64, :64]).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.mark.slow
@pytest.mark.parametrize("node", ["import_images", "image_file"])
def test_a_huge_sparse_file_named_jpg_does_not_grow_memory(tmp_path, node):
    jpeg = _small_jpeg()
    small, huge = tmp_path / "small", tmp_path / "huge"
    small.mkdir()
    huge.mkdir()
    (small / "a.jpg").write_bytes(jpeg)
    (huge / "a.jpg").write_bytes(jpeg)
    with open(huge / "big.jpg", "wb") as handle:  # a JPEG's start, then a 1 GiB hole
        handle.write(jpeg[:len(jpeg) // 2])
        handle.truncate(SPARSE_BYTES)
    if node == "image_file":
        small, huge = small / "a.jpg", huge / "big.jpg"
    baseline = _peak(small, tmp_path / "c1", node)
    measured = _peak(huge, tmp_path / "c2", node)
    grown_mb = (measured["peak_kb"] - baseline["peak_kb"]) / 1024
    print(f"{node}: peak RSS {baseline['peak_kb'] / 1024:.0f} MB for one small image, "
          f"{measured['peak_kb'] / 1024:.0f} MB with a 1 GiB file (+{grown_mb:.0f} MB)")
    assert grown_mb < 100, f"memory grew by {grown_mb:.0f} MB for a 1 GiB file"
    assert measured["state"] == "done", measured  # decoded as far as it goes, like any JPEG


OPEN_AND_REPORT_PEAK = """
import json, resource, sys
""" + PEAK_KB + """
from flowclass.userfiles.pictures import open_upright
import numpy, PIL.Image, PIL.ImageOps, PIL.TiffImagePlugin, PIL.PngImagePlugin
before = peak_kb()
picture = open_upright(sys.argv[1])
print(json.dumps({"extra_kb": peak_kb() - before,
                  "mode": picture.mode, "size": picture.size,
                  "corners": [picture.getpixel((0, 0)), picture.getpixel((picture.width // 2, 0)),
                              picture.getpixel((picture.width - 1, picture.height - 1))]}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("kind, per_pixel", [("float", 7), ("16-bit", 5), ("transparent", 6), ("integer", 6),
                                             ("1-bit", 3), ("gray+alpha", 4)])
def test_a_picture_that_deflates_to_almost_nothing_is_made_8_bit_in_bands(tmp_path, kind, per_pixel):
    """A stranger's 32-bit float TIFF, 16-bit PNG, palette PNG with a transparent colour or 32-bit
    integer TIFF, of 25 million pixels, a few hundred KB on disk (deflate): made 8-bit (as every
    node and thumbnail reads it), the float one held
    the whole picture in float64, copied at each step, and a copy of the decoded picture: some
    44 bytes per pixel (8 GB and 48 s for one of 169 million pixels, under Pillow's limit of
    179 million); the 16-bit one two 32-bit copies (10 bytes per pixel, 1.7 GB); the
    transparent one an RGBA copy and its alpha (10 bytes per pixel); the integer one a copy, a
    divided copy and the result (12 bytes per pixel with the decoded picture, 294 MB). Now the decoded picture (4, 2 or 1 bytes
    per pixel), its result (1 or 3) and a band of rows at a time."""
    import numpy as np
    from PIL import Image

    side = 5_000
    if kind == "float":
        values = np.zeros((side, side), dtype=np.float32)
        values[0, 0], values[-1, -1] = -1.0, 3.0  # stretched from -1..3: 0 becomes 64
        Image.fromarray(values, "F").save(tmp_path / "bomb.tif", compression="tiff_deflate")
        picture, expected = tmp_path / "bomb.tif", [0, 64, 255]
    elif kind == "transparent":  # a palette PNG whose colour 0 is transparent: on white
        values = np.zeros((side, side), dtype=np.uint8)
        values[0, 0] = 1
        palette = Image.fromarray(values, "L").convert("P")
        palette.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
        palette.save(tmp_path / "bomb.png", transparency=0)
        picture, expected = tmp_path / "bomb.png", [[0, 0, 255], [255, 255, 255], [255, 255, 255]]
    elif kind == "integer":  # value / 257, clipped: 257 * 64 becomes 64
        values = np.full((side, side), 257 * 64, dtype=np.int32)
        values[0, 0], values[-1, -1] = -(2**31), 2**31 - 1
        Image.fromarray(values, "I").save(tmp_path / "bomb.tif", compression="tiff_deflate")
        picture, expected = tmp_path / "bomb.tif", [0, 64, 255]
    elif kind == "1-bit":  # a 1-bit PNG (some 3 KB here): 8-bit gray, not RGB
        _one_bit_png(tmp_path / "bomb.png", side, side)
        picture, expected = tmp_path / "bomb.png", [0, 0, 0]
    elif kind == "gray+alpha":  # gray with alpha, on white in gray: 128 of 255 opaque, 64 is 159
        values = np.full((side, side, 2), (64, 128), dtype=np.uint8)
        values[0, 0], values[-1, -1] = (10, 255), (200, 0)
        Image.fromarray(values, "LA").save(tmp_path / "bomb.png")
        picture, expected = tmp_path / "bomb.png", [10, 159, 255]
    else:
        values = np.full((side, side), 257 * 64, dtype=np.uint16)
        values[0, 0], values[-1, -1] = 0, 65535
        Image.fromarray(values).save(tmp_path / "bomb.png")
        picture, expected = tmp_path / "bomb.png", [0, 64, 255]
    assert picture.stat().st_size < 2_000_000
    done = subprocess.run([sys.executable, "-c", OPEN_AND_REPORT_PEAK, str(picture)],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["mode"] == ("RGB" if kind == "transparent" else "L")
    assert found["size"] == [side, side] and found["corners"] == expected
    assert found["extra_kb"] * 1024 < per_pixel * side * side, found  # bytes per pixel, all held at once


READ_MASKS_AND_REPORT_PEAKS = """
import json, resource, sys
""" + PEAK_KB + """
from nodes.lib.pixels.legend import parse_legend
from nodes.lib.pixels.masks import MaskError, read_mask

legend = parse_legend("ink=#000000, paper=#ffffff")
peaks, errors = [], []
for mask in sys.argv[1:]:
    try:
        read_mask(mask, legend, size=(32, 24))
    except MaskError as exc:
        errors.append(str(exc))
    peaks.append(peak_kb())
print(json.dumps({"peaks": peaks, "errors": errors}))
"""


def _one_bit_png(path, width: int, height: int) -> None:
    """A black 1-bit PNG written row by row: 169 million pixels deflate to some 20 KB."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    pack = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)
    rows = b"".join(pack.compress(row) for _ in range(height)) + pack.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b""))


def test_a_mask_of_another_size_is_refused_before_it_is_decoded(tmp_path):
    """A shared folder's mask of 13,000 x 13,000 pixels (20 KB) beside a 32 x 24 photo: the mask
    was decoded in RGBA, with its colour codes and labels, before its size was compared, 2.2 GB
    to refuse it."""
    small, bomb = tmp_path / "small.png", tmp_path / "bomb.png"
    _one_bit_png(small, 32, 24)
    _one_bit_png(bomb, 13_000, 13_000)
    done = subprocess.run([sys.executable, "-c", READ_MASKS_AND_REPORT_PEAKS, str(small), str(bomb)],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(report["errors"]) == 1 and "13000x13000 pixels but its image is 32x24" in report["errors"][0]
    assert report["peaks"][1] - report["peaks"][0] < 20_000, report["peaks"]
