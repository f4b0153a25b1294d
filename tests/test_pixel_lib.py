"""The pixel helpers on real photos: lookup tables, strips, legends, denoising, saving maps."""

import os

import numpy as np
import pytest
from PIL import Image

from flowclass import codec
from flowclass.context import RunContext
from flowclass.errors import NodeError
from nodes.lib.pixels import features as features_module
from nodes.lib.pixels.features import FeatureSpec, colour_features, context_features
from nodes.lib.pixels.legend import LegendError, display_colours, parse_legend
from nodes.lib.pixels.model import PixelClassifier, features_at, make_estimator, predict
from nodes.lib.pixels.sampling import main_colours


@pytest.fixture(scope="module")
def coffee():
    import skimage.data

    return skimage.data.coffee()  # 400 x 600, real photo


def trained(coffee, spec, kind="random_forest"):
    """A model telling the cup (light) from the rest, trained on 2,000 pixels of coffee."""
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, 400, 2000), rng.integers(0, 600, 2000)
    labels = (coffee[rows, cols].mean(axis=1) > 150).astype(int)
    X = features_at(coffee, spec, rows, cols)
    return make_estimator(kind, seed=0, n_trees=10, max_depth=8).fit(X, labels)


def ctx(tmp_path):
    return RunContext("node", tmp_path, tmp_path, lambda name: tmp_path / name)


@pytest.mark.parametrize("kind", ["nearest_centroid", "random_forest"])
def test_the_colour_lookup_table_gives_what_per_pixel_prediction_gives(coffee, kind):
    spec = FeatureSpec(rgb=True, hsv=True, lab=True)
    estimator = trained(coffee, spec, kind)
    labels, confidence = PixelClassifier(estimator, spec).label_image(coffee)
    direct, direct_confidence = predict(estimator, colour_features(coffee.reshape(-1, 3), spec))
    assert np.array_equal(labels.ravel(), direct) and np.array_equal(confidence.ravel(), direct_confidence)
    assert 0.05 < labels.mean() < 0.95


def test_neighbourhood_features_in_strips_equal_the_whole_image(coffee, monkeypatch):
    spec = FeatureSpec(rgb=True, lab=False, neighbourhood=True, texture=True, window=9)
    whole = context_features(coffee, spec, 0, coffee.shape[0])
    monkeypatch.setattr(features_module, "STRIP_PIXELS", 600 * 7)  # strips of 7 rows
    parts = np.vstack([context_features(coffee, spec, a, b)
                       for a, b in features_module.strips(*coffee.shape[:2])])
    np.testing.assert_allclose(parts, whole, rtol=0, atol=1e-5)
    estimator = trained(coffee, spec)
    labels, _ = PixelClassifier(estimator, spec).label_image(coffee)
    rows, cols = np.divmod(np.arange(coffee.shape[0] * coffee.shape[1]), coffee.shape[1])
    direct, _ = predict(estimator, features_at(coffee, spec, rows, cols))
    assert np.array_equal(labels.ravel(), direct)


def test_legends_are_checked_with_a_message_naming_the_entry():
    legend = parse_legend("water=#1f77b4, water=#0000aa, land=green\nignore=#ffffff")
    assert legend.classes == ("water", "land")
    assert legend.colour_class[(255, 255, 255)] == -1 and legend.colour_class[(0, 0, 170)] == 0
    assert legend.class_colours() == ("#1f77b4", "#008000")
    for text, words in [("water=#1f77b4, land=#1f77b4", "#1f77b4 is given to two classes"),
                        ("water", "'water' should look like 'name=#rrggbb'"),
                        ("water=#1f77b4", "at least two classes"),
                        ("unknown=#000000, a=#111111, b=#222222", "'unknown' is reserved")]:
        with pytest.raises(LegendError, match=words):
            parse_legend(text)
    assert display_colours(("a", "b"), ("#111111", "#222222"), "b=white, unknown=#ff0000") == (
        "#111111", "#ffffff", "#ff0000")
    with pytest.raises(LegendError, match="no class called 'c'"):
        display_colours(("a", "b"), ("#111111", "#222222"), "c=red")


def test_main_colour_denoising_drops_a_minority_colour(coffee):
    """Saucer-white pixels with 15 % of the coffee's dark brown mixed in, as a weak label."""
    rgb = coffee.reshape(-1, 3)
    light = rgb[rgb.min(axis=1) > 200][:3400]
    dark = rgb[rgb.max(axis=1) < 60][:600]
    keep = main_colours(np.vstack([light, dark]), clusters=5, min_share=0.2, seed=0)
    assert keep[:3400].mean() > 0.6 and keep[3400:].mean() < 0.02


def _coffee_maps(tmp_path, coffee, name="coffee.jpg"):
    """A light/dark class map of the coffee photo, as a cached result holds it."""
    from nodes.datatypes import ImageSet
    from nodes.lib.pixels.class_maps import save_class_map
    from nodes.pixel_datatypes import PixelMaps

    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(coffee).save(tmp_path / name, "JPEG")
    labels = (coffee.mean(axis=2) > 128).astype(np.uint8)
    save_class_map(labels, ("#000000", "#ffffff", "#ff0000"), tmp_path / "store" / "m.png")
    images = ImageSet(np.array([str(tmp_path / name)]), np.array([""]), np.array(["x"]),
                      np.array([600]), np.array([400]), str(tmp_path))
    counts = np.array([[np.sum(labels == 0), np.sum(labels == 1), 0]])
    maps = PixelMaps(images, np.array([str(tmp_path / "store" / "m.png")]), ("dark", "light"),
                     ("#000000", "#ffffff", "#ff0000"), counts)
    return codec.from_bytes(codec.to_bytes(maps)), labels


