"""Opening the user's pictures the same way everywhere: EXIF orientation honoured, errors
explained, and shown as the nodes compute on them (the canvas's thumbnails use :func:`as_shown`)."""

from __future__ import annotations

import io
import os
import struct
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..fsutil import NOT_REGULAR, is_regular_file

if TYPE_CHECKING:
    from PIL import Image

# A big photo of the user's (a 100-megapixel orthophoto) is not an attack: Pillow's warning
# would print "could be decompression bomb DOS attack" at each node that reads it. Pillow still
# refuses images over twice its limit, which are then skipped with the reason. (Told by its
# words: Pillow is imported only when a picture is read, see _pillow.)
warnings.filterwarnings("ignore", message=r"Image size \(\d+ pixels\) exceeds limit of \d+ pixels, "
                        "could be decompression bomb")
# A stranger's EXIF (an orientation given twice, a tag whose data lies past the file's end):
# Pillow skips what it cannot read and warns of each on the console, naming no file.
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.TiffImagePlugin")

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "bmp", "gif", "tif", "tiff", "webp")
# The formats Pillow may decode, whatever a file's name says (JPEG covers a camera's
# multi-picture MPO files). Pillow also reads text formats (an X11 bitmap can be a valid Python file) and EPS
# (through Ghostscript): a shared file is never decoded as one of those.
IMAGE_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP")
IMAGE_SUFFIXES = frozenset(f".{ext}" for ext in IMAGE_EXTENSIONS)  # as Path.suffix gives them
# A 16-bit or floating-point picture is made 8-bit this many pixels at a time (see bands).
BAND_PIXELS = 1 << 18
SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
# EXIF orientations 5-8 rotate by 90 degrees, so width and height swap.
_SWAPS_AXES = {5, 6, 7, 8}


def _pillow() -> Any:
    """Pillow's Image module, with the formats of IMAGE_FORMATS registered; imported when a
    picture is first read (a re-run answered from its record reads none)."""
    global _IMAGE
    if _IMAGE is None:  # once: a folder of pictures asks for it a picture at a time
        from PIL import (BmpImagePlugin, GifImagePlugin, Image, JpegImagePlugin, PngImagePlugin,  # noqa: F401
                         TiffImagePlugin, WebPImagePlugin)  # registers IMAGE_FORMATS with Pillow

        _IMAGE = Image
    return _IMAGE


_IMAGE: Any = None


def open_picture(path: str | os.PathLike[str]) -> Image.Image:
    """``Image.open`` for any picture a user or a stranger supplies (a mask, a file to show):
    read only as one of IMAGE_FORMATS, whatever its name, never handed to another of Pillow's
    decoders (an EPS named ``mask.png`` ran Ghostscript on the file's PostScript), and only
    from a regular file (a pipe named ``mask.png`` had the run wait for ever)."""
    _regular(path)
    return _pillow().open(path, formats=IMAGE_FORMATS)


def _regular(path: str | os.PathLike[str]) -> None:
    """BadImage unless ``path`` is a regular file (nothing waits on a pipe or reads a device)
    whose headers fit (:func:`_headers_fit`)."""
    _regular_file(path)
    try:
        with open(path, "rb") as handle:
            _headers_fit(handle)
    except FileNotFoundError:  # said when opened
        pass


def _regular_file(path: str | os.PathLike[str]) -> None:
    if not is_regular_file(path) and os.path.exists(path):  # a missing file (or link) says so when opened
        raise BadImage(NOT_REGULAR)


def _headers_fit(handle: Any) -> None:
    """BadImage when a PNG's chunks, a JPEG's segments, a TIFF's tags, a GIF's extensions or a
    WebP's size would have Pillow read far more than an image takes (:func:`_png_chunks_fit`,
    :func:`_jpeg_segments_fit`, :func:`_tiff_tags_fit`, :func:`_gif_extensions_fit`, :func:`_webp_fits`)."""
    start = handle.read(12)
    if start[:4] == b"RIFF" and start[8:12] == b"WEBP":
        _webp_fits(handle)
    elif start[:8] == PNG_SIGNATURE:
        handle.seek(8)
        _png_chunks_fit(handle)
    elif start[:2] == JPEG_START:
        handle.seek(2)
        _jpeg_segments_fit(handle)
    elif start[:4] in TIFF_STARTS:
        _tiff_tags_fit(handle, start)
    elif start[:6] in (b"GIF87a", b"GIF89a"):
        _gif_extensions_fit(handle, start)


