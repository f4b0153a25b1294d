"""Validation: every problem of a workflow, found at once, before anything runs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence


from .errors import ParamValueError, shown_value
from .fsutil import folded
from .problems import Problem
from .registry import Registry
from .workflow import NODE_ID, Workflow


def validate(workflow: Workflow, registry: Registry) -> list[Problem]:
    """All problems of ``workflow`` against ``registry``; an empty list means it may run.

    To also get the checked parameters, or paths made absolute and checked on disk, use
    :func:`flowclass.resolution.resolve`.
    """
    return check(workflow, registry)[1]


def check(workflow: Workflow, registry: Registry, order: Sequence[str] | None = None
          ) -> tuple[dict[str, dict[str, Any]], list[Problem]]:
    """The checked parameters of every sound node (validated once, defaults filled in), and
    every problem of the workflow. ``order``: a parents-first order of the nodes the caller
    holds (an earlier run's); when it fits, it proves there is no cycle to look for."""
    problems: list[Problem] = []
    params: dict[str, dict[str, Any]] = {}
    ids = Counter(n.id for n in workflow.nodes)
    for node_id, count in ids.items():
        if count > 1:
            problems.append(Problem("duplicate_id", f"{count} nodes share this id", node=node_id))
        if not NODE_ID.match(node_id):
            problems.append(Problem("bad_id", "a node id may hold letters, digits, '_' and '-' and "
                                    "must not start with a digit", node=node_id))
    problems.extend(_case_problems(ids))
    for spec in workflow.nodes:
        checked, found = node_params(spec, registry)
        problems.extend(found)
        if not found:
            params[spec.id] = checked
    problems.extend(_edge_problems(workflow, registry))
    if order is None or not workflow.runs_in(order):
        problems.extend(_cycle_problems(workflow))
    if not problems:  # wiring rules read other nodes' params: only once each node is sound
        problems.extend(_wiring_problems(workflow, registry))
    return params, problems


def _case_problems(ids: Counter[str]) -> list[Problem]:
    """Ids that differ only in case: a node's id names the files it saves into the output
    folder (``cluster-dendrogram.png``) and its masks folder (``cluster_masks``), one file
    for both on a file system that ignores case (macOS, Windows, FAT)."""
    first: dict[str, str] = {}
    problems = []
    for node_id in ids:
        seen = first.setdefault(folded(node_id), node_id)
        if seen != node_id:
            problems.append(Problem("duplicate_id", f"the ids '{seen}' and '{node_id}' differ only in case: "
                                    "their files would be one on macOS and Windows; rename one", node=node_id))
    return problems


@dataclass(frozen=True)
class Wired:
    """A node as a wiring check sees it: its type, its params (defaults filled in), and
    the nodes feeding its inputs, so a rule may follow the graph upstream."""

    workflow: Workflow
    registry: Registry
    id: str

    @property
    def type(self) -> str:
        return self.workflow.node(self.id).type

    @property
    def title(self) -> str:
        return self.registry.title(self.workflow.node(self.id))

    @property
    def params(self) -> dict[str, Any]:
        spec = self.workflow.node(self.id)
        return {**self.registry.get(spec.type).default_params(), **spec.params}

    def feeding(self, port: str) -> "Wired | None":
        """The node connected to input ``port``, or None when nothing is."""
        edge = self.workflow.edge_into(self.id, port)
        return Wired(self.workflow, self.registry, edge.source.node) if edge else None


def _wiring_problems(workflow: Workflow, registry: Registry) -> list[Problem]:
    problems = []
    for spec in workflow.nodes:
        node_type = registry.get(spec.type)
        if node_type is not None and node_type.check_wiring is not None:
            for field, message in node_type.check_wiring(Wired(workflow, registry, spec.id)):
                problems.append(Problem("bad_wiring", message, node=spec.id, field=field))
    return problems


def node_params(spec: Any, registry: Registry) -> tuple[dict[str, Any], list[Problem]]:
    """One node's parameters, each validated (and normalised) once with defaults filled in,
    and the problems found; the parameters are complete only when there are none."""
    checked: dict[str, Any] = {}
    return checked, _node_problems(spec, registry, checked)


def did_you_mean(name: str, known: list[str]) -> str:
    """'; did you mean 'X'?' for the known name closest to a misspelt one, or nothing."""
    import difflib  # only to name what a misspelt name meant

    close = difflib.get_close_matches(name, known, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _unknown_param(node_type: Any, name: str, value: Any) -> str:
    """Says which parameter a misspelt one probably meant, and its value, which the canvas cannot show."""
    names = [p.name for p in node_type.params]
    meant = did_you_mean(name, names)
    return f"unknown parameter '{name}' = {shown_value(value)}{meant} (known: {', '.join(names) or 'none'})"


# Each unknown parameter is looked up among the known names: a stranger's 10,000 nodes of 100
# each took 14 s of CPU and printed 1,000,000 problems. A node's first few say what is wrong.
MAX_UNKNOWN_SHOWN = 10


def _unknown_params(spec: Any, node_type: Any) -> list[Problem]:
    """A problem for each of the node's first MAX_UNKNOWN_SHOWN unknown parameters, then one
    counting the rest."""
    unknown = [name for name in spec.params if node_type.param(name) is None]
    problems = [Problem("unknown_param", _unknown_param(node_type, name, spec.params[name]), node=spec.id,
                        field=name) for name in unknown[:MAX_UNKNOWN_SHOWN]]
    if len(unknown) > MAX_UNKNOWN_SHOWN:
        rest = unknown[MAX_UNKNOWN_SHOWN:]
        problems.append(Problem("unknown_param", f"and {len(rest):,} more unknown parameters", node=spec.id,
                                field=rest[0]))
    return problems


def _node_problems(spec: Any, registry: Registry, checked: dict[str, Any]) -> list[Problem]:
    node_type = registry.get(spec.type)
    if node_type is None:
        hint = ""
        if registry.plugin_errors:
            hint = " (some plugins failed to load: " + "; ".join(map(str, registry.plugin_errors)) + ")"
        meant = did_you_mean(spec.type, [t.type for t in registry])
        return [Problem("unknown_type", f"unknown node type '{spec.type}'{meant}{hint}", node=spec.id,
                        field="type")]
    if spec.version > node_type.version:
        return [Problem("newer_version", f"saved by version {spec.version} of '{spec.type}'; this "
                        f"FlowClass has version {node_type.version} — please upgrade",
                        node=spec.id, field="version")]
    problems = _unknown_params(spec, node_type)
    for param in node_type.params:
        if param.name not in spec.params:
            if param.required:
                problems.append(Problem("missing_param", f"required parameter is missing "
                                        f"({param.expected()})", node=spec.id, field=param.name))
            else:
                checked[param.name] = param.default
            continue
        try:
            checked[param.name] = param.validate(spec.params[param.name])
        except ParamValueError as exc:
            problems.append(Problem("bad_value", str(exc), node=spec.id, field=param.name))
    if node_type.check is not None and len(checked) == len(node_type.params):
        for field, message in node_type.check(checked):
            problems.append(Problem("bad_value", message, node=spec.id, field=field))
    return problems


def _edge_problems(workflow: Workflow, registry: Registry) -> list[Problem]:
    problems = []
    specs = {n.id: n for n in workflow.nodes}
    fed: Counter[tuple[str, str]] = Counter()
    for edge in workflow.edges:
        source, target = specs.get(edge.source.node), specs.get(edge.target.node)
        dangling = [end for end, spec in ((edge.source, source), (edge.target, target)) if spec is None]
        for end in dangling:
            problems.append(Problem("dangling_edge", f"edge {edge} refers to node '{end.node}', "
                                    "which is not in the workflow", node=end.node))
        if dangling:
            continue
        fed[(edge.target.node, edge.target.port)] += 1
        source_type, target_type = registry.get(source.type), registry.get(target.type)
        if source_type is None or target_type is None:
            continue  # reported as an unknown type already
        out = source_type.output(edge.source.port)
        inp = target_type.input(edge.target.port)
        if out is None:
            names = ", ".join(p.name for p in source_type.outputs)
            problems.append(Problem("unknown_port", f"has no output port '{edge.source.port}' "
                                    f"(outputs: {names})", node=source.id, field=edge.source.port))
        if inp is None:
            names = ", ".join(p.name for p in target_type.inputs) or "none"
            problems.append(Problem("unknown_port", f"has no input port '{edge.target.port}' "
                                    f"(inputs: {names})", node=target.id, field=edge.target.port))
        if out is not None and inp is not None and not inp.type.takes(out.type):
            problems.append(Problem(
                "incompatible_ports", f"input '{inp.name}' takes {inp.type.title} but "
                f"'{source.id}.{out.name}' gives {out.type.title}", node=target.id, field=inp.name))
    for (node_id, port), count in fed.items():
        if count > 1:
            problems.append(Problem("multiple_edges", f"input '{port}' has {count} incoming edges; "
                                    "an input takes one", node=node_id, field=port))
    for spec in workflow.nodes:
        node_type = registry.get(spec.type)
        if node_type is None:
            continue
        for inp in node_type.inputs:
            if not inp.optional and (spec.id, inp.name) not in fed:
                problems.append(Problem("missing_input", "nothing is connected to this input; connect "
                                        f"an output giving {inp.type.title} to it", node=spec.id,
                                        field=inp.name))
    return problems


def _cycle_problems(workflow: Workflow) -> list[Problem]:
    from .graph import find_cycle  # networkx

    cycle = find_cycle(workflow)
    if cycle is None:
        return []
    path = " -> ".join(cycle + [cycle[0]])
    return [Problem("cycle", f"the workflow has a cycle: {path}", node=cycle[0])]
