"""The ``flowclass`` command: run, validate and inspect workflows without a browser."""

from __future__ import annotations

import gc
import sys

# a process started for one run collects no garbage from here on, its imports included (about
# ten collections, 1 % of an unchanged re-run's instructions), until main() decides
# (flowclass/run_process.py); main() lets it collect again if it is not such a process. Not in
# a process that multiprocessing spawned (a Dask worker): that imports this module again with
# its parent's argv, and never calls main()
_HELD = sys.argv[1:2] == ["run"] and gc.isenabled() and "multiprocessing" not in sys.modules
if _HELD:
    gc.disable()

import json
import os
import time
from pathlib import Path
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Iterator, Sequence

from . import __version__
from .deferred_import import defer_for_run
from .terminal import say

if TYPE_CHECKING:
    import argparse

    from .cache import Cache
    from .fsutil import RunLock
    from .up_to_date import Command

defer_for_run(sys.argv)  # before anything imports numpy (see flowclass/deferred_import.py)
# FlowClass's own modules are imported by the commands, once main() has set the garbage
# collector for a process started for one run (flowclass/run_process.py)

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def _registry(args: argparse.Namespace):
    from .library import default_registry

    registry = default_registry(args.plugins or ())
    for error in registry.plugin_errors:
        say(f"warning: {error}", file=sys.stderr)
    return registry


def _load(args: argparse.Namespace, registry):
    from .overrides import apply_overrides
    from .workflow_file import load

    _refuse_images(Path(args.workflow))
    workflow = load(args.workflow, registry)
    return apply_overrides(workflow, registry, args.set or [])


def _refuse_images(path: Path) -> None:
    """A folder of images, or an image, given where a workflow goes: say what to type instead."""
    import shlex

    from .errors import WorkflowInvalid
    from .problems import Problem
    from .library import ready_workflows_dir
    from .userfiles.pictures import IMAGE_SUFFIXES

    if not (path.is_dir() or path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES):
        return
    folder = path.resolve() if path.is_dir() else path.resolve().parent
    what = "a folder" if path.is_dir() else "an image"
    raise WorkflowInvalid([Problem("file", f"{what}, not a workflow (a .json file). To cluster the images "
                                   f"of a folder: flowclass run {ready_workflows_dir() / 'cluster_folder.json'} "
                                   f"--set import.folder={shlex.quote(str(folder))}")], source=str(path))


class UsageError(Exception):
    """A command-line option that cannot work; the message says which and why."""


def _folder_option(option: str, value: str | None, *, writable: bool = True) -> Path | None:
    """The folder an option names, refused up front when it is a file or cannot be made, or,
    when it must be ``writable``, written into."""
    from .fsutil import expand_user
    from .resolution import output_problem

    if value is None:
        return None
    folder = expand_user(value)
    found = output_problem(folder.resolve(), "folder")
    if found is not None and (writable or found[0] != "output_unwritable"):
        raise UsageError(f"{option} {value}: {found[1]}")
    return folder


def _cache(args: argparse.Namespace) -> Cache:
    """The cache --cache (or the default) names, refused up front when it is a folder of
    the user's that FlowClass did not make as a cache."""
    from .cache import Cache, NotACache

    # read-only, it is still read; a run goes on without storing (one warning), as with
    # $FLOWCLASS_CACHE or the default cache
    cache = Cache(_folder_option("--cache", args.cache, writable=False))
    try:
        cache.check()
    except NotACache as exc:
        raise UsageError(str(exc)) from None
    return cache


def _out_dir(args: argparse.Namespace) -> Path:
    """--out, or flowclass-out/<workflow name> in the current folder."""
    _folder_option("--out", args.out)
    return _out_named(args.out, args.workflow)


def _out_named(out: str | None, workflow: str) -> Path:
    """The output folder as the command names it (unchecked)."""
    from .fsutil import expand_user

    return expand_user(out) if out is not None else Path("flowclass-out") / Path(workflow).stem


