"""An unchanged re-run into the same ``--out`` seen before the node families are imported.

The run record (:mod:`flowclass.run_record`) answers an unchanged re-run without the
engine, but to see that nothing changed it takes every node's key again, which needs the
node families and all they import: most of such a re-run's time. So a run that finished
with a record also keeps in it what those keys and checks read, its *witnesses*:

- the command (the workflow file as named, its ``--set`` values, ``--out``, ``--cache``,
  the current folder), the workflow file's bytes (SHA-256), Python, FlowClass's version and
  the stamps (size, modification time) of FlowClass's and the node library's sources;
- what is installed: the ``sys.path`` folders' times (:func:`installed_stamps`, which a pip
  install changes), the environment (``FLOWCLASS_*``, ``XDG_*``, ``HOME``, ``PYTHON*``)
  and the config file that can name plugin folders;
- what each node's fingerprint read (:mod:`flowclass.reads`: the folders it listed, the
  files it stamped), and what the disk says about each path parameter (its kind, whether
  its folder can be written);
- the files the record's check compares: those the nodes wrote (as their cached results
  list them), the pictures saved in ``--out``, each result's files in the cache and its
  pictures there.

The next ``flowclass run`` with the same command reads all of them again (:func:`answer`),
importing neither the node families nor numpy; only when every one reads the same does
it write run.json as the record's check would, and report each node served from the
cache. Anything that differs, and any record without witnesses (a node whose fingerprint
does not tell all it read, a plugin's node, a source changed during the run), leaves the
run to the record's check and the engine, as before. A re-run of the same job into a new
``--out`` reads them too, and what a new folder needs besides (:mod:`flowclass.new_out`).
"""

# No ``from __future__ import annotations`` (see flowclass/fsutil.py): this module's
# NamedTuples would compile their annotations.
import json
import os
import sys
import time
from typing import Any, NamedTuple

from . import __version__
from .digests import sha256
from .fsutil import temp_variables
from .reads import stamp_of

SCHEME = "flowclass-up-to-date-3"
RECORDS = "run_records"  # the cache's store of run records (flowclass.run_record)
ENVIRONMENT = ("FLOWCLASS_", "XDG_", "PYTHON", "HOME")  # what names plugins, folders, paths
MAX_WORKFLOW_BYTES = 16 * 2**20  # bigger: no witness (workflow_file refuses far less anyway)


def record_path(cache_root: str, out_dir: str) -> str:
    """Where the run record of ``out_dir`` lives in the cache at ``cache_root``."""
    name = sha256(out_dir.encode("utf-8")).hexdigest()[:32]
    return os.path.join(cache_root, "stores", RECORDS, f"{name}.json")


def latest_path(cache_root: str, job: str) -> str:
    """Where the cache names the record of ``job``'s latest run (:func:`job_name`)."""
    return os.path.join(cache_root, "stores", RECORDS, f"latest-{job}.json")


def job_name(workflow_file: str | os.PathLike[str], overrides: list[str]) -> str:
    """What names a job whatever its output folder: the workflow file (resolved) and its
    ``--set`` values. Runs of one job into other folders share their nodes' cache keys
    when nothing changed between them (:mod:`flowclass.run_record` checks them key by key,
    :mod:`flowclass.new_out` by the witnesses)."""
    text = json.dumps([str(workflow_file), list(overrides)])
    return sha256(text.encode("utf-8")).hexdigest()[:32]


def installed_stamps(folders: list[str] | None = None) -> list[list[Any]]:
    """The kernel's and C library's names, then each folder on ``sys.path`` (or of
    ``folders``) with its modification time (None: not there): pip changes a folder's time
    whenever it installs, upgrades or removes a package there."""
    libc = os.confstr("CS_GNU_LIBC_VERSION") if "CS_GNU_LIBC_VERSION" in getattr(os, "confstr_names", {}) else None
    found: list[list[Any]] = [list(os.uname()) if hasattr(os, "uname") else [None], [libc]]
    if folders is None:
        folders = list(dict.fromkeys(os.path.abspath(entry or os.curdir) for entry in sys.path))
    for folder in folders:
        try:
            found.append([folder, os.stat(folder).st_mtime_ns])
        except OSError:
            found.append([folder, None])
    return found


