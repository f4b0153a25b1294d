"""Where the Embed node loses time against the bare model, measured as ratios in one run.

On ~600 digit PNGs (64 px, the folder of ``speed.py``), each repeat measures back to back:

- the Embed node end to end, inside the engine (cold: empty embedding store, model
  prepared): images/s from the node's own seconds (session start, decoding, preprocessing,
  the model, the store writes, progress);
- the bare model forward at the same precision, threads, session options and batch size,
  on pre-decoded, pre-resized, pre-stacked tensors, after one warm-up batch.

The median ratio of the pairs is the figure (target >= 0.95, issue 18). Then, one thread
at a time, what each stage of the end-to-end path costs per image, so the gap can be read
as CPU work the bare forward does not do on the same cores.

    python benchmarks/embed_overhead.py [--repeat 5] [--images-per-class 60] [--models DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.speed import WORKFLOW, digits_folder  # noqa: E402


def prepared_models(tmp: Path) -> Path:
    """The models store of a cache where the int8 and float models are prepared."""
    from flowclass.cache import Cache
    from nodes.lib.embedders.efficientnet import EfficientNetLite0

    models = Cache(tmp / "models-cache").store_dir("models")
    EfficientNetLite0(models, precision="int8")  # exports and quantises once
    return models


def end_to_end(folder: Path, models: Path, tmp: Path) -> tuple[float, float, int, int]:
    """(seconds of the Embed node, CPU seconds of the process, all threads, while it ran,
    images, batch size) on a cache with no embeddings."""
    from flowclass.cache import Cache
    from flowclass.engine import Engine
    from flowclass.library import default_registry
    from flowclass.overrides import apply_overrides
    from flowclass.workflow_file import load

    registry = default_registry()
    cache = Cache(Path(tempfile.mkdtemp(dir=tmp)) / "cache")
    shutil.copytree(models, cache.store_dir("models"), dirs_exist_ok=True)
    workflow = apply_overrides(load(WORKFLOW, registry), registry, [f"import.folder={folder}"])
    engine = Engine(registry, cache)
    out = cache.root.parent / "out"
    engine.run(workflow, out_dir=out, targets=["import"], manifest=False)
    cpu = time.process_time()
    result = engine.run(workflow, out_dir=out, targets=["embed"], manifest=False)
    cpu = time.process_time() - cpu
    images = result.output("import", "images")
    return (result.outcomes["embed"].seconds, cpu, len(images),
            workflow.node("embed").params["batch_size"])


def pre_decoded(folder: Path, embedder) -> np.ndarray:  # noqa: ANN001
    from flowclass.userfiles.pictures import open_upright

    paths = sorted(str(p) for p in folder.rglob("*.png"))
    return np.stack([embedder.preprocess(open_upright(p, embedder.draft_size)) for p in paths])


def bare(embedder, tensors: np.ndarray, batch_size: int) -> tuple[float, float]:  # noqa: ANN001
    """(seconds, CPU seconds) of the model alone on the tensors, batch by batch, after a
    warm-up batch."""
    embedder.forward(tensors[:batch_size])
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(tensors), batch_size):
        embedder.forward(tensors[start:start + batch_size])
    return time.perf_counter() - started, time.process_time() - cpu


def stage_costs(folder: Path, models: Path, tensors: np.ndarray, batch_size: int) -> dict[str, float]:
    """Milliseconds per image of each stage, one thread, nothing else of ours running."""
    from flowclass.userfiles.pictures import open_upright
    from nodes.embed import _load_batch
    from nodes.lib.embedders.efficientnet import EfficientNetLite0
    from nodes.lib.embedders.store import EmbeddingStore

    paths = sorted(str(p) for p in folder.rglob("*.png"))
    n = len(paths)
    costs: dict[str, float] = {}
    started = time.perf_counter()
    pictures = [open_upright(p, 224) for p in paths]
    costs["decode (open_upright)"] = time.perf_counter() - started
    embedder = EfficientNetLite0(models, precision="int8")
    started = time.perf_counter()
    for picture in pictures:
        embedder.preprocess(picture)
    costs["preprocess (resize, normalise)"] = time.perf_counter() - started
    started = time.perf_counter()
    for start in range(0, n, batch_size):
        _load_batch(embedder, paths[start:start + batch_size])
    costs["a batch made ready (decode + preprocess + stack), as the workers do"] = time.perf_counter() - started
    started = time.perf_counter()
    EfficientNetLite0(models, precision="int8")
    costs["building the embedder (hashes the weights file)"] = time.perf_counter() - started
    started = time.perf_counter()
    embedder.prepare()
    embedder.forward(tensors[:batch_size])
    costs["starting the session and its first batch"] = time.perf_counter() - started
    vectors = embedder.forward(tensors[:batch_size])
    with tempfile.TemporaryDirectory() as tmp:
        store = EmbeddingStore(Path(tmp))
        started = time.perf_counter()
        for start in range(0, n, batch_size):
            store.put_many("m", [(f"{start}-{i}", np.asarray(v, dtype=np.float32))
                                 for i, v in enumerate(vectors)])
        costs["store writes, batch by batch"] = time.perf_counter() - started
        store.close()
    return {what: 1000 * seconds / n for what, seconds in costs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images-per-class", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--models", type=Path, help="a models store where the int8 model is "
                        "prepared already (else it is prepared first, about a minute)")
    args = parser.parse_args()
    from nodes.lib.embedders.efficientnet import EfficientNetLite0

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = digits_folder(tmp / "digits", args.images_per_class)
        models = args.models or prepared_models(tmp)
        loads = [os.getloadavg()[0]]
        embedder = EfficientNetLite0(models, precision="int8")
        tensors = pre_decoded(folder, embedder)
        pairs, cpu_ratios = [], []
        for _ in range(args.repeat):
            seconds, cpu, count, batch_size = end_to_end(folder, models, tmp)
            bare_seconds, bare_cpu = bare(embedder, tensors, batch_size)
            pairs.append((count / seconds, len(tensors) / bare_seconds))
            cpu_ratios.append((bare_cpu / len(tensors)) / (cpu / count))
            loads.append(os.getloadavg()[0])
        ratios = [e / b for e, b in pairs]
        print(f"{len(tensors)} digit PNGs (64 px), int8, batch {batch_size}, {embedder.threads} model "
              f"threads, {os.cpu_count()} cores; load average (1 min) {min(loads):.1f}-{max(loads):.1f}\n")
        print("| repeat | Embed end to end, images/s | bare forward, images/s | ratio | "
              "ratio by CPU time |\n|---|---|---|---|---|")
        for i, ((e, b), r, c) in enumerate(zip(pairs, ratios, cpu_ratios)):
            print(f"| {i + 1} | {e:.0f} | {b:.0f} | {r:.3f} | {c:.3f} |")
        print(f"\nmedian ratio end-to-end / bare (target >= 0.95): **{np.median(ratios):.3f}**; "
              f"by CPU time per image (bare / end to end, less disturbed by other processes): "
              f"**{np.median(cpu_ratios):.3f}**\n")
        print("| stage, one thread | ms per image |\n|---|---|")
        for what, ms in stage_costs(folder, models, tensors, batch_size).items():
            print(f"| {what} | {ms:.2f} |")
        print(f"| for scale: the bare forward, both cores | {1000 / np.median([b for _, b in pairs]):.2f} |")
        print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
