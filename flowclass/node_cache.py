"""A node's place in the cache: the key its result is found under, and whether the result
found there may be served.

Both questions read the disk (the node's paths, its fingerprint, the files a result wrote),
so they are asked in one place for the engine and for the run record
(:mod:`flowclass.run_record`), which must agree with the engine to the letter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

from .cache_entry import CacheDamaged, CachedResult
from .cache_key import cache_key
from .context import RunContext
from .errors import CodecError, NodeError
from .fsutil import file_stamp
from .node import NodeType
from .reads import Reads
from .relocation import placed
from .resolution import path_problems
from .workflow import Workflow


def node_key(workflow: Workflow, node_id: str, node_type: NodeType, params: Mapping[str, Any],
             ctx: RunContext, out_dir: Path, key_of: Callable[[str], str | None]) -> tuple[str, str | None]:
    """(cache key, fingerprint) of a node: its paths checked on disk (NodeError naming the
    field when one is wrong), its fingerprint taken (what it read then in ``ctx.reads``),
    its output paths placed in ``out_dir``; ``key_of(node)`` gives the key of a node feeding it."""
    for problem in path_problems(node_id, node_type, params):
        raise NodeError(problem.message, field=problem.field)
    ctx.reads = Reads()  # what the fingerprint tells it read (none read nothing)
    fingerprint = node_type.fingerprint(ctx, params) if node_type.fingerprint is not None else None
    if node_type.fingerprint is None:
        ctx.reads.all_told()
    keyed = placed(node_type, params, out_dir) if node_type.relocate is not None else params
    sources: dict[str, tuple[str | None, str] | None] = {}
    for inp in node_type.inputs:
        edge = workflow.edge_into(node_id, inp.name)
        sources[inp.name] = None if edge is None else (key_of(edge.source.node), edge.source.port)
    return cache_key(node_type, keyed, sources, fingerprint), fingerprint


def file_state(path: str) -> list[int]:
    """[size, mtime_ns] of a file (not following links); [-1, -1] when it is gone."""
    try:
        return list(file_stamp(path, follow_symlinks=False))
    except OSError:
        return [-1, -1]


def reusable(node_type: NodeType, cached: CachedResult, params: dict[str, Any],
             on_damage: Callable[[str], None] | None = None) -> bool:
    """A cached result counts unless it claims files that are gone or changed; one whose
    outputs turn out damaged when its files are checked is told to ``on_damage`` too."""
    if not node_type.writes_files:
        return True
    receipts = cached.meta.get("files")
    if receipts is not None and any(file_state(path) != [size, mtime]
                                    for path, size, mtime in receipts):
        return False
    if node_type.outputs_exist is None:
        return receipts is not None
    try:
        return bool(node_type.outputs_exist(cached.outputs(), params))
    except CacheDamaged as exc:
        if on_damage is not None:
            on_damage(str(exc))
        return False
    except (OSError, CodecError, ValueError):
        return False