# Pillow reads a GIF's extensions before its first image a piece (at most 255 bytes) at a time in
# Python, and keeps a comment whole: a 20 MB comment took 103 MB to open.
MAX_GIF_EXTENSIONS = 16 * 2**20
MAX_GIF_PIECES = 2**17


def _gif_extensions_fit(handle: Any, start: bytes) -> None:
    """BadImage when a GIF's extensions before its first image hold more than MAX_GIF_EXTENSIONS
    bytes or MAX_GIF_PIECES pieces, told from the pieces' one-byte lengths."""
    colours = 3 * 2 ** ((start[10] & 7) + 1) if len(start) > 10 and start[10] & 0x80 else 0
    handle.seek(13 + colours)  # past the screen's description and its colour table
    size = pieces = 0
    while handle.read(1) == b"!" and handle.read(1):  # an extension and its label
        while (length := handle.read(1)) not in (b"", b"\0"):
            size, pieces = size + length[0], pieces + 1
            if size > MAX_GIF_EXTENSIONS or pieces > MAX_GIF_PIECES:
                why = f"{MAX_GIF_EXTENSIONS // 2**20} MB" if size > MAX_GIF_EXTENSIONS else f"{MAX_GIF_PIECES:,} pieces"
                raise BadImage(f"its GIF extensions hold more than {why} before the image; a picture's hold "
                               "a few bytes")
            handle.seek(length[0], io.SEEK_CUR)


# Pillow hands libwebp the whole file, read into memory each time it opens one: a stranger's
# 8 x 8 WebP followed by a sparse 2 GB hole took a probe 44 s and 6.3 GB. A WebP is at most
# 16,383 px square; such a photo is some 100 MB.
MAX_WEBP_BYTES = 256 * 2**20


def _webp_fits(handle: Any) -> None:
    """BadImage when the WebP file is larger than MAX_WEBP_BYTES, before Pillow reads it whole."""
    size = handle.seek(0, io.SEEK_END)
    if size > MAX_WEBP_BYTES:
        raise BadImage(f"a WebP of {size / 2**20:,.0f} MB, which Pillow reads whole; a WebP picture holds "
                       f"far less (at most {MAX_WEBP_BYTES // 2**20} MB)")


# Pillow reads each PNG chunk that is not image data (text, an ICC profile, a kind it does not
# know) whole into memory, two or three times over: a stranger's PNG of one 300 MB tEXt chunk
# took 950 MB to refuse. An ICC profile is some hundred KB, EXIF 64 KB.
MAX_PNG_CHUNK = 16 * 2**20
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_PIXELS = (b"IDAT", b"fdAT")  # image data (APNG's frames too): decoded a piece at a time


# Pillow handles each chunk in Python: a million empty ones (12 MB) took 6 s of CPU and 267 MB.
# A PNG has some ten chunks besides its image data and its frames' controls.
MAX_PNG_CHUNKS = 1_000


def _png_chunks_fit(handle: Any) -> None:
    """BadImage when a PNG's chunk other than image data is longer than MAX_PNG_CHUNK, or there
    are more than MAX_PNG_CHUNKS of them, told from the chunks' 8-byte headers alone (``handle``
    just past the signature), before Pillow reads any."""
    others = 0
    while len(header := handle.read(8)) == 8 and header[4:] != b"IEND":
        length, kind = struct.unpack(">I4s", header)
        if length > MAX_PNG_CHUNK and kind not in PNG_PIXELS:
            raise BadImage(f"its PNG chunk {kind.decode('latin-1')!r} holds {length / 2**20:,.0f} MB; "
                           f"an image's metadata holds far less (at most {MAX_PNG_CHUNK // 2**20} MB)")
        others += kind not in PNG_PIXELS and kind != b"fcTL"
        if others > MAX_PNG_CHUNKS:
            raise BadImage(f"it has more than {MAX_PNG_CHUNKS:,} PNG chunks besides its image data; "
                           "a picture has some ten")
        handle.seek(length + 4, io.SEEK_CUR)  # the data, then its checksum


