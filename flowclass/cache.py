"""The on-disk cache: node results by key, plus named stores that node families own.

Layout under the cache root::

    CACHEDIR.TAG            marks the folder as a cache (backup tools skip it)
    results/ab/<key>/       one finished node result: meta.json + one folder per output
    stores/<name>/          a node family's own persistent data (sample images, models,
                            per-image embeddings), see :meth:`Cache.store_dir`

Results are written into a temporary folder and renamed into place, so a crash never
leaves half a result, and two runs computing the same key do not disturb each other.

The results have a cap (``$FLOWCLASS_CACHE_SIZE`` or ``--cache-size``, default
:data:`DEFAULT_MAX_BYTES`). After each run, and on ``flowclass cache prune``, the results
used least recently are removed until the rest fit; the results of the run that just
ended are kept. A folder's modification time is its last use (a cache hit touches it).
The stores are not capped: they hold what is expensive to make again (embeddings).
Two stores hold what is the same for every cache, the prepared model and the sample images
(:data:`PREPARED_STORES`); ``$FLOWCLASS_PREPARED`` moves them to one folder that several
caches share (a whole test run, for one), so each is made once.
"""

from __future__ import annotations

import json
import os
import re
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


DEFAULT_MAX_BYTES = 10 * 10**9
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9,
          "gb": 10**9, "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30,
          "tib": 2**40}
STALE_SECONDS = 3600  # leftovers of an interrupted put older than this are removed by prune


class ResultTooLarge(OSError):
    """A result larger than the whole cache may hold; it is not kept."""


def parse_size(text: str) -> int:
    """Bytes in a size such as ``10GB``, ``500 MB``, ``2GiB`` or ``1000000``."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(text))
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        raise ValueError(f"expected a size such as 10GB, 500MB or 2GiB; got {text!r}")
    return int(float(match.group(1)) * _UNITS[unit])


def default_max_bytes() -> int:
    """``$FLOWCLASS_CACHE_SIZE`` if set, else :data:`DEFAULT_MAX_BYTES`."""
    env = os.environ.get("FLOWCLASS_CACHE_SIZE")
    if not env:
        return DEFAULT_MAX_BYTES
    try:
        return parse_size(env)
    except ValueError as exc:
        raise ValueError(f"FLOWCLASS_CACHE_SIZE: {exc}") from None


def _folder_bytes(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
        except OSError:
            pass
    return total


PREPARED_VARIABLE = "FLOWCLASS_PREPARED"
PREPARED_STORES = ("models", "samples")  # their content does not depend on the cache


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
    def __init__(self, root: str | os.PathLike[str] | None = None, max_bytes: int | None = None):
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        self.max_bytes = default_max_bytes() if max_bytes is None else int(max_bytes)

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
        try:
            os.utime(folder)  # its last use, for evicting the least recently used first
        except OSError:
            pass
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
            size = _folder_bytes(tmp)
            if size > self.max_bytes:
                raise ResultTooLarge(f"the result ({size / 1e6:.0f} MB) is larger than the whole "
                                     f"cache may hold ({self.max_bytes / 1e6:.0f} MB; set "
                                     "--cache-size or $FLOWCLASS_CACHE_SIZE)")
            full_meta = {**meta, "key": key, "outputs": list(outputs), "stored": time.time()}
            text = json.dumps(full_meta, indent=1)
            full_meta["bytes"] = size + len(text.encode("utf-8")) + 20  # meta.json included
            (tmp / "meta.json").write_text(json.dumps(full_meta, indent=1), encoding="utf-8")
            if final.exists():  # a re-run of a node whose files had changed: newest wins
                stale = final.with_name(f".stale-{tmp.name}")
                os.rename(final, stale)
                shutil.rmtree(stale, ignore_errors=True)
            try:
                os.rename(tmp, final)
            except OSError:  # another run stored the same key meanwhile: keep theirs
                shutil.rmtree(tmp, ignore_errors=True)
        except ResultTooLarge:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
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
        prepared = os.environ.get(PREPARED_VARIABLE) if name in PREPARED_STORES else None
        if prepared:
            folder = Path(prepared).expanduser() / name
        else:
            self._ensure_root()
            folder = self.root / "stores" / name
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(exc, folder, CACHE_HINT) from exc
        return folder

    # --- the cap ---------------------------------------------------------------------
    def _results(self) -> list[tuple[float, int, str, Path]]:
        """(last use, bytes, key, folder) of every stored result."""
        found = []
        results = self.root / "results"
        if not results.is_dir():
            return found
        for shard in results.iterdir():
            if not shard.is_dir() or shard.is_symlink():
                continue
            for folder in shard.iterdir():
                if folder.name.startswith("."):
                    continue
                try:
                    used = folder.stat().st_mtime
                    meta = safe_json.loads((folder / "meta.json").read_text(encoding="utf-8"))
                    size = int(meta["bytes"])
                except (OSError, ValueError, KeyError, TypeError):
                    size, used = _folder_bytes(folder), 0.0  # unreadable: first to go
                found.append((used, size, folder.name, folder))
        return found

    def _remove(self, folder: Path) -> None:
        stale = folder.with_name(f".stale-{folder.name}")
        try:
            os.rename(folder, stale)
        except OSError:
            return
        shutil.rmtree(stale, ignore_errors=True)

    def prune(self, max_bytes: int | None = None, keep: Any = ()) -> dict[str, int]:
        """Remove the least recently used results until the rest fit in ``max_bytes``
        (default: the cap), never those in ``keep``; and leftovers of interrupted writes.

        Returns how many results were removed, the bytes freed and the bytes left.
        """
        limit = self.max_bytes if max_bytes is None else max_bytes
        keep = set(keep)
        removed = freed = 0
        results = self.root / "results"
        if results.is_dir():  # leftovers of a put that was killed midway
            for leftover in results.glob("*/.*"):
                try:
                    old = time.time() - leftover.stat().st_mtime > STALE_SECONDS
                except OSError:
                    continue
                if old and leftover.name.startswith((".tmp-", ".stale-")):
                    shutil.rmtree(leftover, ignore_errors=True)
        entries = sorted(self._results())
        total = sum(size for _, size, _, _ in entries)
        for _, size, key, folder in entries:
            if total <= limit:
                break
            if key in keep:
                continue
            self._remove(folder)
            removed += 1
            freed += size
            total -= size
        return {"removed": removed, "freed": freed, "left": total}

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
        return {"root": str(self.root), "results": count, "parts": parts,
                "max_bytes": self.max_bytes}

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
