"""Workflow files: JSON in, JSON out, with schema and node-type migrations.

The format (schema 1)::

    {
      "schema_version": 1,
      "name": "...", "description": "...",
      "nodes": [{"id": "embed", "type": "embed", "version": 1, "title": "",
                 "position": {"x": 300, "y": 80}, "params": {"backend": "efficientnet_lite0"}}],
      "edges": [{"from": {"node": "import", "port": "images"},
                 "to": {"node": "embed", "port": "images"}}]
    }

Saving is deterministic (fixed key order, parameters in declaration order, two-space
indent, trailing newline) and atomic (a temporary file renamed over the target), so a
file that is opened and saved unchanged stays byte-identical.
"""

from __future__ import annotations

import codecs
import errno
import json
import math
import os
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Mapping

from . import safe_json
from .errors import WorkflowInvalid
from .problems import Problem
from .fsutil import WriteError, atomic_write_text, clear_dead_temps, is_read_only
from .workflow import Edge, NodeSpec, PortRef, Workflow

SCHEMA_VERSION = 1
MAX_FILE_BYTES = 32 * 2**20  # a workflow of 10,000 nodes is about 5 MiB

# SCHEMA_MIGRATIONS[n] turns a document of schema n into one of schema n + 1. Add one
# here whenever SCHEMA_VERSION goes up; tests open a file of every older schema.
SchemaMigration = Callable[[dict[str, Any]], dict[str, Any]]
SCHEMA_MIGRATIONS: dict[int, SchemaMigration] = {}


def migrate_document(doc: dict[str, Any], migrations: Mapping[int, SchemaMigration] | None = None,
                     current: int = SCHEMA_VERSION) -> dict[str, Any]:
    """Bring a parsed document up to the current schema, one version at a time."""
    migrations = SCHEMA_MIGRATIONS if migrations is None else migrations
    version = doc.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise WorkflowInvalid([Problem("schema", "'schema_version' must be a positive integer; "
                                       f"got {version!r}", field="schema_version")])
    if version > current:
        raise WorkflowInvalid([Problem(
            "schema", f"written by a newer FlowClass (schema {version}); this one reads "
            f"schema {current} and older — please upgrade FlowClass", field="schema_version")])
    while version < current:
        doc = migrations[version](dict(doc))
        version += 1
        doc["schema_version"] = version
    return doc


# --- document <-> model ----------------------------------------------------------

def _parse_node(raw: Any, index: int, problems: list[Problem]) -> NodeSpec | None:
    if not isinstance(raw, dict):
        problems.append(Problem("structure", f"nodes[{index}] must be an object"))
        return None
    node_id, node_type = raw.get("id"), raw.get("type")
    if not isinstance(node_id, str) or not node_id:
        problems.append(Problem("structure", f"nodes[{index}] needs a string 'id'", field="id"))
        return None
    if not isinstance(node_type, str) or not node_type:
        problems.append(Problem("structure", "needs a string 'type'", node=node_id, field="type"))
        return None
    version = raw.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        problems.append(Problem("structure", f"'version' must be a positive integer; got {version!r}",
                                node=node_id, field="version"))
        version = 1
    params = raw.get("params", {})
    if not isinstance(params, dict):
        problems.append(Problem("structure", "'params' must be an object", node=node_id, field="params"))
        params = {}
    elif len(params) > MAX_PARAMS:
        problems.append(Problem("structure", f"'params' holds {len(params):,} parameters; a node has at "
                                f"most {MAX_PARAMS:,}", node=node_id, field="params"))
        params = {}
    pos = raw.get("position", {})
    try:
        position = (float(pos.get("x", 0.0)), float(pos.get("y", 0.0)))
        if not all(math.isfinite(v) for v in position):  # NaN or Infinity: JSON has neither
            raise ValueError(position)
    except (AttributeError, TypeError, ValueError, OverflowError):
        problems.append(Problem("structure", "'position' must be {\"x\": number, \"y\": number}",
                                node=node_id, field="position"))
        position = (0.0, 0.0)
    title = raw.get("title", "")
    title = title if isinstance(title, str) else ""
    problems.extend(_too_long("title", title, MAX_LINE, node_id))
    return NodeSpec(id=node_id, type=node_type, version=version, params=dict(params),
                    position=position, title=title)


# A name or a title is a line, a description a few paragraphs: a stranger's 10 MB one went to
# the canvas's page with every change of the graph, and into run.json three times.
MAX_LINE = 1_000
MAX_DESCRIPTION = 100_000


