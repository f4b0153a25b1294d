"""The benchmark sets of benchmarks/cleaning.py, made from what installed packages ship.

- ``noisy_labels``: 3,000 augmented digits (benchmarks/augmented.py) in 10 folders, 5 % of
  them moved into a random wrong folder (seeded);
- ``write_duplicated``: digit images under random names in random folders, with exact
  copies (same pixels, PNG or BMP, new name) and near copies (JPEG re-encoded, resized,
  cropped a little, brightened) of some of them, and the groups as truth;
- ``write_scale_set``: N augmented digits with 1 % exact and 2 % near copies planted, for
  the scale run (Find Duplicates reads every image);
- ``foreign_small``: small gray images of another kind (scikit-image's lfw_subset, 25 px
  faces and non-faces), and ``photographs``: crops of scikit-image's and scikit-learn's
  photographs, both as PIL images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

from benchmarks.augmented import augmented_digits


def noisy_labels(labels: np.ndarray, rate: float, seed: int, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(given labels, wrong mask): ``rate`` of the labels replaced by another class."""
    rng = np.random.default_rng(seed)
    wrong = rng.choice(len(labels), int(round(rate * len(labels))), replace=False)
    given = labels.copy()
    for i in wrong:
        given[i] = rng.choice([c for c in range(classes) if c != labels[i]])
    mask = np.zeros(len(labels), dtype=bool)
    mask[wrong] = True
    return given, mask


NEAR_EDITS = ("jpeg", "resize", "crop", "brighten")


def near_copy(image: Image.Image, edit: str, rng: np.random.Generator) -> tuple[Image.Image, str]:
    """A near copy of ``image`` by one edit, and the format to save it in."""
    w, h = image.size
    if edit == "jpeg":
        return image, "jpg"
    if edit == "resize":
        f = rng.uniform(0.6, 1.6)
        return image.resize((max(8, int(w * f)), max(8, int(h * f))), Image.BICUBIC), "png"
    if edit == "crop":
        c = rng.uniform(0.02, 0.06)
        left, top = int(w * c * rng.uniform(0, 1)), int(h * c * rng.uniform(0, 1))
        return image.crop((left, top, w - int(w * c) + left, h - int(h * c) + top)), "png"
    return ImageEnhance.Brightness(image).enhance(rng.uniform(1.1, 1.3)), "png"


@dataclass(frozen=True)
class Duplicated:
    folder: Path
    paths: list[str]  # relative to folder
    group: np.ndarray  # truth: the original each file comes from (-1: no copy)
    kind: np.ndarray  # "original", "exact" or "near"