def installed_alike(stamps: list[list[Any]]) -> bool:
    """Whether the folders of ``stamps`` (:func:`installed_stamps` when a run started) are
    as they were (a module imported meanwhile may have added folders to ``sys.path``; a
    re-run, which imports none, looks at these)."""
    return installed_stamps([folder for folder, _ in stamps[2:]]) == stamps


class Command(NamedTuple):
    """A ``flowclass run`` as typed: what decides which record and witnesses apply."""

    workflow: str  # as named
    overrides: list[str]
    out: str | None  # as named (None: the default)
    cache: str | None

    def out_dir(self) -> str:
        """The output folder, resolved (as the record names it)."""
        out = self.out if self.out is not None else \
            os.path.join("flowclass-out", os.path.splitext(os.path.basename(self.workflow))[0])
        return os.path.realpath(os.path.expanduser(out))

    def cache_root(self) -> str:
        """The cache folder as :class:`flowclass.cache.Cache` names it."""
        if self.cache is not None:
            return os.path.expanduser(self.cache)
        from .cache import default_cache_dir  # platformdirs: only for the default cache

        return str(default_cache_dir())

    def identity(self) -> list[Any]:
        return [os.getcwd(), self.workflow, list(self.overrides), self.out, self.cache]

    def job(self) -> str:
        """The job's name (:func:`job_name`), whatever the output folder."""
        return job_name(os.path.realpath(self.workflow), self.overrides)


def digest_of(path: str) -> str | None:
    """The SHA-256 of a regular file's bytes; None when it is not one, or too big."""
    import stat

    try:
        with open(path, "rb") as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_WORKFLOW_BYTES:
                return None
            return sha256(file.read()).hexdigest()
    except OSError:
        return None


def lstamp(path: str) -> list[int] | None:
    """[size, mtime_ns] of ``path`` itself (a link is not followed); None when absent."""
    return stamp_of(path, follow_symlinks=False)


def path_state(path: str) -> list[Any]:
    """What the disk says about a path parameter's value: the kind of what is there (or of
    the nearest folder above that exists) and whether that folder may be written."""
    import stat

    here = path
    while True:
        try:
            st = os.stat(here)
            break
        except OSError:
            parent = os.path.dirname(here)
            if parent == here:
                return ["none", False]
            here = parent
    kind = "dir" if stat.S_ISDIR(st.st_mode) else "file"
    folder = here if kind == "dir" else os.path.dirname(here)
    return [here == path, kind, os.path.islink(path), os.access(folder, os.W_OK | os.X_OK)]


def _environment() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name.startswith(ENVIRONMENT)}


def _sources() -> list[list[Any]]:
    """The stamps of FlowClass's and the node library's modules loaded in this process."""
    here = os.path.dirname(os.path.abspath(__file__))
    roots = [here + os.sep]
    library = sys.modules.get("nodes")
    if library is not None and getattr(library, "__file__", None):
        roots.append(os.path.dirname(os.path.abspath(library.__file__)) + os.sep)
    found = []
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if isinstance(path, str) and path.startswith(tuple(roots)):
            found.append([path, lstamp(path)])
    return sorted(found)


class Witnesses(NamedTuple):
    """What an unchanged re-run reads again (see the module's docstring), and what it writes."""

    command: list[Any]
    workflow: str
    python: list[str]
    environment: dict[str, str]
    installed: list[list[Any]]
    sources: list[list[Any]]
    config: list[Any]  # [config file, its stamp]
    reads: list[dict[str, Any]]  # one per node
    paths: list[list[Any]]  # [path parameter's value, path_state]
    files: list[list[Any]]  # [path, lstamp]
    results: list[str]  # the cache folders of the results served (their last use is noted)
    events: list[list[Any]]  # [node, key told (None: made when needed)] in the order run
    manifest: dict[str, Any]  # run.json as a re-run writes it, less its times
    skipped: list[list[str]]  # [node, path, reason]
    elsewhere: dict[str, Any] | None  # what a new --out needs besides (flowclass.new_out)
    locks: list[Any]  # [the private lock folder the run's lock was in, fsutil.temp_variables()]

    def document(self) -> dict[str, Any]:
        return {"scheme": SCHEME, "flowclass": __version__, **self._asdict()}


