"""Does Predict's 'uncertain' threshold suit every model? Label accuracy against top-1.

For each model family, on scikit-learn's digits and on lfw_subset faces / non-faces (both
embedded with EfficientNet-Lite0, as lobe_train_predict.json does), trains on a seeded,
stratified 80 % and scores the held-out 20 % at the ready workflow's threshold (0.6):

- top-1: share of held-out images whose best label is right;
- label accuracy: share whose exported label is right (an 'uncertain' one counts wrong);
- uncertain: share sent to uncertain/.

once with the model's own scores (calibration=none) and once calibrated
(calibration=sigmoid, the default). Label accuracy close to top-1 with few uncertain
images means the threshold suits the model.

    python benchmarks/uncertain_threshold.py [--cache DIR] [--threshold 0.6]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from flowclass.cache import Cache
from flowclass.engine import Engine
from flowclass.library import default_registry, ready_workflows_dir
from flowclass.overrides import apply_overrides
from flowclass.workflow_file import load
from nodes.lib.classify.estimators import MODELS

DATASETS = {"digits": ["import.sample=digits"], "faces": ["import.sample=faces"]}


def held_out(registry, cache, sets: list[str], out: Path):
    """The held-out predictions (with confidences) of lobe_train_predict's training."""
    path = ready_workflows_dir() / "lobe_train_predict.json"
    workflow = apply_overrides(load(path, registry), registry, sets)
    result = Engine(registry, cache).run(workflow, base_dir=path.parent, out_dir=out,
                                         targets=["train"], manifest=False)
    if not result.ok:
        raise SystemExit(f"{sets} failed: {[o.error for o in result.failed]}")
    return result.output("train", "validation")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", help="cache folder (default: the user's FlowClass cache)")
    parser.add_argument("--threshold", type=float, default=0.6)
    args = parser.parse_args()
    registry, cache = default_registry(), Cache(args.cache)
    print(f"threshold {args.threshold}; held-out 20 %, EfficientNet-Lite0 embeddings")
    print(f"{'data':<7} {'model':<20} {'calibration':<12} {'top-1':>6} {'label acc':>9} "
          f"{'uncertain':>9} {'label/top-1':>11}")
    with tempfile.TemporaryDirectory() as out:
        for data, sets in DATASETS.items():
            for model in MODELS:
                for calibration in ("none", "temperature", "sigmoid"):
                    validation = held_out(registry, cache, sets + [
                        f"train.model={model}", f"train.calibration={calibration}"], Path(out))
                    truth, best = validation.images.labels, validation.labels
                    sure = validation.scores >= args.threshold
                    top1 = float(np.mean(best == truth))
                    label = float(np.mean(sure & (best == truth)))
                    print(f"{data:<7} {model:<20} {calibration:<12} {top1:6.3f} {label:9.3f} "
                          f"{1 - sure.mean():9.3f} {label / top1:11.3f}", flush=True)


if __name__ == "__main__":
    main()
