"""Writing files whole or not at all, and telling whether a file changed.

Every file FlowClass writes goes through :func:`atomic_path` (or its two shorthands): the
data goes into a hidden temporary file in the target's own folder, is flushed to disk, and
is then renamed into place. A crash, a kill or a full disk therefore leaves the old file or
the new one, never half of one, and the temporary file is removed whenever Python still
runs. The temporary name is short and fixed in length, so it fits the file system's name
limit even when the target's name uses all 255 bytes; it ends in :data:`TEMP_SUFFIX`, so
leftovers of a killed process can be recognised and cleaned up later.

Files are created with mode 0666 less the umask, as ``open()`` does (0644 under the usual
umask 022), so people who share a folder can read what FlowClass wrote there.

:func:`file_stamp` is the one cheap identity of a file used for cache keys, fingerprints
and ownership: its size and modification time in nanoseconds.
"""

from __future__ import annotations

import errno
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, NamedTuple

TEMP_SUFFIX = ".flowclass-tmp"

# Errors of publishing that mean "something is already there": callers decide what to do
# (choose another name, report a collision), so they pass through unchanged.
_COLLISIONS = (FileExistsError, IsADirectoryError, NotADirectoryError)


class WriteError(OSError):
    """A file could not be written; the message names it and says what to do.

    Still an :class:`OSError` with the original ``errno``, so ``exc.errno == errno.ENOSPC``
    tells a full disk apart from other failures.
    """

    def __init__(self, message: str, path: Path, code: int | None):
        super().__init__(message)
        self.message = message
        self.errno = code
        self.filename = str(path)

    def __str__(self) -> str:
        return self.message


def write_error(exc: OSError, path: str | os.PathLike[str], hint: str | None = None) -> WriteError:
    """A :class:`WriteError` for ``exc``, raised while writing ``path``.

    ``hint`` is what the user can do instead (e.g. "choose another --out"); a generic one is
    used without it.
    """
    if isinstance(exc, WriteError):
        return exc
    path = Path(path)
    code = exc.errno
    what = {
        errno.ENOSPC: f"disk full while writing {path}",
        errno.EDQUOT: f"disk quota exceeded while writing {path}",
        errno.EFBIG: f"{path} is larger than the file system allows",
        errno.EROFS: f"cannot write {path}: the file system is read-only",
        errno.EACCES: f"no permission to write {path}",
        errno.EPERM: f"no permission to write {path}",
        errno.ENAMETOOLONG: f"cannot write {path}: the name is too long for the file system",
    }.get(code, f"cannot write {path}: {exc.strerror or exc}")
    if hint is None:
        hint = "write somewhere else" if code not in (errno.ENOSPC, errno.EDQUOT) else \
            "free some space there, or write somewhere else"
    elif code in (errno.ENOSPC, errno.EDQUOT):
        hint = f"free some space there, or {hint}"
    return WriteError(f"{what}: {hint}", path, code)


def temp_name() -> str:
    """A hidden, random name of fixed length (30 bytes) for a temporary file."""
    return f".fc-{os.urandom(6).hex()}{TEMP_SUFFIX}"


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is one :func:`temp_name` gives (a leftover of a killed process)."""
    return name.startswith(".fc-") and name.endswith(TEMP_SUFFIX) and len(name) == 30


def _create_temp(folder: Path) -> Path:
    while True:
        tmp = folder / temp_name()
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o666)  # the umask applies, as for open()
        except FileExistsError:
            continue
        os.close(fd)
        return tmp


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, overwrite: bool = True, fsync: bool = True,
                hint: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends cleanly, publish it there.

    Write the new content to the yielded path (by name: ``Image.save(tmp)``,
    ``frame.to_csv(tmp)``...). It is then flushed to disk (``fsync``) and renamed over
    ``path``; with ``overwrite=False`` it is hard-linked instead, which raises
    :class:`FileExistsError` rather than replace anything already at ``path``.

    Whatever happens, the temporary file is gone afterwards. Any other :class:`OSError`
    (a full disk above all) becomes a :class:`WriteError` that names ``path`` and says what
    to do (``hint``).
    """
    path = Path(path)
    try:
        tmp = _create_temp(path.parent)
    except _COLLISIONS:
        raise
    except OSError as exc:
        raise write_error(exc, path, hint) from exc
    try:
        yield tmp
        if fsync:
            _fsync(tmp)
        (os.replace if overwrite else os.link)(tmp, path)
    except _COLLISIONS:
        raise
    except OSError as exc:
        raise write_error(exc, path, hint) from exc
    finally:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, **options) -> None:
    """Write ``data`` to ``path`` whole or not at all; options as :func:`atomic_path`."""
    with atomic_path(path, **options) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8",
                      **options) -> None:
    """Write ``text`` (``\\n`` line ends) to ``path`` whole or not at all."""
    atomic_write_bytes(path, text.encode(encoding), **options)


class Stamp(NamedTuple):
    """Size and modification time of a file: changes whenever its content is rewritten."""

    size: int
    mtime_ns: int

    def __str__(self) -> str:
        return f"{self.size}:{self.mtime_ns}"


def file_stamp(path: str | os.PathLike[str], *, follow_symlinks: bool = True) -> Stamp:
    """The :class:`Stamp` of ``path``; raises :class:`OSError` when it cannot be read."""
    st = os.stat(path, follow_symlinks=follow_symlinks)
    return Stamp(st.st_size, st.st_mtime_ns)