# Pillow reads the data of every tag in a TIFF's first directory when it opens the file: a
# stranger's 8 x 8 TIFF with one tag of 100 MB took 325 MB to open. An ICC profile, XMP or
# GeoTIFF tags take some hundred KB; the pixels are not tags (the tags give their offsets).
TIFF_STARTS = {b"II*\0": "<", b"MM\0*": ">", b"II+\0": "<", b"MM\0+": ">"}  # classic, BigTIFF
MAX_TIFF_TAGS = MAX_PNG_CHUNK
MAX_TIFF_ENTRIES = 2**16 - 1
_TIFF_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8}


def _tiff_tags_fit(handle: Any, start: bytes) -> None:
    """BadImage when a tag of a TIFF's first directory holds more than MAX_TIFF_TAGS bytes, told
    from the directory's entries (12 bytes each, 20 in a BigTIFF)."""
    order, big = TIFF_STARTS[start[:4]], start[2:4] in (b"+\0", b"\0+")
    number, entry = (order + "Q", order + "HHQ8x") if big else (order + "H", order + "HHI4x")
    handle.seek(8 if big else 4)
    offset = handle.read(8 if big else 4)
    handle.seek(int.from_bytes(offset, "little" if order == "<" else "big"))
    count = handle.read(struct.calcsize(number))
    if len(count) < struct.calcsize(number):
        return  # a file cut short: Pillow says so
    entries = struct.unpack(number, count)[0]
    if entries > MAX_TIFF_ENTRIES:  # Pillow reads them one by one in Python: a BigTIFF may claim 2**64
        raise BadImage(f"its TIFF directory has {entries:,} entries; a classic TIFF's holds at most "
                       f"{MAX_TIFF_ENTRIES:,}")
    for _ in range(entries):
        raw = handle.read(struct.calcsize(entry))
        if len(raw) < struct.calcsize(entry):
            return
        tag, kind, values = struct.unpack(entry, raw)
        if values * _TIFF_SIZES.get(kind, 1) > MAX_TIFF_TAGS:
            raise BadImage(f"its TIFF tag {tag} holds {values * _TIFF_SIZES.get(kind, 1) / 2**20:,.0f} MB; an "
                           f"image's metadata holds far less (at most {MAX_TIFF_TAGS // 2**20} MB)")


# Pillow reads a JPEG's segments before its image data one by one in Python, a byte at a time
# between them, and keeps every APP and comment segment: a stranger's 8 MB of empty comments
# took 3.6 s of CPU and 314 MB, 100 MB of junk bytes 6 s, 200 MB of APP2 segments 442 MB. A
# camera's JPEG has some 10 segments there (EXIF, an ICC profile, tables) and no junk.
JPEG_START = b"\xff\xd8"
MAX_JPEG_SEGMENTS = 1_000
MAX_JPEG_METADATA = MAX_PNG_CHUNK
MAX_JPEG_JUNK = 64 * 2**10
_NO_LENGTH = {0x01, *range(0xD0, 0xD8)}  # markers with no segment after them (TEM, RSTn)
_IMAGE_DATA = {0xD9, 0xDA}  # EOI, SOS: Pillow reads no further segments


def _jpeg_segments_fit(handle: Any) -> None:
    """BadImage when a JPEG (``handle`` just past its start marker) has more than
    MAX_JPEG_SEGMENTS segments, MAX_JPEG_METADATA bytes of APP and comment segments or
    MAX_JPEG_JUNK bytes between segments before its image data, told from the segments' headers."""
    segments = metadata = junk = 0
    while segments <= MAX_JPEG_SEGMENTS and metadata <= MAX_JPEG_METADATA and junk <= MAX_JPEG_JUNK:
        marker = handle.read(2)
        if len(marker) < 2 or marker[1] in _IMAGE_DATA:
            return  # a file cut short: Pillow says so
        if marker[0] != 0xFF or marker[1] in (0x00, 0xFF):
            handle.seek(-1, io.SEEK_CUR)  # a byte between segments (0xFF may be fill before a marker)
            junk += 1
            continue
        segments += 1
        if marker[1] not in _NO_LENGTH:
            length = int.from_bytes(handle.read(2), "big")
            metadata += length if marker[1] >= 0xE0 else 0  # APPn (0xE0-0xEF) and COM (0xFE)
            handle.seek(max(length - 2, 0), io.SEEK_CUR)
    why = (f"more than {MAX_JPEG_SEGMENTS:,} segments" if segments > MAX_JPEG_SEGMENTS else
           f"more than {MAX_JPEG_METADATA // 2**20} MB of metadata" if metadata > MAX_JPEG_METADATA else
           f"more than {MAX_JPEG_JUNK // 2**10} KB of bytes between segments")
    raise BadImage(f"its JPEG headers hold {why} before the image; a photograph's hold some 10 segments")


