"""An unchanged re-run into a new ``--out`` answered from the witnesses of the job's latest
record, before the node families, numpy or the record's check are imported.

The record's check (:mod:`flowclass.run_record`) answers such a re-run from the record of
the same job's latest run into another folder: every key taken again, then the files the
relocatable nodes wrote there copied in by the nodes' own ``relocate``
(:mod:`flowclass.relocation`), then the pictures from the cache. Taking the keys needs the
node families and all they import: most of such a re-run's time. So the witnesses of a run
(:mod:`flowclass.up_to_date`) also keep what a new folder needs (:func:`take`): each
relocatable node's ``relocate`` by name, its parameters with its output paths inside the
folder written as ``<out>/...``, the files it wrote, and the pictures to copy from the cache.

:func:`answer` takes a new folder only: one that does not exist yet, whose nearest folder
above may be written, outside the places no workflow writes into
(:class:`flowclass.protected.Protected`). It reads every witness of the latest record again
as a same-``--out`` re-run does, but for the command's ``--out`` and the output paths inside
the other folder; only when all read the same does it call each node's ``relocate`` (which
writes through the node's owned folder, as in the record's check), write run.json, copy the
pictures and keep the new folder's record, as the record's check would. Anything that
differs leaves the run to the record's check and the engine; a node that cannot be copied
(``relocate`` says None) too, after what was copied before it, as the record's check leaves it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .placements import OUT, PLACED, Placements, inside, lands_in, moves_of
from .up_to_date import Answer, Command, latest_path, locked, path_state, record_path, unchanged_since, written

if TYPE_CHECKING:
    from .report_store import FolderOpener

# content_hashes(files, folder) -> ({file: its SHA-256}, [[journal, its stamp]]) or None; its
# types as objects, not a string, which typing would compile (see flowclass/fsutil.py)
ContentHashes = Callable[[list[str], str], tuple[dict[str, str], list[list[Any]]] | None]

NO_STORE = "an unchanged re-run's relocate opens no store"


def take(result: Any, registry: Any, cache: Any, out_dir: str,
         content_hashes: ContentHashes) -> dict[str, Any] | None:
    """What an unchanged re-run of ``result`` (a run into ``out_dir`` that finished) into a
    new folder needs besides the witnesses of a same-``--out`` re-run; None when such a
    re-run cannot be answered from them (a node whose key or files depend on the folder
    but that cannot be relocated, a ``relocate`` not found by its name, a result's files
    or their journals that cannot be read). ``content_hashes``: how the hashes that the
    earlier folder's journals keep for its files are read (:func:`flowclass.userfiles.journal.content_hashes`,
    a layer above), which the copies into a new folder take from the witnesses."""
    try:
        return _taken(result, registry, cache, out_dir, content_hashes)
    except (OSError, ValueError, KeyError, TypeError, ImportError):
        return None


def _taken(result: Any, registry: Any, cache: Any, out_dir: str,
           content_hashes: ContentHashes) -> dict[str, Any] | None:
    """:func:`take`, raising what cannot be read."""
    from .params import Path as PathParam
    from .protected import wanted
    from .relocation import placed
    from .report_store import NAMES, reports_folder

    relocated, pictures = [], []
    for node, outcome in result.outcomes.items():
        node_type = registry.get(outcome.type)
        for param in node_type.params:
            value = outcome.params.get(param.name)
            is_output = node_type.relocate is not None and isinstance(param, PathParam) and param.role == "output"
            if isinstance(param, PathParam) and value and inside(str(value), out_dir) is not None and not is_output:
                return None  # its key names the folder: another folder makes another key
        if not node_type.cache:
            continue
        folder = cache.beside(outcome.key, PLACED)
        meta = json.loads((folder.parent / "meta.json").read_text(encoding="utf-8")) if folder else None
        if meta is None:
            return None
        if meta.get("out_dir") is None:
            continue
        name = _name(node_type.relocate)
        if name is None or not moves_of(meta, Path(out_dir)):
            return None
        keyed = placed(node_type, outcome.params, Path(out_dir))
        outputs = {param: value for param, value in keyed.items() if keyed[param] != outcome.params.get(param)}
        hashes = content_hashes([path for path, *_ in meta["files"]], meta["out_dir"])
        if hashes is None:
            return None
        sha256, journals = hashes
        relocated.append({"node": node, "relocate": name, "params": outcome.params, "outputs": outputs,
                          "meta": {"out_dir": meta["out_dir"], "files": [[path] for path, *_ in meta["files"]]},
                          "placed": str(folder), "sha256": sha256, "journals": journals})
    for spec in result.workflow.nodes:
        node_type = registry.get(spec.type)
        if node_type is None or node_type.reports is None:
            continue
        made = reports_folder(cache, result.outcomes[spec.id].key, ready=True)
        if made is None:
            return None
        names = json.loads((made / NAMES).read_text(encoding="utf-8"))
        pictures.extend([spec.id, name, str(made / name)] for name in names)
    plugins = [str(folder) for folder in registry.plugin_folders]
    return {"out_dir": out_dir, "plugins": plugins, "protected": wanted(plugins, str(cache.root)),
            "relocated": relocated, "pictures": pictures}


def journals_unchanged(found: dict[str, Any]) -> bool:
    """Whether the journals the witnesses took content hashes from (:func:`take`) are as
    they were."""
    from .up_to_date import lstamp

    return all(lstamp(path) == stamp for relocation in found["elsewhere"]["relocated"]
               for path, stamp in relocation["journals"])


def _name(function: Any) -> str | None:
    """``module:name`` of a node library's module-level function, by which it is found again."""
    module, name = getattr(function, "__module__", ""), getattr(function, "__qualname__", "")
    if not module.startswith("nodes.") or not name.isidentifier():
        return None
    import importlib

    return f"{module}:{name}" if getattr(importlib.import_module(module), name, None) is function else None


