"""What a new user does with a ready workflow, shared by the simulated and the browser journeys.

Open it from File > Ready workflows (an unsaved copy), point it at sample data, Save As
into a fresh folder, run it; then each journey uses the workflow's main viewer and
checks the effect in the files the run wrote.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from flowclass.cli import main
from flowclass.library import ready_workflows_dir

READY = ready_workflows_dir()
FAST_EMBEDDER = {"backend": "pixels", "pixel_size": 8}  # the embedder is not the point of these journeys


def ready_name(stem: str) -> str:
    """The title File > Ready workflows shows for ``workflows/<stem>.json``."""
    return json.loads((READY / f"{stem}.json").read_text(encoding="utf-8"))["name"]


def sample_data(folder: Path, dataset: str) -> Path:
    """``flowclass sample FOLDER --dataset DATASET``: the sample set as a user's own folder."""
    assert main(["sample", str(folder), "--dataset", dataset]) == 0
    return folder / dataset


def install_snapshot() -> dict[str, tuple[int, int]]:
    """Every file of the installed ready workflows, to check a journey wrote nothing there."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in READY.rglob("*") if p.is_file()}


def run_manifest(out: Path) -> dict:
    return json.loads((out / "run.json").read_text(encoding="utf-8"))["nodes"]


def class_pixels(mask_file: Path, legend: str) -> dict[str, int]:
    """How many pixels of a mask are painted in each legend colour."""
    from PIL import Image

    mask = np.asarray(Image.open(mask_file).convert("RGBA"))
    counts = {}
    for entry in legend.split(","):
        name, colour = (part.strip() for part in entry.split("="))
        rgb = tuple(bytes.fromhex(colour[1:]))
        counts[name] = int(np.sum(np.all(mask[..., :3] == rgb, axis=2) & (mask[..., 3] > 0)))
    return counts


def cluster_folders(export: Path) -> list[str]:
    """The cluster folders an Export to Folders run made (C1, C2, ...)."""
    return sorted(p.name for p in export.iterdir() if p.is_dir())


def messy_digits(folder: Path, wrong: int) -> tuple[Path, dict[str, str], dict[str, str]]:
    """A user's labelled collection needing cleaning: scikit-learn's 1,797 digits in a folder
    per digit, ``wrong`` of them moved into a wrong one, plus 12 copies under new names in
    random folders (byte copies, BMPs, JPEGs, brightened). Returns the folder, each moved
    image's true digit by name, and each copy's original by name."""
    from PIL import Image, ImageEnhance

    from nodes.lib.images.sample_images import write_sample

    folder = write_sample("digits", folder)
    files = sorted(folder.rglob("*.png"), key=lambda p: p.name)
    rng = np.random.default_rng(3)
    moved = {}
    for path in rng.choice(files, wrong, replace=False):
        label = str((int(path.parent.name) + rng.integers(1, 10)) % 10)
        moved[path.name] = path.parent.name
        path.rename(folder / label / path.name)
    files = sorted(folder.rglob("*.png"), key=lambda p: p.name)
    copies = {}
    for k, path in enumerate(rng.choice([f for f in files if f.name not in moved], 12, replace=False)):
        target = folder / str(rng.integers(10))
        image = Image.open(path)
        name = f"copy_{k:02d}"
        if k % 4 == 0:
            shutil.copyfile(path, target / f"{name}.png")
            name += ".png"
        elif k % 4 == 1:
            image.save(target / f"{name}.bmp")
            name += ".bmp"
        elif k % 4 == 2:
            image.convert("L").save(target / f"{name}.jpg", quality=85)
            name += ".jpg"
        else:
            ImageEnhance.Brightness(image).enhance(1.2).save(target / f"{name}.png")
            name += ".png"
        copies[name] = path.name
    return folder, moved, copies


def flowclass_run(workflow: Path, out: Path, cache: Path, *sets: str) -> None:
    """``flowclass run WORKFLOW --out OUT --set ...`` in a process of its own, as README says."""
    repo = Path(__file__).resolve().parent.parent
    args = [sys.executable, "-m", "flowclass.cli", "run", str(workflow), "--out", str(out),
            "--cache", str(cache), "-q"] + [a for s in sets for a in ("--set", s)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=1500,
                          env={**os.environ, "PYTHONPATH": str(repo)})
    assert done.returncode == 0, done.stdout + done.stderr


def listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its size and time: to check that nothing changed there."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


def familiar_and_foreign(digits: Path, folder: Path) -> tuple[Path, set[str]]:
    """New images to predict: the first 100 digits of ``digits`` (familiar to a digits
    classifier) and 50 faces of scikit-image's lfw_subset (foreign), in one folder. Returns
    the folder and the faces' names."""
    from PIL import Image
    from skimage.data import lfw_subset

    folder.mkdir()
    for path in sorted(digits.rglob("*.png"), key=lambda p: p.name)[:100]:
        shutil.copyfile(path, folder / path.name)
    for k, face in enumerate(lfw_subset()[:50]):
        Image.fromarray((face * 255).astype(np.uint8)).resize((64, 64)).save(folder / f"face_{k:02d}.png")
    return folder, {f"face_{k:02d}.png" for k in range(50)}
