"""``--set NODE.PARAM=VALUE``: changing parameters from the command line.

Values are parsed by the parameter's own declaration (numbers, true/false, choices). A
relative *input* path given on the command line means relative to where the user typed it,
so it is made absolute here; a relative *output* path stays relative to ``--out``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from .errors import ParamValueError, WorkflowInvalid
from .problems import Problem
from .params import Path as PathParam, absolute
from .registry import Registry
from .validation import did_you_mean
from .workflow import Workflow


def named_by(assignments: Iterable[str]) -> frozenset[tuple[str, str]]:
    """The (node, parameter) pairs the assignments name: a path the user gave this way is
    theirs, so an output there may lie outside ``--out`` (:class:`flowclass.resolution.Dirs`)."""
    pairs = set()
    for text in assignments:
        target = text.partition("=")[0]
        node_id, _, name = target.strip().partition(".")
        pairs.add((node_id, name))
    return frozenset(pairs)


def apply_overrides(workflow: Workflow, registry: Registry, assignments: Iterable[str],
                    cwd: str | None = None) -> Workflow:
    """A copy of ``workflow`` with the assignments applied; every bad one is reported."""
    problems: list[Problem] = []
    for text in assignments:
        target, sep, raw = text.partition("=")
        node_id, dot, name = target.strip().partition(".")
        if not sep or not dot or not node_id or not name:
            problems.append(Problem("bad_override", f"--set {text!r}: expected NODE.PARAM=VALUE"))
            continue
        spec = workflow.node(node_id)
        if spec is None:
            ids = [n.id for n in workflow.nodes]
            problems.append(Problem("bad_override", f"--set: no node '{node_id}'{did_you_mean(node_id, ids)} "
                                    f"(nodes: {', '.join(ids)})",
                                    node=node_id))
            continue
        node_type = registry.get(spec.type)
        param = node_type.param(name) if node_type else None
        if param is None:
            names = [p.name for p in node_type.params] if node_type else []
            known = ", ".join(names) if node_type else "unknown type"
            problems.append(Problem("bad_override", f"--set: no parameter '{name}'{did_you_mean(name, names)} "
                                    f"(known: {known})",
                                    node=node_id, field=name))
            continue
        try:
            value = param.parse(raw)
        except ParamValueError as exc:
            problems.append(Problem("bad_value", f"--set: {exc}", node=node_id, field=name))
            continue
        if (isinstance(param, PathParam) and param.role == "input" and value
                and not Path(value).expanduser().is_absolute()):
            value = absolute(value, Path(cwd or os.getcwd()))
        workflow = workflow.with_params(node_id, **{name: value})
    if problems:
        raise WorkflowInvalid(problems)
    return workflow
