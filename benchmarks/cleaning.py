"""Cleaning a collection, measured: label issues, duplicates, unfamiliar images, scale.

    python benchmarks/cleaning.py [--peers /tmp/clean_peers] [--scale 100000] [--only NAME]

Sets (benchmarks/cleaning_sets.py, made from what installed packages ship), all embedded
with the default embedder (EfficientNet-Lite0), kept in ``--scratch``:

- label issues: 3,000 augmented digits in 10 folders, 5 % moved to a wrong one (3 seeds).
  Ours (Find Label Issues) against cleanlab's ``find_label_issues`` and a plain
  self-confidence ranking, both given 5-fold logistic-regression probabilities on the
  same embeddings (reduced as ours are: 256 PCA directions, unit length).
- duplicates: 1,000 digit images (half of them shifted, turned, rescanned variants: look-
  alikes that are not copies) with 100 exact and 200 near copies under new names in
  random folders. Ours at the defaults against perceptual hashing (imagehash's pHash)
  at every Hamming threshold and at imagededup's default (10).
- unfamiliar: a classifier of 2,400 digits predicting the 600 held-out ones mixed with
  letters drawn like the digits (the foreign small gray kind), faces, and photographs.
  AUROC of familiarity against the mean distance to the 5 nearest training images and
  the classifier's top probability; what the default threshold flags.
- scale: the three steps on ``--scale`` images (augmented digits, 1 % of them with an exact
  copy and 2 % with a near one planted), in a fresh process for its peak memory: Find
  Duplicates reads every image and checks the candidate pairs (embeddings: Embed's pixels
  backend, made beforehand), keeping its checks in a store as the node does; label issues
  and outliers run on random 1,280-value vectors.

cleanlab is AGPL, so it is never a dependency: install it apart, e.g.
``pip install --target /tmp/clean_peers cleanlab imagehash PyWavelets termcolor`` and
pass ``--peers /tmp/clean_peers``. Without it those rows say "not installed".
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.augmented import efficientnet_embeddings  # noqa: E402
from benchmarks.cleaning_sets import (efficientnet, foreign_small, letters, noisy_labels,  # noqa: E402
                                      photographs, write_duplicated)


def _peer(name: str):
    try:
        return __import__(name)
    except ImportError:
        return None


# --- label issues --------------------------------------------------------------------------

def _ranked(score: np.ndarray, flagged: np.ndarray, wrong: np.ndarray) -> tuple[float, float]:
    k = int(wrong.sum())
    top = np.argsort(-score, kind="stable")[:k]
    f1 = 2 * (flagged & wrong).sum() / (flagged.sum() + k)
    return float(wrong[top].mean()), float(f1)


def _logistic_probabilities(features: np.ndarray, labels: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    out = np.zeros((len(labels), 10))
    for train, test in StratifiedKFold(5, shuffle=True, random_state=seed).split(features, labels):
        model = LogisticRegression(C=10, max_iter=500).fit(features[train], labels[train])
        out[test] = model.predict_proba(features[test])
    return out


def label_issues(scratch: Path) -> None:
    from nodes.lib.cleaning.label_issues import DIMENSIONS, find_label_issues
    from nodes.lib.cleaning.neighbours import unit_rows

    cleanlab = _peer("cleanlab")
    vectors, truth = efficientnet_embeddings(3000, scratch)
    features = unit_rows(vectors, dimensions=DIMENSIONS)
    rows = []
    for seed in range(3):
        given, wrong = noisy_labels(truth, 0.05, seed)
        start = time.perf_counter()
        ours = find_label_issues(features, given, 10, seed=seed)
        ours_s = time.perf_counter() - start
        rank = np.empty(len(given))
        rank[ours.ranking] = np.arange(len(given))[::-1]
        rows.append(("ours (Find Label Issues)", seed, *_ranked(rank, ours.flagged, wrong), ours_s))
        start = time.perf_counter()
        probs = _logistic_probabilities(features, given, seed)
        lr_s = time.perf_counter() - start
        self_conf = 1 - probs[np.arange(len(given)), given]
        rows.append(("self-confidence (5-fold logistic)", seed,
                     _ranked(self_conf, np.zeros(len(given), bool), wrong)[0], float("nan"), lr_s))
        if cleanlab is not None:
            from cleanlab.filter import find_label_issues as cl_find

            start = time.perf_counter()
            order = cl_find(given, probs, return_indices_ranked_by="self_confidence")
            flagged = np.zeros(len(given), bool)
            flagged[order] = True
            cl_score = np.zeros(len(given))
            cl_score[order] = np.arange(len(order))[::-1] + 1.0  # its ranking, flagged first
            cl_score[~flagged] = -1 + self_conf[~flagged]
            rows.append(("cleanlab find_label_issues (same probabilities)", seed,
                         *_ranked(cl_score, flagged, wrong), lr_s + time.perf_counter() - start))
        else:
            rows.append(("cleanlab find_label_issues", seed, float("nan"), float("nan"), float("nan")))
    print("\n## Label issues: 3,000 augmented digits, 5 % wrong (150), EfficientNet-Lite0\n")
    print("| method | top-k precision (mean of 3 seeds; min) | flagged F1 (mean; min) | seconds |")
    print("|---|---|---|---|")
    for method in dict.fromkeys(r[0] for r in rows):
        mine = np.array([r[2:] for r in rows if r[0] == method], dtype=float)
        print(f"| {method} | {mine[:, 0].mean():.3f}; {mine[:, 0].min():.3f} | "
              f"{mine[:, 1].mean():.3f}; {mine[:, 1].min():.3f} | {mine[:, 2].mean():.1f} |")


# --- duplicates ----------------------------------------------------------------------------

def _pairs(groups: np.ndarray, members: np.ndarray) -> set[tuple[int, int]]:
    by: dict[int, list[int]] = {}
    for i in np.flatnonzero(members):
        by.setdefault(int(groups[i]), []).append(int(i))
    return {p for m in by.values() for p in itertools.combinations(sorted(m), 2)}


def _copy_scores(predicted: np.ndarray, truth: np.ndarray, kind: np.ndarray) -> tuple[float, float, float, float]:
    """(exact copies found, near-copy precision, recall, F1) over pairs of images."""
    true_pairs = _pairs(truth, np.ones(len(truth), bool))
    near_true = {p for p in true_pairs if "near" in (kind[p[0]], kind[p[1]])}
    exact_true = true_pairs - near_true
    found = _pairs(predicted, predicted >= 0)
    near_found = {p for p in found if "near" in (kind[p[0]], kind[p[1]]) or p not in true_pairs}
    hits = len(near_found & near_true)
    precision = hits / max(len(near_found), 1)
    recall = hits / len(near_true)
    return (len(exact_true & found) / len(exact_true), precision, recall,
            2 * hits / (len(near_found) + len(near_true)))


def duplicates(scratch: Path) -> None:
    from PIL import Image

    from nodes.lib.cleaning.duplicates import _union_find, find_copies
    from nodes.lib.cleaning.neighbours import unit_rows
    from nodes.lib.images.filestate import sha256_of_file

    folder = scratch / "duplicated"
    truth_file = scratch / "duplicated-truth.npz"
    if not truth_file.exists():
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        made = write_duplicated(folder)
        np.savez(truth_file, paths=np.array(made.paths), group=made.group, kind=made.kind)
    saved = np.load(truth_file)
    paths = [str(folder / p) for p in saved["paths"]]
    truth, kind = saved["group"], saved["kind"]
    vectors = efficientnet([Image.open(p) for p in paths], scratch, "duplicated")
    hashes = [sha256_of_file(p) for p in paths]
    start = time.perf_counter()
    copies, _ = find_copies(paths, hashes, unit_rows(vectors))
    seconds = time.perf_counter() - start
    predicted = np.full(len(paths), -1)
    predicted[copies.index] = copies.group
    print(f"\n## Duplicates: {len(paths):,} digit images, {int((kind == 'exact').sum())} exact and "
          f"{int((kind == 'near').sum())} near copies\n")
    print("| method | exact copies found | near precision | near recall | near F1 | seconds |")
    print("|---|---|---|---|---|---|")
    print("| ours (Find Duplicates, defaults) | {:.3f} | {:.3f} | {:.3f} | **{:.3f}** | {:.1f} |".format(
        *_copy_scores(predicted, truth, kind), seconds))
    _look_alikes(scratch)
    imagehash = _peer("imagehash")
    if imagehash is None:
        print("| pHash (imagehash) | not installed | | | | |")
        return
    start = time.perf_counter()
    bits = np.stack([imagehash.phash(Image.open(p)).hash.ravel() for p in paths])
    hash_s = time.perf_counter() - start
    distance = (bits[:, None, :] != bits[None, :, :]).sum(axis=2)
    results = {}
    for threshold in range(0, 17):
        i, j = np.nonzero(np.triu(distance <= threshold, 1))
        roots = _union_find(len(paths), list(zip(i.tolist(), j.tolist())))
        sizes = np.bincount(roots, minlength=len(paths))
        results[threshold] = _copy_scores(np.where(sizes[roots] > 1, roots, -1), truth, kind)
    best = max(results, key=lambda t: results[t][3])
    for label, t in ((f"pHash, best threshold ({best})", best), ("pHash, imagededup's default (10)", 10)):
        print("| {} | {:.3f} | {:.3f} | {:.3f} | {:.3f} | {:.1f} |".format(label, *results[t], hash_s))


def _look_alikes(scratch: Path) -> None:
    """Find Duplicates on the shipped sample digits, which hold no copy: every group is wrong."""
    from PIL import Image

    from nodes.lib.cleaning.duplicates import find_copies
    from nodes.lib.cleaning.neighbours import unit_rows
    from nodes.lib.images.filestate import sha256_of_file
    from nodes.lib.images.sample_images import write_sample

    folder = scratch / "sample-digits"
    if not folder.exists():
        write_sample("digits", folder)
    paths = sorted(str(p) for p in folder.rglob("*.png"))
    vectors = efficientnet([Image.open(p) for p in paths], scratch, "sample-digits")
    hashes = [sha256_of_file(p) for p in paths]
    for label, settings in (("defaults", {}), ("match 0.95, as clean_collection.json had it", {"match_above": 0.95})):
        copies, checked = find_copies(paths, hashes, unit_rows(vectors), **settings)
        coarse = int(np.sum(checked[:, 2] >= settings.get("match_above", 0.995)))
        print(f"| ours on the 1,797 sample digits (no copies), {label} | groups: **{copies.group.max() if len(copies.group) else 0}** "
              f"(pairs passing the thumbnail check alone: {coarse}) | | | | |")


# --- unfamiliar ----------------------------------------------------------------------------

def unfamiliar(scratch: Path) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from nodes.lib.cleaning.familiarity import UNFAMILIAR_BELOW, learn_familiarity
    from nodes.lib.cleaning.neighbours import unit_rows

    vectors, labels = efficientnet_embeddings(3000, scratch)
    order = np.random.default_rng(0).permutation(len(vectors))
    train, held = order[:2400], order[2400:]
    foreign = {"letters drawn like the digits": efficientnet(letters(), scratch, "letters"),
               "faces (lfw_subset)": efficientnet(foreign_small(), scratch, "foreign"),
               "photographs": efficientnet(photographs(), scratch, "photos")}
    familiarity = learn_familiarity(vectors[train])
    reference = unit_rows(vectors[train])

    def knn_distance(x: np.ndarray) -> np.ndarray:
        import faiss

        mean = vectors[train].mean(axis=0)
        index = faiss.IndexFlatL2(vectors.shape[1])
        index.add(np.ascontiguousarray(vectors[train] - mean, dtype=np.float32))
        squared, _ = index.search(np.ascontiguousarray(x - mean, dtype=np.float32), 5)
        return np.sqrt(np.maximum(squared, 0)).mean(axis=1)

    del reference
    classifier = LogisticRegression(C=1.0, max_iter=1000).fit(vectors[train], labels[train])
    held_f = familiarity.familiarity(vectors[held])
    print("\n## Unfamiliar images: a classifier of 2,400 digits; 600 held out\n")
    print(f"Held-out digits flagged at the default (familiarity < {UNFAMILIAR_BELOW}): "
          f"**{np.mean(held_f < UNFAMILIAR_BELOW):.3f}**\n")
    print("| foreign set | AUROC familiarity | AUROC 5-NN distance | AUROC top probability | flagged at default |")
    print("|---|---|---|---|---|")
    for name, x in foreign.items():
        y = np.r_[np.zeros(len(held)), np.ones(len(x))]
        f = familiarity.familiarity(x)
        ours = roc_auc_score(y, -np.r_[held_f, f] + 1e-9 * np.r_[familiarity.ratio(vectors[held]),
                                                                  familiarity.ratio(x)])
        knn = roc_auc_score(y, np.r_[knn_distance(vectors[held]), knn_distance(x)])
        top = roc_auc_score(y, -np.r_[classifier.predict_proba(vectors[held]).max(axis=1),
                                      classifier.predict_proba(x).max(axis=1)])
        print(f"| {name} ({len(x)}) | **{ours:.3f}** | {knn:.3f} | {top:.3f} | "
              f"{np.mean(f < UNFAMILIAR_BELOW):.2f} |")


# --- scale ---------------------------------------------------------------------------------

def _scale_set(scratch: Path, n: int) -> Path:
    """The scale run's images (3 % of them planted copies: 1 % exact, 2 % near), their
    pixel embeddings and file hashes, made once and kept in ``scratch``."""
    from PIL import Image

    from benchmarks.cleaning_sets import write_scale_set
    from nodes.lib.embedders.classic import RawPixels
    from nodes.lib.images.filestate import sha256_of_file

    folder = scratch / f"scale-{n}"
    made = write_scale_set(folder, n, exact=n // 100, near=n // 50)
    inputs = folder / "inputs.npz"
    if not inputs.exists():
        pixels = RawPixels(16, True, False, 128)  # Embed's pixels backend, 16 px gray
        paths = [str(folder / p) for p in made.paths]
        vectors = np.concatenate([pixels.forward(np.stack([pixels.preprocess(Image.open(p)) for p in
                                                           paths[s:s + 1024]]))
                                  for s in range(0, len(paths), 1024)]).astype(np.float32)
        np.savez(inputs, vectors=vectors, hashes=np.array([sha256_of_file(p) for p in paths]))
    return folder


class _TreeMemory:
    """The peak memory of this process and its workers together: the sum of their
    proportional set sizes (PSS: a page shared by k processes counts 1/k in each, so pages
    forked workers share with this process count once), sampled every ``every`` seconds,
    and never less than this process's own peak."""

    def __init__(self, every: float = 0.1):
        import threading

        self.peak_mb, self.workers_mb, self._every = 0.0, 0.0, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.wait(self._every):
            total = workers = 0.0
            for process in [me, *me.children(recursive=True)]:
                try:
                    pss = process.memory_full_info().pss / 2**20
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                total += pss
                workers += pss if process.pid != me.pid else 0.0
            self.peak_mb, self.workers_mb = max(self.peak_mb, total), max(self.workers_mb, workers)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return max(self.peak_mb, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _timed_store(folder: Path) -> tuple[object, dict[str, float]]:
    """A Find Duplicates store in ``folder``, and the seconds spent in its writes so far
    (``["seconds"]``, ``["writes"]``), counted as they happen."""
    from nodes.lib.cleaning.kept_checks import KeptChecks

    kept, writing = KeptChecks(folder), {"seconds": 0.0, "writes": 0}
    insert = kept._insert

    def timed_insert(*batches):
        start = time.perf_counter()
        insert(*batches)
        writing["seconds"] += time.perf_counter() - start
        writing["writes"] += 1

    kept._insert = timed_insert
    return kept, writing


def _scale_child(folder: Path) -> None:
    from nodes.lib.cleaning.duplicates import find_copies
    from nodes.lib.cleaning.label_issues import DIMENSIONS, find_label_issues
    from nodes.lib.cleaning.neighbours import unit_rows
    from nodes.lib.cleaning.outliers import find_outliers, reduced

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    memory = _TreeMemory()
    with np.load(folder / "truth.npz") as saved:
        paths, truth, kind = [str(folder / p) for p in saved["paths"]], saved["group"], saved["kind"]
    with np.load(folder / "inputs.npz") as saved:
        pixels, hashes = saved["vectors"], saved["hashes"].tolist()
    n = len(paths)
    rng = np.random.default_rng(0)  # what Find Label Issues and Find Outliers get: EfficientNet-sized
    vectors = rng.standard_normal((n, 1280), dtype=np.float32)
    labels = rng.integers(0, 10, n)
    times = {}
    stages: dict[str, list[float]] = {}

    def progress(done: int, total: int, unit: str, message: str) -> None:
        stages.setdefault(message, [time.perf_counter(), 0.0])[1] = time.perf_counter()

    cpu = {}  # CPU seconds of the process (all its threads) and its workers: what other users' load leaves alone

    def cpu_seconds() -> float:
        workers = resource.getrusage(resource.RUSAGE_CHILDREN)  # those ended and waited for
        return time.process_time() + workers.ru_utime + workers.ru_stime

    def timed(step: str, run) -> object:
        start, start_cpu = time.perf_counter(), cpu_seconds()
        result = run()
        times[step], cpu[step] = time.perf_counter() - start, cpu_seconds() - start_cpu
        return result

    with tempfile.TemporaryDirectory() as store:  # as the node does: its checks kept as they are made
        kept, writing = _timed_store(Path(store))
        try:
            copies, _ = timed("duplicates", lambda: find_copies(paths, hashes, unit_rows(pixels), progress=progress,
                                                                kept=kept))
        finally:
            kept.close()
    timed("label issues", lambda: find_label_issues(unit_rows(vectors, dimensions=DIMENSIONS), labels, 10))
    timed("outliers", lambda: find_outliers(reduced(vectors)))
    own_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak = memory.stop()
    predicted = np.full(n, -1)
    predicted[copies.index] = copies.group
    wrong = [p for p in _pairs(predicted, predicted >= 0) if truth[p[0]] != truth[p[1]]]
    same_scan = sum(truth[a] % 1797 == truth[b] % 1797 for a, b in wrong)  # augmented_digits' variants
    print(json.dumps({"wrong_pairs": [len(wrong), int(same_scan)], "times": times, "cpu": cpu, "peak_mb": peak,
                      "own_peak_mb": own_peak, "workers_peak_mb": memory.workers_mb,
                      "vectors_mb": (vectors.nbytes + pixels.nbytes) / 2**20,
                      "before_mb": base, "kept_s": writing, "stages": {m: b - a for m, (a, b) in stages.items()},
                      "copies": _copy_scores(predicted, truth, kind),
                      "planted": [int((kind == "exact").sum()), int((kind == "near").sum())]}))


def scale(scratch: Path, n: int) -> None:
    start = time.perf_counter()
    folder = _scale_set(scratch, n)
    made_s = time.perf_counter() - start
    done = subprocess.run([sys.executable, __file__, "--scale-child", str(folder)], capture_output=True,
                          text=True, check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    total = sum(figures["times"].values())
    exact, near = figures["planted"]
    print(f"\n## Scale: {n:,} images ({exact:,} exact and {near:,} near copies planted among "
          f"augmented digits), one process and its workers\n")
    print("Find Duplicates reads every image and compares the candidate pairs; its embeddings are "
          "Embed's pixels backend (16 px gray), made beforehand. Find Label Issues and Find "
          "Outliers get random 1,280-value vectors (EfficientNet-sized) with random labels, held "
          "in the same process.\n")
    print("| step | seconds | CPU seconds (with the workers') |\n|---|---|---|")
    for step, seconds in figures["times"].items():
        print(f"| {step} | {seconds:.1f} | {figures['cpu'][step]:.1f} |")
    print(f"| **all three** (target <= 180) | **{total:.1f}** | {sum(figures['cpu'].values()):.1f} |")
    print("\nWithin Find Duplicates (from the start of each stage to its last progress report): " +
          ", ".join(f"{m} {s:.1f} s" for m, s in figures["stages"].items()))
    print(f"\nFind Duplicates keeps its checks in a store (in a fresh temporary folder), as the node "
          f"does so that a stopped run resumes: {figures['kept_s']['seconds']:.1f} s of it in "
          f"{figures['kept_s']['writes']:,} writes to the store.")
    print("\nPlanted copies found: exact {:.3f}; near precision {:.3f}, recall {:.3f}, F1 {:.3f}".format(
        *figures["copies"]) + " ({} pairs grouped that are not planted copies, {} of them two augmented "
          "variants of one scan, turned and shifted alike)".format(*figures["wrong_pairs"]))
    print(f"\nPeak memory of the process and its workers together (PSS summed, sampled every 0.1 s, "
          f"at least the process's own peak): **{figures['peak_mb']:.0f} MB** (target <= 2,048); the "
          f"process's own peak RSS {figures['own_peak_mb']:.0f} MB, its workers' PSS at most "
          f"{figures['workers_peak_mb']:.0f} MB; the vectors themselves {figures['vectors_mb']:.0f} MB and "
          f"the process before them {figures['before_mb']:.0f} MB. (Writing and embedding the set: "
          f"{made_s:.0f} s.)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scratch", default="/tmp/flowclass-cleaning-bench")
    parser.add_argument("--peers", default="", help="a folder with cleanlab and imagehash installed")
    parser.add_argument("--scale", type=int, default=100_000)
    parser.add_argument("--only", choices=("labels", "duplicates", "unfamiliar", "scale"))
    parser.add_argument("--scale-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scale_child:
        _scale_child(Path(args.scale_child))
        return
    if args.peers:
        sys.path.append(args.peers)
    warnings.filterwarnings("ignore")
    scratch = Path(args.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    steps = {"labels": label_issues, "duplicates": duplicates, "unfamiliar": unfamiliar,
             "scale": lambda s: scale(s, args.scale)}
    for name, step in steps.items():
        if args.only in (None, name):
            step(scratch)
            sys.stdout.flush()


if __name__ == "__main__":
    main()
