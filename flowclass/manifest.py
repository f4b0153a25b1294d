"""run.json: what ran, with which versions and inputs, how long it took, what was cached.

A run is reproducible only if one can tell what produced it: the app and library
versions, model weight hashes (recorded by nodes), input fingerprints and per-node timings.
Beside it, ``skipped.csv`` lists every input file a node passed over, with the reason.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__, safe_json
from .digests import sha256
from .fsutil import atomic_write_text, file_stamp, write_error
from .safe_tables import rows_csv_text

if TYPE_CHECKING:
    from .engine import RunResult

MANIFEST_NAME = "run.json"
SKIPPED_NAME = "skipped.csv"
PACKAGES = ("numpy", "scipy", "scikit-learn", "pillow", "networkx", "pandas", "onnxruntime",
            "torch", "torchvision", "timm", "open_clip_torch", "scikit-image", "nicegui")
GENERATOR = "flowclass"
# run.json's last key: the sha256 of its text before it, so that one edited by hand is not
# taken for FlowClass's own
SEAL = "seal"
_SEALED = re.compile(r',\n  "seal": "([0-9a-f]{64})"\n\}\n\Z')


def package_versions() -> dict[str, str | None]:
    """Installed versions, read from package metadata (nothing is imported)."""
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _previous(path: Path) -> dict[str, Any] | None:
    """The run.json FlowClass wrote at ``path`` before, or None (absent or not ours: a
    stranger's, or one changed since). One written before run.json had a seal is taken by its
    generator alone."""
    try:
        text = path.read_text(encoding="utf-8")
        previous = safe_json.loads(text)
        if not isinstance(previous, dict) or previous.get("generator") != GENERATOR:
            return None
        return previous if SEAL not in previous or _intact(text) else None
    except (OSError, ValueError):
        return None


def _seal(body: str) -> str:
    """What seals run.json's text ``body``. Not its folder: a folder's inode is not kept on
    every disk (a FAT or exFAT USB stick numbers them anew at each plug-in), and a run into a
    folder of one's own must not be refused for it."""
    return sha256(body.encode("utf-8")).hexdigest()


def _intact(text: str) -> bool:
    """Whether run.json's ``text`` is as FlowClass wrote it."""
    found = _SEALED.search(text)
    return found is not None and found.group(1) == _seal(text[:found.start()] + "\n}")


def _sealed_text(manifest: dict[str, Any]) -> str:
    """run.json's text for ``manifest`` (less any seal it had), sealed."""
    body = json.dumps({k: v for k, v in manifest.items() if k != SEAL}, indent=2, default=str)
    return f'{body[:-2]},\n  "{SEAL}": "{_seal(body)}"\n}}\n'


def node_seconds(out_dir: Path) -> dict[str, float]:
    """How long each node took when the run recorded in ``out_dir`` last ran it (not served
    from the cache): what the canvas's next run there may expect."""
    nodes = (_previous(out_dir / MANIFEST_NAME) or {}).get("nodes")
    if not isinstance(nodes, dict):
        return {}
    return {node: float(o["seconds"]) for node, o in nodes.items()
            if isinstance(o, dict) and o.get("state") == "done" and isinstance(o.get("seconds"), (int, float))}


def manifest_path(out_dir: Path) -> Path:
    """Where run.json goes; refuses to replace a run.json that FlowClass did not write, or
    that was changed since."""
    path = out_dir / MANIFEST_NAME
    if path.exists() and _previous(path) is None:
        raise FileExistsError(f"{path} exists and was not written by FlowClass (or was changed "
                              "since); choose another output folder (--out)")
    return path


def write_skipped(rows: list[tuple[str, str, str]], out_dir: Path,
                  previous: dict[str, Any] | None) -> dict[str, Any]:
    """Write skipped.csv (node, path, reason) of ``rows``, also when empty; what run.json
    says about it.

    A skipped.csv is replaced only when the previous run.json recorded it unchanged since
    (size and time): one the user made or edited is left alone. One that already says the
    same is kept as it is (an unchanged re-run writes nothing it need not).
    """
    path = out_dir / SKIPPED_NAME
    listed = {"count": len(rows), "files": [{"node": n, "path": p, "reason": r} for n, p, r in rows]}
    recorded = ((previous or {}).get("skipped") or {}).get("stamp")
    text = rows_csv_text(["node", "path", "reason"], rows)
    theirs = {**listed, "file": None, "not_written": f"{path} exists and was not written by FlowClass"}
    if os.path.lexists(path):
        try:
            ours = recorded is not None and str(file_stamp(path, follow_symlinks=False)) == recorded
            if ours and path.read_bytes() == text.encode("utf-8"):
                return {**listed, "file": SKIPPED_NAME, "stamp": recorded}
        except OSError:
            ours = False
        if not ours:
            return theirs
        atomic_write_text(path, text, hint="choose another output folder (--out)")
    else:
        try:  # linked into place: one someone made since it was looked for stays
            atomic_write_text(path, text, overwrite=False, hint="choose another output folder (--out)")
        except FileExistsError:
            return theirs
    return {**listed, "file": SKIPPED_NAME, "stamp": str(file_stamp(path))}


def platform_name() -> str:
    """The operating system as run.json names it (``Linux-6.1.0-x86_64-with-glibc2.36``)."""
    import platform  # its processor name runs `uname -p`: a re-run from its record keeps it

    return platform.platform()


def manifest_document(result: "RunResult", *, source: str | None, overrides: list[str],
                      system: tuple[str, dict[str, str | None]] | None = None,
                      started: float | None = None) -> dict[str, Any]:
    """run.json's content for ``result``, less what only writing it tells (skipped.csv);
    ``system``: the platform's name and the installed versions when the caller has them
    already (flowclass.installed)."""
    from dataclasses import asdict, replace  # not for a re-run that writes a kept document (up_to_date.py)

    from .workflow_file import to_document

    document = to_document(result.workflow)
    platform, packages = system if system is not None else (platform_name(), package_versions())
    return {
        "generator": GENERATOR,
        "flowclass": __version__,
        "python": sys.version.split()[0],
        "platform": platform,
        "packages": packages,
        "workflow": {"path": source, "name": result.workflow.name, "overrides": overrides,
                     "document": document},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started or time.time())),
        "seconds": round(result.seconds, 3),
        "ok": result.ok,
        "cache": str(result.cache.root),
        "scheduler": result.scheduler,
        "nodes": {node: {k: v for k, v in asdict(replace(o, skipped=[], reads=None)).items()
                         if k not in ("node", "skipped", "reads")}  # neither copied first
                  for node, o in result.outcomes.items()},
    }


