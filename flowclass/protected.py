"""Places no workflow writes into: FlowClass's own folders and the home folder's dot-folders.

A file a workflow puts there could run as code later, or change how programs behave: a
module in a plugin folder, a ``.pth`` file in the installation, a start-up file under
``~/.config``, a key under ``~/.ssh``. Workflows are shared, so every path a node writes
(each output parameter, the run's output folder and the folders made below it) is held
to :meth:`Protected.why` before anything is written. Paths are resolved first, links
included, so a link elsewhere that points into one of these places is caught too.
"""

# No ``from __future__ import annotations`` (see flowclass/fsutil.py): this module's
# NamedTuples would compile their annotations.
import os
import site
import sys
from pathlib import Path
from typing import Iterable, NamedTuple


class Place(NamedTuple):
    """A protected folder (resolved) and what it is, for messages."""

    folder: Path
    what: str


class Protected(NamedTuple):
    """The protected places of this user and installation; :meth:`why` checks a path."""

    places: tuple[Place, ...]
    home: Path | None

    @classmethod
    def here(cls, plugin_folders: Iterable[str | os.PathLike[str]] = (),
             cache: str | os.PathLike[str] | None = None) -> "Protected":
        """FlowClass's settings, cache and plugin folders (``plugin_folders``, the cache in
        use), its installation and Python's, and the home folder (for its dot-folders)."""
        return cls.of(wanted(plugin_folders, cache))

    @classmethod
    def of(cls, named: Iterable[tuple[str, str]]) -> "Protected":
        """The places ``named`` (:func:`wanted`) resolved now, and the home folder."""
        places = tuple(Place(_resolved(folder), what) for folder, what in named)
        try:
            home: Path | None = _resolved(Path.home())
        except (RuntimeError, KeyError):  # no home folder known
            home = None
        return cls(places, home)

    def why(self, path: str | os.PathLike[str]) -> str | None:
        """Why nothing may be written at or below ``path``, or None when it may be."""
        resolved = _resolved(path)
        parts = resolved.parts
        for place in self.places:
            if resolved == place.folder:
                return f"{resolved} is {place.what}"
            if _below(parts, place.folder):
                return f"{resolved} is inside {place.folder}, {place.what}"
        if self.home is not None and _below(parts, self.home):
            top = resolved.relative_to(self.home).parts[0]
            if top.startswith("."):
                return (f"{resolved} is inside {self.home / top}, a hidden folder of your home "
                        "folder (programs keep their settings, keys and code there)")
        return None


def wanted(plugin_folders: Iterable[str | os.PathLike[str]] = (),
           cache: str | os.PathLike[str] | None = None) -> list[tuple[str, str]]:
    """The protected places as named before they are resolved, each with what it is: they
    follow from the environment and the installations alone, so an unchanged re-run into a
    new ``--out`` keeps them among its witnesses (and imports no platformdirs)."""
    from platformdirs import user_cache_dir, user_config_dir

    return [(user_config_dir("flowclass"), "FlowClass's settings folder"),
            (user_cache_dir("flowclass"), "FlowClass's cache"),
            *((str(folder), "a folder FlowClass loads plugins from") for folder in plugin_folders),
            *([(str(cache), "the cache FlowClass uses")] if cache else []),
            (str(Path(__file__).parent), "FlowClass's installation"),
            *((folder, "Python's installation") for folder in
              sorted({sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix})),
            *((folder, "Python's packages") for folder in _site_folders())]


def _below(parts: tuple[str, ...], folder: Path) -> bool:
    """Whether the resolved path of ``parts`` lies below the resolved ``folder`` (``folder in
    path.parents``, without making a path of each parent: this runs for every folder written)."""
    above = folder.parts
    return len(above) < len(parts) and parts[:len(above)] == above


def _resolved(path: str | os.PathLike[str]) -> Path:
    return Path(path).expanduser().resolve()


def _site_folders() -> list[str]:
    folders = list(getattr(site, "getsitepackages", lambda: [])())
    user = getattr(site, "getusersitepackages", lambda: "")()
    return folders + ([user] if user else [])