class BadImage(Exception):
    """A file that is not a usable image; the message is the reason shown to the user."""


def describe_error(exc: BaseException) -> str:
    from PIL import Image, UnidentifiedImageError

    if isinstance(exc, BadImage):
        return str(exc)
    if isinstance(exc, UnidentifiedImageError):
        return "not an image in a format FlowClass reads (JPEG, PNG, BMP, GIF, TIFF, WebP)"
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return "image is too large (decompression bomb protection)"
    text = str(exc) or type(exc).__name__
    if "truncated" in text.lower():
        return "truncated image file"
    return f"cannot decode image: {text}"


JPEG_END = b"\xff\xd9"
TAIL_BYTES = 64 * 1024  # how much of a file's end is read to find a JPEG's end marker


def _ends_like_jpeg(handle: Any) -> bool:
    """Whether the file ends with a JPEG end-of-image marker (padding after it allowed),
    reading only its last :data:`TAIL_BYTES`."""
    handle.seek(0, io.SEEK_END)
    size = handle.tell()
    handle.seek(max(0, size - TAIL_BYTES))
    return handle.read().rstrip(b"\0\r\n ").endswith(JPEG_END)


def probe(path: str | Path) -> tuple[int, int]:
    """Width and height (after EXIF orientation) of an image file; BadImage if unusable.

    Catches non-images, empty files, broken headers and truncated files, as cheaply as
    each format allows: PNG's checksums are verified without decoding; a JPEG is decoded
    (at 1/8 scale, about 10 ms for 12 megapixels) only when it does not end with its
    end-of-image marker; other formats are decoded. The file is read through, never
    whole: memory follows the image's pixels, not the file's size.
    """
    Image = _pillow()
    try:
        _regular_file(path)
        with open(path, "rb") as handle:
            if handle.seek(0, io.SEEK_END) == 0:
                raise BadImage("empty file (0 bytes)")
            handle.seek(0)
            _headers_fit(handle)
            handle.seek(0)
            with Image.open(handle, formats=IMAGE_FORMATS) as image:
                image.verify()  # must come first: anything else reads past the header
            handle.seek(0)
            with Image.open(handle, formats=IMAGE_FORMATS) as image:
                width, height = image.size
                orientation = image.getexif().get(0x0112, 1)
                if image.format == "JPEG" and not _ends_like_jpeg(handle):
                    handle.seek(0)
                    image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                    image.load()
                elif image.format not in ("JPEG", "PNG"):
                    image.load()
    except BadImage:
        raise
    except FileNotFoundError:
        raise BadImage("file no longer exists") from None
    except Exception as exc:  # PIL raises many kinds of errors for broken files
        raise BadImage(describe_error(exc)) from None
    if orientation in _SWAPS_AXES:
        width, height = height, width
    return width, height


def open_upright(path: str | Path, draft: int | None = None) -> Image.Image:
    """Decode an image fully, upright, as RGB or (if it is gray) 8-bit gray.

    Gray stays gray because resizing one channel is three times cheaper than resizing
    three equal ones, and gives the same numbers; embedders expand it when they need to.
    With ``draft``, a JPEG is decoded at the smallest of 1/2, 1/4, 1/8 scale that still
    keeps both sides at least ``draft`` pixels: a 12-megapixel photo bound for a 224 px
    network decodes about ten times faster.
    """
    Image = _pillow()
    try:
        _regular(path)
        with Image.open(path, formats=IMAGE_FORMATS) as image:
            if draft:
                image.draft(image.mode if image.mode in ("RGB", "L") else "RGB", (draft, draft))
            return upright_as_shown(image)
    except BadImage:
        raise
    except FileNotFoundError:
        raise BadImage("file no longer exists") from None
    except Exception as exc:
        raise BadImage(describe_error(exc)) from None