def _too_long(field: str, text: str, limit: int, node: str | None = None) -> list[Problem]:
    if len(text) <= limit:
        return []
    return [Problem("structure", f"'{field}' is {len(text):,} characters; at most {limit:,}",
                    node=node, field=field)]


def _parse_end(raw: Any) -> PortRef | None:
    if isinstance(raw, dict) and isinstance(raw.get("node"), str) and isinstance(raw.get("port"), str):
        return PortRef(raw["node"], raw["port"])
    return None


# The largest workflow FlowClass ships has 10 nodes, and a canvas of a few hundred is already
# hard to read; 10,000 (about 5 MiB of JSON) leaves room for any real one. Every input takes one
# edge, and no built-in node has more than 3 inputs. A stranger's 400,000 nodes (21 MB, under
# MAX_FILE_BYTES) took 61 s of CPU to validate, at some 150 µs a node.
MAX_NODES = 10_000
MAX_EDGES = 10 * MAX_NODES
# No node type has more than 13 parameters; 200,000 unknown ones on one node (2.7 MB) took 6.6 s
# of CPU to validate, each looked up among the known names, and printed 200,000 problems.
MAX_PARAMS = 100


def _too_many(doc: Mapping[str, Any]) -> list[Problem]:
    """The node or edge list of absurd length, found before any node or edge is looked at."""
    return [Problem("structure", f"the workflow has {len(doc[part]):,} {part}; a workflow may hold at most "
                    f"{limit:,}", field=part)
            for part, limit in (("nodes", MAX_NODES), ("edges", MAX_EDGES))
            if isinstance(doc.get(part), list) and len(doc[part]) > limit]


def from_document(doc: Mapping[str, Any]) -> Workflow:
    """Build a workflow from a (current-schema) document; structural problems raise."""
    problems: list[Problem] = _too_many(doc)
    if problems:
        raise WorkflowInvalid(problems)
    raw_nodes = doc.get("nodes", [])
    raw_edges = doc.get("edges", [])
    if not isinstance(raw_nodes, list):
        problems.append(Problem("structure", "'nodes' must be a list", field="nodes"))
        raw_nodes = []
    if not isinstance(raw_edges, list):
        problems.append(Problem("structure", "'edges' must be a list", field="edges"))
        raw_edges = []
    nodes = [n for i, raw in enumerate(raw_nodes) if (n := _parse_node(raw, i, problems))]
    edges = []
    for i, raw in enumerate(raw_edges):
        source = _parse_end(raw.get("from")) if isinstance(raw, dict) else None
        target = _parse_end(raw.get("to")) if isinstance(raw, dict) else None
        if source is None or target is None:
            problems.append(Problem("structure", f"edges[{i}] must be "
                                    '{"from": {"node", "port"}, "to": {"node", "port"}}', field="edges"))
            continue
        edges.append(Edge(source, target))
    name, description = doc.get("name", ""), doc.get("description", "")
    name = name if isinstance(name, str) else ""
    description = description if isinstance(description, str) else ""
    problems += _too_long("name", name, MAX_LINE) + _too_long("description", description, MAX_DESCRIPTION)
    if problems:
        raise WorkflowInvalid(problems)
    return Workflow(nodes=tuple(nodes), edges=tuple(edges), name=name, description=description)


def to_document(workflow: Workflow) -> dict[str, Any]:
    """The JSON document of a workflow, with a fixed key order."""
    return {
        "schema_version": SCHEMA_VERSION,
        "name": workflow.name,
        "description": workflow.description,
        "nodes": [
            {
                "id": n.id,
                "type": n.type,
                "version": n.version,
                "title": n.title,
                "position": {"x": _number(n.position[0]), "y": _number(n.position[1])},
                "params": dict(n.params),
            }
            for n in workflow.nodes
        ],
        "edges": [
            {"from": {"node": e.source.node, "port": e.source.port},
             "to": {"node": e.target.node, "port": e.target.port}}
            for e in workflow.edges
        ],
    }


def _number(value: float) -> float | int:
    """Whole-number positions are written as integers, so files stay tidy."""
    return int(value) if float(value).is_integer() else round(float(value), 2)


def dumps(workflow: Workflow) -> str:
    return json.dumps(to_document(workflow), indent=2, ensure_ascii=False) + "\n"


