"""The canvas reads and writes inside the allowed roots only (``flowclass ui --root DIR``).

The file browser already lists nothing else; this is the same rule for every path a
workflow in the canvas names, typed into the inspector or loaded from a file: each
path parameter (resolved as a run resolves it, symlinks included) and the run's output
folder must lie inside a root. A path outside is a :class:`~flowclass.problems.Problem`
naming the node and field, so the node is flagged and left out of runs like any other
invalid node.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from ..fsutil import expand_user
from ..problems import Problem
from ..params import Path as PathParam
from ..registry import Registry
from ..workflow import Workflow
from .browse import Roots

CODE = "outside_roots"


def outside_roots(workflow: Workflow, registry: Registry, roots: Roots, *, base_dir: Path, out_dir: Path,
                  made: Iterable[Path] = (), shipped: Iterable[Path] = ()) -> list[Problem]:
    """Every path of ``workflow`` (and ``out_dir``) outside ``roots``, as problems.

    ``made`` are folders FlowClass created for this tab (an untitled workflow's temporary
    output folder): paths inside them are allowed too. ``shipped`` are folders that come
    with FlowClass (the ready workflows' data): they may be read, not written.
    """
    shipped = [Path(folder).resolve() for folder in shipped]
    allowed = roots.with_roots(made)
    readable = allowed.with_roots(shipped)
    where = ", ".join(str(r) for r in roots.roots)
    problems = []
    if in_shipped(out_dir, shipped):  # a root may hold them (`flowclass ui workflows/X.json`)
        problems.append(Problem(CODE, f"the output folder {out_dir} is in FlowClass's ready workflows, "
                                      "which are never written; choose another output folder"))
    elif not allowed.allows(out_dir):
        problems.append(Problem(CODE, f"the output folder {out_dir} is outside the folders this canvas "
                                      f"may use ({where}); choose another output folder"))
    for spec in workflow:
        node_type = registry.get(spec.type)
        for param in node_type.params if node_type else ():
            value = spec.params.get(param.name, param.default)
            if not isinstance(param, PathParam) or not isinstance(value, str) or not value or "\0" in value \
                    or param.is_name(value):
                continue
            path = param.resolve(value, base_dir, out_dir)  # links resolved: where it really is
            if param.role != "input" and in_shipped(path, shipped):
                problems.append(Problem(CODE, f"{path} is in FlowClass's ready workflows, which are never "
                                              "written; pick a path elsewhere", node=spec.id, field=param.name))
            elif not (readable if param.role == "input" else allowed).allows(path):
                shown = os.path.abspath(os.path.join(base_dir if param.role == "input" else out_dir,
                                                     os.path.expanduser(value)))  # not where a link leads
                problems.append(Problem(CODE, f"{shown} is outside the folders this canvas may "
                                              f"{'read' if param.role == 'input' else 'write'} ({where}); "
                                              "pick a path inside them, or restart with --root",
                                        node=spec.id, field=param.name))
    return problems


def in_shipped(path: str | os.PathLike[str], shipped: Iterable[Path]) -> bool:
    """Whether ``path`` (links resolved) lies in one of the ``shipped`` folders."""
    resolved = expand_user(path).resolve()
    return any(resolved.is_relative_to(folder) for folder in shipped)