def make(command: Command, workflow_digest: str | None, started: float, installed: list[list[Any]],
         result: Any, registry: Any, cache: Any, out_dir: str, reports: list[list[Any]], system: Any,
         config: str, content_hashes: Any, locks: str) -> dict[str, Any] | None:
    """The witnesses of a run that finished (``result``, run since ``started`` from a workflow
    file whose bytes had ``workflow_digest``, with ``installed``: :func:`installed_stamps`
    then; ``reports``: the pictures saved, [path, size, mtime]; ``config``: the config file
    that can name plugin folders; ``content_hashes``: :func:`flowclass.new_out.take`'s;
    ``locks``: the folder its run lock was in, :class:`flowclass.fsutil.RunLock`), as the run
    record keeps them; None when a re-run cannot be decided by them."""
    from pathlib import Path

    from . import new_out
    from .manifest import manifest_document

    from .params import Path as PathParam
    from .relocation import placements
    from .report_store import reports_folder
    from .states import NodeState

    if workflow_digest is None or digest_of(os.path.abspath(command.workflow)) != workflow_digest:
        return None  # the file changed while it ran: what ran is not what is there
    if not installed_alike(installed):  # a package installed while it ran
        return None
    sources = _sources()
    if any(stamp is None or stamp[1] >= (started - 0.1) * 1e9 for _, stamp in sources):
        return None  # a source changed while it ran: what ran may not be what is there
    reads, paths, files, results, events = [], [], [], [], []
    for node, outcome in result.outcomes.items():
        node_type = registry.get(outcome.type)
        if outcome.reads is None or node_type is None or node_type.outputs_exist is not None or \
                outcome.state not in (NodeState.DONE, NodeState.CACHED):
            return None
        reads.append(outcome.reads)
        for param in node_type.params:
            value = outcome.params.get(param.name)
            if isinstance(param, PathParam) and value and not param.is_name(value):
                paths.append([str(value), path_state(str(value))])
        events.append([node, outcome.key if node_type.cache else None])
        if not node_type.cache:
            continue
        found = cache.beside(outcome.key, "meta.json")
        folder = found.parent if found is not None else None
        meta = _meta(folder) if folder is not None else None
        if meta is None:
            return None
        if meta.get("out_dir") not in (None, out_dir):  # made for another folder, copied here
            copies = placements(cache, outcome.key).file(Path(out_dir))
            kept = _json(copies) if copies is not None else None
            if not isinstance(kept, dict) or kept.get("out_dir") != out_dir:
                return None
            files.append([str(copies), lstamp(str(copies))])
            files.extend([path, [size, mtime]] for path, size, mtime in kept["files"])
        results.append(str(folder))
        for name in ["meta.json", *(meta.get("contents") or {})]:
            files.append([os.path.join(str(folder), name), lstamp(os.path.join(str(folder), name))])
        if node_type.reports is not None:
            made = reports_folder(cache, outcome.key, ready=True)
            if made is None:
                return None
            files.extend([os.path.join(str(made), name), lstamp(os.path.join(str(made), name))]
                         for name in sorted(os.listdir(made)))
        files.extend([path, [size, mtime]] for path, size, mtime in meta.get("files") or [])
    files.extend([path, [size, mtime]] for path, size, mtime in reports)
    marker = os.path.join(str(cache.root), "flowclass-cache.json")
    files.append([marker, lstamp(marker)])
    manifest = manifest_document(result, source=os.path.abspath(command.workflow),
                                 overrides=command.overrides, system=system)
    for found in manifest["nodes"].values():
        found["state"] = NodeState.CACHED.value
    witnesses = Witnesses(command.identity(), workflow_digest, [sys.executable, sys.version], _environment(),
                          installed, sources, [config, lstamp(config)], reads, paths, files, results, events,
                          manifest, [list(row) for row in result.skipped_files],
                          new_out.take(result, registry, cache, out_dir, content_hashes),
                          [locks, temp_variables()])
    return json.loads(json.dumps(witnesses.document(), default=str))  # as run.json writes them


def _meta(folder: Any) -> dict[str, Any] | None:
    meta = _json(os.path.join(str(folder), "meta.json"))
    return meta if isinstance(meta, dict) else None


def _json(path: Any) -> Any:
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except (OSError, ValueError, TypeError):
        return None


class Answer(NamedTuple):
    """An unchanged re-run, answered: what to report."""

    events: list[list[Any]]  # [node, key told or None, seconds]
    seconds: float
    manifest: str  # run.json's path
    skipped: list[tuple[str, str, str]]
    skipped_note: str
    saved: Any = None  # the pictures copied (flowclass.report_store.Saved), into a new --out


