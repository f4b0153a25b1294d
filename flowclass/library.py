"""The composition root: the built-in node library plus plugins, for FlowClass's front ends.

The only module of ``flowclass/`` (with ``cli.py``) that imports ``nodes/``: the core and
the canvas get what they need of the node library from here.

Plugins run as code, so they load only from places the user enabled explicitly: folders
named by ``--plugins`` options, by the ``FLOWCLASS_PLUGINS`` environment variable (folders
separated by ``os.pathsep``) or by ``plugins = [...]`` in the config file
(``<config>/flowclass/config.toml``), and modules that installed packages declare as
``flowclass.nodes`` entry points. No folder is read just because it exists.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any, Iterable, NamedTuple

from platformdirs import user_config_dir

from .fsutil import expand_user
from .installed import ENTRY_POINTS
from .registry import Registry


def ready_workflows_dir() -> Path:
    """The folder of ready workflows: the repository's workflows/, or the copy in the wheel."""
    checkout = Path(__file__).resolve().parent.parent / "workflows"
    return checkout if checkout.is_dir() else Path(__file__).resolve().parent / "workflows"


def sample_sets() -> tuple[str, ...]:
    """The names of the node library's built-in sample sets (``flowclass sample --dataset``)."""
    from nodes.lib.images.sample_images import DATASETS

    return DATASETS


def write_sample_set(name: str, target: Path) -> Path:
    """Write the built-in sample set ``name`` into the new folder ``target`` (never an existing one)."""
    from nodes.lib.images.sample_images import write_sample

    return write_sample(name, target)


def config_file() -> Path:
    """The user's config file: ``plugins = ["~/my-nodes"]`` names plugin folders."""
    return Path(user_config_dir("flowclass")) / "config.toml"


CONFIG_LIMIT = 1 << 20  # bytes read of the config file at most
MAX_PLUGIN_FOLDERS = 256  # folders the config file may name


class PluginFolder(NamedTuple):
    """A plugin folder and where the user named it."""

    folder: Path
    named_by: str


def plugin_folders(extra: Iterable[str | os.PathLike[str]] = ()) -> tuple[list[PluginFolder], list[str]]:
    """The plugin folders the user named (``--plugins`` ``extra``, ``FLOWCLASS_PLUGINS``, the
    config file), and problems reading the config file."""
    folders = [PluginFolder(expand_user(p), "FLOWCLASS_PLUGINS")
               for p in os.environ.get("FLOWCLASS_PLUGINS", "").split(os.pathsep) if p]
    folders += [PluginFolder(expand_user(p), "--plugins") for p in extra]
    path, problems = config_file(), []
    if path.is_file():
        import tomllib

        try:
            with open(path, "rb") as f:  # a config file is a few lines; never read a huge one whole
                data = f.read(CONFIG_LIMIT + 1)
            if len(data) > CONFIG_LIMIT:
                raise ValueError(f"larger than {CONFIG_LIMIT // 1024} KB, which no config file needs")
            try:
                named = tomllib.loads(data.decode("utf-8")).get("plugins", [])
            except RecursionError:  # tomllib recurses once per nested array or inline table
                raise ValueError("nested too deep to read (arrays or tables inside one another)") from None
            if not isinstance(named, list) or not all(isinstance(p, str) for p in named):
                raise ValueError("'plugins' must be a list of folders, e.g. plugins = [\"~/my-nodes\"]")
            if len(named) > MAX_PLUGIN_FOLDERS:  # each would be a warning at every command
                raise ValueError(f"'plugins' names {len(named):,} folders; at most {MAX_PLUGIN_FOLDERS} are read")
            folders += [PluginFolder(expand_user(p), str(path)) for p in named]
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ValueError) as exc:
            problems.append(f"{exc}; no plugin folder read from it")
    return folders, problems


BUILT_IN = "built-in ({})"  # the origin of a built-in family's node types


def default_registry(plugins: Iterable[str | os.PathLike[str]] = ()) -> Registry:
    from importlib.metadata import entry_points

    from .registry import PluginError

    registry = Registry()
    _add_families(registry, _families())
    for point in sorted(entry_points(group=ENTRY_POINTS), key=lambda p: p.name):
        package = point.dist.name if point.dist is not None else "an installed package"
        try:
            registry.add_module(point.load(), origin=f"entry point '{point.name}' of {package}")
        except Exception as exc:  # an installed plugin may fail in any way; report, do not crash
            registry.plugin_errors.append(PluginError(f"entry point '{point.name}' of {package}",
                                                      f"{type(exc).__name__}: {exc}"))
    folders, problems = plugin_folders(plugins)
    registry.plugin_errors.extend(PluginError(str(config_file()), problem) for problem in problems)
    for found in folders:
        registry.add_plugin_folder(found.folder, named_by=found.named_by)
    return registry


def _add_families(registry: Registry, names: Iterable[str]) -> None:
    for name in names:
        registry.add_module(importlib.import_module(name), origin=BUILT_IN.format(name))


def families_of(registry: Registry, types: Iterable[str]) -> list[str] | None:
    """The built-in families declaring ``types``; None when one is not built in (a plugin's)."""
    found = set()
    for name in types:
        origin = registry.origins.get(name, "")
        family = next((f for f in _families() if origin == BUILT_IN.format(f)), None)
        if family is None:
            return None
        found.add(family)
    return sorted(found)


def families_registry(families: Iterable[str], plugins: Iterable[str | os.PathLike[str]] = (),
                      entry_points: Iterable[Any] = ()) -> Registry | None:
    """A registry of only some built-in families, for a re-run that needs no other: the
    node types are the very ones :func:`default_registry` holds. None when anything else
    could declare node types (a plugin folder named by --plugins, $FLOWCLASS_PLUGINS or the
    config file, a node module an installed package declares, ``entry_points``) or a
    family is not built in."""
    families = list(families)
    if list(entry_points) or not set(families) <= set(_families()):
        return None
    folders, problems = plugin_folders(plugins)
    if folders or problems:
        return None
    registry = Registry()
    _add_families(registry, families)
    return registry


def _families() -> tuple[str, ...]:
    import nodes

    return nodes.FAMILIES