def write_manifest(result: "RunResult", *, started: float, source: str | None,
                   overrides: list[str], out_dir: Path, system: tuple[str, dict[str, str | None]] | None = None
                   ) -> Path:
    """Write run.json (and skipped.csv) into ``out_dir``; ``system``: the platform's name
    and the installed versions when the caller has them already (flowclass.installed)."""
    manifest = manifest_document(result, source=source, overrides=overrides, system=system, started=started)
    path, result.skipped_note = write_document(manifest, result.skipped_files, out_dir)
    return path


def write_document(manifest: dict[str, Any], skipped: list[tuple[str, str, str]],
                   out_dir: Path) -> tuple[Path, str]:
    """Write ``manifest`` as run.json, with skipped.csv of ``skipped``, into ``out_dir``;
    (run.json's path, where the list of skipped files is, or why it is not)."""
    path = manifest_path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(exc, out_dir, "choose another output folder (--out)") from exc
    previous = _previous(path)
    manifest["skipped"] = write_skipped(skipped, out_dir, previous)
    note = manifest["skipped"].get("not_written") or f"the full list: {out_dir / SKIPPED_NAME}"
    try:  # none there when looked for: linked into place, so one someone made since stays
        atomic_write_text(path, _sealed_text(manifest), overwrite=previous is not None,
                          hint="choose another output folder (--out)")
    except FileExistsError:
        raise FileExistsError(f"{path} exists and was not written by FlowClass; choose another "
                              "output folder (--out)") from None
    return path, note
