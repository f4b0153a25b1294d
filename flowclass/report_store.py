"""Where a result's reports (its tables and pictures for people) are kept in the cache,
and how they are copied from there into an output folder.

Apart from :mod:`flowclass.reports`, which makes and saves them, so that a re-run answered
from its record (:mod:`flowclass.run_record`) asks whether they are made, and one answered
from its witnesses (:mod:`flowclass.new_out`) copies them, without importing what making
them takes.
"""

from __future__ import annotations

import filecmp
import os
import shutil
from collections import Counter
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Collection, Iterable

from .errors import NodeError
from .fsutil import STORAGE_ERRNOS, write_error

if TYPE_CHECKING:
    from .cache import Cache

# Bump when any node family draws its pictures differently: reports kept in the cache
# under another scheme are made again.
SCHEME = "reports-1"
NAMES = "names.json"  # in a node's report folder: its reports' names, written last


def reports_folder(cache: Cache, key: str, ready: bool = False) -> Path | None:
    """The cache folder of the reports of the result stored under ``key`` (None: the result
    is not stored); with ``ready``, None unless its reports were all made."""
    beside = cache.beside(key, SCHEME)
    if beside is None or (ready and not (beside / NAMES).is_file()):
        return None
    return beside


def reports_made(cache: Cache, key: str) -> bool:
    """Whether the reports of the result stored under ``key`` are all made, in this scheme."""
    return reports_folder(cache, key, ready=True) is not None


# open_folder(root, field=...) -> a context manager giving an object with
# ``write_file(rel, write)`` and ``owns(rel)``: flowclass.userfiles.owned_folder, which
# never writes over a user's own file (the front ends pass it in; it is a layer above).
FolderOpener = Callable[..., AbstractContextManager[Any]]


@dataclass
class Saved:
    """What :meth:`flowclass.reports.Reports.save` did: files copied into the folder, and
    why others were not."""

    written: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)  # every report now in the folder, written or not


def claimed(outputs: Iterable[str], out_dir: Path) -> set[str]:
    """The names in ``out_dir`` itself among ``outputs``, the paths the run's nodes write."""
    folder = os.path.realpath(out_dir)
    return {os.path.basename(path) for path in outputs if os.path.dirname(os.path.realpath(path)) == folder}


def copy_made(wanted: list[tuple[str, str, Path]], out_dir: Path, open_folder: FolderOpener,
              saved: Saved, others: Collection[str] = ()) -> Saved:
    """Copy each made report ``(node, name, file)`` into ``out_dir``, into ``saved``: a name
    two nodes would both write, or one of ``others`` (what the run's nodes wrote there, see
    :func:`claimed`: a table saved as ``evaluation.csv``), prefixed with each one's node id,
    a file FlowClass wrote there with the same bytes left as it is, a file of the user's
    never replaced."""
    if not wanted:
        return saved
    taken = Counter(name for _, name, _ in wanted)
    taken.update({name: 1 for name in others})
    try:
        with open_folder(out_dir, field="out") as folder:
            for node, name, made in wanted:
                target = name if taken[name] == 1 else f"{node}-{name}"
                try:
                    if not (folder.owns(target) and filecmp.cmp(made, out_dir / target, shallow=False)):
                        folder.write_file(target, lambda tmp, made=made: shutil.copyfile(made, tmp))
                        saved.written.append(target)
                    saved.present.append(target)
                except (OSError, ValueError, NodeError) as exc:
                    if isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:  # a full disk, as elsewhere
                        exc = write_error(exc, exc.filename or out_dir / target)
                    saved.problems.append(f"{target}: {exc}")
    except NodeError as exc:  # the folder is locked by another run, or its journal is damaged
        saved.problems.append(f"{out_dir}: {exc}" + (f"; {exc.hint}" if exc.hint else ""))
    return saved
