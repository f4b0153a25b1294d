"""One thing wrong with a workflow, found before anything runs: :class:`Problem`.

Apart from :mod:`flowclass.errors`, which every node's folder and copy imports for
:class:`~flowclass.errors.NodeError`: making this frozen dataclass cost an unchanged re-run
into a new ``--out`` (flowclass/new_out.py), which finds no problem, 1.5 % of its instructions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a workflow, found before anything runs."""

    code: str
    message: str
    node: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = []
        if self.node is not None:
            where.append(f"node '{self.node}'")
        if self.field is not None:
            where.append(f"'{self.field}'")
        return f"{', '.join(where)}: {self.message}" if where else self.message

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "node": self.node, "field": self.field}
