"""Classifying 12-megapixel photos: seconds per photo for each model, memory for a folder.

Targets (issue 5): a 12 MP photo is classified in under 2 s (colour features), and the
peak memory of classifying a folder of such photos is that of one photo, not N photos.

    python benchmarks/pixel_speed.py [--photos 8] [--repeat 3]

1. Makes N 12-megapixel JPEGs (4240 x 2832) from real photos (scikit-learn's china and
   flower, scikit-image's coffee and astronaut), enlarged with sensor-like noise so that
   each has the ~0.5-1 million distinct colours of a camera photo.
2. Trains each model on the Clashifier strokes (workflows/data/clashifier), through the
   nodes, as clashifier_regions.json does.
3. Times the Classify Pixels node's run on one photo, cold (empty colour table, no stored
   class maps), split into decoding, labelling and writing the class-map PNG; then a
   second photo with the colour table of the first already filled. Importing skops (the
   safe model loader) is a one-time cost per process, printed on its own.
4. Runs Classify Pixels on 1, 2, 4... N photos in child processes and compares the peak
   resident memory each takes on top of the process after its imports.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SIZE = (4240, 2832)
SOURCES = ("china", "flower", "coffee", "astronaut")
MODELS = {  # name: train_pixel_classifier params
    "nearest_centroid": {"model": "nearest_centroid"},
    "logistic_regression": {"model": "logistic_regression"},
    "random_forest": {"model": "random_forest"},
    "logistic_regression+neighbourhood+texture": {"model": "logistic_regression",
                                                  "neighbourhood": True, "texture": True},
    "random_forest+neighbourhood+texture": {"model": "random_forest", "neighbourhood": True,
                                            "texture": True},
}


def make_photos(folder: Path, count: int) -> list[Path]:
    import skimage.data
    from sklearn.datasets import load_sample_image

    rng = np.random.default_rng(0)
    paths = []
    for k in range(count):
        name = SOURCES[k % len(SOURCES)]
        pixels = load_sample_image(f"{name}.jpg") if name in ("china", "flower") else \
            getattr(skimage.data, name)()
        big = np.asarray(Image.fromarray(pixels).resize(SIZE, Image.BICUBIC), dtype=np.int16)
        big = np.clip(big + rng.normal(0, 3, big.shape), 0, 255).astype(np.uint8)
        path = folder / f"{name}_{k}.jpg"
        Image.fromarray(big).save(path, quality=92)
        paths.append(path)
    return paths


def workflow(photos: Path, train: dict) -> dict:
    legend = "sky=#aec7e8, water=#1f77b4, trees=#2ca02c, building=#d62728"
    nodes = [
        {"id": "examples", "type": "import_images", "params": {"sample": "photos"}},
        {"id": "regions", "type": "pixel_samples_mask",
         "params": {"masks": str(REPO / "workflows/data/clashifier/masks"), "legend": legend}},
        {"id": "train", "type": "train_pixel_classifier", "params": train},
        {"id": "photos", "type": "import_images", "params": {"folder": str(photos)}},
        {"id": "classify", "type": "classify_pixels", "params": {}},
    ]
    edges = [("examples", "images", "regions", "images"), ("regions", "samples", "train", "samples"),
             ("train", "model", "classify", "model"), ("photos", "images", "classify", "images")]
    return {"schema_version": 1, "nodes": nodes, "edges": [
        {"from": {"node": a, "port": b}, "to": {"node": c, "port": d}} for a, b, c, d in edges]}


def run(doc: dict, cache_dir: Path, out: Path, targets: list[str] | None = None):
    from flowclass.cache import Cache
    from flowclass.engine import Engine
    from flowclass.library import default_registry
    from flowclass.workflow_file import loads

    registry = default_registry()
    cache = Cache(cache_dir)
    shutil.rmtree(cache.root / "stores" / "pixel_maps", ignore_errors=True)  # classify cold
    result = Engine(registry, cache).run(loads(json.dumps(doc), registry), out_dir=out,
                                         targets=targets, manifest=False)
    if not result.ok:
        raise RuntimeError([(o.node, o.error, o.traceback) for o in result.failed])
    return result


def node_seconds(result, scratch: Path) -> float:
    """The Classify Pixels node's own run on the imported photo(s), with a fresh map store."""
    from flowclass.context import RunContext
    from flowclass.library import default_registry

    classify = default_registry().get("classify_pixels")
    shutil.rmtree(scratch, ignore_errors=True)
    ctx = RunContext(node_id="classify", base_dir=scratch, out_dir=scratch,
                     store_dir=lambda name: (scratch / name).mkdir(parents=True, exist_ok=True)
                     or scratch / name)
    model, images = result.output("train", "model"), result.output("photos", "images")
    started = time.perf_counter()
    classify.run(ctx, model=model, images=images, unknown_below=0.0, colours="")
    return time.perf_counter() - started


