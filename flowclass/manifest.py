"""run.json: what ran, with which versions and inputs, how long it took, what was cached.

A run is reproducible only if one can tell what produced it: the app and library
versions, model weight hashes (recorded by nodes), input fingerprints and per-node timings.
Beside it, ``skipped.csv`` lists every input file a node passed over, with the reason.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING, Any

from . import __version__, safe_json
from .digests import sha256
from .fsutil import atomic_path, atomic_write_text, file_stamp, is_read_only, write_error
from .safe_tables import rows_csv_text

if TYPE_CHECKING:
    from .engine import RunResult

MANIFEST_NAME = "run.json"
SKIPPED_NAME = "skipped.csv"
PACKAGES = ("numpy", "scipy", "scikit-learn", "pillow", "networkx", "pandas", "onnxruntime",
            "torch", "torchvision", "timm", "open_clip_torch", "scikit-image", "nicegui")
GENERATOR = "flowclass"
# run.json's last key: the sha256 of its text before it, so that one edited by hand is not
# taken for FlowClass's own
SEAL = "seal"
_SEALED = re.compile(r',\n  "seal": "([0-9a-f]{64})"\n\}\n\Z')
# a key of run.json, before the seal: where it was written and as which file (folder, device,
# inode, mtime_ns), which tie it to its folder (_examine)
WRITTEN = "written"
# the top-level keys of run.json as the versions before WRITTEN wrote them, oldest first
# (git log -p flowclass/manifest.py); the last, sealed, was written from 7a6c930 on
_LEGACY_KEYS = (
    ("generator", "flowclass", "python", "platform", "packages", "workflow", "started", "seconds", "ok",
     "cache", "nodes"),
    ("generator", "flowclass", "python", "platform", "packages", "workflow", "started", "seconds", "ok",
     "cache", "nodes", "skipped"),
    ("generator", "flowclass", "python", "platform", "packages", "workflow", "started", "seconds", "ok",
     "cache", "scheduler", "nodes", "skipped"),
)
# how every version's run.json begins (json.dump, indent 2, the generator first)
_HEAD = f'{{\n  "generator": "{GENERATOR}",\n'.encode("ascii")
# seconds around its run within which an older FlowClass's run.json must have been last
# written (it was written as the run ended; a network disk's clock may differ a little)
LEGACY_SLACK = 600.0


def package_versions() -> dict[str, str | None]:
    """Installed versions, read from package metadata (nothing is imported)."""
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


# run.json lists every file the run skipped, some 200 bytes each: 5,000,000 take 1 GB. A stranger's
# bundle can hold an output folder whose run.json begins as FlowClass's and then holds a sparse
# 2 GB, which was read whole and decoded before it was refused.
MAX_RUN_JSON_BYTES = 2**30


def _previous(path: Path) -> dict[str, Any] | None:
    """The run.json FlowClass wrote at ``path``, or None (absent, or not FlowClass's to
    replace: see :func:`_examine`)."""
    return _examine(path)[0]


def _examine(path: Path) -> tuple[dict[str, Any] | None, str]:
    """(The run.json FlowClass wrote at ``path``, else None; why it is not that).

    Only one FlowClass wrote in this folder is: its seal intact, and written here, which
    :data:`WRITTEN` tells by two ways that each survive what the other does not. Its folder's
    path is the same (a FAT or exFAT stick plugged in again numbers its files anew, but is
    mounted at the same place), or it is still the very file FlowClass wrote (its device,
    inode and time, one name only: a folder renamed or moved as a whole on its disk). A copy
    is neither (new inode, another folder), so a results folder copied elsewhere, or a
    run.json copied into a folder of one's own, is the user's. A link or anything but a
    regular file is the user's too. One an older FlowClass wrote, before the seal, is taken
    only as such a version wrote it (:func:`_legacy`)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None, "is not there"
    except OSError as exc:
        return None, "is a link" if os.path.islink(path) else f"cannot be read ({exc.strerror or exc})"
    try:
        st = os.fstat(fd)
        if not S_ISREG(st.st_mode):
            return None, "is not a regular file"
        if st.st_size > MAX_RUN_JSON_BYTES:  # not read: a stranger's may begin as FlowClass's does
            return None, (f"is {st.st_size / 2**20:,.0f} MB, more than any run.json FlowClass writes "
                          f"(at most {MAX_RUN_JSON_BYTES // 2**20:,} MB)")
        if not st.st_mode & 0o222:  # its owner said no, as to a decisions file (userfiles/decisions.py)
            return None, "is read-only"
        head = os.read(fd, len(_HEAD))
        if head != _HEAD:  # not read further: a large file of the user's is not read whole
            return None, "was not written by FlowClass"
        with os.fdopen(os.dup(fd), "rb") as handle:
            text = (head + handle.read()).decode("utf-8")
        previous = safe_json.loads(text)
    except (OSError, ValueError):
        return None, "was not written by FlowClass"
    finally:
        os.close(fd)
    if not isinstance(previous, dict) or previous.get("generator") != GENERATOR:
        return None, "was not written by FlowClass"
    written = previous.get(WRITTEN)
    if written is None:
        return (previous, "") if _legacy(previous, text, st) else \
            (None, "was written by an older FlowClass and changed or copied since")
    if SEAL not in previous or not _intact(text):
        return None, "was written by FlowClass but changed since"
    folder = written.get("folder") if isinstance(written, dict) else None
    if not isinstance(folder, str):
        return None, "was written by FlowClass but changed since"
    here = os.path.realpath(path.parent)
    if os.path.normcase(folder) == os.path.normcase(here) or _same_file(written, st):
        return previous, ""
    return None, f"was written by FlowClass in {folder}, not here ({_elsewhere(folder)})"


