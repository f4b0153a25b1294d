"""What a new user does with a ready workflow, shared by the simulated and the browser journeys.

Open it from File > Ready workflows (an unsaved copy), point it at sample data, Save As
into a fresh folder, run it; then each journey uses the workflow's main viewer and
checks the effect in the files the run wrote.
"""

from __future__ import annotations

import json
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
