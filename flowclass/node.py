"""Node declarations: one frozen object says everything about a node type.

A node type states its id, version, title, category, typed input and output ports, its
parameters by name, and the pure function that runs it. The engine, validation, the CLI's
``flowclass nodes`` and the canvas palette and inspector are all derived from it.

The run function receives a :class:`~flowclass.context.RunContext` (progress, warnings,
cancellation, storage: all a node may use besides its inputs) and every input and
parameter as keyword arguments, and returns a dict ``{output name: value}``::

    @node(type="distances", title="Distances", category="Unsupervised",
          inputs=[Input("embeddings", EMBEDDINGS)], outputs=[Output("distances", DISTANCES)],
          params=[Choice(name="metric", default="cosine", choices=("cosine", "euclidean"))])
    def distances(ctx: RunContext, *, embeddings, metric):
        ...
        return {"distances": matrix}
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Concatenate, Iterable, Mapping

from .context import RunContext
from .datatypes import DataType
from .params import Param

TYPE_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
CATEGORIES_ORDER = ("Input", "Embedding", "Unsupervised", "Supervised", "Cleaning", "Pixels", "Output")


@dataclass(frozen=True, eq=False)
class Input:
    name: str
    type: DataType
    title: str = ""
    help: str = ""
    optional: bool = False

    @property
    def label(self) -> str:
        return self.title or self.name.replace("_", " ").capitalize()

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type.name, "title": self.label,
                "help": self.help, "optional": self.optional}


@dataclass(frozen=True, eq=False)
class Output:
    name: str
    type: DataType
    title: str = ""
    help: str = ""

    @property
    def label(self) -> str:
        return self.title or self.name.replace("_", " ").capitalize()

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type.name, "title": self.label, "help": self.help}


# check(params) -> iterable of (field, message) for rules that tie parameters together.
CrossCheck = Callable[[Mapping[str, Any]], Iterable[tuple[str, str]]]
# check_wiring(node) -> iterable of (field, message) for rules that tie a node to the nodes
# feeding it; ``node`` is a :class:`flowclass.validation.Wired` view (type, params, feeding).
WiringCheck = Callable[[Any], Iterable[tuple[str, str]]]
# reports(source) -> {file name: write(path)}: what a run saves in its output folder from the
# node's results (tables, pictures); ``source`` is a :class:`flowclass.reports.ReportSource`.
# They are made once per result and kept in the cache (see flowclass.reports).
Reports = Callable[[Any], Mapping[str, Callable[[Any], None]]]
# run(ctx, **inputs, **params) -> {output name: value}: the node's work.
NodeRun = Callable[Concatenate[RunContext, ...], Mapping[str, Any]]
# fingerprint(ctx, params) -> str: what the node reads from outside its inputs (files).
Fingerprint = Callable[[RunContext, Mapping[str, Any]], str]
# outputs_exist(outputs, params) -> bool: are the files a cached result claims still there?
OutputsCheck = Callable[[Mapping[str, Any], Mapping[str, Any]], bool]
# relocate(ctx, params, moves, copied) -> rewrite(port, value) -> value, or None: for a node
# that writes into the run's output folder, put the files a result made for another output
# folder wrote (moves: (file there, where it goes here), checked unchanged) into this one, or
# with ``copied`` only say (they are here already, unchanged), and say how its outputs'
# values change; None when it cannot (the node then runs). See flowclass.relocation.
Relocate = Callable[[RunContext, Mapping[str, Any], list[tuple[str, str]], bool],
                    Callable[[str, Any], Any] | None]
# A migration turns the params of version n into those of version n + 1.
Migration = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True, eq=False)
class NodeType:
    """The complete declaration of a node type."""

    type: str
    title: str
    category: str
    run: NodeRun
    version: int = 1
    description: str = ""
    inputs: tuple[Input, ...] = ()
    outputs: tuple[Output, ...] = ()
    params: tuple[Param, ...] = ()
    check: CrossCheck | None = None
    check_wiring: WiringCheck | None = None
    reports: Reports | None = None
    # modules the reports import (matplotlib...): imported in the background while the node runs
    reports_need: tuple[str, ...] = ()
    fingerprint: Fingerprint | None = None
    # A node that writes files is never served from cache unless the files it declared
    # with ``ctx.wrote(...)`` are all still there unchanged (and ``outputs_exist``, if given,
    # agrees); with neither, it always runs. Such nodes must be idempotent.
    writes_files: bool = False
    # False for a node whose result is a cheap view of its inputs (Distances holds its input's
    # vectors): storing it would only copy them. It is then made whenever a value of it is
    # wanted, and otherwise reported as cached.
    cache: bool = True
    # True for a node that stores each finished item as it goes (Embed's vectors, batch by
    # batch), so a stopped run's next one goes on from there: its progress counts what is
    # kept, and the canvas says so on the node of a stopped run. A node of several phases,
    # only some of which count what they stored, names those phases (the ``message`` of
    # their progress): Find Duplicates counts what it keeps while looking at images and
    # comparing fine detail; in between, what is left to compare.
    keeps_progress: bool | tuple[str, ...] = False
    outputs_exist: OutputsCheck | None = None
    # With writes_files: a result made for another output folder is copied here instead of
    # made again (an unchanged re-run into a new --out); see flowclass.relocation.
    relocate: Relocate | None = None
    migrations: Mapping[int, Migration] = field(default_factory=dict)
    # Raised when the implementation's results change while the parameters stay as they were
    # (``version`` is the parameters' schema): results cached by an older revision are not
    # served. 0 adds nothing to the cache key, so earlier keys stay valid.
    revision: int = 0

    def __post_init__(self) -> None:
        problems = list(self._declaration_problems())
        if problems:
            raise ValueError(f"node type '{self.type}' is declared wrongly: " + "; ".join(problems))

    def _declaration_problems(self) -> Iterable[str]:
        if not TYPE_ID.match(self.type):
            yield f"type id {self.type!r} must be lower_snake_case, dot-separated"
        if not isinstance(self.revision, int) or self.revision < 0:
            yield f"revision must be a whole number >= 0, got {self.revision!r}"
        if self.version < 1:
            yield "version must be >= 1"
        names = [p.name for p in self.inputs] + [p.name for p in self.params]
        if len(set(names)) != len(names):
            yield "inputs and parameters must have distinct names (they are keyword arguments of run)"
        outs = [p.name for p in self.outputs]
        if len(set(outs)) != len(outs):
            yield "output names must be distinct"
        if not self.outputs:
            yield "a node needs at least one output"
        if isinstance(self.keeps_progress, tuple) and not all(isinstance(p, str) and p for p in self.keeps_progress):
            yield "keeps_progress names phases by their progress messages: non-empty strings"
        if self.relocate is not None and not self.writes_files:
            yield "relocate moves the files a node writes: it needs writes_files=True"
        missing = [v for v in range(1, self.version) if v not in self.migrations]
        if missing:
            yield f"migrations must cover every older version; missing {missing}"
        yield from _signature_problems(self.run, names)

    def __call__(self, ctx: RunContext, **arguments: Any) -> Mapping[str, Any]:
        """Run the node's function directly (for scripts and tests; the engine uses ``run``)."""
        return self.run(ctx, **arguments)

    def counts_kept(self, phase: str) -> bool:
        """Whether this node's progress in ``phase`` (its message) counts items it has stored."""
        if isinstance(self.keeps_progress, tuple):
            return phase in self.keeps_progress
        return bool(self.keeps_progress)

    def input(self, name: str) -> Input | None:
        return next((p for p in self.inputs if p.name == name), None)

    def output(self, name: str) -> Output | None:
        return next((p for p in self.outputs if p.name == name), None)

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def default_params(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params if not p.required}

    def migrate_params(self, params: dict[str, Any], from_version: int) -> dict[str, Any]:
        """Bring params saved by an older version of this node type up to date."""
        for version in range(from_version, self.version):
            step = self.migrations.get(version)
            if step is None:
                raise ValueError(
                    f"node type '{self.type}' has no migration from version {version}")
            params = step(dict(params))
        return params

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.type, "version": self.version, "title": self.title,
            "category": self.category, "description": self.description,
            "inputs": [p.describe() for p in self.inputs],
            "outputs": [p.describe() for p in self.outputs],
            "params": [p.describe() for p in self.params],
            "writes_files": self.writes_files,
        }


