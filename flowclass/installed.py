"""What is installed, as a re-run answered from its record needs it: the platform's name
and the package versions run.json states, and the node modules installed packages declare
as entry points.

Reading them (importlib.metadata parses every package's metadata; the platform's name runs
`uname -p`) costs such a re-run more than all the rest of its work. pip adds and removes a
``*.dist-info`` folder whenever it installs, upgrades or removes a package, which changes
the modification time of the folder on ``sys.path`` that holds it; so what was read is kept
in the cache with the times of every ``sys.path`` folder, the kernel's and the C library's
names, and read again as soon as any of them differs.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, NamedTuple

from . import safe_json
from .cache import Cache
from .fsutil import atomic_write_text
from .up_to_date import installed_stamps

ENTRY_POINTS = "flowclass.nodes"  # group of installed packages' node modules
MEMO = "installed.json"
STORE = "run_records"


class Installed(NamedTuple):
    platform: str  # as run.json names it
    versions: dict[str, str | None]  # package -> version (None: not installed)
    entry_points: list[list[str]]  # [name, value, distribution] of each node entry point


def read_installed() -> Installed:
    """Read from the packages' metadata now."""
    from importlib.metadata import entry_points

    from .manifest import package_versions, platform_name

    points = [[p.name, p.value, p.dist.name if p.dist is not None else ""]
              for p in entry_points(group=ENTRY_POINTS)]
    return Installed(platform_name(), package_versions(), sorted(points))


def installed(cache: Cache) -> Installed:
    """What is installed: as kept in the cache while no ``sys.path`` folder changed, else read
    (and kept, when the cache can be written)."""
    stamps = installed_stamps()
    if stamps[0] == [None]:  # no kernel name to tell an upgraded system by (Windows)
        return read_installed()
    path = cache.root / "stores" / STORE / MEMO
    try:
        kept = safe_json.loads(path.read_text(encoding="utf-8"))
        if kept["stamps"] == stamps and kept["python"] == sys.executable:
            return Installed(str(kept["platform"]), dict(kept["versions"]), list(kept["entry_points"]))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    found = read_installed()
    if any(len(s) == 2 and s[1] is not None and time.time_ns() - s[1] < 5 * 10**9 for s in stamps[2:]):
        return found  # a folder changed just now: an install may still be under way
    try:
        cache.store_dir(STORE)
        atomic_write_text(path, json.dumps({"python": sys.executable, "stamps": stamps,
                                            "platform": found.platform, "versions": found.versions,
                                            "entry_points": found.entry_points}), fsync=False)
    except (OSError, ValueError):
        pass
    return found