def upright_as_shown(image: Image.Image) -> Image.Image:
    """An opened picture decoded, turned upright in place (EXIF) and made :func:`as_shown`;
    a gray+alpha PNG decoded in half the memory Pillow's LA takes (:func:`_pack_gray_alpha`)."""
    from PIL import ImageOps

    packed = _pack_gray_alpha(image)
    image.load()
    ImageOps.exif_transpose(image, in_place=True)  # not a copy of the whole picture
    return packed_gray_alpha_on_white(image) if packed else as_shown(image)


def open_rgb(path: str | Path) -> Image.Image:
    """Decode an image fully as RGB, upright; BadImage with the reason if that fails."""
    return open_upright(path).convert("RGB")


def as_shown(image: Image.Image) -> Image.Image:
    """The picture as viewers show it, in RGB or 8-bit gray.

    16-bit gray (scanners, microscopes) keeps its contrast: 0..65535 becomes 0..255, where a
    plain conversion clips at 255 and makes it nearly white. Floating-point gray (32-bit
    TIFFs of measurements) is read as 0..1 when it lies there, else stretched from its
    smallest to its largest value. Transparent parts are white, as
    the canvas's thumbnails show them, not the colour saved under them (often black).
    """
    if image.mode in ("RGB", "L"):
        return image
    if image.mode in SIXTEEN_BIT:
        return sixteen_bit_as_gray(image)
    if image.mode.startswith("I"):
        return integer_as_gray(image)
    if image.mode == "F":
        return float_as_gray(image)
    if image.mode == "LA":
        return on_white(image, "L")
    if "A" in image.getbands() or "transparency" in image.info:
        return on_white(image)
    if image.mode == "1":  # 1 byte a pixel, as RGB's 4 took: a 20 KB PNG may hold 169 million
        return image.convert("L")
    return image.convert("RGB")


def on_white(image: Image.Image, mode: str = "RGB") -> Image.Image:
    """Transparent parts on white, a band of rows at a time: a palette PNG of 169 million
    pixels with a transparent colour packs into some 170 KB, and the whole picture in RGBA,
    with its alpha apart, took 10 bytes per pixel beside the 3 of the result. Gray with
    alpha stays gray (``mode`` "L"): the same values as each of RGB's three, in a quarter
    of the memory."""
    from PIL import Image

    width, height = image.size
    flat = Image.new(mode, image.size, "white")
    for top, bottom in bands(width, height):
        part = image.crop((0, top, width, bottom)).convert("LA" if mode == "L" else "RGBA")
        flat.paste(part.getchannel(0) if mode == "L" else part, (0, top), mask=part.getchannel("A"))
    return flat


def _pack_gray_alpha(image: Image.Image) -> bool:
    """Have an 8-bit gray+alpha PNG decoded as one 16-bit number a pixel (gray, then alpha:
    the bytes as the file holds them), 2 bytes a pixel where Pillow's LA takes 4; True if so.
    Only a plain one (not interlaced, not animated, one run of data), whose bytes Pillow's PNG
    decoder unfilters the same whatever mode it fills."""
    if image.format != "PNG" or image.mode != "LA" or image.info.get("interlace") \
            or getattr(image, "n_frames", 1) != 1 or len(image.tile) != 1 or image.tile[0].args != "LA":
        return False
    image._mode = "I;16B"  # Pillow's own field (10.1 to 13 at least); checked below
    if image.mode != "I;16B":  # a Pillow that keeps it elsewhere: decode as LA, as before
        image._mode = "LA"
        return False
    image.tile = [image.tile[0]._replace(args="I;16B")]
    return True


def packed_gray_alpha_on_white(image: Image.Image) -> Image.Image:
    """8-bit gray on white from gray+alpha packed by :func:`_pack_gray_alpha`, through a
    table of :func:`on_white`'s own answers for all 65,536 pairs, a band of rows at a time."""
    return _through_table(image, _gray_alpha_table())


def _gray_alpha_table() -> np.ndarray:
    global _GRAY_ALPHA_TABLE
    if _GRAY_ALPHA_TABLE is None:
        from PIL import Image

        every = np.arange(65536, dtype=np.uint16)
        pairs = np.stack([every >> 8, every & 255], axis=-1).astype(np.uint8).reshape(256, 256, 2)
        _GRAY_ALPHA_TABLE = np.asarray(on_white(Image.fromarray(pairs, "LA"), "L")).ravel()
    return _GRAY_ALPHA_TABLE


