"""run.json: what ran, with which versions and inputs, how long it took, what was cached.

A run is reproducible only if one can tell what produced it: the app and library
versions, model weight hashes (recorded by nodes), input fingerprints and per-node timings.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__, safe_json
from .fsutil import atomic_write_text

if TYPE_CHECKING:
    from .engine import RunResult

MANIFEST_NAME = "run.json"
PACKAGES = ("numpy", "scipy", "scikit-learn", "pillow", "networkx", "pandas", "onnxruntime",
            "torch", "torchvision", "timm", "open_clip_torch", "scikit-image", "nicegui")
GENERATOR = "flowclass"


def package_versions() -> dict[str, str | None]:
    """Installed versions, read from package metadata (nothing is imported)."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def manifest_path(out_dir: Path) -> Path:
    """Where run.json goes; refuses to replace a run.json that FlowClass did not write."""
    path = out_dir / MANIFEST_NAME
    if path.exists():
        try:
            ours = safe_json.loads(path.read_text(encoding="utf-8")).get("generator") == GENERATOR
        except (OSError, ValueError, AttributeError):
            ours = False
        if not ours:
            raise FileExistsError(f"{path} exists and was not written by FlowClass; "
                                  "choose another output folder (--out)")
    return path


def write_manifest(result: "RunResult", *, started: float, source: str | None,
                   overrides: list[str], out_dir: Path) -> Path:
    from .workflow_file import to_document

    document = to_document(result.workflow)
    manifest: dict[str, Any] = {
        "generator": GENERATOR,
        "flowclass": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "workflow": {"path": source, "name": result.workflow.name, "overrides": overrides,
                     "document": document},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "seconds": round(result.seconds, 3),
        "ok": result.ok,
        "cache": str(result.cache.root),
        "nodes": {node: {k: v for k, v in asdict(o).items() if k != "node"}
                  for node, o in result.outcomes.items()},
    }
    path = manifest_path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(manifest, indent=2, default=str) + "\n",
                      hint="choose another output folder (--out)")
    return path