def write_duplicated(folder: Path, originals: int = 1000, exact: int = 100, near: int = 200,
                     seed: int = 0, augmented_from: int = 1797) -> Duplicated:
    """``originals`` distinct digit images (augmented ones among them: look-alikes that are
    not copies), plus ``exact`` exact and ``near`` near copies of random ones."""
    rng = np.random.default_rng(seed)
    images = [img for img, _ in augmented_digits(augmented_from + originals)]
    # half originals, half augmented variants of them: look-alikes
    base = images[:originals // 2] + images[augmented_from:augmented_from + originals - originals // 2]
    folder.mkdir(parents=True)
    for sub in range(10):
        (folder / f"f{sub}").mkdir()
    paths, group, kind = [], [], []

    def save(image: Image.Image, fmt: str, g: int, k: str) -> None:
        rel = f"f{rng.integers(10)}/{rng.integers(1 << 40):010x}.{fmt}"
        image.save(folder / rel, **({"quality": 80} if fmt == "jpg" else {}))
        paths.append(rel)
        group.append(g)
        kind.append(k)

    for g, image in enumerate(base):
        save(image, "png", g, "original")
    for g in rng.choice(len(base), exact, replace=False):
        save(base[g], str(rng.choice(["png", "bmp"])), int(g), "exact")
    for j, g in enumerate(rng.choice(len(base), near, replace=False)):
        image, fmt = near_copy(base[g], NEAR_EDITS[j % len(NEAR_EDITS)], rng)
        save(image, fmt, int(g), "near")
    return Duplicated(folder, paths, np.array(group), np.array(kind))


def write_scale_set(folder: Path, n: int, exact: int, near: int, seed: int = 1) -> Duplicated:
    """``n`` images for the scale run: ``n - exact - near`` distinct augmented digits and
    ``exact`` exact and ``near`` near copies of random ones, PNGs in 10 random folders
    (kept, with their truth, when already complete)."""
    truth = folder / "truth.npz"
    if truth.exists():
        with np.load(truth) as saved:
            return Duplicated(folder, saved["paths"].tolist(), saved["group"], saved["kind"])
    rng = np.random.default_rng(seed)
    originals = n - exact - near
    for sub in range(10):
        (folder / f"f{sub}").mkdir(parents=True, exist_ok=True)
    paths, group, kind = [], [], []
    copied = set(rng.choice(originals, exact + near, replace=False).tolist())
    kept: dict[int, Image.Image] = {}
    for g, (image, _) in enumerate(augmented_digits(originals, seed)):
        rel = f"f{g % 10}/{g:07d}.png"
        image.save(folder / rel)
        paths.append(rel)
        group.append(g)
        kind.append("original")
        if g in copied:
            kept[g] = image
    for j, g in enumerate(sorted(kept, key=lambda _: rng.random())):
        image, fmt = (kept[g], str(rng.choice(["png", "bmp"]))) if j < exact else \
            near_copy(kept[g], NEAR_EDITS[j % len(NEAR_EDITS)], rng)
        rel = f"f{rng.integers(10)}/copy{j:06d}.{fmt}"
        image.save(folder / rel, **({"quality": 80} if fmt == "jpg" else {}))
        paths.append(rel)
        group.append(g)
        kind.append("exact" if j < exact else "near")
    np.savez(truth, paths=np.array(paths), group=np.array(group), kind=np.array(kind))
    return Duplicated(folder, paths, np.array(group), np.array(kind))


def foreign_small() -> list[Image.Image]:
    from skimage.data import lfw_subset

    return [Image.fromarray((p * 255).round().astype(np.uint8)).resize((64, 64), Image.BICUBIC)
            for p in lfw_subset()]


def photographs(per_photo: int = 6, seed: int = 0) -> list[Image.Image]:
    """Random crops (a third to all of each side) of the sample photographs."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    from nodes.lib.images.sample_images import PHOTOS

    rng = np.random.default_rng(seed)
    photos = [Image.fromarray(getattr(skimage.data, name)()).convert("RGB") for name in PHOTOS]
    photos += [Image.fromarray(p) for p in load_sample_images().images]
    out = []
    for photo in photos:
        w, h = photo.size
        for _ in range(per_photo):
            cw, ch = int(w * rng.uniform(0.33, 1)), int(h * rng.uniform(0.33, 1))
            x, y = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
            out.append(photo.crop((x, y, x + cw, y + ch)))
    return out


def efficientnet(images: list[Image.Image], scratch: Path, name: str, batch: int = 64) -> np.ndarray:
    """The default embedder's vectors of ``images``, kept in ``scratch`` as ``name``.npz."""
    cached = scratch / f"{name}.npz"
    if cached.exists():
        with np.load(cached) as saved:
            return saved["x"]
    from nodes.lib.embedders.efficientnet import EfficientNetLite0

    (scratch / "models").mkdir(parents=True, exist_ok=True)
    model = EfficientNetLite0(scratch / "models", side_by_side=False)  # one batch at a time, all threads
    out = [model.forward(np.stack([model.preprocess(im.convert("RGB")) for im in images[s:s + batch]]))
           for s in range(0, len(images), batch)]
    x = np.concatenate(out).astype(np.float32)
    np.savez(cached, x=x)
    return x


def letters(n: int = 300, seed: int = 0) -> list[Image.Image]:
    """Letters drawn as the digits are: an 8 x 8 scan at 16 gray levels, 64 px, dark on
    white, shifted and rotated a little: a foreign kind that looks much like digits."""
    from PIL import ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    font = ImageFont.load_default(size=60)
    out = []
    for i in range(n):
        glyph = Image.new("L", (80, 80), 0)
        letter = "ABCDEFGHJKLMNPQRTUVWXYZ"[i % 23] if i % 2 else "abdefghkmnpqrtuwxyz"[i % 19]
        ImageDraw.Draw(glyph).text((40, 40), letter, fill=255, font=font, anchor="mm")
        glyph = glyph.crop(glyph.getbbox())
        width = int(rng.integers(18, 29))
        canvas = Image.new("L", (32, 32), 0)
        canvas.paste(glyph.resize((width, 30), Image.BILINEAR),
                     ((32 - width) // 2 + int(rng.integers(-1, 2)), 1))
        canvas = canvas.rotate(rng.uniform(-10, 10), resample=Image.BILINEAR)
        scan = np.asarray(canvas.resize((8, 8), Image.BOX), np.float32) / 255 * 16
        scan = np.clip(np.round(scan * rng.uniform(1.0, 1.6)), 0, 16)
        out.append(Image.fromarray((255 - scan * 16).clip(0, 255).astype(np.uint8))
                   .resize((64, 64), Image.BICUBIC))
    return out