def breakdown(result, photos: list[Path]) -> dict[str, float]:
    """Decode, label and write times of the first two photos with one classifier."""
    from flowclass.userfiles.pictures import open_rgb
    from nodes.lib.classify.estimators import load_estimator
    from nodes.lib.pixels.class_maps import class_counts, save_class_map
    from nodes.lib.pixels.features import FeatureSpec, distinct_colours
    from nodes.lib.pixels.masks import colour_codes
    from nodes.lib.pixels.model import PixelClassifier

    model = result.output("train", "model")
    classifier = PixelClassifier(load_estimator(model.estimator), FeatureSpec.from_dict(model.features))
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, path in (("first", photos[0]), ("second", photos[1 % len(photos)])):
            t0 = time.perf_counter()
            image = np.asarray(open_rgb(path))
            t1 = time.perf_counter()
            labels, _ = classifier.label_image(image)
            t2 = time.perf_counter()
            save_class_map(labels, ("#aec7e8", "#1f77b4", "#2ca02c", "#d62728", "#000000"),
                           Path(tmp) / "map.png")
            class_counts(labels, 5)
            t3 = time.perf_counter()
            times[label] = t3 - t0
            if label == "first":
                times.update(decode=t1 - t0, label=t2 - t1, write=t3 - t2,
                             colours=len(distinct_colours(colour_codes(image))))
    return times


def memory_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak since the last reset) of this process, in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def child(args: argparse.Namespace) -> None:
    """Classify a folder in this process and print the memory it took on top of the imports."""
    import skops.io  # noqa: F401  (imports torch through scikit-learn: most of the baseline)
    from flowclass.library import default_registry

    default_registry()
    before = memory_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # restart the peak (VmHWM) from here
    result = run(workflow(Path(args.child), MODELS["random_forest"]), Path(args.cache), Path(args.out))
    print(json.dumps({"baseline_mb": before, "peak_mb": memory_mb("VmHWM"),
                      "seconds": result.outcomes["classify"].seconds}))


def memory(folder: Path, photos: list[Path], cache: Path, out: Path) -> dict[int, dict]:
    figures = {}
    for count in sorted({2 ** k for k in range(len(photos).bit_length())} | {len(photos)}):
        sub = folder / f"folder_{count}"
        sub.mkdir()
        for path in photos[:count]:
            os.link(path, sub / path.name)
        output = subprocess.run([sys.executable, __file__, "--child", str(sub), "--cache", str(cache),
                                 "--out", str(out)], capture_output=True, text=True, check=True)
        figures[count] = json.loads(output.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child")
    parser.add_argument("--cache")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.child:
        return child(args)
    with tempfile.TemporaryDirectory(prefix="pixel-speed-") as tmp:
        tmp = Path(tmp)
        (tmp / "photos").mkdir()
        photos = make_photos(tmp / "photos", max(2, args.photos))
        one = tmp / "one"
        one.mkdir()
        os.link(photos[0], one / photos[0].name)
        print(f"{len(photos)} photos of {SIZE[0]} x {SIZE[1]} = {SIZE[0] * SIZE[1] / 1e6:.1f} MP, "
              f"{os.cpu_count()} CPU core(s)\n")
        started = time.perf_counter()
        import skops.io  # noqa: F401  (what the first model load of a process pays)
        print(f"one-time per process: importing skops, the safe model loader: "
              f"{time.perf_counter() - started:.2f} s\n")
        print(f"{'model':42s} {'node s/photo':>12s} {'decode':>7s} {'label':>7s} {'write':>7s} "
              f"{'2nd photo':>9s}")
        for name, params in MODELS.items():
            result = run(workflow(one, params), tmp / "cache", tmp / "out", targets=["train", "photos"])
            seconds = [node_seconds(result, tmp / "scratch") for _ in range(args.repeat)]
            parts = [breakdown(result, photos) for _ in range(args.repeat)]
            p = min(parts, key=lambda part: part["first"])
            print(f"{name:42s} {min(seconds):12.2f} {p['decode']:7.2f} {p['label']:7.2f} "
                  f"{p['write']:7.2f} {p['second']:9.2f}   "
                  f"({'under' if min(seconds) < 2 else 'OVER'} the 2 s target; "
                  f"{p['colours'] / 1e3:.0f}k distinct colours)")
        print(f"\nbest of {args.repeat}; 'node' is the Classify Pixels node's run on one photo "
              "(model load, decode, label, write PNG, count) with an empty colour table;\n"
              "'2nd photo' is decode + label + write of another photo with the table of the "
              "first filled")
        figures = memory(tmp, photos, tmp / "cache", tmp / "out")
        one_mb = figures[1]["peak_mb"] - figures[1]["baseline_mb"]
        for count, figure in figures.items():
            extra = figure["peak_mb"] - figure["baseline_mb"]
            print(f"classifying {count} photo(s) (random forest, {figure['seconds']:.1f} s): peak "
                  f"{figure['peak_mb']:.0f} MB, {extra:.0f} MB above the process after its imports "
                  f"({figure['baseline_mb']:.0f} MB); ratio to one photo {extra / one_mb:.2f}")


if __name__ == "__main__":
    main()
