"""Results that write into the run's output folder, moved into another output folder.

A node that writes files into the output folder (Export to Folders, Save Table) makes the
same files whichever ``--out`` a run names, except for where they go. Such a node declares
``relocate``; its cache key then names its output paths by where they are *inside* the
output folder (:func:`placed`), and its cached result remembers the output folder it was
made for (``meta["out_dir"]``). An unchanged re-run into a new output folder does not run
it: the engine hands ``relocate`` the files the result wrote there (checked unchanged) and
where they go here; the node copies them (real copies, through its owned folder) and says
how its outputs' values change, which the engine applies when a value is read
(:class:`Relocated`), so nothing is loaded that nobody reads. The engine then keeps the
copies' sizes and times beside the result (:class:`Placements`): the next re-run into that
folder finds them unchanged and copies nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from .cache import Cache
from .cache_entry import CachedResult
from .context import RunContext
from .node import NodeType
from .params import Path as PathParam
from .placements import OUT, PLACED, Placements, inside, lands_in, moves_of


def placed(node_type: NodeType, params: Mapping[str, Any], out_dir: Path) -> dict[str, Any]:
    """``params`` as a relocatable node's key sees them: each output path inside ``out_dir``
    written as ``<out>/...`` (a path elsewhere stays as it is)."""
    keyed = dict(params)
    for param in node_type.params:
        value = keyed.get(param.name)
        if isinstance(param, PathParam) and param.role == "output" and value:
            rel = inside(str(value), str(out_dir))
            if rel is not None:
                keyed[param.name] = f"{OUT}/{rel}" if rel else OUT
    return keyed


def read_paths(node_types: Iterable[tuple[NodeType | None, Mapping[str, Any]]]) -> list[str]:
    """The paths nodes read (their input path parameters, resolved), of (node type, its
    parameters) pairs."""
    return [str(params[param.name]) for node_type, params in node_types if node_type is not None
            for param in node_type.params
            if isinstance(param, PathParam) and param.role == "input" and params.get(param.name)
            and not param.is_name(str(params[param.name]))]


def outputs_of(node_type: NodeType | None, params: Mapping[str, Any]) -> list[str]:
    """The node's output paths (resolved); none of a node type not installed."""
    return [str(params[p.name]) for p in (node_type.params if node_type is not None else ())
            if isinstance(p, PathParam) and p.role == "output" and params.get(p.name)]


def moves(cached: CachedResult, out_dir: Path) -> list[tuple[str, str]] | None:
    """(file written for the other output folder, where it goes in ``out_dir``) for every
    file the cached result wrote; None when one of them is outside that folder."""
    return moves_of(cached.meta, out_dir)


def placements(cache: Cache, key: str) -> Placements:
    """The output folders the result stored under ``key`` was copied into."""
    return Placements(cache.beside(key, PLACED))


Rewrite = Callable[[str, Any], Any]  # (port, value made for the other folder) -> value here


@dataclass
class Relocated(CachedResult):
    """A cached result served for another output folder: its values, rewritten when read."""

    rewrite: Rewrite = field(default=lambda port, value: value, repr=False, compare=False)

    @classmethod
    def of(cls, cached: CachedResult, rewrite: Rewrite) -> "Relocated":
        return cls(cached.key, cached.folder, cached.meta, cached.lease, rewrite)

    def output(self, port: str) -> Any:
        return self.rewrite(port, super().output(port))


def served_elsewhere(cache: Cache, node_type: NodeType, cached: CachedResult, ctx: RunContext,
                     params: dict[str, Any], out_dir: Path, remember: bool = True,
                     read: Iterable[str] = ()) -> Relocated | None:
    """A cached result made for another output folder, served for ``out_dir``: the node
    copies the files it wrote there (unless the copies are there already, unchanged), and
    the copies are remembered (``remember``: the cache can be written); None when the node
    must run (a file it wrote is outside that folder, a folder or a file of the user's in
    the way, a full disk, an output inside a folder of ``read``, the paths the workflow reads:
    the node's own run says what is wrong, if anything still is).
    The engine and the run record (:mod:`flowclass.run_record`) both serve it so."""
    found = moves(cached, out_dir)
    if not found or node_type.relocate is None or lands_in(outputs_of(node_type, params), read):
        return None
    kept, here = placements(cache, cached.key), [new for _, new in found]
    copied = kept.intact(out_dir, here)
    try:
        rewrite = node_type.relocate(ctx, params, found, copied)
    except Exception:
        return None
    if rewrite is None:
        return None
    if not copied and remember:
        kept.remember(out_dir, here, ctx.placed)
    return Relocated.of(cached, rewrite)
