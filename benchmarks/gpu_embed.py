"""Embedding speed on a GPU: images per second end to end (the Embed node: decode, batch,
model, per-image store) against the bare forward pass on pre-decoded batches.

    python benchmarks/gpu_embed.py [--images 20000] [--models efficientnet_lite0 ViT-B-32] [--device cuda]

The open_clip model runs with seeded random weights ('random'): speed does not depend on
the weights, and none are downloaded. The target is at least 3,000 images/s end to end
for ViT-B/32 on one H100/H200-class GPU. EfficientNet-Lite0 runs at both precisions:
float32 and Embed's ``precision=int8``, which is float16 on a GPU (int8 on a CPU), with the
cosine of its vectors to float32's. On a machine without a GPU, pass --device cpu (and far
fewer --images) to check that the script runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def photo_folder(n: int, folder: Path) -> Path:
    """``n`` distinct 640x480 JPEGs made from scikit-image's photographs (crops, flips, tints)."""
    import skimage.data
    from PIL import Image

    done = folder / f".complete-{n}"
    if done.exists():
        return folder
    names = ["astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field"]
    photos = [Image.fromarray(getattr(skimage.data, name)()).convert("RGB").resize((800, 600)) for name in names]
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        x, y = rng.integers(0, 160), rng.integers(0, 120)
        image = photos[i % len(photos)].crop((x, y, x + 640, y + 480))
        tint = np.asarray(image, np.float32) * rng.uniform(0.8, 1.2, 3)
        Image.fromarray(tint.clip(0, 255).astype(np.uint8)).save(folder / f"p{i:06d}.jpg", quality=90)
    done.touch()
    return folder


def end_to_end(model: str, folder: Path, cache: Path, device: str, batch: int,
               precision: str = "fp32") -> tuple[float, dict, np.ndarray]:
    """Seconds for the Embed node on every image of ``folder`` (nothing cached), its records
    and the vectors."""
    from flowclass.cache import Cache
    from flowclass.engine import Engine
    from flowclass.library import default_registry
    from flowclass.workflow_file import loads

    params = {"backend": "efficientnet_lite0", "precision": precision} if model == "efficientnet_lite0" \
        else {"backend": "open_clip", "clip_model": model, "clip_weights": "random"}
    doc = {"schema_version": 1, "nodes": [
        {"id": "import", "type": "import_images", "params": {"folder": str(folder)}},
        {"id": "embed", "type": "embed", "params": {**params, "device": device, "batch_size": batch}}],
        "edges": [{"from": {"node": "import", "port": "images"}, "to": {"node": "embed", "port": "images"}}]}
    doc["nodes"][1]["version"] = 3  # a new node: precision as given
    registry = default_registry()
    engine = Engine(registry, Cache(cache))
    workflow = loads(json.dumps(doc), registry)
    engine.run(workflow, out_dir=cache / "out", targets=["import"], manifest=False)  # probe once
    result = engine.run(workflow, out_dir=cache / "out", manifest=False)
    outcome = result.outcomes["embed"]
    if outcome.state != "done":
        raise SystemExit(f"embed {outcome.state}: {outcome.error}")
    return outcome.seconds, outcome.records, result.output("embed", "embeddings").vectors


def bare_forward(model: str, folder: Path, cache: Path, device: str, batch: int, repeat: int,
                 precision: str = "fp32") -> float:
    """Images per second of the model alone on batches already decoded and preprocessed."""
    from nodes.embed import make_embedder
    from flowclass.userfiles.pictures import open_rgb

    from flowclass.cache import Cache

    class Ctx:  # the run's own cache: the models it prepares are those the Embed node uses
        base_dir = folder
        store_dir = Cache(cache).store_dir

    params = {"backend": "efficientnet_lite0", "device": device, "precision": precision} \
        if model == "efficientnet_lite0" else \
        {"backend": "open_clip", "clip_model": model, "clip_weights": "random", "device": device}
    embedder = make_embedder(Ctx, params)
    paths = sorted(folder.glob("*.jpg"))[:batch]
    stacked = np.stack([embedder.preprocess(open_rgb(str(p))) for p in paths])
    embedder.forward(stacked)  # warm-up (model load, cuDNN autotune)
    start = time.perf_counter()
    for _ in range(repeat):
        embedder.forward(stacked)
    return repeat * len(stacked) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--models", nargs="+", default=["ViT-B-32", "efficientnet_lite0"])
    parser.add_argument("--device", default="cuda", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "flowclass-gpu-embed"))
    args = parser.parse_args()
    work = Path(args.work)
    folder = photo_folder(args.images, work / f"photos-{args.images}")
    print("| model | precision | device (runtime) | images | end to end images/s | bare forward images/s "
          "| ratio | cosine to fp32: mean, min |")
    print("|---|---|---|---|---|---|---|---|")
    for model in args.models:
        exact = None
        for precision in ("fp32", "int8") if model == "efficientnet_lite0" else ("fp32",):
            cache = Path(tempfile.mkdtemp(prefix="cache-", dir=work))
            # first the bare model: it prepares the model files, which a timed run then finds
            bare = bare_forward(model, folder, cache, args.device, args.batch, args.repeat, precision)
            seconds, records, vectors = end_to_end(model, folder, cache, args.device, args.batch, precision)
            rate = args.images / seconds
            exact = vectors if exact is None else exact
            cosine = (exact * vectors).sum(1) / np.linalg.norm(exact, axis=1) / np.linalg.norm(vectors, axis=1)
            shown = records.get("embedder", {}).get("precision", "fp32")
            print(f"| {model} | {shown} | {records.get('device')} ({records.get('runtime', 'torch')}) | "
                  f"{args.images:,} | {rate:,.0f} | {bare:,.0f} | {rate / bare:.2f} | "
                  f"{cosine.mean():.3f}, {cosine.min():.3f} |", flush=True)


if __name__ == "__main__":
    main()
