"""One resolution step: a workflow's parameters checked, completed and placed, once.

:func:`resolve` is what ``flowclass validate``, the canvas and the engine all call. It
validates every parameter once (defaults filled in, values normalised), makes path
parameters absolute (input paths against the workflow's folder, output paths against the
run's output folder), and can check on disk what can be known before a run: inputs exist
and are the right kind, outputs are not in the way of a file and can be written. Each
problem names the node and the field.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

from .problems import Problem
from .fsutil import NOT_REGULAR, NOT_UTF8, is_text, shown_name
from .manifest import MANIFEST_NAME, SKIPPED_NAME
from .node import NodeType
from .params import Path as PathParam
from .protected import Protected
from .registry import Registry
from .validation import check
from .workflow import Workflow

class Dirs(NamedTuple):
    """Where a workflow's relative paths point (the canvas holds them to its ``--root``
    folders itself, in :mod:`flowclass.ui.confine`). ``protected`` are the places no output
    path may name (FlowClass's own folders, the home folder's dot-folders); None: this
    user's and installation's, as :meth:`Protected.here` finds them. ``named`` are the
    (node, parameter) pairs whose path the user gave themselves (``--set``, typed in the
    canvas): only those output paths may lie outside ``out_dir``, since a workflow file may
    be a stranger's.
    """

    base_dir: Path
    out_dir: Path
    protected: Protected | None = None
    named: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Resolved:
    """The resolved workflow: checked parameters per sound node, and every problem."""

    workflow: Workflow
    params: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def resolve(workflow: Workflow, registry: Registry, dirs: Dirs | None = None, *,
            files: bool = False, order: Sequence[str] | None = None) -> Resolved:
    """Check ``workflow`` and resolve its parameters.

    Without ``dirs`` path parameters stay as written. With ``dirs`` they are made absolute
    and, with ``files=True``, checked on disk (inputs exist and are the right kind; outputs
    can be written). ``order``: see :func:`flowclass.validation.check`.
    """
    params, problems = check(workflow, registry, order)
    if dirs is not None:
        protected = dirs.protected or Protected.here(registry.plugin_folders)
        problems.extend(protected_problems(None, "the output folder", dirs.out_dir, protected))
        for spec in workflow.nodes:
            if spec.id not in params:
                continue
            node_type = registry.get(spec.type)
            params[spec.id] = placed(node_type, params[spec.id], dirs)
            found = [problem for param in _paths(node_type) if param.role == "output"
                     for problem in protected_problems(spec.id, param.name, params[spec.id][param.name],
                                                       protected)
                     or escape_problems(spec.id, param.name, params[spec.id][param.name], dirs)
                     or run_file_problems(spec.id, param.name, params[spec.id][param.name], dirs)]
            found += text_problems(spec.id, node_type, params[spec.id])
            if files and not found:
                found = path_problems(spec.id, node_type, params[spec.id])
            problems.extend(found)
    return Resolved(workflow, params, problems)


def placed(node_type: NodeType, params: Mapping[str, Any], dirs: Dirs) -> dict[str, Any]:
    """``params`` with every path parameter made absolute (empty stays empty: "not given")."""
    out = dict(params)
    for param in _paths(node_type):
        out[param.name] = param.resolve(out[param.name], dirs.base_dir, dirs.out_dir)
    return out


def protected_problems(node_id: str | None, field: str, value: str | Path,
                       protected: Protected) -> list[Problem]:
    """A problem when ``value``, a path to write, lies in a protected place (resolved)."""
    why = protected.why(value) if value else None
    if why is None:
        return []
    message = f"{why}; FlowClass does not write there, so that nothing a workflow writes can run as code"
    if node_id is None:
        message = f"{field}: {message}; choose another output folder (--out)"
    return [Problem("protected", message, node=node_id, field=field if node_id else None)]


def escape_problems(node_id: str, field: str, value: str, dirs: Dirs) -> list[Problem]:
    """A problem when ``value``, an output path the workflow file gave (not the user), lies
    outside the run's output folder: a shared workflow with ``../`` or an absolute path
    would otherwise make files anywhere the user may write."""
    if not value or (node_id, field) in dirs.named or Path(value).is_relative_to(Path(dirs.out_dir).resolve()):
        return []
    return [Problem("outside_out", f"{value} is outside the output folder {dirs.out_dir}; a workflow "
                                   "file writes only inside it. To write there, name the place yourself: "
                                   f"--set {node_id}.{field}=PATH, or type it into the field in the canvas",
                    node=node_id, field=field)]


# The files every run writes at the top of its output folder, and what each is.
RUN_FILES = {MANIFEST_NAME: "the record of the run", SKIPPED_NAME: "the list of the files the run skipped"}


def run_file_problems(node_id: str, field: str, value: str, dirs: Dirs) -> list[Problem]:
    """A problem when ``value``, an output path, is one of the files the run itself writes
    into its output folder (run.json, skipped.csv): a node's folder or table there would
    take its place, found out only when the run ends (or hide the list of skipped files)."""
    if not value or Path(value).name not in RUN_FILES or \
            Path(value).parent.resolve() != Path(dirs.out_dir).resolve():
        return []
    name = Path(value).name
    return [Problem("run_file", f"{value} is {RUN_FILES[name]}, which the run writes there ({name}); "
                                "choose another name", node=node_id, field=field)]


def text_problems(node_id: str, node_type: NodeType, params: Mapping[str, Any]) -> list[Problem]:
    """A problem for each input path that is not UTF-8 text (a folder a Latin-1 system named
    b'caf\\xe9', perhaps the workflow's own): every file read below it would be named in
    tables, fingerprints and records, which hold text only."""
    return [Problem("path_not_text", f"{shown_name(value)}: {NOT_UTF8} (bytes another system's "
                                     "encoding wrote, shown as \ufffd); rename it, or copy what it "
                                     "holds into a folder with a plain name", node=node_id, field=param.name)
            for param in _paths(node_type) if param.role == "input"
            for value in [params[param.name]] if value and not is_text(value)]


def path_problems(node_id: str, node_type: NodeType, params: Mapping[str, Any]) -> list[Problem]:
    """What the disk says about a node's (absolute) paths before it runs."""
    problems = []
    for param in _paths(node_type):
        value = params[param.name]
        if not value or param.is_name(value):
            continue
        path = Path(value)
        if param.role == "output":
            found = output_problem(path, param.target)
        elif param.missing_ok and not path.exists():
            found = None
        else:
            found = input_problem(path, param.target)
        if found is not None:
            problems.append(Problem(found[0], found[1], node=node_id, field=param.name))
    return problems


def _paths(node_type: NodeType) -> Iterable[PathParam]:
    return (p for p in node_type.params if isinstance(p, PathParam))


def input_problem(path: Path, target: str) -> tuple[str, str] | None:
    """(code, message) when ``path`` cannot be read as a ``target`` (folder, file or any)."""
    try:
        return _input_problem(path, target)
    except OSError as exc:  # a name too long for the system, a folder on the way we may not enter
        return "path_unusable", unusable(path, exc)


def unusable(path: Path, exc: OSError) -> str:
    """Why the system cannot look at ``path``, naming it (cut: a stranger's may be 6,000 characters)."""
    text = str(path)
    shown = text if len(text) <= 160 else f"{text[:150]}... ({len(text):,} characters)"
    if exc.errno == errno.ENAMETOOLONG:
        return f"{shown} is too long for the system (a name may have at most 255 bytes, a whole path 4,096)"
    return f"{shown} cannot be looked at: {exc.strerror or exc}"


def _input_problem(path: Path, target: str) -> tuple[str, str] | None:
    if not path.exists():
        what = {"folder": "folder", "file": "file"}.get(target, "file or folder")
        return "input_missing", f"{what} not found: {path}{_typing_slip(path)}"
    if target == "folder" and not path.is_dir():
        return "input_kind", f"{path} is a file, not a folder"
    if target == "file" and path.is_dir():
        return "input_kind", f"{path} is a folder, not a file"
    if target == "file" and not path.is_file():
        return "input_kind", f"{path} is {NOT_REGULAR}; nothing reads it"
    return None


def _typing_slip(path: Path) -> str:
    """What a pasted path that is not there may carry besides the name: quotes around it (a file
    manager's "Copy as path"), or a space at an end, which the message would not show."""
    if any(part[0] in "\"'" or part[-1] in "\"'" for part in path.parts):  # parts are never empty
        return " (remove the quotes around it)"
    if any(part != part.strip() for part in path.parts):
        return " (a name in it begins or ends with a space: remove the space)"
    return ""


def output_problem(path: Path, target: str) -> tuple[str, str] | None:
    """(code, message) when a ``target`` (folder or file) cannot be written at ``path``."""
    try:
        return _output_problem(path, target)
    except OSError as exc:
        return "path_unusable", unusable(path, exc)


def _output_problem(path: Path, target: str) -> tuple[str, str] | None:
    if path.exists() or path.is_symlink():
        if target == "folder" and not path.is_dir():
            return "output_in_the_way", f"{path} is a file, not a folder; choose another folder"
        if target == "file" and path.is_dir():
            return "output_in_the_way", f"{path} is a folder; choose a file name"
        folder = path if path.is_dir() else path.parent
    else:
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            return "output_in_the_way", f"{folder} is a file, so {path} cannot be made there"
    if not os.access(folder, os.W_OK | os.X_OK):
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY) if hasattr(os, "statvfs") else False
        return "output_unwritable", (f"cannot write into {folder}: the file system is read-only" if read_only
                                     else f"cannot write into {folder} (no permission)")
    return None
