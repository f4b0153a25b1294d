"""The on-disk cache: node results by key, plus named stores that node families own.

Layout under the cache root::

    CACHEDIR.TAG            marks the folder as a cache (backup tools skip it)
    results/ab/<key>/       one finished node result: meta.json + one folder per output
    stores/<name>/          a node family's own persistent data (sample images, models,
                            per-image embeddings), see :meth:`Cache.store_dir`

Results are written into a temporary folder and renamed into place, so a crash never
leaves half a result, and two runs computing the same key do not disturb each other.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from platformdirs import user_cache_dir

from . import codec, safe_json
from .fsutil import write_error

# What to do when the cache cannot be written, e.g. because its disk is full.
CACHE_HINT = ("choose another cache folder (--cache or $FLOWCLASS_CACHE), or make room with "
              "`flowclass cache prune`")
TAG = "Signature: 8a477f597d28d172789f06886806bc55\n# FlowClass cache; see https://bford.info/cachedir/\n"


def default_cache_dir() -> Path:
    """``$FLOWCLASS_CACHE`` if set, else the user's cache folder for FlowClass."""
    env = os.environ.get("FLOWCLASS_CACHE")
    return Path(env).expanduser() if env else Path(user_cache_dir("flowclass"))


@dataclass
class CachedResult:
    """A result found in the cache; outputs load only when asked for."""

    key: str
    folder: Path
    meta: dict[str, Any]

    def output(self, port: str) -> Any:
        return codec.load(self.folder / "outputs" / port)

    def outputs(self) -> dict[str, Any]:
        return {port: self.output(port) for port in self.meta.get("outputs", [])}


class Cache:
    def __init__(self, root: str | os.PathLike[str] | None = None):
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()

    def _ensure_root(self) -> None:
        tag = self.root / "CACHEDIR.TAG"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if not tag.exists():
                tag.write_text(TAG, encoding="utf-8")
        except OSError as exc:
            tag.unlink(missing_ok=True)
            raise write_error(exc, tag, CACHE_HINT) from exc

    def _folder(self, key: str) -> Path:
        return self.root / "results" / key[:2] / key

    # --- results ---------------------------------------------------------------------
    def get(self, key: str) -> CachedResult | None:
        folder = self._folder(key)
        try:
            meta = safe_json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return CachedResult(key, folder, meta)

    def put(self, key: str, outputs: Mapping[str, Any], meta: Mapping[str, Any]) -> CachedResult:
        """Store a result; ``meta`` is anything JSON-able to keep beside it."""
        self._ensure_root()
        final = self._folder(key)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key[:12]}-", dir=final.parent))
        except OSError as exc:
            raise write_error(exc, final, CACHE_HINT) from exc
        try:
            for port, value in outputs.items():
                codec.save(value, tmp / "outputs" / port)
            full_meta = {**meta, "key": key, "outputs": list(outputs), "stored": time.time()}
            (tmp / "meta.json").write_text(json.dumps(full_meta, indent=1), encoding="utf-8")
            if final.exists():  # a re-run of a node whose files had changed: newest wins
                stale = final.with_name(f".stale-{tmp.name}")
                os.rename(final, stale)
                shutil.rmtree(stale, ignore_errors=True)
            try:
                os.rename(tmp, final)
            except OSError:  # another run stored the same key meanwhile: keep theirs
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise write_error(exc, final, CACHE_HINT) from exc
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return CachedResult(key, final, json.loads((final / "meta.json").read_text(encoding="utf-8")))

    # --- stores owned by node families ---------------------------------------------
    def store_dir(self, name: str) -> Path:
        """A persistent folder for one node family's own data (created on demand)."""
        if not name.isidentifier():
            raise ValueError(f"store name {name!r} must be an identifier")
        self._ensure_root()
        folder = self.root / "stores" / name
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(exc, folder, CACHE_HINT) from exc
        return folder

    # --- management ------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """Size and entry count of each part of the cache."""
        parts: dict[str, dict[str, int]] = {}
        children = [self.root / "results"]
        if (self.root / "stores").is_dir():
            children += sorted((self.root / "stores").iterdir())
        for child in children:
            if child.is_dir():
                size = files = 0
                for path in child.rglob("*"):
                    if path.is_file():
                        files += 1
                        size += path.stat().st_size
                parts[child.name] = {"bytes": size, "files": files}
        results = self.root / "results"
        count = sum(1 for _ in results.glob("*/*")) if results.is_dir() else 0
        return {"root": str(self.root), "results": count, "parts": parts}

    def clear(self) -> list[str]:
        """Remove the results and stores FlowClass put here, and nothing else.

        The cache folder may be one the user chose (``--cache``); files of theirs that
        happen to sit beside ours are left alone.
        """
        removed = []
        for name in ("results", "stores"):
            part = self.root / name
            if part.is_dir() and not part.is_symlink():
                shutil.rmtree(part)
                removed.append(name)
        return removed
