"""What the safety of Export to Folders costs, measured as ratios in one run.

Exports N real photo crops (PNG, ~12 kB each) into 10 label folders and prints the wall
time of: a bare ``shutil.copyfile`` loop into the same layout (the floor); the export's
first run (journal, temporary file, link into place, folder lock); an unchanged re-run
(nothing to copy: every file is checked against the journal); and the ratios first/bare
and re-run/first. Target: first run <= 5x the bare copy (a safe write is a create, a link and two journal
lines per file; main before the journal hardening measured 4.1x), re-run <= 0.5x the first.

    python benchmarks/export_overhead.py [--images 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from flowclass.context import RunContext
from nodes.datatypes import ImageSet, Labelling
from nodes.export import export_folders


def make_images(folder: Path, n: int) -> Labelling:
    import skimage.data

    photo = skimage.data.astronaut()
    folder.mkdir(parents=True)
    paths = []
    for i in range(n):
        y, x = (i * 7) % 448, (i * 13) % 448
        path = folder / f"img{i:05d}.png"
        Image.fromarray(photo[y:y + 64, x:x + 64]).save(path)
        paths.append(str(path))
    hashes = [hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths]
    sizes = np.full(n, 64, dtype=np.int32)
    images = ImageSet(np.array(paths), np.array([""] * n), np.array(hashes), sizes, sizes, str(folder))
    return Labelling(images, np.array([f"C{i % 10}" for i in range(n)]), np.zeros(n), kind="cluster")


def bare_copy(labels: Labelling, out: Path) -> None:
    for source, label in zip(labels.images.paths.tolist(), labels.labels.tolist()):
        (out / label).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, out / label / Path(source).name)


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        labels = make_images(tmp / "source", args.images)
        ctx = RunContext("export", tmp, tmp, lambda name: tmp / name)
        bare, first, rerun = [], [], []
        for k in range(args.repeat):
            bare.append(timed(lambda: bare_copy(labels, tmp / f"bare{k}")))
            out = tmp / f"out{k}"
            run = lambda: export_folders(ctx, labels=labels, folder=str(out), mode="copy", table="csv")
            first.append(timed(run))
            rerun.append(timed(run))
        b, f, r = min(bare), min(first), min(rerun)
        print(f"{args.images} images, best of {args.repeat}")
        print(f"bare copy loop      {b:7.2f} s  ({args.images / b:7.0f} images/s)")
        print(f"export, first run   {f:7.2f} s  ({args.images / f:7.0f} images/s)")
        print(f"export, re-run      {r:7.2f} s  ({args.images / r:7.0f} images/s)")
        print(f"first / bare        {f / b:7.2f}  (target <= 5)")
        print(f"re-run / first      {r / f:7.2f}  (target <= 0.5)")


if __name__ == "__main__":
    main()
