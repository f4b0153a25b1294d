"""Port data types: the small closed set of things that flow along edges.

A data type is declared by the node library (``nodes.datatypes``), not here: the engine
only needs a name to check connections, a colour for the canvas, and, where one type can
stand in for another (clusters used as a table), a conversion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True, eq=False)
class DataType:
    """A kind of value that an output produces and an input consumes."""

    name: str
    title: str
    color: str
    description: str = ""
    # Names of other types an input of this type also takes; ``convert`` turns such a
    # value into this type (e.g. a "table" input accepts "clusters" via ``to_table``).
    accepts: tuple[str, ...] = ()
    convert: Callable[[Any], Any] | None = None
    # ``tabular`` values can show themselves as a table; an input whose type sets
    # ``accepts_tabular`` takes any of them (that is how every value fits "Save Table").
    tabular: bool = False
    accepts_tabular: bool = False

    def takes(self, other: "DataType") -> bool:
        """Whether an output of type ``other`` may connect to an input of this type."""
        return (other.name == self.name or other.name in self.accepts
                or (self.accepts_tabular and other.tabular))

    def adapt(self, value: Any, source: "DataType") -> Any:
        """The value an input of this type receives from an output of type ``source``."""
        if source.name == self.name or self.convert is None:
            return value
        return self.convert(value)

    def describe(self) -> dict[str, Any]:
        return {"title": self.title, "color": self.color, "description": self.description,
                "accepts": list(self.accepts), "tabular": self.tabular,
                "accepts_tabular": self.accepts_tabular}
