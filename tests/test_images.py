"""Import Images and Sample Images on real files, including a folder full of broken ones."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flowclass.engine import Engine
from flowclass.workflow_file import loads


def run_import(registry, cache, tmp_path, **params):
    doc = {"schema_version": 1, "nodes": [{"id": "import", "type": "import_images", "params": params}],
           "edges": []}
    result = Engine(registry, cache).run(loads(json.dumps(doc), registry), out_dir=tmp_path / "out")
    return result


def test_labels_come_from_subfolders(registry, cache, tmp_path, photos_dir):
    result = run_import(registry, cache, tmp_path, folder=str(photos_dir))
    images = result.output("import", "images")
    assert result.ok and len(images) == 5
    assert sorted(set(images.labels)) == ["animals", "things"]
    chelsea = [i for i, p in enumerate(images.paths) if p.endswith("chelsea.jpg")][0]
    assert images.labels[chelsea] == "animals"
    assert (images.widths[chelsea], images.heights[chelsea]) == (451, 300)
    assert len(set(images.hashes)) == 5 and all(len(h) == 64 for h in images.hashes)
    assert result.output("import", "skipped").empty


def test_a_folder_full_of_broken_files_is_skipped_and_reported(registry, cache, tmp_path):
    import skimage.data

    folder = tmp_path / "mess"
    folder.mkdir()
    good = Image.fromarray(skimage.data.coffee())
    good.save(folder / "good.jpg")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_text("this is not a picture")
    (folder / "random.png").write_bytes(os.urandom(3000))
    data = (folder / "good.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    png = tmp_path / "x.png"
    good.save(png)
    (folder / "cut.png").write_bytes(png.read_bytes()[:5000])
    (folder / "readme.txt").write_text("hello")
    (folder / ".DS_Store").write_bytes(b"\0\0")
    result = run_import(registry, cache, tmp_path, folder=str(folder))
    assert result.ok
    images = result.output("import", "images")
    skipped = result.output("import", "skipped")
    kept = [os.path.basename(p) for p in images.paths]
    reasons = dict(zip(skipped["path"].map(os.path.basename), skipped["reason"]))
    assert "good.jpg" in kept
    assert reasons["empty.jpg"] == "empty file (0 bytes)"
    assert reasons["notes.jpg"] == "not an image in a format FlowClass reads (JPEG, PNG, BMP, GIF, TIFF, WebP)"
    assert reasons["random.png"] == "not an image in a format FlowClass reads (JPEG, PNG, BMP, GIF, TIFF, WebP)"
    assert reasons["cut.png"] == "truncated image file"  # PNG's checksums catch it at import
    assert reasons["readme.txt"] == "extension '.txt' is not in the filter"
    assert ".DS_Store" not in reasons
    assert result.outcomes["import"].warnings  # the user is told
    assert reasons["truncated.jpg"] == "truncated image file"
    assert kept == ["good.jpg"]
    # a file that breaks after the import (changed under FlowClass's feet) is reported
    # by the Embed node instead: truncate it without changing its size or time
    embedded = _embed_pixels(registry, cache, tmp_path, folder)
    assert embedded.ok and embedded.output("embed", "skipped").empty
    good = folder / "good.jpg"
    stat = good.stat()
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 3] + b"\0" * (len(data) - len(data) // 3))
    os.utime(good, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    shutil.rmtree(cache.root / "results")
    shutil.rmtree(cache.root / "stores" / "embeddings")
    embedded = _embed_pixels(registry, cache, tmp_path, folder)
    embed_skipped = embedded.output("embed", "skipped")
    assert embed_skipped["path"].map(os.path.basename).tolist() == ["good.jpg"]
    assert embed_skipped["reason"].tolist() == ["truncated image file"]


def _embed_pixels(registry, cache, tmp_path, folder):
    doc = {"schema_version": 1, "nodes": [
        {"id": "import", "type": "import_images", "params": {"folder": str(folder)}},
        {"id": "embed", "type": "embed", "params": {"backend": "pixels"}}],
        "edges": [{"from": {"node": "import", "port": "images"}, "to": {"node": "embed", "port": "images"}}]}
    return Engine(registry, cache).run(loads(json.dumps(doc), registry), out_dir=tmp_path / "out2")


def test_exif_orientation_is_honoured(registry, cache, tmp_path):
    folder = tmp_path / "exif"
    folder.mkdir()
    image = Image.new("RGB", (40, 20), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: shown as 20 x 40
    image.save(folder / "rotated.jpg", exif=exif)
    images = run_import(registry, cache, tmp_path, folder=str(folder)).output("import", "images")
    assert (images.widths[0], images.heights[0]) == (20, 40)
    from flowclass.userfiles.pictures import open_rgb

    assert open_rgb(images.paths[0]).size == (20, 40)


def test_missing_folder_and_empty_folder_fail_clearly(registry, cache, tmp_path):
    result = run_import(registry, cache, tmp_path, folder=str(tmp_path / "nope"))
    outcome = result.outcomes["import"]
    assert outcome.state == "failed" and outcome.field == "folder" and "not found" in outcome.error
    (tmp_path / "empty").mkdir()
    outcome = run_import(registry, cache, tmp_path, folder=str(tmp_path / "empty")).outcomes["import"]
    assert outcome.state == "failed" and "is empty" in outcome.error


def test_a_folder_without_usable_images_says_why_in_plain_words(registry, cache, tmp_path, photos_dir):
    """A newcomer picked a folder with no images, one of notes only, or one of damaged copies:
    each was told "no usable images (N candidate file(s), N skipped) — check the folder and the
    extension filter", the wrong advice for damaged files, and the Skipped list that says which
    is not shown for a node that failed. Each case now says what was found there."""
    def error(folder: Path) -> str:
        outcome = run_import(registry, cache, tmp_path, folder=str(folder)).outcomes["import"]
        assert outcome.state == "failed" and outcome.field == "folder"
        said = f"{outcome.error} — {outcome.hint}"  # as the canvas and the command line show it
        assert "candidate" not in said
        return said

    (tmp_path / "empty").mkdir()
    assert "is empty" in error(tmp_path / "empty")
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "readme.txt").write_text("my photos are elsewhere")
    said = error(notes)
    assert "no image files" in said and "readme.txt" in said and "Extensions" in said
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "empty.jpg").write_bytes(b"")
    (damaged / "cut.jpg").write_bytes((photos_dir / "animals" / "chelsea.jpg").read_bytes()[:300])
    said = error(damaged)
    assert "none of the 2 image files" in said and "could be opened" in said
    assert "empty.jpg: empty file (0 bytes)" in said and "cut.jpg" in said
    assert "extension" not in said  # their extensions are right: the files are not


def test_a_changed_folder_is_imported_again(registry, cache, tmp_path, photos_dir):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(photos_dir, folder)
    first = run_import(registry, cache, tmp_path, folder=str(folder))
    assert run_import(registry, cache, tmp_path, folder=str(folder)).outcomes["import"].state == "cached"
    (folder / "things" / "camera.jpg").unlink()
    again = run_import(registry, cache, tmp_path, folder=str(folder))
    assert again.outcomes["import"].state == "done"
    assert len(again.output("import", "images")) == len(first.output("import", "images")) - 1


def test_extension_filter_and_limit_per_label(registry, cache, tmp_path, photos_dir):
    result = run_import(registry, cache, tmp_path, folder=str(photos_dir), max_per_label=1,
                        extensions="JPG")
    images = result.output("import", "images")
    assert sorted(images.labels) == ["animals", "things"]
    # a cap never drops images silently: 5 readable photos, 2 kept, 3 left out
    warnings = result.outcomes["import"].warnings
    # named as the canvas labels the field (the key too, for the command line's --set)
    assert any("Max per label (max_per_label) = 1" in w and "3 of 5" in w and "set it to 0" in w
               for w in warnings), warnings
    assert not any("max_per_label=" in w for w in warnings), warnings
    bad = loads(json.dumps({"schema_version": 1, "nodes": [
        {"id": "i", "type": "import_images", "params": {"folder": "x", "extensions": ", ;"}}]}), registry)
    from flowclass.validation import validate

    assert [(p.node, p.field) for p in validate(bad, registry)] == [("i", "extensions")]


@pytest.mark.parametrize("dataset,count,labels", [("digits", 1797, 10), ("faces", 200, 2),
                                                  ("photos", 18, 0)])
def test_sample_sets_are_real_images_written_once(registry, shared_cache, tmp_path, dataset, count, labels):
    doc = {"schema_version": 1, "nodes": [{"id": "s", "type": "sample_images", "params": {"dataset": dataset}}]}
    result = Engine(registry, shared_cache).run(loads(json.dumps(doc), registry), out_dir=tmp_path)
    images = result.output("s", "images")
    assert len(images) == count
    assert len(set(images.labels) - {""}) == labels
    first = Image.open(images.paths[0])
    assert first.size[0] >= 25 and np.asarray(first).std() > 0  # a real picture, not blank


def test_sample_command_writes_to_a_new_folder_only(tmp_path):
    from flowclass.cli import main

    assert main(["sample", str(tmp_path), "--dataset", "faces"]) == 0
    assert len(list((tmp_path / "faces" / "face").glob("*.png"))) == 100
    assert main(["sample", str(tmp_path), "--dataset", "faces"]) == 1  # never overwrites


def test_two_processes_writing_the_same_sample_set_both_succeed(tmp_path, monkeypatch):
    from nodes.lib.images import sample_images as samples

    real = samples.write_sample

    def racing(name, target):  # another process finishes first, then ours renames onto it
        real(name, target)
        return real(name, target.with_name(target.name + "-mine")) and os.rename(
            target.with_name(target.name + "-mine"), target)

    monkeypatch.setattr(samples, "write_sample", racing)
    folder = samples.sample_folder("faces", tmp_path)
    assert len(list(folder.rglob("*.png"))) == 200


def test_floating_point_tiffs_keep_their_contrast(tmp_path):
    """32-bit float TIFFs (measurements, scikit-image's float images) were clipped: 0..1
    came out black, larger values white. 0..1 is read as such; other ranges are stretched."""
    import skimage.data

    from flowclass.ui.thumbnails import make_thumbnail
    from flowclass.userfiles.pictures import open_upright

    camera = skimage.data.camera()
    unit, measured = tmp_path / "unit.tif", tmp_path / "measured.tif"
    Image.fromarray(camera.astype(np.float32) / 255).save(unit)
    heights = camera.astype(np.float32) * 4 - 300  # -300 .. 720, say metres
    heights[0, 0] = np.nan
    Image.fromarray(heights).save(measured)
    with Image.open(unit) as probe:
        assert probe.mode == "F"
    seen = np.asarray(open_upright(unit).convert("L"), float)
    assert np.abs(seen - camera).max() <= 1
    stretched = (camera.astype(float) - camera.min()) / (camera.max() - camera.min()) * 255
    seen = np.asarray(open_upright(measured).convert("L"), float)
    assert np.abs(seen - stretched)[1:, 1:].max() <= 1 and seen[0, 0] == 0
    make_thumbnail(unit, tmp_path / "unit.jpg", 128)
    assert 60 < np.asarray(Image.open(tmp_path / "unit.jpg").convert("L"), float).mean() < 200


def test_16_bit_and_transparent_images_are_seen_as_they_are_shown(registry, cache, tmp_path):
    """A 16-bit gray PNG (microscopes, scanners) is the 8-bit picture at 257 times the values;
    a transparent PNG is shown on white. Embed, the thumbnails and the pixel nodes saw the
    16-bit one as nearly all white (values clipped at 255) and the transparent part as the
    colour hidden under it (black), while the grid showed it on white."""
    import skimage.data

    from flowclass.ui.thumbnails import make_thumbnail
    from flowclass.userfiles.pictures import open_rgb, open_upright

    camera = skimage.data.camera()
    folder = tmp_path / "scans"
    folder.mkdir()
    Image.fromarray(camera).save(folder / "camera 8-bit.png")
    Image.fromarray(camera.astype(np.uint16) * 257).save(folder / "camera 16-bit.png")
    cutout = np.zeros((*camera.shape, 4), np.uint8)  # black where transparent, as editors save it
    cutout[100:400, 100:400] = (200, 30, 30, 255)
    Image.fromarray(cutout, "RGBA").save(folder / "cutout.png")
    on_white = np.full((*camera.shape, 3), 255, np.uint8)
    on_white[100:400, 100:400] = (200, 30, 30)
    Image.fromarray(on_white).save(folder / "cutout on white.png")

    def diff(a, b):
        return float(np.abs(np.asarray(a, float) - np.asarray(b, float)).max())

    assert diff(open_upright(folder / "camera 16-bit.png").convert("L"), camera) <= 1
    assert diff(open_rgb(folder / "cutout.png"), on_white) == 0
    for name, twin in (("camera 16-bit.png", "camera 8-bit.png"), ("cutout.png", "cutout on white.png")):
        make_thumbnail(folder / name, tmp_path / f"{name}.jpg", 128)
        make_thumbnail(folder / twin, tmp_path / f"{twin}.jpg", 128)
        shown = np.asarray(Image.open(tmp_path / f"{name}.jpg").convert("RGB"), float)
        assert np.abs(shown - np.asarray(Image.open(tmp_path / f"{twin}.jpg").convert("RGB"), float)).mean() < 2

    doc = {"schema_version": 1, "nodes": [
        {"id": "import", "type": "import_images", "params": {"folder": str(folder), "labels_from": "none"}},
        {"id": "embed", "type": "embed", "params": {"backend": "pixels", "pixel_size": 16, "grayscale": False}}],
        "edges": [{"from": {"node": "import", "port": "images"}, "to": {"node": "embed", "port": "images"}}]}
    result = Engine(registry, cache).run(loads(json.dumps(doc), registry), out_dir=tmp_path / "out")
    assert result.ok
    embedded = result.output("embed", "embeddings")
    vector = {os.path.basename(p): v for p, v in zip(embedded.images.paths, np.asarray(embedded.vectors))}
    assert np.abs(vector["camera 16-bit.png"] - vector["camera 8-bit.png"]).max() <= 1 / 255 + 1e-6
    assert np.abs(vector["cutout.png"] - vector["cutout on white.png"]).max() <= 1e-6


def test_outputs_of_an_earlier_run_inside_the_imported_folder_are_not_imported(tmp_path):
    """A user in their photos folder runs cluster_folder.json on '.': the outputs go into
    ./flowclass-out/, and the next run clustered its own dendrogram.png and map.png as photos
    (folder label 'flowclass-out'). Files of the user's beside them still count."""
    import csv

    import skimage.data

    from flowclass.cli import main
    from flowclass.library import ready_workflows_dir

    photos = tmp_path / "photos"
    for label, names in {"animals": ["chelsea", "astronaut"], "things": ["coffee", "rocket"]}.items():
        (photos / label).mkdir(parents=True)
        for name in names:
            Image.fromarray(getattr(skimage.data, name)()).save(photos / label / f"{name}.png")
    out = photos / "flowclass-out" / "cluster_folder"
    args = ["run", str(ready_workflows_dir() / "cluster_folder.json"), "--set", f"import.folder={photos}",
            "--set", "embed.backend=pixels", "--set", "cluster.n_clusters=2",
            "--out", str(out), "--cache", str(tmp_path / "cache"), "-q"]
    main(args)
    assert (out / "dendrogram.png").is_file() and (out / "map.png").is_file()
    Image.fromarray(skimage.data.camera()).save(out / "mine.png")  # the user's own file there
    main(args)
    with open(out / "clusters.csv", encoding="utf-8") as table:
        clustered = sorted(os.path.basename(row["path"]) for row in csv.DictReader(table))
    assert clustered == ["astronaut.png", "chelsea.png", "coffee.png", "mine.png", "rocket.png"]
    skipped = (out / "skipped.csv").read_text(encoding="utf-8")
    assert "dendrogram.png" in skipped and "written by FlowClass" in skipped


@pytest.mark.slow
def test_a_big_aerial_photo_is_read_without_a_denial_of_service_warning(tmp_path):
    """A 90-megapixel orthophoto (Clashifier's aerial photos) printed Pillow's 'could be
    decompression bomb DOS attack' warning on the terminal at each node that read it. Pillow
    still refuses images over twice its limit (a real bomb), as a skipped file."""
    import subprocess
    import sys

    from flowclass.library import ready_workflows_dir

    photos = tmp_path / "aerial"
    photos.mkdir()
    Image.new("L", (9500, 9500), 90).save(photos / "orthophoto.png")  # 90.25 MP: over Pillow's 89.5 MP
    Image.new("L", (64, 64), 200).save(photos / "small.png")
    cli = "import sys; from flowclass.cli import main; sys.exit(main(sys.argv[1:]))"
    run = subprocess.run([sys.executable, "-c", cli, "run", str(ready_workflows_dir() / "cluster_folder.json"),
                          "--set", f"import.folder={photos}", "--set", "embed.backend=pixels",
                          "--set", "cluster.n_clusters=1", "--out", str(tmp_path / "out"),
                          "--cache", str(tmp_path / "cache"), "-q"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "orthophoto.png" in (tmp_path / "out" / "clusters.csv").read_text(encoding="utf-8")
    assert "DOS attack" not in run.stderr + run.stdout


@pytest.mark.parametrize("mode", ["I;16", "I;16B"])
def test_every_16_bit_gray_value_is_made_8_bit_as_before(mode):
    """16-bit gray is made 8-bit through a table a band at a time (it went through two 32-bit
    copies of the picture); every one of the 65,536 values, in either byte order, comes out as
    that detour made it, so no stored embedding changes."""
    import numpy as np
    from PIL import Image

    from flowclass.userfiles.pictures import as_shown

    order = "<u2" if mode == "I;16" else ">u2"
    every = Image.frombytes(mode, (256, 256), np.arange(65536, dtype=order).tobytes())
    before = every.convert("I").point(lambda value: value / 257).convert("L")
    assert np.array_equal(np.asarray(as_shown(every)), np.asarray(before))
    assert np.asarray(as_shown(every)).ravel()[[0, 256, 257, 65535]].tolist() == [0, 0, 1, 255]


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "1"])
def test_transparent_parts_are_on_white_as_before(mode):
    """Transparency is flattened onto white a band of rows at a time (it made an RGBA copy of
    the whole picture); every pixel comes out as before, half-transparent ones too. Gray with
    alpha and 1-bit pictures stay gray, 1 byte a pixel (they were made RGB, 4 bytes a pixel:
    a 20 KB 1-bit PNG of 169 million pixels took 859 MB), with each RGB channel's values."""
    import numpy as np
    from PIL import Image

    from flowclass.userfiles import pictures
    from flowclass.userfiles.pictures import as_shown

    rng = np.random.default_rng(5)
    if mode == "P":
        picture = Image.fromarray(rng.integers(0, 8, (301, 7), dtype=np.uint8), "L").convert("P")
        picture.putpalette(rng.integers(0, 256, 768, dtype=np.uint8).tolist())
        picture.info["transparency"] = 3
    elif mode == "1":
        picture = Image.fromarray(rng.integers(0, 2, (301, 7), dtype=bool)).convert("1")
    else:
        picture = Image.fromarray(rng.integers(0, 256, (301, 7, len(mode)), dtype=np.uint8), mode)
    rgba = picture.convert("RGBA")
    before = Image.new("RGB", picture.size, "white")
    before.paste(rgba, mask=rgba.getchannel("A"))
    band, pictures.BAND_PIXELS = pictures.BAND_PIXELS, 7 * 40  # several bands, the last one short
    try:
        shown = as_shown(picture)
        assert shown.mode == ("L" if mode in ("LA", "1") else "RGB")
        assert np.array_equal(np.asarray(shown.convert("RGB")), np.asarray(before))
        assert len(np.unique(np.asarray(shown))) > 1
    finally:
        pictures.BAND_PIXELS = band


@pytest.mark.parametrize("orientation", [1, 6])
def test_every_gray_alpha_pixel_of_a_png_is_read_as_before(tmp_path, orientation):
    """A gray+alpha PNG is decoded 2 bytes a pixel (Pillow's LA takes 4) and laid on white
    through a table: each of the 65,536 (gray, alpha) pairs, upright after EXIF orientation 6,
    comes out as decoding it as LA and laying it on white made it, so no embedding changes."""
    from flowclass.userfiles.pictures import open_upright

    every = np.arange(65536, dtype=np.uint16)
    pairs = np.stack([every >> 8, every & 255], axis=-1).astype(np.uint8).reshape(256, 256, 2)
    picture = Image.fromarray(np.concatenate([pairs, pairs[:7]]), "LA")  # 263 rows: not square
    exif = Image.Exif()
    exif[0x0112] = orientation
    picture.save(tmp_path / "ga.png", exif=exif)
    before = Image.new("L", picture.size, "white")
    before.paste(picture.getchannel("L"), mask=picture.getchannel("A"))
    if orientation == 6:  # as ImageOps.exif_transpose turns it
        before = before.transpose(Image.Transpose.ROTATE_270)
    shown = open_upright(tmp_path / "ga.png")
    assert shown.mode == "L" and np.array_equal(np.asarray(shown), np.asarray(before))
    assert len(np.unique(np.asarray(shown))) == 256


def test_a_gray_alpha_png_of_every_row_filter_and_split_data_reads_as_before(tmp_path):
    """Another encoder's gray+alpha PNG: rows under each of PNG's five filters (which refer
    to the pixel before, 2 bytes back) and its data split over two IDAT chunks. Decoded 2
    bytes a pixel, it reads as Pillow's LA decode laid on white."""
    import struct
    import zlib

    from flowclass.userfiles.pictures import open_upright

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rng = np.random.default_rng(1)
    width, height = 37, 50
    rows = b"".join(bytes([row % 5]) + rng.integers(0, 256, 2 * width, dtype=np.uint8).tobytes()
                    for row in range(height))
    packed = zlib.compress(rows)
    (tmp_path / "ga.png").write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 4, 0, 0, 0))
        + chunk(b"IDAT", packed[:40]) + chunk(b"IDAT", packed[40:]) + chunk(b"IEND", b""))
    with Image.open(tmp_path / "ga.png") as picture:
        picture.load()
        before = Image.new("L", picture.size, "white")
        before.paste(picture.getchannel("L"), mask=picture.getchannel("A"))
    shown = open_upright(tmp_path / "ga.png")
    assert np.array_equal(np.asarray(shown), np.asarray(before))
    assert len(np.unique(np.asarray(shown))) > 200


