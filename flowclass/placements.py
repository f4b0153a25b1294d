"""Where the files a result wrote into one output folder go in another, and which output
folders they were copied into already (see :mod:`flowclass.relocation`).

Apart from the engine's side of relocation so that an unchanged re-run into a new
``--out`` answered from its record's witnesses (:mod:`flowclass.new_out`) places the
files as the engine does without importing the node contract or the cache.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from .digests import sha256
from .fsutil import atomic_write_text, file_stamp

OUT = "<out>"  # how a cache key names the run's output folder
PLACED = "placed"  # beside a result in the cache: its copies, one file per output folder


def inside(path: str, folder: str) -> str | None:
    """``path`` relative to ``folder`` with ``/`` separators ("" for the folder itself);
    None when it is not inside. Both are absolute and normalised (as resolution makes them)."""
    if path == folder:
        return ""
    prefix = folder if folder.endswith(os.sep) else folder + os.sep
    if not path.startswith(prefix):
        return None
    return path[len(prefix):].replace(os.sep, "/")


def lands_in(paths: Iterable[str], folders: Iterable[str]) -> bool:
    """Whether one of ``paths`` is or lies in one of ``folders`` (links resolved). A result
    is not copied there: a cold run of its node would meet the folder it reads from (Export
    refuses to export into the imported folder), so the node runs and says so."""
    inside = [os.path.realpath(folder).rstrip(os.sep) + os.sep for folder in folders]
    return any((os.path.realpath(path) + os.sep).startswith(folder) for path in paths for folder in inside)


def moves_of(meta: Mapping[str, Any], out_dir: Path) -> list[tuple[str, str]] | None:
    """(file written for the other output folder, where it goes in ``out_dir``) for every
    file a cached result (its ``meta``) wrote; None when one of them is outside that folder."""
    there = meta.get("out_dir")
    files = meta.get("files")
    if not isinstance(there, str) or not isinstance(files, list):
        return None
    found, here = [], str(out_dir)
    prefix = os.path.join(here, "")  # + a relative path: os.path.join's, at a tenth of its cost a file
    for path, *_ in files:
        rel = inside(path, there)
        if not rel:
            return None
        rel = rel.replace("/", os.sep)
        found.append((path, os.path.join(here, rel) if rel.startswith(os.sep) else prefix + rel))  # str(out_dir / rel)
    return found


class Placements:
    """The output folders a cached result was copied into, each with its copies' sizes and
    times, kept in ``folder`` beside the result (removed with it; None: the result is gone)."""

    def __init__(self, folder: Path | None):
        self.folder = folder

    def file(self, out_dir: Path) -> Path | None:
        """Where the copies into ``out_dir`` are kept (None: the result is gone)."""
        name = sha256(str(out_dir).encode("utf-8")).hexdigest()[:32]
        return self.folder / f"{name}.json" if self.folder is not None else None

    def intact(self, out_dir: Path, files: list[str]) -> bool:
        """Whether ``files`` were copied into ``out_dir`` and are all there unchanged."""
        path = self.file(out_dir)
        try:
            kept = json.loads(path.read_text(encoding="utf-8")) if path is not None else None
            return isinstance(kept, dict) and kept.get("out_dir") == str(out_dir) and \
                kept.get("files") == [[here, *file_stamp(here, follow_symlinks=False)] for here in files]
        except (OSError, ValueError):
            return False

    def remember(self, out_dir: Path, files: list[str], known: Mapping[str, tuple[int, int]] | None = None) -> None:
        """Keep what ``files`` are now (nothing when the cache cannot be written); ``known``:
        the (size, mtime_ns) of those just put in place, as they were put (RunContext.placed),
        which need not be read again."""
        path = self.file(out_dir)
        if path is None:
            return
        known = known or {}
        try:
            path.parent.mkdir(exist_ok=True)
            stamps = [[here, *known[here]] if here in known else [here, *file_stamp(here, follow_symlinks=False)]
                      for here in files]
            atomic_write_text(path, json.dumps({"out_dir": str(out_dir), "files": stamps}), fsync=False)
        except OSError:  # a full disk: no empty folder left behind either
            try:
                path.parent.rmdir()
            except OSError:
                pass