def cmd_run(args: argparse.Namespace) -> int:
    from . import run_process, run_record
    from .up_to_date import digest_of, installed_stamps

    # what the witnesses of an unchanged re-run are checked against (flowclass/up_to_date.py)
    args.started, args.installed = time.time(), installed_stamps()
    args.digest = digest_of(str(Path(args.workflow).resolve()))
    cache = _cache(args)
    out_dir = _out_dir(args)
    from .userfiles.folder_lock import LockError, run_lock

    try:  # a second run into the folder waits for this one (README: "One run at a time per folder")
        with run_lock(out_dir, say=_warn, held=getattr(args, "run_lock", None)) as lock:
            args.run_lock = lock  # its folder goes into the run's witnesses (_keep_record)
            if not args.node and not (args.scheduler or os.environ.get("FLOWCLASS_SCHEDULER")):
                replayed = _replay(args, cache, out_dir)
                if replayed is not None:  # nothing changed since the last run into this folder
                    return replayed
            run_record.forget(cache, out_dir.resolve())
            run_process.engine_starts()
            registry = _registry(args)
            workflow = _load(args, registry)
            return _run_engine(args, cache, out_dir, registry, workflow)
    except LockError as exc:
        say(f"error: {exc.message}; {exc.hint}", file=sys.stderr)
        return EXIT_FAILED


def _warn(message: str) -> None:
    say(message, file=sys.stderr)


def _answered(argv: Sequence[str]) -> tuple[int | None, RunLock | None]:
    """An unchanged re-run into the same --out, or into a new one, seen from the witnesses
    of its record or of the job's latest before anything else is imported
    (flowclass/up_to_date.py, flowclass/new_out.py): run.json written (the files copied into
    a new --out), the nodes reported served from the cache as the record's check reports
    them. None when the command or anything it reads differs, for the full path to take it;
    with the output folder's run lock where the witnesses' check took it, which the full path
    then holds on to (the caller releases it)."""
    started = time.time()
    typed = _typed_run(argv)
    if typed is None or os.environ.get("FLOWCLASS_SCHEDULER"):
        return None, None
    command, quiet = typed
    from . import new_out
    from .fsutil import RunLock
    from .up_to_date import answer

    lock = RunLock(command.out_dir(), _warn)
    try:
        found = answer(command, started, lock) or new_out.answer(command, started, _owned_folder, lock)
    except BaseException:
        lock.release()
        raise
    if found is None:
        return None, lock
    if not quiet:  # the lines a run served from the cache gives
        from .events import NodeEvent
        from .progress import TerminalProgress
        from .states import DEFERRED, NodeState

        progress = TerminalProgress()
        for node, _, _ in found.events:
            progress(NodeEvent(node, NodeState.PENDING))
        for node, key, seconds in found.events:
            progress(NodeEvent(node, NodeState.CACHED, seconds=seconds, key=key,
                               message="" if key else DEFERRED))
    if found.saved is not None:  # the pictures copied into a new --out
        _told_saved(found.saved, _out_named(command.out, command.workflow))
    _summary(True, len(found.events), len(found.events), found.seconds, command.out_dir(), found.manifest)
    _print_skipped(found.skipped, found.skipped_note)
    return EXIT_OK, lock


def _owned_folder(root: Path, **options):
    """flowclass.userfiles.owned_folder, imported when a re-run writes into a new --out."""
    from .userfiles.owned_folder import owned_folder

    return owned_folder(root, **options)


# flowclass run's options (_common_arguments, _run_parser), as getopt names them
_RUN_OPTIONS = ["cache=", "cache-size=", "plugins=", "set=", "out=", "node=", "quiet", "scheduler="]
_PLAIN = ("--set", "--out", "--cache", "--quiet", "-q")  # those a re-run from the witnesses takes