def test_a_gray_alpha_png_reads_as_before_where_pillow_keeps_its_mode_elsewhere(tmp_path, monkeypatch):
    """The 2-bytes-a-pixel decode sets the mode Pillow keeps in a private field; a Pillow that
    keeps it elsewhere (the mode stays LA) must decode the picture as LA, as before, not fail
    on a mismatch of mode and raw mode and skip every gray+alpha PNG."""
    from PIL import PngImagePlugin

    from flowclass.userfiles.pictures import open_upright

    values = np.random.default_rng(3).integers(0, 256, (9, 11, 2), dtype=np.uint8)
    Image.fromarray(values, "LA").save(tmp_path / "ga.png")
    before = open_upright(tmp_path / "ga.png")
    monkeypatch.setattr(PngImagePlugin.PngImageFile, "mode", property(lambda self: "LA"), raising=False)
    assert np.array_equal(np.asarray(open_upright(tmp_path / "ga.png")), np.asarray(before))


def test_32_bit_integer_gray_is_made_8_bit_band_by_band_as_the_whole_picture_was(monkeypatch):
    """32-bit integer gray is made 8-bit a band of rows at a time (the whole picture was copied
    twice); with bands of a few rows, extreme values (the int32 limits, negatives, the edges of
    each step of 257) come out as the whole-picture conversion made them."""
    import numpy as np
    from PIL import Image

    from flowclass.userfiles import pictures

    extremes = [-(2**31), -(2**31) + 1, -65536, -257, -1, 0, 1, 256, 257, 513, 514, 257 * 128 - 1,
                257 * 128, 65534, 65535, 65536, 257 * 255, 257 * 256, 2**24, 2**31 - 257, 2**31 - 1]
    rng = np.random.default_rng(7)
    values = np.concatenate([np.array(extremes * 10, dtype=np.int64),
                             rng.integers(-(2**31), 2**31, size=13 * 17 - 10 * len(extremes))])
    picture = Image.fromarray(values.astype(np.int32).reshape(13, 17), "I")
    whole = picture.convert("I").point(lambda value: value / 257).convert("L")
    monkeypatch.setattr(pictures, "BAND_PIXELS", 17 * 3)  # five bands, the last one short
    assert len(pictures.bands(17, 13)) == 5
    shown = pictures.as_shown(picture)
    assert shown.mode == "L" and shown.size == (17, 13)
    assert np.array_equal(np.asarray(shown), np.asarray(whole))
    assert np.asarray(shown).ravel()[:len(extremes)].tolist() == [
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 127, 128, 254, 255, 255, 255, 255, 255, 255, 255]