def _elsewhere(folder: str) -> str:
    """How a run.json written in ``folder`` may have come here. A FAT or exFAT stick plugged
    in again may be mounted at another path, and it numbers its files anew: then nothing
    tells it from a copy, so where ``folder`` is gone the message says so."""
    how = "copied, linked, or moved from another disk"
    if os.path.isdir(folder):
        return how
    return (f"{how}; that folder is not there now: a stick plugged in again may be mounted at another "
            "place, which FlowClass cannot tell from a copy")


def _same_file(written: dict[str, Any], st: os.stat_result) -> bool:
    """Whether ``st`` is the run.json FlowClass wrote as ``written`` says, under one name:
    its device, inode and modification time (which FlowClass set, so a network disk's clock
    does not count; within 2 s, which FAT and HFS+ round to)."""
    mtime = written.get("mtime_ns")
    return st.st_nlink == 1 and [written.get("device"), written.get("inode")] == [st.st_dev, st.st_ino] \
        and type(mtime) is int and abs(st.st_mtime_ns - mtime) < 2_000_000_000


def _legacy(previous: dict[str, Any], text: str, st: os.stat_result) -> bool:
    """Whether ``text`` is a run.json exactly as a FlowClass before :data:`WRITTEN` wrote it,
    soon after the run it records: unsealed with the keys, in the order and the layout those
    versions wrote (``json.dump``, indent 2, a newline), or sealed as the version just before
    sealed it. An edit (a note added, the seal deleted from a newer one, a value changed a
    day later) is not; nor is a copy made later with its time kept (``cp -p``, ``cp -a``): its
    change time (``st_ctime``, which no program sets) is when it was copied, not its run's."""
    from datetime import datetime  # only for such a file

    keys = tuple(previous)
    if keys[-1:] == (SEAL,):
        if keys[:-1] != _LEGACY_KEYS[-1] or not _intact(text):
            return False
    elif keys not in _LEGACY_KEYS or text != json.dumps(previous, indent=2, default=str) + "\n":
        return False
    try:
        started = datetime.strptime(previous["started"], "%Y-%m-%dT%H:%M:%S%z").timestamp()
        ended = started + float(previous["seconds"])
    except (TypeError, ValueError):
        return False
    return all(started - LEGACY_SLACK <= when <= ended + LEGACY_SLACK for when in (st.st_mtime, st.st_ctime))


def _seal(body: str) -> str:
    """What seals run.json's text ``body``: its SHA-256. What ties it to its folder is in the
    text (:data:`WRITTEN`), not in the seal, so that an edit and a copy are told apart."""
    return sha256(body.encode("utf-8")).hexdigest()


def _intact(text: str) -> bool:
    """Whether run.json's ``text`` is as FlowClass wrote it."""
    found = _SEALED.search(text)
    return found is not None and found.group(1) == _seal(text[:found.start()] + "\n}")


def _sealed_text(manifest: dict[str, Any]) -> str:
    """run.json's text for ``manifest`` (less any seal it had), sealed."""
    body = json.dumps({k: v for k, v in manifest.items() if k != SEAL}, indent=2, default=str)
    return f'{body[:-2]},\n  "{SEAL}": "{_seal(body)}"\n}}\n'


def node_seconds(out_dir: Path) -> dict[str, float]:
    """How long each node took when the run recorded in ``out_dir`` last ran it (not served
    from the cache): what the canvas's next run there may expect."""
    nodes = (_previous(out_dir / MANIFEST_NAME) or {}).get("nodes")
    if not isinstance(nodes, dict):
        return {}
    return {node: float(o["seconds"]) for node, o in nodes.items()
            if isinstance(o, dict) and o.get("state") == "done" and isinstance(o.get("seconds"), (int, float))}


def manifest_path(out_dir: Path) -> Path:
    """Where run.json goes; refuses to replace a run.json that FlowClass did not write in
    this folder, or that was changed since (:func:`_examine`), naming it and saying why."""
    path = out_dir / MANIFEST_NAME
    if os.path.lexists(path):
        previous, why = _examine(path)
        if previous is None:
            raise FileExistsError(f"{path} {why}; FlowClass replaces only a run.json it wrote in this folder: "
                                  "move it away, or choose another output folder (--out)")
    return path


