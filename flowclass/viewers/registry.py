"""The viewers the results panel may use: the generic ones and those the node registry collected."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable

from . import Viewer
from .tables import fallback_viewers

if TYPE_CHECKING:
    from ..registry import Registry

# The generic viewers' modules; families' viewers come from the node registry.
GENERIC: tuple[str, ...] = ("flowclass.viewers.tables", "flowclass.viewers.images")


def viewers_of(entry: "Viewer | str") -> list[Viewer]:
    """A VIEWERS entry as viewers: a Viewer itself, or a module name whose VIEWERS list is imported now."""
    if isinstance(entry, Viewer):
        return [entry]
    declared = getattr(importlib.import_module(entry), "VIEWERS", None)
    if not isinstance(declared, (list, tuple)) or not all(isinstance(v, Viewer) for v in declared):
        raise ValueError(f"viewer module {entry} must have a VIEWERS list of Viewer objects")
    return list(declared)


@dataclass
class ViewerRegistry:
    """The viewers the results panel may use, looked up by data type name."""

    viewers: list[Viewer]
    fallback: Callable[[str, Any], list[Viewer]] | None = None

    @classmethod
    def of(cls, entries: Iterable["Viewer | str"]) -> "ViewerRegistry":
        """The generic viewers plus these (Viewer objects, or names of modules with a VIEWERS list)."""
        return cls([v for entry in (*GENERIC, *entries) for v in viewers_of(entry)], fallback_viewers)

    def for_value(self, data_type: str, value: Any) -> list[Viewer]:
        """The viewers to show ``value`` of ``data_type`` with, as ordered tabs."""
        found = [v for v in self.viewers if v.data_type == data_type and v.fits(value)]
        if not found and self.fallback is not None:
            found = self.fallback(data_type, value)
        return sorted(found, key=lambda v: (v.order, v.title))


def default_viewers(registry: Registry) -> ViewerRegistry:
    """The generic viewers plus every viewer the node registry's families (and plugins) declare."""
    return ViewerRegistry.of(registry.viewers)
