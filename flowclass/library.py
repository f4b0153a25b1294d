"""The composition root: the built-in node library plus plugins, for FlowClass's front ends.

The only module of ``flowclass/`` (with ``cli.py``) that imports ``nodes/``: the core and
the canvas get what they need of the node library from here.

Plugin folders come from ``--plugins`` options, the ``FLOWCLASS_PLUGINS`` environment
variable (folders separated by ``os.pathsep``) and the user's config folder
(``<config>/flowclass/plugins``) when it exists.
"""

from __future__ import annotations

import functools
import importlib
import os
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Iterable

from platformdirs import user_config_dir

from .registry import Registry


def ready_workflows_dir() -> Path:
    """The folder of ready workflows: the repository's workflows/, or the copy in the wheel."""
    checkout = Path(__file__).resolve().parent.parent / "workflows"
    return checkout if checkout.is_dir() else Path(__file__).resolve().parent / "workflows"


@functools.cache
def image_suffixes() -> frozenset[str]:
    """The file suffixes the node library reads as images (".jpg", ...), for the folder browser."""
    from nodes.lib.imaging import IMAGE_EXTENSIONS

    return frozenset(f".{ext}" for ext in IMAGE_EXTENSIONS)


def output_folder(root: Path) -> AbstractContextManager[Any]:
    """A run's output folder, locked and journalled: written only over FlowClass's own files
    (the reports of :mod:`flowclass.reports` go through it)."""
    from nodes.lib.owned_files import owned_folder

    return owned_folder(root, field="out")


def plugin_folders(extra: Iterable[str | os.PathLike[str]] = ()) -> list[Path]:
    folders = [Path(p) for p in os.environ.get("FLOWCLASS_PLUGINS", "").split(os.pathsep) if p]
    folders += [Path(p) for p in extra]
    user = Path(user_config_dir("flowclass")) / "plugins"
    if user.is_dir():
        folders.append(user)
    return folders


def default_registry(plugins: Iterable[str | os.PathLike[str]] = ()) -> Registry:
    import nodes

    registry = Registry.from_modules(importlib.import_module(name) for name in nodes.FAMILIES)
    for folder in plugin_folders(plugins):
        registry.add_plugin_folder(folder)
    return registry