def test_saving_maps_never_overwrites_a_users_file_and_replaces_its_own(tmp_path, coffee):
    from nodes.pixel_export import save_pixel_maps

    maps, labels = _coffee_maps(tmp_path, coffee)
    out = tmp_path / "out"
    out.mkdir()
    (out / "coffee.png").write_bytes(b"the user's own file")
    saved = save_pixel_maps.run(ctx(tmp_path), maps=maps, folder=str(out), side_by_side=True)["saved"]
    assert (out / "coffee.png").read_bytes() == b"the user's own file"
    assert os.path.basename(saved["classified"][0]) == "coffee (2).png"
    assert np.array_equal(np.asarray(Image.open(out / "coffee (2).png")), labels)
    with Image.open(out / "coffee_beside.jpg") as beside:
        assert beside.size == (1200, 400)
    again = save_pixel_maps.run(ctx(tmp_path), maps=maps, folder=str(out), side_by_side=False)["saved"]
    assert list(again["classified"]) == list(saved["classified"])
    assert not (out / "coffee_beside.jpg").exists()  # its own file from the earlier run, gone
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "areas.csv", "coffee (2).png", "coffee.png"]


def test_saved_maps_are_named_as_they_read(tmp_path, coffee):
    """A stranger's picture `coffee\u202egpj.exe.jpg` in a folder `new\nlines`: its class map was
    saved under the same characters, `coffee\u202egpj.exe.png`, which a file manager shows as
    *coffeegnp.exe.jpg* (Export's copies were named as they read already)."""
    from nodes.pixel_export import save_pixel_maps

    maps, _ = _coffee_maps(tmp_path, coffee, "new\nlines/coffee\u202egpj.exe.jpg")
    out = tmp_path / "out"
    saved = save_pixel_maps.run(ctx(tmp_path), maps=maps, folder=str(out), side_by_side=True)["saved"]
    assert [os.path.relpath(p, out) for p in (saved["classified"][0], saved["side_by_side"][0])] == [
        "new_lines/coffee_gpj.exe.png", "new_lines/coffee_gpj.exe_beside.jpg"]
    assert (out / "new_lines" / "coffee_gpj.exe.png").is_file()


def test_saving_maps_never_writes_through_a_users_link(tmp_path, coffee):
    from nodes.pixel_export import save_pixel_maps

    maps, _ = _coffee_maps(tmp_path, coffee)
    out = tmp_path / "out"
    out.mkdir()
    (out / "coffee.png").symlink_to(tmp_path / "elsewhere.png")  # a link to nothing, yet
    (out / "areas.csv").mkdir()  # a folder of the user's where the area table goes
    context = ctx(tmp_path)
    saved = save_pixel_maps.run(context, maps=maps, folder=str(out), side_by_side=False)["saved"]
    assert not (tmp_path / "elsewhere.png").exists() and (out / "coffee.png").is_symlink()
    assert os.path.basename(saved["classified"][0]) == "coffee (2).png"
    assert (out / "areas (2).csv").is_file() and any("areas.csv" in w for w in context.warnings)


def test_folder_samples_need_two_class_folders(tmp_path, coffee):
    from nodes.datatypes import ImageSet
    from nodes.pixel_samples import pixel_samples_folders

    Image.fromarray(coffee).save(tmp_path / "a.png")
    images = ImageSet(np.array([str(tmp_path / "a.png")]), np.array(["brown"]), np.array(["x"]),
                      np.array([600]), np.array([400]), str(tmp_path))
    with pytest.raises(NodeError, match="found 1 class folder"):
        pixel_samples_folders.run(ctx(tmp_path), images=images, pixels_per_image=100,
                                  denoise="none", clusters=5, min_share=0.2, max_per_class=100,
                                  balance=True, seed=0)


def test_a_pipe_named_like_a_mask_is_refused_not_waited_on(tmp_path):
    """A shared bundle's masks/photo.png that was a pipe had Pixel Samples from Mask wait for
    ever on it (a run, or the canvas's Draw labels); it is refused, naming the file."""
    import threading

    from flowclass.fsutil import NOT_REGULAR
    from nodes.lib.pixels.masks import MaskError, read_mask

    pipe = tmp_path / "photo.png"
    os.mkfifo(pipe)
    found: list[BaseException] = []

    def read() -> None:
        try:
            read_mask(pipe, parse_legend("water=#0000ff, land=#00ff00"))
        except BaseException as exc:  # noqa: BLE001 - what it raised is the test's answer
            found.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(10)
    waited = reader.is_alive()
    if waited:  # the bug: end its wait, so that the test fails instead of hanging
        os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(10)
    assert not waited, "read_mask waited on the pipe"
    assert len(found) == 1 and isinstance(found[0], MaskError)
    assert str(pipe) in str(found[0]) and NOT_REGULAR in str(found[0])


def test_a_mask_whose_name_is_not_utf8_is_passed_over_not_a_crash(tmp_path):
    """A shared masks folder's b'caf\\xe9.png' (a Latin-1 system's name) failed Pixel Samples
    with a UnicodeEncodeError (the folder's fingerprint encoded each name). Import passes over
    an image of such a name, so no image can match it: it is left out, the others are read."""
    from nodes.lib.pixels.masks import mask_files, masks_fingerprint

    Image.new("RGB", (8, 8)).save(os.fsencode(tmp_path) + b"/caf\xe9.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "ok.png")
    assert list(mask_files(tmp_path)) == ["ok"]
    before = masks_fingerprint(str(tmp_path))
    Image.new("RGB", (9, 9)).save(tmp_path / "ok.png")
    assert masks_fingerprint(str(tmp_path)) != before
