"""Results that write into the run's output folder, moved into another output folder.

A node that writes files into the output folder (Export to Folders, Save Table) makes the
same files whichever ``--out`` a run names, except for where they go. Such a node declares
``relocate``; its cache key then names its output paths by where they are *inside* the
output folder (:func:`placed`), and its cached result remembers the output folder it was
made for (``meta["out_dir"]``). An unchanged re-run into a new output folder does not run
it: the engine hands ``relocate`` the files the result wrote there (checked unchanged) and
where they go here; the node copies them (real copies, through its owned folder) and says
how its outputs' values change, which the engine applies when a value is read
(:class:`Relocated`), so nothing is loaded that nobody reads. The engine then keeps the
copies' sizes and times beside the result (:class:`Placements`): the next re-run into that
folder finds them unchanged and copies nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from .cache import Cache
from .cache_entry import CachedResult
from .context import RunContext
from .fsutil import atomic_write_text, file_stamp
from .node import NodeType
from .params import Path as PathParam

OUT = "<out>"  # how a cache key names the run's output folder


def placed(node_type: NodeType, params: Mapping[str, Any], out_dir: Path) -> dict[str, Any]:
    """``params`` as a relocatable node's key sees them: each output path inside ``out_dir``
    written as ``<out>/...`` (a path elsewhere stays as it is)."""
    keyed = dict(params)
    for param in node_type.params:
        value = keyed.get(param.name)
        if isinstance(param, PathParam) and param.role == "output" and value:
            inside = _inside(str(value), str(out_dir))
            if inside is not None:
                keyed[param.name] = f"{OUT}/{inside}" if inside else OUT
    return keyed


def _inside(path: str, folder: str) -> str | None:
    """``path`` relative to ``folder`` with ``/`` separators ("" for the folder itself);
    None when it is not inside. Both are absolute and normalised (as resolution makes them)."""
    if path == folder:
        return ""
    prefix = folder if folder.endswith(os.sep) else folder + os.sep
    if not path.startswith(prefix):
        return None
    return path[len(prefix):].replace(os.sep, "/")


def moves(cached: CachedResult, out_dir: Path) -> list[tuple[str, str]] | None:
    """(file written for the other output folder, where it goes in ``out_dir``) for every
    file the cached result wrote; None when one of them is outside that folder."""
    there = cached.meta.get("out_dir")
    files = cached.meta.get("files")
    if not isinstance(there, str) or not isinstance(files, list):
        return None
    found, here = [], str(out_dir)
    for path, *_ in files:
        inside = _inside(path, there)
        if not inside:
            return None
        found.append((path, os.path.join(here, inside.replace("/", os.sep))))  # str(out_dir / inside)
    return found


class Placements:
    """The output folders a cached result was copied into, each with its copies' sizes and
    times, kept beside the result (removed with it)."""

    def __init__(self, cache: Cache, key: str):
        self.cache, self.key = cache, key

    def file(self, out_dir: Path) -> Path | None:
        """Where the copies into ``out_dir`` are kept (None: the result is gone)."""
        folder = self.cache.beside(self.key, "placed")
        name = hashlib.sha256(str(out_dir).encode("utf-8")).hexdigest()[:32]
        return folder / f"{name}.json" if folder is not None else None

    def intact(self, out_dir: Path, files: list[str]) -> bool:
        """Whether ``files`` were copied into ``out_dir`` and are all there unchanged."""
        path = self.file(out_dir)
        try:
            kept = json.loads(path.read_text(encoding="utf-8")) if path is not None else None
            return isinstance(kept, dict) and kept.get("out_dir") == str(out_dir) and \
                kept.get("files") == [[here, *file_stamp(here, follow_symlinks=False)] for here in files]
        except (OSError, ValueError):
            return False

    def remember(self, out_dir: Path, files: list[str]) -> None:
        """Keep what ``files`` are now (nothing when the cache cannot be written)."""
        path = self.file(out_dir)
        if path is None:
            return
        try:
            path.parent.mkdir(exist_ok=True)
            stamps = [[here, *file_stamp(here, follow_symlinks=False)] for here in files]
            atomic_write_text(path, json.dumps({"out_dir": str(out_dir), "files": stamps}), fsync=False)
        except OSError:  # a full disk: no empty folder left behind either
            try:
                path.parent.rmdir()
            except OSError:
                pass


Rewrite = Callable[[str, Any], Any]  # (port, value made for the other folder) -> value here


@dataclass
class Relocated(CachedResult):
    """A cached result served for another output folder: its values, rewritten when read."""

    rewrite: Rewrite = field(default=lambda port, value: value, repr=False, compare=False)

    @classmethod
    def of(cls, cached: CachedResult, rewrite: Rewrite) -> "Relocated":
        return cls(cached.key, cached.folder, cached.meta, cached.lease, rewrite)

    def output(self, port: str) -> Any:
        return self.rewrite(port, super().output(port))


def served_elsewhere(cache: Cache, node_type: NodeType, cached: CachedResult, ctx: RunContext,
                     params: dict[str, Any], out_dir: Path, remember: bool = True) -> Relocated | None:
    """A cached result made for another output folder, served for ``out_dir``: the node
    copies the files it wrote there (unless the copies are there already, unchanged), and
    the copies are remembered (``remember``: the cache can be written); None when the node
    must run (a file it wrote is outside that folder, a folder or a file of the user's in
    the way, a full disk: the node's own run says what is wrong, if anything still is).
    The engine and the run record (:mod:`flowclass.run_record`) both serve it so."""
    found = moves(cached, out_dir)
    if not found or node_type.relocate is None:
        return None
    placements, here = Placements(cache, cached.key), [new for _, new in found]
    copied = placements.intact(out_dir, here)
    try:
        rewrite = node_type.relocate(ctx, params, found, copied)
    except Exception:
        return None
    if rewrite is None:
        return None
    if not copied and remember:
        placements.remember(out_dir, here)
    return Relocated.of(cached, rewrite)