def _typed_run(argv: Sequence[str]) -> tuple[Command, bool] | None:
    """``flowclass run``'s arguments, read by getopt as argparse reads them (:func:`_run_parser`),
    and whether --quiet is given; None for anything but one workflow and the options a re-run
    answered from the witnesses takes, each spelled out, with no value that starts with "-":
    argparse then reads them, and says what is wrong. Not argparse here: it and the message
    catalogues it looks up (gettext, locale) cost an unchanged re-run more than its checks."""
    import getopt

    from .up_to_date import Command

    try:
        options, positional = getopt.gnu_getopt(list(argv), "q", _RUN_OPTIONS)
    except getopt.GetoptError:
        return None
    if len(positional) != 1 or "--" in argv or any(value.startswith("-") for _, value in options) or \
            any(name not in _PLAIN for name, _ in options) or \
            any(arg.partition("=")[0] not in _PLAIN for arg in argv if arg.startswith("--")):
        return None  # another option, an abbreviation, or what argparse may read otherwise
    named = {name: value for name, value in options}
    command = Command(positional[0], [value for name, value in options if name == "--set"],
                      named.get("--out"), named.get("--cache"))
    return command, "-q" in named or "--quiet" in named


def _progress(args: argparse.Namespace, cache: Cache, out_dir: Path, registry, workflow):
    """The run's progress on the terminal, with the time left as earlier runs taught it."""
    from .manifest import node_seconds
    from .progress import TerminalProgress
    from .run_clock import RunClock, node_kinds
    from .timings import TimingHistory

    return TerminalProgress(quiet=args.quiet, clock=RunClock(
        node_kinds(workflow, registry), TimingHistory(lambda: cache.store_dir("timings")),
        took=node_seconds(out_dir)))


def _replay(args: argparse.Namespace, cache: Cache, out_dir: Path) -> int | None:
    """An unchanged re-run answered from its record (flowclass.run_record), with only the node
    families it needs loaded: the record of this output folder, else that of the same job's
    latest run into another one, whose files are then copied here. None when the engine
    must run it."""
    from . import run_record
    from .errors import WorkflowInvalid
    from .installed import installed
    from .library import families_registry
    from .overrides import named_by

    path = Path(args.workflow).resolve()
    record = run_record.read(cache, out_dir.resolve()) or \
        run_record.read_latest(cache, run_record.job_name(path, args.set or []))
    if record is None:
        return None
    found = installed(cache)
    registry = families_registry(record.families, args.plugins or (), found.entry_points)
    if registry is None:
        return None
    try:
        workflow = _load(args, registry)
    except WorkflowInvalid:  # the engine's run says what is wrong, with every node type known
        return None
    from .progress import TerminalProgress  # no time left to tell: it only reports cached nodes

    result = run_record.replay(record, workflow, registry, cache, path.parent, out_dir,
                               TerminalProgress(quiet=args.quiet), named_by(args.set or []))
    if result is None:
        return None
    _write_manifest(result, args, str(path), out_dir, (found.platform, found.versions))
    if record.out_dir != str(out_dir.resolve()):  # the pictures too, from the cache
        from .reports import Reports

        saved = _save_reports(Reports(workflow, registry, cache), result, out_dir)
        # with witnesses, as the job's latest: the latest's own no longer answered a new
        # folder (flowclass/new_out.py would have), so without these every later new folder
        # would come here too, until a re-run into the same folder kept them again
        _keep_record(args, cache, result, out_dir, saved, record.families, registry)
    elif result.manifest_error is None:  # its witnesses, read again (flowclass/up_to_date.py)
        from .up_to_date import FoundSaved

        _keep_record(args, cache, result, out_dir, FoundSaved([p for p, _, _ in record.reports]), record.families,
                     registry)
    return _tell(result, out_dir, args)


def _keep_record(args: argparse.Namespace, cache: Cache, result, out_dir: Path, saved,
                 families: list[str] | None, registry) -> None:
    """The record of a run that finished with all its files written, for the next re-run,
    with what an unchanged re-run reads again (flowclass/up_to_date.py) when ``registry``
    is given."""
    from . import run_record, up_to_date
    from .library import config_file
    from .userfiles.journal import content_hashes

    if saved.problems or result.manifest_error is not None or result.without_cache is not None:
        return

    def witnesses(pictures: list[list]) -> dict | None:
        command = up_to_date.Command(args.workflow, args.set or [], args.out, args.cache)
        return up_to_date.make(command, args.digest, args.started, args.installed, result, registry, cache,
                               str(out_dir.resolve()), pictures, _system(cache), str(config_file()),
                               content_hashes, os.path.dirname(args.run_lock.path))

    run_record.keep(cache, result, out_dir.resolve(), [str(out_dir.resolve() / name) for name in saved.present],
                    families, job=run_record.job_name(Path(args.workflow).resolve(), args.set or []),
                    witnesses=witnesses if registry is not None else None)


