"""Where the Embed node loses time against the bare model, measured as ratios in one run.

On ~600 digit PNGs (64 px, the folder of ``speed.py``), each repeat measures back to back:

- the Embed node end to end, inside the engine (cold: empty embedding store, model
  prepared): images/s from the node's own seconds (session start, decoding, preprocessing,
  the model, the store writes, progress);
- the bare model forward at the same precision, threads, session options and batch size,
  on pre-decoded, pre-resized, pre-stacked tensors, after one warm-up batch: one batch at a
  time on all the model's threads (as the target defines it), and with batches side by side,
  one core each, as the node now runs the model (so the rest is the node's own work);
- the Embed node again with decoding made free: its workers are handed the pre-decoded
  tensors instead of reading the files (everything else as in a real run: the session
  start, the workers, the model, the store writes, progress), so what is left between it
  and the bare model is the node's own orchestration, and the rest of the gap is decoding
  and resizing.

Each repeat runs all four back to back; each ratio is the median of the repeats' own
ratios. The ratio to the first bare forward is the figure (target >= 0.95, issue 18). A
first, untimed round warms up the process as the bare forward's first batch does (the
node's first run in a process also imports onnxruntime). Then, one thread at a time, what
each stage of the end-to-end path costs per image, so the gap can be read as CPU work the
bare forward does not do on the same cores.

    python benchmarks/embed_overhead.py [--repeat 5] [--images-per-class 60] [--models DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.speed import WORKFLOW, bare_forward, digits_folder, prepared_models  # noqa: E402


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

    return np.stack([embedder.preprocess(open_upright(p, embedder.draft_size)) for p in digit_paths(folder)])


def digit_paths(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*.png"))


@contextlib.contextmanager
def decoding_free(folder: Path, tensors: np.ndarray) -> Iterator[None]:
    """The Embed node's workers get each batch from ``tensors`` (a fresh array, as a
    decoded batch is) instead of decoding and resizing the files."""
    import nodes.embed

    row = {path: i for i, path in enumerate(digit_paths(folder))}
    real = nodes.embed._load_batch
    nodes.embed._load_batch = lambda embedder, paths: (tensors[[row[p] for p in paths]], [""] * len(paths))
    try:
        yield
    finally:
        nodes.embed._load_batch = real


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
    costs["building the embedder again (the weights' hash is remembered)"] = time.perf_counter() - started
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
        # the bare forward as the target defines it (one batch at a time on all the model's
        # threads), and as the node runs the model (batches side by side, one core each)
        bares = {"one at a time": EfficientNetLite0(models, precision="int8", side_by_side=False),
                 "side by side": EfficientNetLite0(models, precision="int8")}
        tensors = pre_decoded(folder, bares["side by side"])
        end_to_end(folder, models, tmp)  # warm-up, untimed: imports onnxruntime, as bare_forward warms up
        rows = []
        for _ in range(args.repeat):
            seconds, cpu, count, batch_size = end_to_end(folder, models, tmp)
            row = {"node": (count / seconds, cpu / count)}
            with decoding_free(folder, tensors):
                seconds, cpu, count, batch_size = end_to_end(folder, models, tmp)
            row["free"] = (count / seconds, cpu / count)
            for name, embedder in bares.items():
                bare_seconds, bare_cpu = bare_forward(embedder, tensors, batch_size)
                row[name] = (len(tensors) / bare_seconds, bare_cpu / len(tensors))
            rows.append(row)
            loads.append(os.getloadavg()[0])
        threads = bares["one at a time"].threads
        print(f"{len(tensors)} digit PNGs (64 px), int8, batch {batch_size}, {threads} model threads "
              f"({bares['side by side'].batches_at_once} batches side by side in the node), "
              f"{os.cpu_count()} cores; load average (1 min) {min(loads):.1f}-{max(loads):.1f}\n")
        print("images/s (CPU ms per image, all threads of the process)\n\n| repeat | Embed end to end "
              "| Embed, decoding free | bare, one batch at a time | bare, side by side |\n|---|---|---|---|---|")
        for i, row in enumerate(rows):
            print(f"| {i + 1} | " + " | ".join(f"{row[k][0]:.0f} ({1000 * row[k][1]:.2f})"
                                             for k in ("node", "free", "one at a time", "side by side")) + " |")
        print("\n| median of the repeats' ratios | by wall time | by CPU time per image (less disturbed "
              "by other processes) |\n|---|---|---|")
        for node, name, what in (("node", "one at a time", "**Embed end to end / bare, one batch at a time (the target)**"),
                                 ("node", "side by side", "Embed end to end / bare, side by side as the node runs it"),
                                 ("free", "side by side", "Embed with decoding free / bare, side by side (orchestration)"),
                                 ("node", "free", "Embed end to end / Embed with decoding free (decoding, resizing)")):
            wall = np.median([row[node][0] / row[name][0] for row in rows])
            cpu = np.median([row[name][1] / row[node][1] for row in rows])
            print(f"| {what} | {wall:.3f} | {cpu:.3f} |")
        print()
        print("| stage, one thread | ms per image |\n|---|---|")
        for what, ms in stage_costs(folder, models, tensors, batch_size).items():
            print(f"| {what} | {ms:.2f} |")
        print(f"| for scale: the bare forward, one batch at a time, both cores | "
              f"{1000 / np.median([row['one at a time'][0] for row in rows]):.2f} |")
        print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