def test_a_picture_with_broken_exif_reads_upright_without_pillows_warnings(tmp_path):
    """EXIF from a stranger's camera or editor: an orientation given twice, a tag whose data
    lies past the file's end, a sub-directory out of reach. Pillow skips what it cannot read,
    and printed a UserWarning for each (``TiffImagePlugin.py:946: Tag data larger than file``)
    over a quiet run's console, naming no file. Read in a process of its own (pytest keeps
    warnings itself): upright, and nothing printed."""
    import struct
    import subprocess
    import sys

    def exif(*entries: tuple[int, int, int, bytes]) -> bytes:
        """EXIF of one little-endian directory; a value of 4 bytes or fewer sits in its entry."""
        directory = struct.pack("<H", len(entries)) + b"".join(
            struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\0") for tag, kind, count, value in entries)
        return b"Exif\0\0II*\0" + struct.pack("<I", 8) + directory + struct.pack("<I", 0)

    turned = (0x0112, 3, 1, struct.pack("<H", 6))  # orientation 6: turned a quarter
    broken = {"twice.jpg": exif((0x0112, 3, 2, struct.pack("<HH", 6, 6))),
              "past_the_end.jpg": exif(turned, (0x9286, 7, 0x7FFFFFFF, struct.pack("<I", 0x100))),
              "out_of_reach.jpg": exif(turned, (0x8769, 4, 1, struct.pack("<I", 0x7FFFFFF0)))}
    for name, data in broken.items():
        Image.new("RGB", (6, 4), "red").save(tmp_path / name, exif=data)
    read = ("import sys; from flowclass.userfiles.pictures import open_upright, probe\n"
            "for path in sys.argv[1:]: print(probe(path), open_upright(path).size)")
    done = subprocess.run([sys.executable, "-W", "default", "-c", read, *(str(tmp_path / n) for n in broken)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["(4, 6) (4, 6)"] * 3
    assert "Warning" not in done.stderr, done.stderr


@pytest.mark.parametrize("kind", [b"tEXt", b"iCCP", b"zzZz"])
def test_a_png_with_a_giant_metadata_chunk_is_refused_before_pillow_reads_it(tmp_path, monkeypatch, kind):
    """Pillow reads a PNG's text, ICC profile or unknown chunk whole, two or three times over:
    a stranger's PNG with one 300 MB tEXt chunk took 950 MB to refuse. Every opener (Import's
    probe, decoding, masks and thumbnails) refuses it from the chunk's 8-byte header, naming the
    chunk and its size; the file here is sparse, so no disk is used."""
    import io
    import struct

    from PIL import ImageFile

    from flowclass.userfiles.pictures import BadImage, open_picture, open_upright, probe

    small = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(small, "PNG")
    png = small.getvalue()
    path = tmp_path / "giant.png"
    with open(path, "wb") as handle:  # signature and IHDR, then a 300 MB chunk's header and a hole
        handle.write(png[:33] + struct.pack(">I", 300 * 2**20) + kind)
        handle.truncate(33 + 8 + 300 * 2**20 + 4)
        handle.seek(0, io.SEEK_END)
        handle.write(png[33:])
    real = ImageFile._safe_read
    monkeypatch.setattr(ImageFile, "_safe_read", lambda fp, size: real(fp, size) if size < 2**24 else
                        pytest.fail(f"Pillow read {size:,} bytes"))
    for read in (probe, open_upright, open_picture):
        with pytest.raises(BadImage, match=f"chunk '{kind.decode()}' holds 300 MB"):
            read(path)
    (tmp_path / "fine.png").write_bytes(png)
    assert probe(tmp_path / "fine.png") == (8, 8) and open_upright(tmp_path / "fine.png").size == (8, 8)


def test_a_png_of_countless_empty_chunks_is_refused_before_pillow_reads_them(tmp_path):
    """Pillow handles each PNG chunk in Python: a million empty ones (12 MB) took 6 s of CPU and
    267 MB. More than a thousand besides the image data are refused, saying so."""
    import io
    import struct
    import zlib

    from flowclass.userfiles.pictures import BadImage, open_picture, open_upright, probe

    small = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(small, "PNG")
    png = small.getvalue()
    empty = struct.pack(">I", 0) + b"zzZz" + struct.pack(">I", zlib.crc32(b"zzZz"))
    (tmp_path / "many.png").write_bytes(png[:33] + empty * 1_001 + png[33:])
    for read in (probe, open_upright, open_picture):
        with pytest.raises(BadImage, match="more than 1,000 PNG chunks"):
            read(tmp_path / "many.png")
    (tmp_path / "fine.png").write_bytes(png[:33] + empty * 20 + png[33:])
    assert probe(tmp_path / "fine.png") == (8, 8)


def _jpeg_with(before_image: bytes | None = None) -> bytes:
    """A small JPEG with ``before_image`` inserted after its start marker."""
    import io

    small = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(small, "JPEG")
    return small.getvalue()[:2] + (before_image or b"") + small.getvalue()[2:]


@pytest.mark.parametrize("hostile, why", [
    (b"\xff\xfe\x00\x02" * 1_001, "more than 1,000 segments"),
    (b"\x00" * 70_000, "more than 64 KB of bytes between"),
    (None, "more than 16 MB of metadata")], ids=["segments", "junk", "metadata"])
def test_a_jpeg_whose_headers_would_cost_pillow_minutes_or_gigabytes_is_refused(tmp_path, hostile, why):
    """Pillow reads a JPEG's segments before its image data one by one in Python and keeps each
    APP and comment segment: a stranger's 8 MB of empty comments took 3.6 s of CPU and 314 MB
    (200 MB of them some 90 s and 7 GB), 100 MB of junk bytes 6 s, 200 MB of APP2 segments
    442 MB. Every opener refuses such a file from its segment headers, saying why."""
    from flowclass.userfiles.pictures import BadImage, open_picture, open_upright, probe

    path = tmp_path / "stranger.jpg"
    if hostile is None:  # 300 APP2 segments of 64 KB, sparse: headers only, no disk used
        with open(path, "wb") as handle:
            handle.write(b"\xff\xd8")
            for k in range(300):
                handle.seek(2 + k * 65537)
                handle.write(b"\xff\xe2\xff\xff")
            handle.seek(2 + 300 * 65537)
            handle.write(_jpeg_with()[2:])
    else:
        path.write_bytes(_jpeg_with(hostile))
    for read in (probe, open_upright, open_picture):
        with pytest.raises(BadImage, match=why):
            read(path)
    (tmp_path / "fine.jpg").write_bytes(_jpeg_with(b"\xff\xfe\x00\x06note" * 20))
    assert probe(tmp_path / "fine.jpg") == (8, 8) and open_upright(tmp_path / "fine.jpg").size == (8, 8)


@pytest.mark.parametrize("byte_order", ["<", ">"])
def test_a_tiff_whose_tags_hold_a_hundred_megabytes_is_refused_before_pillow_reads_them(tmp_path, byte_order):
    """Pillow reads every tag's data of a TIFF's first directory when it opens the file: a
    stranger's 8 x 8 TIFF with one tag of 100 MB (a sparse file) took 325 MB to open. Every opener
    refuses it from the directory's entries, naming the tag."""
    import struct

    from flowclass.userfiles.pictures import BadImage, open_picture, open_upright, probe

    count, pixels, entries = 50_000_000, 8 * 8, []
    start = 8 + 2 + 9 * 12 + 4

    def entry(tag: int, kind: int, number: int, value: int) -> None:
        entries.append(struct.pack(byte_order + "HHI", tag, kind, number) +
                       (struct.pack(byte_order + "H", value) + b"\0\0" if kind == 3 and number == 1
                        else struct.pack(byte_order + "I", value)))

    for tag, value in ((256, 8), (257, 8), (258, 8), (259, 1), (262, 1)):
        entry(tag, 3, 1, value)
    entry(273, 4, 1, start)
    entry(278, 3, 1, 8)
    entry(279, 4, 1, pixels)
    entry(65000, 3, count, start + pixels)
    path = tmp_path / "stranger.tif"
    with open(path, "wb") as handle:
        handle.write((b"II*\0" if byte_order == "<" else b"MM\0*") + struct.pack(byte_order + "I", 8) +
                     struct.pack(byte_order + "H", len(entries)) + b"".join(entries) + b"\0" * 4 + b"\x80" * pixels)
        handle.truncate(start + pixels + 2 * count)
    for read in (probe, open_upright, open_picture):
        with pytest.raises(BadImage, match="tag 65000 holds 95 MB"):
            read(path)
    Image.new("RGB", (8, 8), "red").save(tmp_path / "fine.tif", icc_profile=b"\0" * 100_000)
    assert probe(tmp_path / "fine.tif") == (8, 8) and open_upright(tmp_path / "fine.tif").size == (8, 8)


def test_a_bigtiff_claiming_countless_directory_entries_is_refused_unread(tmp_path):
    """A BigTIFF's directory states its entry count in 8 bytes, which Pillow reads one entry at a
    time in Python: a sparse file of a terabyte claiming 2**40 entries would take hours. More
    entries than a classic TIFF can hold (65,535) are refused."""
    import struct

    from flowclass.userfiles.pictures import BadImage, probe

    path = tmp_path / "stranger.tif"
    with open(path, "wb") as handle:
        handle.write(b"II+\0" + struct.pack("<HHQ", 8, 0, 16) + struct.pack("<Q", 2**40))
        handle.truncate(2**40)
    with pytest.raises(BadImage, match="1,099,511,627,776 entries"):
        probe(path)


def test_a_webp_far_larger_than_any_picture_is_refused_before_pillow_reads_it_whole(tmp_path, monkeypatch):
    """Pillow hands libwebp a WebP file read whole, each time it opens one: a stranger's real
    8 x 8 WebP followed by a sparse 2 GB hole took Import's probe 44 s and 6.3 GB. A WebP over
    256 MB (a 16,383 px square photo is some 100 MB) is refused naming its size, unread."""
    import io

    from PIL import WebPImagePlugin

    from flowclass.userfiles.pictures import BadImage, open_picture, open_upright, probe

    small = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(small, "WEBP")
    path = tmp_path / "stranger.webp"
    with open(path, "wb") as handle:
        handle.write(small.getvalue())
        handle.truncate(2 * 2**30)
    monkeypatch.setattr(WebPImagePlugin.WebPImageFile, "_open", lambda self: pytest.fail("Pillow opened it"))
    for read in (probe, open_upright, open_picture):
        with pytest.raises(BadImage, match="a WebP of 2,048 MB"):
            read(path)
    monkeypatch.undo()
    (tmp_path / "fine.webp").write_bytes(small.getvalue())
    assert probe(tmp_path / "fine.webp") == (8, 8) and open_upright(tmp_path / "fine.webp").size == (8, 8)


def _gif_with(extension: bytes) -> bytes:
    """A small GIF with ``extension`` (a whole extension block) before its image."""
    import io

    small = io.BytesIO()
    Image.new("P", (8, 8), 1).save(small, "GIF")
    gif = small.getvalue()
    image = gif.index(b",", 13 + 3 * 2 ** ((gif[10] & 7) + 1) if gif[10] & 0x80 else 13)
    return gif[:image] + extension + gif[image:]


@pytest.mark.parametrize("blocks, why", [([255] * 70_000, "more than 16 MB"), ([1] * 140_000, "more than 131,072 pieces")],
                         ids=["a big comment", "countless pieces"])
def test_a_gif_whose_extensions_hold_megabytes_is_refused_before_pillow_reads_them(tmp_path, blocks, why):
    """Pillow reads a GIF's extensions before its first image a piece (at most 255 bytes) at a
    time in Python, and keeps a comment whole: a 20 MB comment took 103 MB to open. More than
    16 MB, or more than 131,072 pieces, of extensions before the image are refused."""
    from flowclass.userfiles.pictures import BadImage, open_picture, open_upright, probe

    comment = b"!\xfe" + b"".join(bytes([n]) + b"c" * n for n in blocks) + b"\0"
    (tmp_path / "stranger.gif").write_bytes(_gif_with(comment))
    for read in (probe, open_upright, open_picture):
        with pytest.raises(BadImage, match=why):
            read(tmp_path / "stranger.gif")
    (tmp_path / "fine.gif").write_bytes(_gif_with(b"!\xfe\x05hello\0"))
    assert probe(tmp_path / "fine.gif") == (8, 8) and open_upright(tmp_path / "fine.gif").size == (8, 8)