_GRAY_ALPHA_TABLE: np.ndarray | None = None


def bands(width: int, height: int) -> list[tuple[int, int]]:
    """Rows ``(top, bottom)`` of about :data:`BAND_PIXELS` pixels each, covering the picture."""
    rows = max(1, BAND_PIXELS // max(width, 1))
    return [(top, min(top + rows, height)) for top in range(0, height, rows)]


def sixteen_bit_as_gray(image: Image.Image) -> Image.Image:
    """16-bit gray as 8-bit gray, exactly as Pillow's 32-bit detour made it (``value / 257``,
    through a table Pillow itself fills), a band of rows at a time: a 16-bit PNG of 169
    million pixels shrinks to 330 KB, and the detour's two 32-bit copies took 1.7 GB."""
    return _through_table(image, _sixteen_bit_table())


def _through_table(image: Image.Image, table: np.ndarray) -> Image.Image:
    """8-bit gray whose pixels are ``table`` at each of ``image``'s 16-bit values, a band of rows at a time."""
    from PIL import Image

    width, height = image.size
    gray = np.empty((height, width), dtype=np.uint8)
    for top, bottom in bands(width, height):
        gray[top:bottom] = table[np.asarray(image.crop((0, top, width, bottom)))]
    return Image.fromarray(gray, "L")


def _sixteen_bit_table() -> np.ndarray:
    global _SIXTEEN_BIT_TABLE
    if _SIXTEEN_BIT_TABLE is None:
        from PIL import Image

        every = Image.frombytes("I;16", (256, 256), np.arange(65536, dtype="<u2").tobytes())
        _SIXTEEN_BIT_TABLE = np.asarray(every.convert("I").point(lambda value: value / 257).convert("L")).ravel()
    return _SIXTEEN_BIT_TABLE


_SIXTEEN_BIT_TABLE: np.ndarray | None = None


def integer_as_gray(image: Image.Image) -> Image.Image:
    """32-bit integer gray as 8-bit gray, exactly as before (``value / 257`` by Pillow, then
    clipped to 0..255), a band of rows at a time: a 32-bit TIFF of 169 million pixels deflates
    to some 1 MB, and the copy, the divided copy and the result of the whole picture took about
    10 bytes per pixel beside the decoded 4. Each pixel's value depends on it alone, so
    converting band by band gives the same picture."""
    from PIL import Image

    width, height = image.size
    gray = Image.new("L", image.size)
    for top, bottom in bands(width, height):
        part = image.crop((0, top, width, bottom)).convert("I")
        gray.paste(part.point(lambda value: value / 257).convert("L"), (0, top))
    return gray


def float_as_gray(image: Image.Image) -> Image.Image:
    """A floating-point gray picture as 8-bit gray: 0..1 as 0..255 (scikit-image's convention
    for float images), any other range stretched to it; missing values (NaN) show black.

    Done a band of rows at a time: a float TIFF that deflate shrinks to 1 MB may hold 169
    million pixels (under Pillow's limit), and the whole picture in float64, copied at each
    step, took 8 GB and 48 s; the picture and its 8-bit result are all that is held now."""
    width, height = image.size

    def band(top: int, bottom: int) -> np.ndarray:
        return np.asarray(image.crop((0, top, width, bottom)), dtype=np.float64)

    low, high = np.inf, -np.inf
    for top, bottom in bands(width, height):
        values = band(top, bottom)
        finite = values[np.isfinite(values)]
        if finite.size:
            low, high = min(low, float(finite.min())), max(high, float(finite.max()))
    if low > high:  # no finite value at all
        low, high = 0.0, 1.0
    if low >= 0.0 and high <= 1.0:
        low, high = 0.0, 1.0
    gray = np.empty((height, width), dtype=np.uint8)
    for top, bottom in bands(width, height):
        scaled = (np.nan_to_num(band(top, bottom), nan=low, posinf=high, neginf=low) - low) / max(high - low, 1e-12)
        gray[top:bottom] = np.round(np.clip(scaled, 0.0, 1.0) * 255).astype(np.uint8)
    from PIL import Image

    return Image.fromarray(gray, "L")
