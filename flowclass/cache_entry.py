"""One cached node result on disk: its lease while a run reads it, and its integrity check.

A run reads cached outputs lazily, so a result must stay while a run may still read it. A
:class:`Lease` is a shared ``flock`` on the result's ``meta.json``, held as long as the
:class:`CachedResult` lives; eviction takes an exclusive lock without waiting first and
skips a result it cannot lock. ``flock`` locks belong to an open file, so this holds
between processes (another workflow's prune, ``flowclass cache prune``) and between two
caches in one process alike. Where the OS has no ``flock`` (Windows) there are no leases.

A result records each of its files' sizes (``meta["contents"]``) and SHA-256
(``meta["sha256"]``); one whose files are missing or cut short, whose output files are not
the ones stored (edited by a user, a sync tool or a bad disk, yet still valid JSON), or whose
outputs cannot be decoded, is damaged (:class:`CacheDamaged`, naming it), and the engine
discards it and runs the node again. Sizes are checked when a result is looked up, a stat per
file; contents only when an output is read (hashing runs at 1.7 GB/s here, about as fast as
decoding), so a re-run that reads no value (all cached) hashes nothing. Results stored before
the digests were kept are checked by size only.
"""

from __future__ import annotations

import hashlib
import os
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .errors import CodecError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class CacheDamaged(CodecError):
    """A cached result that fails its integrity check; the message names its folder."""


class Lease:
    """A shared lock on one result, released when the lease is dropped or released."""

    def __init__(self, fd: int):
        self._release = weakref.finalize(self, os.close, fd)

    def release(self) -> None:
        self._release()


def take_lease(meta: Path) -> Lease | None:
    """A lease on the result whose ``meta.json`` is ``meta``; None when it is not (or no
    longer) there, e.g. evicted between the lookup and the lock."""
    try:
        fd = os.open(meta, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    lease = Lease(fd)
    if fcntl is None:
        return lease
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # eviction holds its lock only while renaming
        if os.fstat(fd).st_ino == os.stat(meta).st_ino:
            return lease
    except OSError:
        pass
    lease.release()  # moved away meanwhile: not a result any more
    return None


def try_exclusive(meta: Path) -> Lease | bool:
    """An exclusive lock on a result that no run holds a lease on: a :class:`Lease` to keep
    while removing it; False when a run uses it; True when there is nothing to lock."""
    try:
        fd = os.open(meta, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return True
    except OSError:
        return False
    lease = Lease(fd)
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lease.release()
            return False
    return lease


def contents(folder: Path) -> dict[str, int]:
    """Every file under ``folder/outputs`` with its size: what the integrity check expects."""
    found = {}
    for path in sorted((folder / "outputs").rglob("*")):
        if path.is_file():
            found[path.relative_to(folder).as_posix()] = path.stat().st_size
    return found


def digests(folder: Path, names: Iterable[str]) -> dict[str, str]:
    """The SHA-256 of each of ``names`` under ``folder``: what an output is checked against
    when it is read."""
    return {name: _sha256(folder / name) for name in names}


def _sha256(path: Path) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def damage(folder: Path, key: str, meta: Any) -> str | None:
    """Why the result in ``folder`` cannot be served (None: it looks whole). Cheap: stats
    the files; decoding errors are found when an output is read."""
    if not isinstance(meta, dict) or meta.get("key") != key:
        return "its meta.json is not this result's"
    outputs = meta.get("outputs")
    if not isinstance(outputs, list) or not all(isinstance(p, str) for p in outputs):
        return "its meta.json lists no outputs"
    expected = meta.get("contents")
    if not isinstance(expected, dict):  # stored before sizes were recorded
        expected = {f"outputs/{port}/value.json": None for port in outputs}
    for name, size in expected.items():
        try:
            found = (folder / name).stat().st_size
        except OSError:
            return f"{name} is missing"
        if size is not None and found != size:
            return f"{name} has {found} bytes, {size} expected"
    return None


@dataclass
class CachedResult:
    """A result found in the cache; outputs load only when asked for, under a lease that
    keeps eviction away while this object lives."""

    key: str
    folder: Path
    meta: dict[str, Any]
    lease: Lease | None = field(default=None, repr=False, compare=False)

    def output(self, port: str) -> Any:
        from . import codec  # numpy, zipfile: only when a value is read

        self._check(port)
        try:
            return codec.load(self.folder / "outputs" / port)
        except MemoryError:
            raise
        except Exception as exc:  # a cut npz, garbage JSON, a pickle: all the same here
            raise CacheDamaged(f"the cached result {self.folder} is damaged: its output '{port}' "
                               f"cannot be read ({type(exc).__name__}: {exc})") from None

    def _check(self, port: str) -> None:
        """Raise :class:`CacheDamaged` when a file of output ``port`` is not the one stored:
        valid JSON that says something else would otherwise be served as the node's result."""
        stored = self.meta.get("sha256")
        if not isinstance(stored, dict):  # stored before the digests were kept
            return
        for name, digest in stored.items():
            if not name.startswith(f"outputs/{port}/"):
                continue
            try:
                same = _sha256(self.folder / name) == digest
            except OSError:
                same = False
            if not same:
                raise CacheDamaged(f"the cached result {self.folder} is damaged: its output '{port}' "
                                   f"is not what was stored ({name} was changed since)")

    def outputs(self) -> dict[str, Any]:
        return {port: self.output(port) for port in self.meta.get("outputs", [])}

    def close(self) -> None:
        """Release the lease now (it is also released when this object is dropped)."""
        if self.lease is not None:
            self.lease.release()