def write_skipped(rows: list[tuple[str, str, str]], out_dir: Path,
                  previous: dict[str, Any] | None) -> dict[str, Any]:
    """Write skipped.csv (node, path, reason) of ``rows``, also when empty; what run.json
    says about it.

    A skipped.csv is replaced only when the previous run.json recorded it unchanged since
    (size and time): one the user made or edited is left alone. One that already says the
    same is kept as it is (an unchanged re-run writes nothing it need not).
    """
    path = out_dir / SKIPPED_NAME
    listed = {"count": len(rows), "files": [{"node": n, "path": p, "reason": r} for n, p, r in rows]}
    recorded = ((previous or {}).get("skipped") or {}).get("stamp")
    text = rows_csv_text(["node", "path", "reason"], rows)
    theirs = {**listed, "file": None, "not_written": f"{path} exists and was not written by FlowClass"}
    if os.path.lexists(path):
        try:
            ours = recorded is not None and str(file_stamp(path, follow_symlinks=False)) == recorded \
                and not is_read_only(path)  # not made read-only since
            if ours and path.read_bytes() == text.encode("utf-8"):
                return {**listed, "file": SKIPPED_NAME, "stamp": recorded}
        except OSError:
            ours = False
        if not ours:
            return theirs
        atomic_write_text(path, text, hint="choose another output folder (--out)")
    else:
        try:  # linked into place: one someone made since it was looked for stays
            atomic_write_text(path, text, overwrite=False, hint="choose another output folder (--out)")
        except FileExistsError:
            return theirs
    return {**listed, "file": SKIPPED_NAME, "stamp": str(file_stamp(path))}


def platform_name() -> str:
    """The operating system as run.json names it (``Linux-6.1.0-x86_64-with-glibc2.36``)."""
    import platform  # its processor name runs `uname -p`: a re-run from its record keeps it

    return platform.platform()


def manifest_document(result: "RunResult", *, source: str | None, overrides: list[str],
                      system: tuple[str, dict[str, str | None]] | None = None,
                      started: float | None = None) -> dict[str, Any]:
    """run.json's content for ``result``, less what only writing it tells (skipped.csv);
    ``system``: the platform's name and the installed versions when the caller has them
    already (flowclass.installed)."""
    from dataclasses import asdict, replace  # not for a re-run that writes a kept document (up_to_date.py)

    from .workflow_file import to_document

    document = to_document(result.workflow)
    platform, packages = system if system is not None else (platform_name(), package_versions())
    return {
        "generator": GENERATOR,
        "flowclass": __version__,
        "python": sys.version.split()[0],
        "platform": platform,
        "packages": packages,
        "workflow": {"path": source, "name": result.workflow.name, "overrides": overrides,
                     "document": document},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started or time.time())),
        "seconds": round(result.seconds, 3),
        "ok": result.ok,
        "cache": str(result.cache.root),
        "scheduler": result.scheduler,
        "nodes": {node: {k: v for k, v in asdict(replace(o, skipped=[], reads=None)).items()
                         if k not in ("node", "skipped", "reads")}  # neither copied first
                  for node, o in result.outcomes.items()},
    }


def write_manifest(result: "RunResult", *, started: float, source: str | None,
                   overrides: list[str], out_dir: Path, system: tuple[str, dict[str, str | None]] | None = None
                   ) -> Path:
    """Write run.json (and skipped.csv) into ``out_dir``; ``system``: the platform's name
    and the installed versions when the caller has them already (flowclass.installed)."""
    manifest = manifest_document(result, source=source, overrides=overrides, system=system, started=started)
    path, result.skipped_note = write_document(manifest, result.skipped_files, out_dir)
    return path


def write_document(manifest: dict[str, Any], skipped: list[tuple[str, str, str]],
                   out_dir: Path) -> tuple[Path, str]:
    """Write ``manifest`` as run.json, with skipped.csv of ``skipped``, into ``out_dir``;
    (run.json's path, where the list of skipped files is, or why it is not)."""
    path = manifest_path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(exc, out_dir, "choose another output folder (--out)") from exc
    previous = _previous(path)
    manifest["skipped"] = write_skipped(skipped, out_dir, previous)
    note = manifest["skipped"].get("not_written") or f"the full list: {out_dir / SKIPPED_NAME}"
    try:  # none there when looked for: linked into place, so one someone made since stays
        with atomic_path(path, overwrite=previous is not None, hint="choose another output folder (--out)") as tmp:
            _write_sealed(tmp, manifest, out_dir)
    except FileExistsError:
        raise FileExistsError(f"{path} exists and was not written by FlowClass; choose another "
                              "output folder (--out)") from None
    return path, note


def _write_sealed(tmp: Path, manifest: dict[str, Any], out_dir: Path) -> None:
    """Write ``manifest`` sealed into ``tmp``, the new file that becomes run.json in ``out_dir``
    (renamed or linked, so it keeps its inode), saying where and as which file (:data:`WRITTEN`);
    its time is set to the one stated, so that a disk with a clock of its own does not differ."""
    st = os.stat(tmp)
    now = time.time_ns()
    manifest[WRITTEN] = {"folder": os.path.realpath(out_dir), "device": st.st_dev, "inode": st.st_ino,
                         "mtime_ns": now}
    with open(tmp, "wb") as handle:
        handle.write(_sealed_text(manifest).encode("utf-8"))
    os.utime(tmp, ns=(now, now))