def answer(command: Command, started: float, open_folder: FolderOpener, lock: Any) -> Answer | None:
    """The re-run of ``command`` into a folder that does not exist yet, answered from the
    witnesses of the same job's latest record when every one reads the same; None when
    anything differs or cannot be read or written, for the record's check and the engine.
    ``open_folder``: how the pictures' folder is written (as
    :meth:`flowclass.reports.Reports.save` takes it); ``lock``: the new folder's run lock
    (:class:`flowclass.fsutil.RunLock`), held before the folder is looked at again."""
    out_dir = command.out_dir()
    if os.path.lexists(out_dir) or path_state(out_dir)[1:] != ["dir", False, True]:
        return None  # only a new folder that can be made: nothing of anyone's is there
    cache_root = command.cache_root()
    try:
        latest = _json(latest_path(cache_root, command.job()))
        record = _json(record_path(cache_root, latest["out_dir"]))
        found = record["up_to_date"]
        there = found["elsewhere"]["out_dir"]
        if there == out_dir or record["out_dir"] != there or latest["out_dir"] != there:
            return None
        if not locked(lock, found) or os.path.lexists(out_dir):
            return None  # made by the run it waited for
        times = unchanged_since(command, found, there)
        if times is None or not journals_unchanged(found):
            return None
        from .protected import Protected

        protected = Protected.of(found["elsewhere"]["protected"])  # named as the witnessed run named them
        if protected.why(out_dir) is not None:  # the engine refuses it, and says why
            return None
        return _written(command, record, found, out_dir, started, times, protected, open_folder)
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None


def _json(path: str) -> Any:
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def _here(value: str, out_dir: str) -> str:
    """An output path written ``<out>/...`` (as :func:`flowclass.relocation.placed` writes
    it) inside ``out_dir``."""
    rel = value[len(OUT):].lstrip("/")
    return os.path.join(out_dir, rel.replace("/", os.sep)) if rel else out_dir


