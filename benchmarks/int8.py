"""int8 against float32 EfficientNet-Lite0: speed, closeness, and what users get from it.

Prints markdown tables:

1. images/s of the bare model (onnxruntime, pre-decoded 224 px batches of 8), float32 and
   int8 timed alternately, and their ratio;
2. cosine similarity of each image's int8 vector to its float32 one, per image set;
3. ARI against the true classes of ``cluster_folder.json`` (Ward, cosine) and accuracy of
   the classification workflows, run as shipped with ``embed.precision`` fp32 then int8;
   the rule: int8 is the default only where every one stays within 0.01 of float32
   (or better);
4. ImageNet top-1 of the float32 and int8 vectors (the network's own classifier layer on
   them) on real photographs, and how often the two agree.

    python benchmarks/int8.py [--repeat 3]

Image sets: the sample sets (digits, faces, photos), the 600-digit folder of
orange_baseline.py, and the scikit-image / scikit-learn photographs (not the calibration
crops: the calibration uses each photo whole, these are the same photos, so the photo
figures are optimistic; the digit and face sets are not calibration images, except ten digits).
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORKFLOWS = ROOT / "workflows"
PRECISIONS = ("fp32", "int8")


def _session(path: Path):
    import onnxruntime as ort

    from nodes.lib.embedders.devices import model_threads

    options = ort.SessionOptions()
    options.intra_op_num_threads = model_threads()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _vectors(session, tensors: np.ndarray, batch: int = 8) -> tuple[np.ndarray, float]:
    """Vectors and images/s of one pass."""
    started = time.perf_counter()
    parts = [session.run(None, {"images": tensors[i:i + batch]})[0] for i in range(0, len(tensors), batch)]
    return np.concatenate(parts), len(tensors) / (time.perf_counter() - started)


def _tensors(paths: list[Path]) -> np.ndarray:
    from nodes.lib.embedders.efficientnet import preprocess
    from flowclass.userfiles.pictures import open_upright

    return np.stack([preprocess(open_upright(str(p), 224)) for p in paths]).astype(np.float32)


def _images(folder: Path) -> list[Path]:
    suffixes = {".png", ".jpg", ".jpeg"}
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in suffixes)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def _imagenet_head():
    """The network's own ImageNet classifier (1000 x 1280) and the class names."""
    import torch
    from timm.data import ImageNetInfo

    from nodes.lib.embedders.efficientnet import weights_path

    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    weight, bias = list(state.values())[-2:]
    info = ImageNetInfo()
    names = [info.index_to_description(i).split(",")[0] for i in range(1000)]
    return weight.numpy(), bias.numpy(), names