def _run_engine(args: argparse.Namespace, cache: Cache, out_dir: Path, registry, workflow) -> int:
    from . import run_process
    from .engine import Engine
    from .library import families_of
    from .executors import WITHOUT_SCHEDULER, make_executor
    from .overrides import named_by
    from .reports import Reports

    path = Path(args.workflow).resolve()
    progress = _progress(args, cache, out_dir, registry, workflow)
    engine = Engine(registry, cache)
    # made as their nodes finish, in the background: a process of their own when this process
    # was started for this run (flowclass/report_process.py)
    reports = Reports(workflow, registry, cache, own_process=run_process.active())
    try:  # connect before any node runs: a wrong address costs seconds, not a half-done run
        executor = make_executor(args.scheduler)
    except ValueError as exc:
        say(f"error: {exc} {WITHOUT_SCHEDULER}", file=sys.stderr)
        return EXIT_INVALID
    if getattr(executor, "warning", None):  # e.g. local:N capped at the cores
        say(f"warning: {executor.warning}", file=sys.stderr)
    try:
        with executor:
            result = engine.run(workflow, base_dir=path.parent, out_dir=out_dir,
                                targets=args.node or None,
                                on_event=lambda event: (reports.on_event(event), progress(event)),
                                source=str(path),
                                overrides=args.set or [], executor=executor, system=_system(cache),
                                named=named_by(args.set or []))
    except FileExistsError as exc:
        say(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    saved = _save_reports(reports, result, out_dir)
    if not args.node and not getattr(executor, "remote", False):
        _keep_record(args, cache, result, out_dir, saved,
                     families_of(registry, [spec.type for spec in workflow.nodes]), registry)
    return _tell(result, out_dir, args)


def _system(cache: Cache) -> tuple[str, dict[str, str | None]]:
    """The platform and package versions run.json states, read through the cache's memo
    (flowclass.installed), which the first re-run after this one then finds there."""
    from .installed import installed

    found = installed(cache)
    return found.platform, found.versions


def _write_manifest(result, args: argparse.Namespace, source: str, out_dir: Path, system) -> None:
    """run.json for a run the record answered, as the engine writes it."""
    from .fsutil import WriteError
    from .manifest import write_manifest

    try:
        result.manifest_path = write_manifest(result, started=time.time() - result.seconds, source=source,
                                              overrides=args.set or [], out_dir=out_dir.resolve(),
                                              system=system)
    except WriteError as exc:
        result.manifest_error = str(exc)


def _tell(result, out_dir: Path, args: argparse.Namespace) -> int:
    """The run's summary, its failures and skipped files; the exit status."""
    from .states import NodeState

    cached = sum(o.state == NodeState.CACHED for o in result.outcomes.values())
    ok = result.ok and result.manifest_error is None
    _summary(ok, len(result.outcomes), cached, result.seconds, out_dir.resolve(), result.manifest_path)
    for outcome in result.failed:
        where = f", parameter '{outcome.field}'" if outcome.field else ""
        say(f"  node '{outcome.node}'{where}: {outcome.error}", file=sys.stderr)
        if outcome.hint:
            say(f"    hint: {outcome.hint}", file=sys.stderr)
    _print_skipped(result.skipped_files, result.skipped_note)
    if result.without_cache and args.quiet:  # else the progress has told it already
        say(f"warning: {result.without_cache}", file=sys.stderr)
    if result.manifest_error:
        say(f"error: {result.manifest_error}", file=sys.stderr)
    return EXIT_OK if ok else EXIT_FAILED


def _summary(ok: bool, nodes: int, cached: int, seconds: float, out_dir, manifest) -> None:
    say(f"{'ok' if ok else 'FAILED'}: {nodes} node(s), {cached} from cache, "
        f"{seconds:.2f}s; results in {out_dir}, manifest {manifest or 'not written'}")


def _print_skipped(skipped, note: str | None, shown: int = 5) -> None:
    """The first few files the run passed over, with the reason, and where the rest are."""
    if not skipped:
        return
    say(f"{len(skipped)} file(s) skipped:", file=sys.stderr)
    for node, path, reason in skipped[:shown]:
        one_line = str(path).replace("\n", "\\n")  # a name's line break would forge a line of the list
        say(f"  {one_line}: {reason} (node '{node}')", file=sys.stderr)
    if len(skipped) > shown:
        say(f"  ... and {len(skipped) - shown} more", file=sys.stderr)
    if note:
        say(f"  {note}", file=sys.stderr)


def _save_reports(reports, result, out_dir: Path):
    """Tables and pictures of the results (evaluation.csv, confusion_matrix.png, ...) in --out,
    written only over files an earlier run wrote, never over a user's own."""
    from .userfiles.owned_folder import owned_folder

    return _told_saved(reports.save(result, out_dir, owned_folder), out_dir)


def _told_saved(saved, out_dir):
    """What was saved in --out, and what could not be."""
    if saved.written:
        say(f"saved in {out_dir}: {', '.join(saved.written)}")
    for problem in saved.problems:
        say(f"warning: not saved: {problem}", file=sys.stderr)
    return saved


def cmd_validate(args: argparse.Namespace) -> int:
    """Everything that can be known without running: the workflow, and its paths on disk."""
    from .errors import WorkflowInvalid
    from .overrides import named_by
    from .protected import Protected
    from .resolution import Dirs, resolve

    cache = _cache(args)
    out_dir = _out_dir(args)
    registry = _registry(args)
    workflow = _load(args, registry)
    dirs = Dirs(Path(args.workflow).resolve().parent, out_dir.resolve(),
                protected=Protected.here(registry.plugin_folders, cache.root), named=named_by(args.set or []))
    problems = resolve(workflow, registry, dirs, files=True).problems
    if problems:
        raise WorkflowInvalid(problems, source=args.workflow)
    say(f"ok: {args.workflow} is valid ({len(workflow.nodes)} nodes, {len(workflow.edges)} edges)")
    return EXIT_OK


def cmd_nodes(args: argparse.Namespace) -> int:
    registry = _registry(args)
    if args.json:
        say(json.dumps(registry.describe(), indent=2))
        return EXIT_OK
    from .validation import did_you_mean

    unknown = [name for name in args.type or () if registry.get(name) is None]
    if unknown:
        known = [t.type for t in registry]
        for name in unknown:
            say(f"error: no node type '{name}'{did_you_mean(name, known)} (`flowclass nodes` lists them all)", file=sys.stderr)
        return EXIT_INVALID
    for category, types in registry.by_category():
        types = [t for t in types if not args.type or t.type in args.type]
        if not types:
            continue
        say(f"{category}")
        for t in types:
            say(f"  {t.type}  —  {t.title} (version {t.version})")
            say(f"      from: {registry.origins.get(t.type) or 'unknown'}")
            if t.description:
                say(f"      {t.description.splitlines()[0]}")
            for label, ports in (("inputs", t.inputs), ("outputs", t.outputs)):
                if ports:
                    shown = ", ".join(f"{p.name} ({p.type.title}{', optional' if getattr(p, 'optional', False) else ''})"
                                      for p in ports)
                    say(f"      {label}: {shown}")
            for p in t.params:
                default = "required" if p.required else f"default {json.dumps(p.default)}"
                say(f"      - {p.name}: {p.expected()}; {default}")
                if p.help:
                    say(f"          {p.help}")
        say()
    return EXIT_OK


def cmd_sample(args: argparse.Namespace) -> int:
    from .fsutil import write_error
    from .library import sample_sets, write_sample_set

    names = sample_sets() if args.dataset == "all" else (args.dataset,)
    for name in names:
        target = Path(args.folder) / name
        try:
            write_sample_set(name, target)
        except FileExistsError as exc:
            say(f"error: {exc}", file=sys.stderr)
            return EXIT_FAILED
        except OSError as exc:  # a file where a folder goes, no permission, a full disk
            say(f"error: {write_error(exc, target, 'choose another folder')}", file=sys.stderr)
            return EXIT_FAILED
        count = sum(1 for p in target.rglob("*") if p.is_file())
        say(f"wrote {count} images of '{name}' to {target}")
    return EXIT_OK


def cmd_cache(args: argparse.Namespace) -> int:
    cache = _cache(args)
    if args.action == "clear":
        from .cache import WORK_STORES

        removed = cache.clear()
        drafts = cache.root / "stores" / WORK_STORES[0]
        kept = "; kept the canvas's tabs and their unsaved work (stores/drafts: File > Unsaved work " \
               "of closed tabs... reopens or discards it)" if drafts.is_dir() and any(drafts.iterdir()) else ""
        say(f"cleared {cache.root}: removed {', '.join(removed) or 'nothing'}{kept}")
        return EXIT_OK
    if args.action == "prune":
        done = cache.prune()
        say(f"pruned {cache.root}: removed {done['removed']} node result(s) used least "
              f"recently, freed {done['freed'] / 1e6:.1f} MB; results now {done['left'] / 1e6:.1f} "
              f"MB of at most {cache.max_bytes / 1e6:.0f} MB"
              + (f"; kept {done['in_use']} that a run is using" if done["in_use"] else ""))
        return EXIT_OK
    info = cache.info()
    say(f"cache: {info['root']}")
    say(f"  {info['results']} node result(s), at most {info['max_bytes'] / 1e6:.0f} MB "
          "(--cache-size or $FLOWCLASS_CACHE_SIZE)")
    for name, part in info["parts"].items():
        say(f"  {name:<12} {part['bytes'] / 1e6:9.1f} MB in {part['files']} file(s)")
    return EXIT_OK


def cmd_ui(args: argparse.Namespace) -> int:
    from .ui.app import serve

    _cache(args)
    return serve(workflow=args.workflow, host=args.host, port=args.port, token=args.token,
                 cache=args.cache, plugins=args.plugins or (), roots=args.root or (),
                 show=not args.no_browser, scheduler=args.scheduler)


def _size(text: str) -> str:
    import argparse

    from .cache import parse_size

    try:
        parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _common_arguments() -> argparse.ArgumentParser:
    """The options every command that uses the cache or the node library takes."""
    import argparse

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--cache", metavar="DIR", help="cache folder (default: $FLOWCLASS_CACHE "
                        "or the user's cache folder)")
    common.add_argument("--cache-size", metavar="SIZE", type=_size,
                        help="most the cache's node results may take, e.g. 10GB (default: "
                        "$FLOWCLASS_CACHE_SIZE or 10GB); the least recently used go first")
    common.add_argument("--plugins", metavar="DIR", action="append",
                        help="extra folder of node modules (repeatable)")
    return common


def _run_parser(run: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``flowclass run``'s arguments, on ``run``."""
    run.add_argument("workflow")
    run.add_argument("--set", metavar="NODE.PARAM=VALUE", action="append",
                     help="change a parameter (repeatable)")
    run.add_argument("--out", metavar="DIR", help="output folder (default: flowclass-out/<name>)")
    run.add_argument("--node", metavar="ID", action="append",
                     help="run only this node and what it needs (repeatable)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="run batches of work on a Dask cluster: tcp://HOST:8786 connects to "
                          "its scheduler, local:N starts N worker processes here (default: "
                          "$FLOWCLASS_SCHEDULER, else threads in this process)")
    run.set_defaults(func=cmd_run)
    return run


def build_parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(prog="flowclass", description=__doc__)
    parser.add_argument("--version", action="version", version=f"flowclass {__version__}")
    common = _common_arguments()
    sub = parser.add_subparsers(dest="command", required=True)
    _run_parser(sub.add_parser("run", parents=[common], help="run a workflow file"))

    validate = sub.add_parser("validate", parents=[common], help="check a workflow file, run nothing")
    validate.add_argument("workflow")
    validate.add_argument("--set", metavar="NODE.PARAM=VALUE", action="append")
    validate.add_argument("--out", metavar="DIR", help="the output folder the run would use "
                          "(default: flowclass-out/<name>); its paths are checked")
    validate.set_defaults(func=cmd_validate)

    nodes = sub.add_parser("nodes", parents=[common], help="list node types, ports and parameters")
    nodes.add_argument("type", nargs="*", help="only these node types")
    nodes.add_argument("--json", action="store_true", help="the full catalogue as JSON")
    nodes.set_defaults(func=cmd_nodes)

    from .library import sample_sets

    sample = sub.add_parser("sample", help="write the built-in sample images to a folder")
    sample.add_argument("folder")
    sample.add_argument("--dataset", default="all", choices=("all",) + sample_sets())
    sample.set_defaults(func=cmd_sample)

    cache = sub.add_parser("cache", parents=[common], help="show, prune or clear the cache")
    cache.add_argument("action", choices=("info", "prune", "clear"),
                       help="info: sizes; prune: remove the least recently used results down "
                            "to the cap; clear: remove all results and stores")
    cache.set_defaults(func=cmd_cache)

    ui = sub.add_parser("ui", parents=[common], help="open the canvas in the browser")
    ui.add_argument("workflow", nargs="?")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=8080)
    ui.add_argument("--token", help="access token, at least 16 varied characters (default: "
                    "$FLOWCLASS_TOKEN; when --host is not loopback and none is given, one is made)")
    ui.add_argument("--root", action="append", metavar="DIR",
                    help="folder the canvas may read and write: file browser, path parameters, "
                         "output folders (repeatable; default: home)")
    ui.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    ui.add_argument("--scheduler", metavar="ADDRESS",
                    help="runs send batches of work to a Dask cluster, as for `flowclass run` "
                         "(default: $FLOWCLASS_SCHEDULER, else threads in this process)")
    ui.set_defaults(func=cmd_ui)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from .run_process import one_run_process

    # a process started for one run (not a test calling main): see flowclass/run_process.py;
    # from before the parser is built, which imports the node library's modules
    one_run = argv is None and sys.argv[1:2] == ["run"]
    _let_collect(one_run)
    with one_run_process(one_run):
        # an unchanged re-run, seen before the node library loads (flowclass/up_to_date.py)
        try:
            answered, held = _answered(sys.argv[2:]) if one_run else (None, None)
        except KeyboardInterrupt:  # while it waited for another run into the folder
            say("interrupted", file=sys.stderr)
            return 130
        with held or nullcontext():  # the output folder's run lock, if that took it
            if answered is not None:
                return answered
            args = build_parser().parse_args(argv)
            args.run_lock = held
            if getattr(args, "cache_size", None):  # every Cache of this command, the canvas's too
                with _environment("FLOWCLASS_CACHE_SIZE", args.cache_size):
                    return _main(args)
            return _main(args)


def _let_collect(one_run: bool) -> None:
    """The collector as it was before this module held it, unless this is the one run's process
    (which :func:`flowclass.run_process.one_run_process` then sets)."""
    global _HELD
    if _HELD and not one_run:
        gc.enable()
    _HELD = False


@contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    """``$name`` set to ``value`` while the command runs (tests call main() in-process)."""
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def _main(args: argparse.Namespace) -> int:
    from .cache import default_max_bytes
    from .errors import WorkflowInvalid
    from .fsutil import WriteError

    try:
        default_max_bytes()
    except ValueError as exc:
        say(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    try:
        return args.func(args)
    except (WorkflowInvalid, UsageError) as exc:
        say(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except WriteError as exc:  # a full disk, a read-only folder: the message says what to do
        say(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        say("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `flowclass nodes | head`
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    from .import_path import node_library_beside_flowclass

    node_library_beside_flowclass()
    sys.exit(main())