def _signature_problems(run: Callable[..., Any], declared: list[str]) -> Iterable[str]:
    """Does ``run(ctx, **inputs, **params)`` fit the declaration? Checked when a node type is
    declared, so a renamed parameter fails at import, not in the middle of a run."""
    try:
        signature = inspect.signature(run)
    except (TypeError, ValueError):
        return  # a builtin or C function: nothing to compare
    kinds = inspect.Parameter
    params = list(signature.parameters.values())
    positional = [p for p in params if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)]
    if not positional and not any(p.kind == kinds.VAR_POSITIONAL for p in params):
        yield "run() must take the run context as its first argument"
        return
    rest = [p for p in params if p is not (positional[0] if positional else None)]
    if not any(p.kind == kinds.VAR_KEYWORD for p in rest):
        takes = {p.name for p in rest if p.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY)}
        unknown = [name for name in declared if name not in takes]
        if unknown:
            yield f"run() has no argument for declared input/parameter {', '.join(map(repr, unknown))}"
    needed = [p.name for p in rest if p.default is kinds.empty and p.name not in declared
              and p.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY)]
    if needed:
        yield (f"run() needs {', '.join(map(repr, needed))}, which the node does not declare as "
               "an input or parameter")


def node(**declaration: Any) -> Callable[[Callable[..., Mapping[str, Any]]], NodeType]:
    """Declare a node type around its run function (see the module docstring)."""

    def wrap(run: Callable[..., Mapping[str, Any]]) -> NodeType:
        for key in ("inputs", "outputs", "params"):
            if key in declaration:
                declaration[key] = tuple(declaration[key])
        description = declaration.pop("description", None) or (run.__doc__ or "").strip()
        return NodeType(run=run, description=description, **declaration)

    return wrap
