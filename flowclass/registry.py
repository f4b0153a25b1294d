"""The node registry: every node type the engine, the CLI and the canvas may use.

A registry is a plain object built from node modules (each lists its node types in a
``NODES`` list and may list their viewers in ``VIEWERS``) and handed to whoever needs it;
there is no global mapping. Plugin folders add modules by path. The engine never imports
the node library itself. Each node type keeps where it came from (:attr:`Registry.origins`),
which ``flowclass nodes`` shows.
"""

from __future__ import annotations

import importlib.util
import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Iterable, Iterator, NamedTuple

from .datatypes import DataType
from .node import CATEGORIES_ORDER, NodeType

if TYPE_CHECKING:
    from .viewers import Viewer


class PluginError(NamedTuple):
    """A plugin file that could not be loaded; the rest of the registry still works."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"plugin {self.path}: {self.message}"


@dataclass
class Registry:
    node_types: dict[str, NodeType] = field(default_factory=dict)
    plugin_errors: list[PluginError] = field(default_factory=list)
    #: The families' viewers: Viewer objects, or names of viewer modules the canvas imports
    #: when it opens (so that a headless run never imports NiceGUI).
    viewers: list[Viewer | str] = field(default_factory=list)
    #: Where each node type came from: a built-in module, a plugin file (and who named its
    #: folder), an installed package's entry point.
    origins: dict[str, str] = field(default_factory=dict)
    #: The plugin folders loaded from: no workflow may write into them.
    plugin_folders: list[Path] = field(default_factory=list)

    @classmethod
    def of(cls, node_types: Iterable[NodeType]) -> "Registry":
        registry = cls()
        for node_type in node_types:
            registry.add(node_type)
        return registry

    @classmethod
    def from_modules(cls, modules: Iterable[ModuleType]) -> "Registry":
        registry = cls()
        for module in modules:
            registry.add_module(module)
        return registry

    # --- building -----------------------------------------------------------------
    def add(self, node_type: NodeType, origin: str = "") -> None:
        if node_type.type in self.node_types:
            raise ValueError(f"node type '{node_type.type}' is declared twice"
                             + (f" (again in {origin})" if origin else ""))
        for port in (*node_type.inputs, *node_type.outputs):
            known = self.data_types().get(port.type.name)
            if known is not None and known is not port.type:
                raise ValueError(f"node type '{node_type.type}': data type '{port.type.name}' "
                                 "is a different object from the one already registered")
        self.node_types[node_type.type] = node_type
        self.origins[node_type.type] = origin

    def add_module(self, module: ModuleType, origin: str = "") -> None:
        """Add a family: its ``NODES`` list and, when it has one, its ``VIEWERS`` list.
        ``origin`` says where it came from (default: the module's name)."""
        declared = getattr(module, "NODES", None)
        if not isinstance(declared, (list, tuple)):
            raise ValueError(f"module {module.__name__} has no NODES list")
        for node_type in declared:
            if not isinstance(node_type, NodeType):
                raise ValueError(f"module {module.__name__}: NODES holds {node_type!r}, not a NodeType")
        viewers = getattr(module, "VIEWERS", [])
        if not isinstance(viewers, (list, tuple)) or not all(isinstance(v, str) or _is_viewer(v) for v in viewers):
            raise ValueError(f"module {module.__name__}: VIEWERS must be a list of viewers "
                             "(flowclass.viewers.viewer) or names of viewer modules")
        for node_type in declared:
            self.add(node_type, origin=origin or module.__name__)
        self.viewers.extend(v for v in viewers if not isinstance(v, str) or v not in self.viewers)

    def add_plugin_folder(self, folder: str | Path, named_by: str = "") -> None:
        """Load every ``*.py`` file of ``folder`` that declares ``NODES``.

        ``named_by`` says where the user named the folder (``--plugins``, a config file),
        for :attr:`origins`. A broken plugin is recorded in :attr:`plugin_errors` (named by
        its path) and skipped, so one bad file does not take the whole tool down.
        """
        folder = Path(folder)
        self.plugin_folders.append(folder)
        if not folder.is_dir():
            self.plugin_errors.append(PluginError(str(folder), "is not a folder"))
            return
        for path in sorted(folder.glob("*.py")):
            if path.name.startswith("_"):
                continue
            digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
            name = f"flowclass_plugin_{path.stem}_{digest}"
            try:
                spec = importlib.util.spec_from_file_location(name, path)
                assert spec is not None and spec.loader is not None
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                spec.loader.exec_module(module)
                self.add_module(module, origin=f"plugin {path}"
                                + (f" (its folder named by {named_by})" if named_by else ""))
            except Exception as exc:  # a plugin may fail in any way; report, do not crash
                sys.modules.pop(name, None)
                self.plugin_errors.append(PluginError(str(path), f"{type(exc).__name__}: {exc}"))

    # --- queries ------------------------------------------------------------------
    def get(self, type_id: str) -> NodeType | None:
        return self.node_types.get(type_id)

    def title(self, spec: Any) -> str:
        """A node as the canvas shows it: its own title, else its type's (its id is shown
        nowhere, so messages name a node by this)."""
        node_type = self.node_types.get(spec.type)
        return spec.title or (node_type.title if node_type else spec.type)

    def __contains__(self, type_id: object) -> bool:
        return type_id in self.node_types

    def __iter__(self) -> Iterator[NodeType]:
        return iter(self.node_types.values())

    def __len__(self) -> int:
        return len(self.node_types)

    def data_types(self) -> dict[str, DataType]:
        found: dict[str, DataType] = {}
        for node_type in self.node_types.values():
            for port in (*node_type.inputs, *node_type.outputs):
                found.setdefault(port.type.name, port.type)
        return found

    def by_category(self) -> list[tuple[str, list[NodeType]]]:
        """Node types grouped by category, in a stable order for palettes and listings."""
        groups: dict[str, list[NodeType]] = {}
        for node_type in self.node_types.values():
            groups.setdefault(node_type.category, []).append(node_type)
        rank = {name: i for i, name in enumerate(CATEGORIES_ORDER)}
        order = sorted(groups, key=lambda c: (rank.get(c, len(rank)), c))
        return [(c, sorted(groups[c], key=lambda t: t.title)) for c in order]

    def describe(self) -> dict[str, Any]:
        """The catalogue the canvas draws from and ``flowclass nodes --json`` prints."""
        data_types = self.data_types()
        return {
            "node_types": [{**t.describe(), "origin": self.origins.get(t.type, "")}
                           for _, types in self.by_category() for t in types],
            "data_types": {name: dt.describe() for name, dt in sorted(data_types.items())},
            "compatible": {
                out: sorted(name for name, dt in data_types.items() if dt.takes(data_types[out]))
                for out in sorted(data_types)
            },
        }


def _is_viewer(value: Any) -> bool:
    """Whether ``value`` is a viewer object (the canvas's module is imported only for a family
    that lists such objects: the built-in ones name their viewer modules)."""
    from .viewers import Viewer

    return isinstance(value, Viewer)
