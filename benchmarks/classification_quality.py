"""Classification quality of the ready workflows, as the README reports it.

Runs workflows/digits_nearest_neighbour.json on scikit-learn's digits (grayscale pixels,
and the seed's binarised pixels) and workflows/lobe_train_predict.json on scikit-image's
lfw_subset (faces vs non-faces, default EfficientNet-Lite0 embedder), each as it stands
and with 5-fold cross-validation, and prints the accuracies. Targets: digits >= 0.97,
faces >= 0.95 (hold-out).

    python benchmarks/classification_quality.py [--cache DIR]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from flowclass.cache import Cache
from flowclass.engine import Engine
from flowclass.library import default_registry, ready_workflows_dir
from flowclass.overrides import apply_overrides
from flowclass.workflow_file import load

VARIANTS = [
    ("digits_nearest_neighbour", "digits, 16 px gray, 3-NN (as shipped)", []),
    ("digits_nearest_neighbour", "digits, 16 px binarised, 3-NN", ["embed.binarize=true"]),
    ("digits_nearest_neighbour", "digits, 16 px binarised, 1-NN", ["embed.binarize=true",
                                                                 "train.n_neighbors=1"]),
    ("digits_nearest_neighbour", "digits, 8 px gray, 3-NN", ["embed.pixel_size=8"]),
    ("digits_nearest_neighbour", "digits, 32 px gray, 3-NN", ["embed.pixel_size=32"]),
    ("lobe_train_predict", "faces vs non-faces, EfficientNet-Lite0 + logistic regression", []),
]


def accuracy(registry, cache, name: str, sets: list[str], out: Path) -> tuple[float, float, list]:
    """Hold-out accuracy and balanced accuracy, and 5-fold accuracies, of one variant."""
    path = ready_workflows_dir() / f"{name}.json"
    figures = []
    for extra in ([], ["train.validation=kfold"]):
        workflow = apply_overrides(load(path, registry), registry, sets + extra)
        result = Engine(registry, cache).run(workflow, base_dir=path.parent, out_dir=out,
                                             targets=["evaluate"], manifest=False)
        if not result.ok:
            raise SystemExit(f"{name} {sets + extra} failed: {[o.error for o in result.failed]}")
        figures.append(result.output("evaluate", "evaluation"))
    holdout, kfold = figures
    return holdout.accuracy, holdout.balanced_accuracy, [round(float(a), 3) for a in kfold.fold_accuracies]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", help="cache folder (default: the user's FlowClass cache)")
    args = parser.parse_args()
    registry = default_registry()
    cache = Cache(args.cache)
    print(f"{'variant':<62} {'hold-out':>8} {'balanced':>8}  5-fold accuracies")
    with tempfile.TemporaryDirectory() as out:
        for name, title, sets in VARIANTS:
            acc, balanced, folds = accuracy(registry, cache, name, sets, Path(out))
            mean = sum(folds) / len(folds)
            print(f"{title:<62} {acc:8.4f} {balanced:8.4f}  {folds} (mean {mean:.4f})", flush=True)


if __name__ == "__main__":
    main()
