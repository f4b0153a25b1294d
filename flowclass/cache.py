"""The on-disk cache: node results by key, plus named stores that node families own.

Layout under the cache root::

    flowclass-cache.json    says FlowClass made this folder, and its layout version
    CACHEDIR.TAG            marks the folder as a cache (backup tools skip it)
    results/ab/<key>/       one finished node result: meta.json + one folder per output
    stores/<name>/          a node family's own persistent data (sample images, models,
                            per-image embeddings), see :meth:`Cache.store_dir`

Results are written into a temporary folder and renamed into place, so a crash never
leaves half a result, and two runs computing the same key do not disturb each other. A run
holds a lease on each result it may still read, and eviction skips those; a result that
fails its integrity check is discarded and made again (:mod:`flowclass.cache_entry`).

The results have a cap (``$FLOWCLASS_CACHE_SIZE`` or ``--cache-size``, default
:data:`DEFAULT_MAX_BYTES`). After each run, and on ``flowclass cache prune``, the results
used least recently are removed until the rest fit; the results of the run that just
ended are kept. A folder's modification time is its last use (a cache hit touches it).
The stores are not capped: they hold what is expensive to make again (embeddings).
Two stores hold what is the same for every cache, the prepared model and the sample images
(:data:`PREPARED_STORES`); ``$FLOWCLASS_PREPARED`` moves them to one folder that several
caches share (a whole test run, for one), so each is made once.

A folder is a FlowClass cache only if FlowClass made it: a new or empty folder becomes one
(``flowclass-cache.json`` and ``CACHEDIR.TAG`` are written into it); a folder holding
anything without that marker is refused, naming it, for every write, prune and clear.
Pruning and clearing remove only what they recognise as FlowClass's own: result folders
named by their key whose ``meta.json`` says that key, and leftovers named as FlowClass
names them.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import sys
import time
import weakref
from pathlib import Path
from typing import Any, Callable, Mapping

from platformdirs import user_cache_dir

from . import __version__, safe_json
from .cache_entry import CacheDamaged, CachedResult, contents, damage, digests, take_lease, try_exclusive
from .fsutil import STORAGE_ERRNOS, atomic_write_text, write_error

# What to do when the cache cannot be written, e.g. because its disk is full.
CACHE_HINT = ("choose another cache folder (--cache or $FLOWCLASS_CACHE), or make room with "
              "`flowclass cache prune`")
TOO_LARGE_HINT = ("choose a cache folder (--cache or $FLOWCLASS_CACHE) on a disk that takes larger "
                  "files (not a FAT32 stick), or raise that limit")


def cache_hint(exc: OSError) -> str:
    """What to do when the cache cannot be written: pruning frees room on a full disk but
    does not make a file that reached its largest size allowed (EFBIG) any smaller."""
    return TOO_LARGE_HINT if exc.errno == errno.EFBIG else CACHE_HINT
MARKER = "flowclass-cache.json"
LAYOUT = 1  # the layout version a marker must state; a newer one is refused
TAG = "Signature: 8a477f597d28d172789f06886806bc55\n# FlowClass cache; see https://bford.info/cachedir/\n"


DEFAULT_MAX_BYTES = 10 * 10**9
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9,
          "gb": 10**9, "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30,
          "tib": 2**40}
# Stores of the user's own work, not of what FlowClass can make again: the canvas's tabs, whose
# unsaved edits and strokes exist nowhere else (the canvas's Discard asks first). Clear keeps them.
WORK_STORES = ("drafts", "drafts_held")
STALE_SECONDS = 3600  # leftovers of an interrupted put older than this are removed by prune


class NotACache(ValueError):
    """A folder that FlowClass did not make as a cache; nothing in it is touched."""


_KEY = re.compile(r"[0-9a-f]{64}")
_SHARD = re.compile(r"[0-9a-f]{2}")
# what put and _remove name a folder while it is written or removed
_LEFTOVER = re.compile(r"\.stale-[0-9a-f]{64}|(\.stale-)?\.tmp-[0-9a-f]{12}-[a-z0-9_]+")


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


class Cache:
    def __init__(self, root: str | os.PathLike[str] | None = None, max_bytes: int | None = None):
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        self.max_bytes = default_max_bytes() if max_bytes is None else int(max_bytes)
        self._owned = False
        self._scratch: Path | None = None

    # --- ownership -----------------------------------------------------------------
    def _marker_problem(self) -> str | None:
        """Why the marker does not show a cache of this FlowClass (None: it does)."""
        marker = self.root / MARKER
        try:
            if not marker.is_file() or marker.is_symlink():
                return f"it has no {MARKER}"
            found = safe_json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            return f"its {MARKER} cannot be read ({exc})"
        layout = found.get("flowclass_cache") if isinstance(found, dict) else None
        if layout == LAYOUT:
            if found.get("folder") != self._identity():
                return (f"its {MARKER} was written for another folder (copied in from elsewhere), "
                        "so it proves nothing")
            return None
        if isinstance(layout, int) and not isinstance(layout, bool) and layout > LAYOUT:
            return (f"a newer FlowClass made it (cache layout {layout}; this one reads layout "
                    f"{LAYOUT}): upgrade FlowClass or choose another folder")
        return f"its {MARKER} is not one FlowClass wrote"

    def _identity(self) -> dict[str, int] | None:
        """The folder's device and inode: a marker names the folder it was written in, so a
        marker copied into another folder (a shared bundle) does not make that a cache."""
        try:
            st = self.root.stat()
        except OSError:
            return None
        return {"device": st.st_dev, "inode": st.st_ino}

    def owned(self) -> bool:
        """Whether the folder is a cache FlowClass made (once seen, remembered)."""
        if not self._owned:
            self._owned = self._marker_problem() is None
        return self._owned

    def check(self) -> None:
        """Refuse (:class:`NotACache`, naming the folder) a folder that holds anything and
        that FlowClass did not make as a cache; a new or empty folder is fine."""
        problem = self._problem()
        if problem is not None:
            raise NotACache(problem)

    def _problem(self) -> str | None:
        if not self.root.exists() and not self.root.is_symlink():
            return None
        if not self.root.is_dir():
            return f"the cache folder {self.root} is not a folder"
        problem = self._marker_problem()
        if problem is None or self._empty() or self._legacy():
            return None
        return (f"{self.root} is not a FlowClass cache ({problem}) and is not empty, so FlowClass "
                "neither writes into it nor removes anything from it; choose a new or empty "
                "folder for --cache or $FLOWCLASS_CACHE")

    def _empty(self) -> bool:
        try:
            return next(self.root.iterdir(), None) is None
        except OSError:
            return False

    def _legacy(self) -> bool:
        """The default cache folder as FlowClass made it before it wrote a marker (or this
        marker): FlowClass's own folder, with the tag FlowClass wrote."""
        if self.root.resolve() != Path(user_cache_dir("flowclass")).resolve():
            return False
        try:
            return (self.root / "CACHEDIR.TAG").read_text(encoding="utf-8") == TAG
        except (OSError, UnicodeDecodeError):
            return False

    def _ensure_root(self) -> None:
        """Make the folder a cache (marker and tag) if it is new or empty; refuse it if it
        holds anything without FlowClass's marker."""
        if self.owned():
            return
        self.check()
        made = not self.root.exists()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.root / MARKER, json.dumps(
                {"flowclass_cache": LAYOUT, "made_by": f"FlowClass {__version__}",
                 "folder": self._identity()}) + "\n", hint=CACHE_HINT)
            tag = self.root / "CACHEDIR.TAG"
            if not tag.exists():
                atomic_write_text(tag, TAG, hint=CACHE_HINT)
        except OSError as exc:
            if made:
                _remove_if_empty(self.root)
            raise write_error(exc, self.root / MARKER, cache_hint(exc)) from exc

    def _folder(self, key: str) -> Path:
        return self.root / "results" / key[:2] / key

    # --- results ---------------------------------------------------------------------
    def get(self, key: str, on_damage: Callable[[str], None] | None = None) -> CachedResult | None:
        """The result stored under ``key``, leased (kept from eviction) while the returned
        object lives; None if there is none. A result that fails its integrity check is
        None too; with ``on_damage`` it is also discarded and ``on_damage`` gets a warning
        that names it."""
        if not self.owned():
            return None
        folder = self._folder(key)
        lease = take_lease(folder / "meta.json")
        if lease is None:
            return None
        try:
            meta = safe_json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            problem = damage(folder, key, meta)
        except (OSError, ValueError) as exc:
            problem = f"its meta.json cannot be read ({type(exc).__name__})"
        if problem is not None:
            lease.release()
            if on_damage is not None:
                self.discard(folder)
                on_damage(f"the cached result {folder} was damaged ({problem}); it was discarded "
                          "and the node runs again")
            return None
        try:
            os.utime(folder)  # its last use, for evicting the least recently used first
        except OSError:
            pass
        return CachedResult(key, folder, meta, lease)

    def discard(self, folder: Path) -> None:
        """Remove a result, leases or not: a damaged one (nobody can read it anyway), or one
        that a newer result of the same key replaces."""
        stale = folder.with_name(f".stale-{folder.name}")
        try:
            os.rename(folder, stale)
        except OSError:
            return
        shutil.rmtree(stale, ignore_errors=True)

    def put(self, key: str, outputs: Mapping[str, Any], meta: Mapping[str, Any]) -> CachedResult | None:
        """Store a result, leased like :meth:`get`'s; ``meta`` is anything JSON-able to keep
        beside it. None when another run stored the same key meanwhile (theirs is kept)."""
        import tempfile

        from . import codec

        self._ensure_root()
        final = self._folder(key)
        new_shard = not final.parent.exists()
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key[:12]}-", dir=final.parent))
        except OSError as exc:
            if new_shard:  # a full disk leaves nothing, not even an empty folder
                _remove_if_empty(final.parent)
            raise write_error(exc, final, cache_hint(exc)) from exc
        try:
            for port, value in outputs.items():
                codec.save(value, tmp / "outputs" / port)
            size = _folder_bytes(tmp)
            if size > self.max_bytes:
                raise ResultTooLarge(f"the result ({size / 1e6:.0f} MB) is larger than the whole "
                                     f"cache may hold ({self.max_bytes / 1e6:.0f} MB; set "
                                     "--cache-size or $FLOWCLASS_CACHE_SIZE)")
            files = contents(tmp)
            full_meta = {**meta, "key": key, "outputs": list(outputs), "stored": time.time(),
                         "contents": files, "sha256": digests(tmp, files)}
            text = json.dumps(full_meta, indent=1)
            full_meta["bytes"] = size + len(text.encode("utf-8")) + 20  # meta.json included
            (tmp / "meta.json").write_text(json.dumps(full_meta, indent=1), encoding="utf-8")
            lease = take_lease(tmp / "meta.json")  # moves with the folder: no window for eviction
            if final.exists():  # a re-run of a node whose files had changed: newest wins (a
                self.discard(final)  # run reading the old one reads the same key's new one)
            try:
                os.rename(tmp, final)
            except OSError:  # another run stored the same key meanwhile: keep theirs
                shutil.rmtree(tmp, ignore_errors=True)
                return self.get(key)
        except ResultTooLarge:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if new_shard:
                _remove_if_empty(final.parent)
            raise write_error(exc, final, cache_hint(exc)) from exc
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return CachedResult(key, final, full_meta, lease)

    def beside(self, key: str, name: str) -> Path | None:
        """A folder for files made from a stored result (its pictures), removed with it;
        None when no result is stored under ``key``. The folder is not created here."""
        folder = self._folder(key)
        return folder / name if (folder / "meta.json").is_file() else None

    # --- stores owned by node families ---------------------------------------------
    def scratch_dir(self, name: str) -> Path:
        """A store for a run that goes on without the cache (it cannot be written): a
        temporary folder, removed when this Cache is dropped or the process ends."""
        if self._scratch is None:
            import tempfile

            self._scratch = Path(tempfile.mkdtemp(prefix="flowclass-nocache-"))
            weakref.finalize(self, shutil.rmtree, str(self._scratch), True)
        folder = self._scratch / name
        folder.mkdir(exist_ok=True)
        return folder

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
            raise write_error(exc, folder, cache_hint(exc)) from exc
        return folder

    # --- the cap ---------------------------------------------------------------------
    def _results(self) -> list[tuple[float, int, str, Path]]:
        """(last use, bytes, key, folder) of every stored result."""
        found = []
        for shard in self._shards():
            for folder in shard.iterdir():
                if not (_KEY.fullmatch(folder.name) and folder.name.startswith(shard.name)):
                    continue  # not named as FlowClass names a result: not ours
                try:
                    if folder.is_symlink() or not folder.is_dir():
                        continue
                    used = folder.stat().st_mtime
                    meta = safe_json.loads((folder / "meta.json").read_text(encoding="utf-8"))
                    if not isinstance(meta, dict) or meta.get("key") != folder.name:
                        continue  # its meta.json does not say so: not recognisably ours
                    size = int(meta["bytes"])
                except (OSError, ValueError, KeyError, TypeError):
                    continue
                found.append((used, size, folder.name, folder))
        return found

    def _shards(self) -> list[Path]:
        """The ``results/ab`` folders of a cache FlowClass made (none in any other folder)."""
        results = self.root / "results"
        if not self.owned() or results.is_symlink() or not results.is_dir():
            return []
        return [shard for shard in sorted(results.iterdir()) if _SHARD.fullmatch(shard.name)
                and shard.is_dir() and not shard.is_symlink()]

    def _leftovers(self) -> list[Path]:
        """Folders an interrupted put or removal left, named as FlowClass names them."""
        return [path for shard in self._shards() for path in shard.iterdir()
                if _LEFTOVER.fullmatch(path.name) and path.is_dir() and not path.is_symlink()]

    def _remove(self, folder: Path, hint: str) -> bool:
        """Remove a result unless a run holds a lease on it; returns whether it did. A disk
        that refuses (read-only, no permission) is a :class:`WriteError` saying ``hint``, not
        a result in use."""
        lock = try_exclusive(folder / "meta.json")
        if lock is False:
            return False
        stale = folder.with_name(f".stale-{folder.name}")
        try:
            os.rename(folder, stale)
        except OSError as exc:
            if exc.errno in STORAGE_ERRNOS:
                raise write_error(exc, folder, hint) from exc
            return False
        finally:
            if not isinstance(lock, bool):
                lock.release()
        shutil.rmtree(stale, ignore_errors=True)
        return True

    def prune(self, max_bytes: int | None = None, keep: Any = ()) -> dict[str, int]:
        """Remove the least recently used results until the rest fit in ``max_bytes``
        (default: the cap), never those in ``keep``; and leftovers of interrupted writes.

        Results a run is reading (a lease, see :mod:`flowclass.cache_entry`) are never removed.
        Returns how many results were removed, the bytes freed, the bytes left and how many
        results were kept because a run is using them.
        """
        limit = self.max_bytes if max_bytes is None else max_bytes
        keep = set(keep)
        removed = freed = in_use = 0
        self.check()
        for leftover in self._leftovers():  # of a put that was killed midway
            try:
                if time.time() - leftover.stat().st_mtime > STALE_SECONDS:
                    shutil.rmtree(leftover, ignore_errors=True)
            except OSError:
                continue
        entries = sorted(self._results())
        total = sum(size for _, size, _, _ in entries)
        for _, size, key, folder in entries:
            if total <= limit:
                break
            if key in keep:
                continue
            if not self._remove(folder, "the cache was not pruned"):
                in_use += 1
                continue
            removed += 1
            freed += size
            total -= size
        return {"removed": removed, "freed": freed, "left": total, "in_use": in_use}

    # --- management ------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """Size and entry count of each part of the cache."""
        self.check()
        parts: dict[str, dict[str, int]] = {}
        children = [self.root / "results"] + self._stores()
        for child in children:
            if child.is_dir() and self.owned():
                size = files = 0
                for path in child.rglob("*"):
                    if path.is_file():
                        files += 1
                        size += path.stat().st_size
                parts[child.name] = {"bytes": size, "files": files}
        return {"root": str(self.root), "results": len(self._results()), "parts": parts,
                "max_bytes": self.max_bytes}

    def _stores(self) -> list[Path]:
        """The node families' store folders of a cache FlowClass made."""
        stores = self.root / "stores"
        if not self.owned() or stores.is_symlink() or not stores.is_dir():
            return []
        return [store for store in sorted(stores.iterdir())
                if store.name.isidentifier() and store.is_dir() and not store.is_symlink()]

    def clear(self) -> list[str]:
        """Remove the results and stores FlowClass put here, and nothing else.

        Only a folder FlowClass made as a cache is cleared (any other is refused, naming
        it), and in it only what is recognisably FlowClass's: results named by their key
        with a ``meta.json`` that says so, leftovers of interrupted writes, and the stores
        but :data:`WORK_STORES`. Files of anyone else's that sit beside them are left alone.
        """
        self.check()
        removed = []
        results = [folder for *_, folder in self._results() if self._remove(folder, "the cache was not cleared")]
        for leftover in self._leftovers():
            shutil.rmtree(leftover, ignore_errors=True)
        if results:
            removed.append(f"{len(results)} node result(s)")
        for store in self._stores():
            if store.name in WORK_STORES:
                continue
            trouble = _remove_tree(store)
            if trouble is not None and store.exists():  # a read-only folder: say so, never "removed"
                raise write_error(trouble, store, "the cache was not cleared")
            removed.append(f"store '{store.name}'")
        for shard in self._shards():
            _remove_if_empty(shard)
        for part in ("results", "stores"):
            _remove_if_empty(self.root / part)
        return removed


def _remove_tree(folder: Path) -> OSError | None:
    """Remove ``folder`` with all it holds, as far as the disk lets; the first error, if any."""
    errors: list[OSError] = []
    if sys.version_info >= (3, 12):
        shutil.rmtree(folder, onexc=lambda _call, _path, exc: errors.append(exc))
    else:  # onexc is new in 3.12
        shutil.rmtree(folder, onerror=lambda _call, _path, info: errors.append(info[1]))
    return errors[0] if errors else None


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
