"""Where a result's reports (its tables and pictures for people) are kept in the cache.

Apart from :mod:`flowclass.reports`, which makes and saves them, so that a re-run answered
from its record (:mod:`flowclass.run_record`) asks whether they are made without importing
what making them takes.
"""

from __future__ import annotations

from pathlib import Path

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