def _workflow_figure(engine, registry, name: str, sets: list[str], out: Path) -> float:
    """ARI (cluster_folder) or accuracy (the others) of one run of a ready workflow."""
    import pandas as pd
    from sklearn.metrics import adjusted_rand_score

    from flowclass.overrides import apply_overrides
    from flowclass.workflow_file import load

    workflow = apply_overrides(load(WORKFLOWS / f"{name}.json", registry), registry, sets)
    result = engine.run(workflow, base_dir=WORKFLOWS, out_dir=out, manifest=False)
    if not result.ok:
        raise RuntimeError(f"{name}: {[o.error for o in result.failed]}")
    if name == "cluster_folder":
        table = pd.read_csv(out / "clusters.csv")
        return adjusted_rand_score(table["folder_label"], table["cluster"])
    return float(result.outcomes["evaluate"].records["evaluation"]["accuracy"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="alternating speed passes")
    args = parser.parse_args()

    from flowclass.cache import Cache
    from flowclass.engine import Engine
    from flowclass.library import default_registry
    from nodes.lib.embedders.efficientnet import EfficientNetLite0
    from nodes.lib.images.sample_images import write_sample

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from speed import digits_folder

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cache = Cache(tmp / "cache")
        started = time.perf_counter()
        models = {p: EfficientNetLite0(cache.store_dir("models"), precision=p) for p in PRECISIONS}
        print(f"models prepared (float32 exported, int8 quantised) in {time.perf_counter() - started:.0f} s; "
              f"{os.cpu_count()} CPU cores; load average {os.getloadavg()[0]:.1f}\n")
        sets = {"digits (600, orange_baseline.py's folder)": _images(digits_folder(tmp / "digits600", 60))}
        for sample in ("faces", "photos"):
            sets[f"{sample} (sample set)"] = _images(write_sample(sample, tmp / sample))
        sessions = {p: _session(models[p].onnx_file) for p in PRECISIONS}

        # 1. speed, alternately
        tensors = _tensors(sets["digits (600, orange_baseline.py's folder)"])
        for p in PRECISIONS:
            _vectors(sessions[p], tensors[:16])  # warm up
        rates = {p: [] for p in PRECISIONS}
        for _ in range(args.repeat):
            for p in PRECISIONS:
                rates[p].append(_vectors(sessions[p], tensors)[1])
        ratios = [i / f for i, f in zip(rates["int8"], rates["fp32"])]
        print("| bare model, 600 digits, batches of 8 | images/s (median) |\n|---|---|")
        for p in PRECISIONS:
            print(f"| {p} | {np.median(rates[p]):.0f} |")
        print(f"| int8 / fp32, pair by pair | {np.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f}) |\n")

        # 2. closeness and 4. ImageNet top-1
        weight, bias, names = _imagenet_head()
        print("| image set | images | cosine int8 to fp32: min | mean | ImageNet top-1 agreement |\n|---|---|---|---|---|")
        shown = {}
        for title, paths in sets.items():
            x = _tensors(paths)
            fp, q = (_vectors(sessions[p], x)[0] for p in PRECISIONS)
            cos = _cosine(fp, q)
            top_fp, top_q = (np.argmax(v @ weight.T + bias, axis=1) for v in (fp, q))
            print(f"| {title} | {len(paths)} | {cos.min():.3f} | {cos.mean():.3f} | "
                  f"{np.mean(top_fp == top_q):.2f} |")
            if title.startswith("photos"):
                shown = {p.stem: (names[a], names[b]) for p, a, b in zip(paths, top_fp, top_q)}
        print("\n| photo | ImageNet top-1, fp32 | int8 |\n|---|---|---|")
        for stem, (a, b) in sorted(shown.items()):
            print(f"| {stem} | {a} | {b} |")

        # 3. the workflows as users run them
        engine = Engine(default_registry(), cache)
        digits = sets["digits (600, orange_baseline.py's folder)"][0].parent.parent
        runs = [
            ("cluster_folder", "ARI", "digits sample set (1,797)", []),
            ("cluster_folder", "ARI", "600 digits (Orange's folder)", [f"import.folder={digits}"]),
            ("cluster_folder", "ARI", "faces sample set, 2 clusters", ["import.sample=faces", "cluster.n_clusters=2"]),
            ("lobe_train_predict", "accuracy", "faces sample set", []),
            ("transfer_learning", "accuracy", "faces sample set", []),
            ("digits_nearest_neighbour", "accuracy", "digits, EfficientNet instead of pixels",
             ["embed.backend=efficientnet_lite0"]),
            ("digits_nearest_neighbour", "accuracy", "digits, EfficientNet + logistic regression",
             ["embed.backend=efficientnet_lite0", "train.model=logistic_regression"]),
        ]
        print("\n| workflow | on | measure | fp32 | int8 | int8 - fp32 |\n|---|---|---|---|---|---|")
        worst = 0.0
        for k, (name, measure, on, extra) in enumerate(runs):
            figures = []
            for p in PRECISIONS:
                out = tmp / f"out-{k}-{p}"
                figures.append(_workflow_figure(engine, engine.registry, name, [*extra, f"embed.precision={p}"], out))
            worst = min(worst, figures[1] - figures[0])
            print(f"| {name} | {on} | {measure} | {figures[0]:.3f} | {figures[1]:.3f} | {figures[1] - figures[0]:+.3f} |")
        verdict = "int8 may be the default" if worst >= -0.01 else "int8 must NOT be the default"
        print(f"\nworst int8 - fp32: {worst:+.3f} ({verdict}: the rule is no worse than -0.01)")


if __name__ == "__main__":
    main()