def compact_dumps(workflow: Workflow) -> str:
    """The same document without indentation (0.6 times the size): for copies kept in
    bulk, such as a tab's undo steps, where nobody reads the text."""
    return json.dumps(to_document(workflow), separators=(",", ":"), ensure_ascii=False)


def loads(text: str, registry: Any = None, source: str | None = None) -> Workflow:
    """Parse, migrate and (given a registry) upgrade and complete a workflow."""
    try:
        doc = safe_json.loads(text, strict=True)
    except json.JSONDecodeError as exc:
        raise WorkflowInvalid([Problem("json", f"not valid JSON: {exc.msg} at line {exc.lineno}, "
                                       f"column {exc.colno}")], source=source) from None
    except safe_json.Refused as exc:
        raise WorkflowInvalid([Problem("json", f"not a workflow: {exc}")], source=source) from None
    if not isinstance(doc, dict):
        raise WorkflowInvalid([Problem("json", "a workflow file must hold a JSON object")], source=source)
    try:
        workflow = from_document(migrate_document(doc))
    except WorkflowInvalid as exc:
        raise WorkflowInvalid(exc.problems, source=source) from None
    return upgrade(workflow, registry) if registry is not None else workflow


def load(path: str | os.PathLike[str], registry: Any = None) -> Workflow:
    path = Path(path)
    return loads(read_text(path), registry, source=str(path))


def read_text(path: Path) -> str:
    """A workflow file's text, refused with a :class:`WorkflowInvalid` naming it when it cannot
    be one: a pipe or a device (reading would wait forever: a shell, or every tab of the
    canvas, hung), bigger than any workflow (it would be held in memory, several times),
    or not UTF-8 text. Text with a byte order mark, UTF-8 or UTF-16 (as Notepad and PowerShell
    write it), is read too."""
    def refused(why: str) -> WorkflowInvalid:
        return WorkflowInvalid([Problem("file", why)], source=str(path))

    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode) and not stat.S_ISDIR(info.st_mode):
            raise refused("not a file but a pipe, socket or device; a workflow is a .json file")
        if info.st_size > MAX_FILE_BYTES:
            raise refused(f"{info.st_size / 2**20:,.0f} MiB is far more than any workflow holds "
                          f"(at most {MAX_FILE_BYTES // 2**20} MiB); is it a workflow file?")
        data = path.read_bytes()
        utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        text = data.decode("utf-16" if utf16 else "utf-8")
    except OSError as exc:
        raise refused(f"cannot read the workflow file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise refused("the workflow file is not UTF-8 text") from None
    return text.removeprefix("\ufeff")


def save(workflow: Workflow, path: str | os.PathLike[str]) -> None:
    """Write atomically: readers see the old file or the new one, never half of one; and
    clear the leftovers of saves (of this file, of decisions beside it) killed before."""
    path = Path(path)
    if is_read_only(path):
        raise WriteError(f"{path} is read-only; FlowClass does not replace it: make it writable, or save it "
                         "somewhere else", path, errno.EACCES)
    path.parent.mkdir(parents=True, exist_ok=True)
    clear_dead_temps(path.parent)
    atomic_write_text(path, dumps(workflow), hint="save it somewhere else")


# --- node-type versions and defaults -------------------------------------------------

def upgrade(workflow: Workflow, registry: Any) -> Workflow:
    """Migrate each node's params to its type's current version and fill in defaults.

    Parameters come out in declaration order, so saving is deterministic. Nodes of
    unknown types, and nodes saved by a newer version of their type, are left as they
    are: validation reports them (and the canvas shows a placeholder).
    """
    nodes = []
    for spec in workflow.nodes:
        node_type = registry.get(spec.type)
        if node_type is None or spec.version > node_type.version:
            nodes.append(spec)
            continue
        params = dict(spec.params)
        if spec.version < node_type.version:
            params = node_type.migrate_params(params, spec.version)
        ordered = {p.name: params.pop(p.name, p.default) for p in node_type.params
                   if p.name in params or not p.required}
        ordered.update(params)  # unknown names stay, for validation to report
        nodes.append(replace(spec, version=node_type.version, params=ordered))
    return replace(workflow, nodes=tuple(nodes))


def new_node(workflow: Workflow, node_type: Any, position: tuple[float, float] = (0.0, 0.0),
             node_id: str | None = None) -> NodeSpec:
    """A fresh node of ``node_type`` with default parameters and a free id."""
    return NodeSpec(id=node_id or workflow.new_id(node_type.type), type=node_type.type,
                    version=node_type.version, params=node_type.default_params(),
                    position=position)