def _written(command: Command, record: dict[str, Any], found: dict[str, Any], out_dir: str,
             started: float, times: list[float], protected: Any, open_folder: FolderOpener) -> Answer | None:
    """The new folder written as the record's check writes it: each relocatable node's files
    copied by its ``relocate``, run.json, the pictures, the folder's record."""
    from .report_store import Saved, claimed, copy_made

    manifest, seconds = found["manifest"], dict(zip((node for node, _ in found["events"]), times))
    base_dir = os.path.dirname(os.path.realpath(command.workflow))
    heres = [{param: _here(value, out_dir) for param, value in relocation["outputs"].items()}
             for relocation in found["elsewhere"]["relocated"]]
    folders = [path for path, state in found["paths"] if state[:2] == [True, "dir"]]  # those read among them
    if lands_in([path for here in heres for path in here.values()], folders):
        return None  # as flowclass.relocation.served_elsewhere: the node runs, and says why
    for relocation, here in zip(found["elsewhere"]["relocated"], heres):
        took = time.perf_counter()
        if not _relocated(relocation, {**relocation["params"], **here}, base_dir, out_dir, protected):
            return None
        manifest["nodes"][relocation["node"]]["params"].update(here)
        seconds[relocation["node"]] += time.perf_counter() - took
    answered = written(found, out_dir, started, [seconds[node] for node, _ in found["events"]])
    if answered is None:
        return None
    wanted = [(node, name, Path(made)) for node, name, made in found["elsewhere"]["pictures"]]
    saved = copy_made(wanted, Path(out_dir), lambda root, **options: open_folder(root, protected=protected, **options),
                      Saved(), claimed([path for here in heres for path in here.values()], Path(out_dir)))
    if not saved.problems:
        _keep_record(record, command.cache_root(), out_dir, saved.present)
    return answered._replace(saved=saved)


def _relocated(relocation: dict[str, Any], params: dict[str, Any], base_dir: str, out_dir: str,
               protected: Any) -> bool:
    """One node's files copied into ``out_dir`` by its own ``relocate``, and the copies
    remembered beside its result, as :func:`flowclass.relocation.served_elsewhere` does."""
    import importlib

    from .context import RunContext

    module, name = relocation["relocate"].split(":")
    moves = moves_of(relocation["meta"], Path(out_dir))
    if not module.startswith("nodes.") or not moves:
        return False

    def no_store(name: str) -> Path:
        raise LookupError(NO_STORE)

    ctx = RunContext(node_id=relocation["node"], base_dir=Path(base_dir), out_dir=Path(out_dir),
                     store_dir=no_store, protected=protected, known_sha256=relocation["sha256"])
    try:
        relocate = getattr(importlib.import_module(module), name)
        if relocate(ctx, params, moves, False) is None:
            return False
    except Exception:  # the engine's run says what is wrong, if anything still is
        return False
    Placements(Path(relocation["placed"])).remember(Path(out_dir), [here for _, here in moves], ctx.placed)
    return True


def _keep_record(record: dict[str, Any], cache_root: str, out_dir: str, present: list[str]) -> None:
    """The new folder's record, as the record's check keeps it after copying (no witnesses:
    the next re-run there takes them); the job's latest record stays the one with witnesses,
    so that the next new folder is answered from them too."""
    from .fsutil import atomic_write_text
    from .reads import stamp_of

    kept = {key: value for key, value in record.items() if key != "up_to_date"}
    pictures = [os.path.join(out_dir, name) for name in present]
    kept.update(out_dir=out_dir, reports=[[path, *(stamp_of(path, follow_symlinks=False) or [-1, -1])]
                                          for path in pictures])
    try:
        atomic_write_text(record_path(cache_root, out_dir), json.dumps(kept), fsync=False)
    except OSError:
        pass