class FoundSaved(NamedTuple):
    """The pictures a re-run found in place (as Reports.save tells what it saved), for the
    record the record's check keeps (flowclass/cli.py)."""

    paths: list[str]
    problems: tuple = ()

    @property
    def present(self) -> list[str]:
        return [os.path.basename(path) for path in self.paths]


def answer(command: Command, started: float, lock: Any) -> Answer | None:
    """The re-run of ``command``, answered from its record's witnesses when every one reads
    the same (run.json written, each result's last use noted); None when anything differs
    or cannot be read, for the record's check and the engine to take it. The witnesses are
    read once ``lock``, the output folder's run lock (:class:`flowclass.fsutil.RunLock`), is
    held (:func:`locked`)."""
    out_dir = command.out_dir()
    cache_root = command.cache_root()
    try:
        with open(record_path(cache_root, out_dir), encoding="utf-8") as file:
            record = json.load(file)
        witnesses = record["up_to_date"]
        if record["out_dir"] != out_dir or not locked(lock, witnesses):
            return None
        times = unchanged_since(command, witnesses)
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None
    if times is None:
        return None
    return written(witnesses, out_dir, started, times)


def locked(lock: Any, found: dict[str, Any]) -> bool:
    """Whether ``lock`` is held, taken (waiting for another run into its folder) in the lock
    folder the witnessed run took its own in, where that is the one a run takes it in now:
    the variables that name the temporary folder are as they were (finding it otherwise
    would import tempfile, which costs such a re-run more than its lock)."""
    if found["scheme"] != SCHEME:
        return False
    folder, variables = found["locks"]
    return variables == temp_variables() and lock.take(folder)


def unchanged_since(command: Command, found: dict[str, Any], moved_from: str | None = None) -> list[float] | None:
    """Each node's seconds spent reading what its fingerprint read, when every witness reads
    the same; None at the first that does not. ``moved_from``: the output folder of the
    witnessed run, when ``command`` names another (flowclass.new_out): its ``--out`` and the
    output paths inside that folder are not compared."""
    from .placements import inside
    from .reads import unchanged

    if found["scheme"] != SCHEME or found["flowclass"] != __version__:
        return None
    identity, recorded, paths = command.identity(), found["command"], found["paths"]
    if moved_from is not None:  # [cwd, workflow, overrides, out, cache]: all but out
        identity, recorded = identity[:3] + identity[4:], recorded[:3] + recorded[4:]
        paths = [[path, state] for path, state in paths if inside(path, moved_from) is None]
    if recorded != identity or found["python"] != [sys.executable, sys.version] or \
            found["environment"] != _environment() or found["installed"] != installed_stamps() or \
            digest_of(os.path.abspath(command.workflow)) != found["workflow"]:
        return None
    config, stamp = found["config"]
    if lstamp(config) != stamp or any(lstamp(path) != stamp for path, stamp in found["sources"]):
        return None
    times = []
    for reads in found["reads"]:
        started = time.perf_counter()
        if not unchanged(reads):
            return None
        times.append(time.perf_counter() - started)
    if any(path_state(path) != state for path, state in paths) or \
            any(lstamp(path) != stamp for path, stamp in found["files"]):
        return None
    return times


def written(found: dict[str, Any], out_dir: str, started: float, times: list[float]) -> Answer | None:
    """run.json written for the re-run, each result's last use noted (as the cache notes it
    when a result is served); None when run.json cannot be written there (the full run says
    why)."""
    from pathlib import Path

    from .fsutil import WriteError
    from .manifest import write_document

    manifest = found["manifest"]
    for (node, _), seconds in zip(found["events"], times):
        manifest["nodes"][node]["seconds"] = seconds
    seconds = time.time() - started
    manifest["started"] = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started))
    manifest["seconds"] = round(seconds, 3)
    skipped = [(str(node), str(path), str(reason)) for node, path, reason in found["skipped"]]
    try:
        path, note = write_document(manifest, skipped, Path(out_dir))
    except (OSError, WriteError, FileExistsError):
        return None
    for folder in found["results"]:
        try:
            os.utime(folder)
        except OSError:
            pass
    return Answer([[node, key, took] for (node, key), took in zip(found["events"], times)], seconds,
                  str(path), skipped, note)
