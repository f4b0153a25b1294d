"""Writing into the user's folders without ever harming what is theirs.

Each folder FlowClass writes into keeps a hidden journal (:mod:`flowclass.userfiles.journal`) of
the files and folders FlowClass created there, with their identity (inode, size,
modification time). A path counts as FlowClass's only while it is in the journal *and*
still has that identity, and (a file) its owner has not made it read-only; only such paths
are ever replaced or removed. Everything else
is the user's: FlowClass writes beside it under another name, or stops with an error
that names it.

Every write goes the same way: the temporary name is journaled, the temporary file is
created (mode 0666 less the umask) and filled, its identity is journaled under the final
name, and it is then linked into place (``os.link``, which never replaces anything) or
renamed over a file FlowClass owns. A kill at any moment therefore leaves a journal that
knows every file and temporary file FlowClass made, and the next run (:func:`owned_folder`)
removes the leftovers. No write goes through a link: every folder on the way from the
root to the file must be a real folder. Each folder is opened once, inside the one above it,
never through a link (:meth:`OwnedFolder._folder`), and every file is made, renamed,
linked and removed inside that open folder: a folder swapped for a link to a folder of the
user's while a run writes (after it was looked at) is never written through.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from flowclass.context import RunContext
from flowclass.errors import FolderError, NodeError
from flowclass.fsutil import temp_name, temp_names, write_error
from flowclass.protected import Protected

from .file_names import numbered
from .folder_lock import folder_lock, no_run_there
from .journal import (JOURNAL, Entry, confined, identity, problems_warning,
                      read_journal)

__all__ = ["JOURNAL", "Collision", "Entry", "OwnedFolder", "copy_new", "copy_of", "new_file",
           "owned_folder"]


def _log_warning(message: str) -> None:
    """A warning with no run to tell it to goes to logging (imported only then)."""
    import logging

    logging.getLogger(__name__).warning(message)


# what makes a file at a temporary path, or the path of a file to copy (publish_many)
Make = Callable[[Path], None] | str

_FOLDER_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
# whether names can be taken inside an open folder (not on Windows: there, by their paths)
_AT = {os.open, os.stat, os.readlink, os.mkdir, os.rmdir, os.unlink, os.link, os.rename} <= os.supports_dir_fd
_FOLDERS_HELD = 256  # open folders kept between writes (fewer than the usual 1,024 descriptors)
_PROC_FD = "/proc/self/fd/"


@dataclass(frozen=True)
class _Folder:
    """A folder written into: held open (``fd``), its names then taken inside it (``at``);
    where the system cannot (Windows), by its ``path``. A dataclass, not a NamedTuple: a
    NamedTuple compiles its string annotations when defined (tests/test_deferred_import.py)."""

    fd: int | None
    path: str

    def at(self, name: str) -> str:
        return name if self.fd is not None else os.path.join(self.path, name)


class Collision(FileExistsError):
    """Something that is not FlowClass's (or not a real folder) is where a write would go."""


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _parts(rel: str) -> list[str]:
    """``a``, ``a/b``, ``a/b/c`` for ``a/b/c`` (plain strings: this runs for every file)."""
    bits = rel.split("/")
    return ["/".join(bits[:depth]) for depth in range(1, len(bits) + 1)]


def _split(rel: str) -> tuple[str, str]:
    """(parent, name); the parent is "." at the top."""
    parent, _, name = rel.rpartition("/")
    return parent or ".", name


class OwnedFolder:
    """The journal of one folder, and safe writes into it.

    Use :func:`owned_folder` to also lock the folder and clean up after interrupted runs.
    """

    def __init__(self, root: Path, warn: Callable[[str], None] | None = None,
                 protected: Protected | None = None):
        self.root = Path(root)
        self.protected = protected  # found when first needed: reading a journal needs none
        self._allowed_dirs: set[str] = set()  # folders below root checked against protected
        self._root = str(self.root)
        self._prefix = os.path.join(self._root, "")  # + a confined rel: its path
        self.warn = warn or _log_warning
        replay = read_journal(self.root)
        if replay.problems:
            self.warn(problems_warning(self.root, replay.problems))
        self._temps = replay.temps
        self._mkdirs = replay.mkdirs
        self.entries: dict[str, Entry] = {}
        self._dirs_seen: dict[str, bool] | None = {}  # while reading: each folder looked at once
        for rel, candidates in replay.candidates.items():
            for candidate in reversed(candidates):  # the latest claim that matches the disk
                now = self._current(rel, candidate.kind)
                if now is not None and _same(candidate, now):
                    self.entries[rel] = candidate
                    break
        self._dirs_seen = None
        self._journal_fd: int | None = None
        self._claimed_dirs: dict[str, str] = {}
        self._lines: dict[str, tuple[Entry, str]] = {}  # the journal line of each entry claimed here
        self._placed: dict[str, Entry] = {}  # what this object put in place itself, as it put it
        self._fds: dict[str, _Folder] = {}  # each folder written into ("." the root), open (_folder)
        self._holding = False  # the root held open until close() (hold)

    # --- ownership ---------------------------------------------------------------------
    def _path(self, rel: str) -> str:
        return self._prefix + rel  # os.path.join for a relative rel, at a fraction of its cost

    def _real_dir(self, rel: str) -> bool:
        seen = self._dirs_seen
        if seen is not None and rel in seen:
            return seen[rel]
        st = _lstat(self._path(rel))
        real = st is not None and stat.S_ISDIR(st.st_mode)
        if seen is not None:
            seen[rel] = real
        return real

    def links_free(self, rel: str) -> bool:
        """Whether every folder on the way to ``rel`` (not ``rel`` itself) is a real folder."""
        return all(self._real_dir(part) for part in _parts(rel)[:-1])

    def _current(self, rel: str, kind: str) -> Entry | None:
        if not self.links_free(rel):
            return None
        st = _lstat(self._path(rel))
        if st is None or kind == "file" and not st.st_mode & 0o222 and st.st_nlink == 1:
            return None  # made read-only by its owner: theirs (a hard link of a read-only original is not alone)
        target = os.readlink(self._path(rel)) if stat.S_ISLNK(st.st_mode) else ""
        return identity(st, kind, target)

    def owns(self, rel: str) -> bool:
        """Whether ``rel`` is FlowClass's: recorded, and unchanged since it was written."""
        entry = self.entries.get(rel)
        if entry is None:
            return False
        now = self._current(rel, entry.kind)
        return now is not None and _same(entry, now)

    def _owns_file(self, rel: str) -> bool:
        return self.owns(rel) and self.entries[rel].kind != "dir"

    # --- the journal -------------------------------------------------------------------
    def _append(self, *records: dict) -> None:
        """Add records to the journal in one write (whole lines, or none on a full disk)."""
        import json

        self._append_lines([json.dumps(record) for record in records])

    def _append_lines(self, lines: list[str]) -> None:
        """:meth:`_append` for records already encoded, one JSON object each."""
        if self._journal_fd is None:
            root = self._folder(".")
            self._journal_fd = os.open(root.at(JOURNAL), os.O_WRONLY | os.O_APPEND | os.O_CREAT |
                                       getattr(os, "O_NOFOLLOW", 0), 0o666, dir_fd=root.fd)
        line = "".join(line + "\n" for line in lines).encode("utf-8")
        end = os.lseek(self._journal_fd, 0, os.SEEK_END)
        try:
            if os.write(self._journal_fd, line) != len(line):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as exc:  # a full disk: leave the journal as it was, whole lines only
            os.ftruncate(self._journal_fd, end)
            if end == 0:
                self._close_journal()
                _unlink(self._folder("."), JOURNAL)  # an empty journal is no journal
            exc.filename = exc.filename or self._path(JOURNAL)
            raise

    def _claim(self, rel: str, entry: Entry) -> None:
        self._claim_many([(rel, entry)])

    def _claim_many(self, claims: list[tuple[str, Entry]]) -> None:
        """Journal each ``(rel, entry)`` in one write, then take it as FlowClass's; the lines
        are kept for :meth:`compact`, which writes the same again."""
        lines = [entry.line(rel) for rel, entry in claims]
        self._append_lines(lines)
        for (rel, entry), line in zip(claims, lines):
            self.entries[rel] = entry
            self._lines[rel] = (entry, line)

    def _line(self, rel: str, entry: Entry) -> str:
        """The journal line of ``entry``: as written when it was claimed here, else encoded."""
        kept = self._lines.get(rel)
        return kept[1] if kept is not None and kept[0] is entry else entry.line(rel)

    def record(self, rel: str, kind: str = "file", sha256: str = "") -> None:
        """Record ``rel``, which FlowClass has just made, as its own, with its identity now."""
        now = self._current(rel, kind)
        if now is not None:
            self._claim(rel, Entry(now.kind, now.ino, now.size, now.mtime_ns, now.target, sha256))

    def forget(self, rel: str) -> None:
        if self.entries.pop(rel, None) is not None:
            self._append({"forget": rel})

    def compact(self) -> None:
        """Rewrite the journal with only the live entries (atomically); then let go of the
        journal and the folders held open but a root held (a caller may end with it, without
        :meth:`close`)."""
        try:
            self._compact()
        finally:
            self._close_journal()
            self._let_folders_go(keep=lambda rel: rel == "." and self._holding)

    def _compact(self) -> None:
        if not self.entries and not os.path.lexists(self._path(JOURNAL)):
            return  # nothing owned, nothing to remember: no empty journal in the user's folder
        self._dirs_seen = {}  # nothing moves while this looks: each folder looked at once
        try:
            text = "".join(self._line(rel, entry) + "\n"
                           for rel, entry in sorted(self.entries.items()) if self._live(rel, entry))
        finally:
            self._dirs_seen = None
        try:
            if Path(self._path(JOURNAL)).read_bytes() == text.encode("utf-8"):
                return  # already compact: nothing to write (which also works on a full disk)
        except OSError:
            pass
        tmp = self._new_temp(".", new_file(lambda path: path.write_text(text, encoding="utf-8")))
        self._close_journal()
        root = self._folder(".")
        os.replace(root.at(tmp), root.at(JOURNAL), src_dir_fd=root.fd, dst_dir_fd=root.fd)
        self._temps = set()

    def _live(self, rel: str, entry: Entry) -> bool:
        """Whether ``entry`` is still worth a journal line: put in place by this object (a
        copy of a few thousand is not looked at again; a file changed since by someone else
        only keeps a line that no longer matches the disk, which makes it the user's when
        the journal is read), or else found unchanged on the disk."""
        return self._placed.get(rel) is entry or self.owns(rel)

    def stamps(self) -> dict[str, tuple[int, int]]:
        """(size, mtime_ns) of each file this object put in place, by path, as it put it (the
        identity its journal keeps): a copy's, without reading it again."""
        return {self._path(rel): (entry.size, entry.mtime_ns) for rel, entry in self._placed.items()
                if entry.kind == "file"}

    def _close_journal(self) -> None:
        if self._journal_fd is not None:
            os.close(self._journal_fd)
            self._journal_fd = None

    def close(self) -> None:
        """Let go of the journal and the folders held open."""
        self._close_journal()
        self._let_folders_go()
        self._holding = False

    # --- folders held open -------------------------------------------------------------
    def _folder(self, rel_dir: str) -> _Folder:
        """The folder ``rel_dir`` ("." the root) held open, each folder on the way opened
        inside the one above it, never through a link (:class:`Collision`): what is written
        there lands in the folder looked at, even if a link to a folder of the user's took its
        name meanwhile. Held until :meth:`close`."""
        held = self._fds.get(rel_dir)
        if held is not None:
            return held
        path = self._root if rel_dir == "." else self._path(rel_dir)
        if not _AT:
            return _Folder(None, path)
        if rel_dir == ".":  # the root as named (the user may have chosen a link to a folder)
            fd = os.open(path, _FOLDER_FLAGS)
        else:
            parent, name = _split(rel_dir)
            try:
                fd = os.open(name, _FOLDER_FLAGS | os.O_NOFOLLOW, dir_fd=self._folder(parent).fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise Collision(f"{path} is a link or a file, not a folder; FlowClass does not "
                                    "write through it") from None
                raise
        self._fds[rel_dir] = held = _Folder(fd, path)
        return held

    def hold(self) -> None:
        """Open the folder now, until :meth:`close`: what is written lands in the folder
        locked and looked at, even if a link to a folder of the user's takes its name later."""
        self._folder(".")
        self._holding = True

    def _let_folders_go(self, keep: Callable[[str], bool] = lambda rel: False) -> None:
        """Close the folders held open but those ``keep`` names."""
        for rel in [rel for rel in self._fds if not keep(rel)]:
            os.close(self._fds.pop(rel).fd)  # type: ignore[arg-type]  # held: open

    def _hold_few(self) -> None:
        """Between writes, let go of the open folders once there are many (the root stays:
        the others are opened again inside it)."""
        if len(self._fds) > _FOLDERS_HELD:
            self._let_folders_go(keep=lambda rel: rel == ".")

    def recover(self) -> None:
        """Remove what an interrupted run left (temporary files), adopt folders it made."""
        for rel in sorted(self._temps):
            parent, name = _split(rel)
            try:
                folder = self._folder(parent)
                if not stat.S_ISDIR(os.lstat(folder.at(name), dir_fd=folder.fd).st_mode):
                    os.unlink(folder.at(name), dir_fd=folder.fd)
            except (FileNotFoundError, NotADirectoryError, Collision):
                continue
        for rel in sorted(self._mkdirs):
            if rel not in self.entries and self._real_dir(rel) and self.links_free(rel) \
                    and not any((self.root / rel).iterdir()):
                self._claim(rel, identity(os.lstat(self.root / rel), "dir"))
        self._mkdirs = set()
        self.compact()

    # --- folders -----------------------------------------------------------------------
    def make_dirs(self, rel_dir: str) -> None:
        """Create ``rel_dir`` (and parents), recording the ones FlowClass created.

        Raises :class:`Collision` when something on the way is a file, a link or anything
        but a real folder.
        """
        _check_confined(self.root, rel_dir)
        for part in _parts(rel_dir):
            path = self.root / part
            if part not in self._allowed_dirs:
                self.protected = self.protected or Protected.here()
                why = self.protected.why(path)
                if why:
                    raise Collision(f"FlowClass does not write into {path}: {why}")
                self._allowed_dirs.add(part)
            parent, name = _split(part)
            folder = self._folder(parent)
            st = _lstat_in(folder, name)
            if st is None:
                self._append({"mkdir": part})
                os.mkdir(folder.at(name), dir_fd=folder.fd)
                self._claim(part, identity(os.lstat(folder.at(name), dir_fd=folder.fd), "dir"))
            elif not stat.S_ISDIR(st.st_mode):
                raise Collision(f"{path} is {'a link' if stat.S_ISLNK(st.st_mode) else 'a file'}, "
                                "not a folder")

    def claim_dir(self, rel: str, taken: set[str]) -> str:
        """``rel`` or ``rel (2)``...: the first that is, or can become, a real folder.

        Folders of the user's are fine to write into; files, links and names in ``taken``
        (compared case-insensitively) are skipped.
        """
        k = 1
        while True:
            candidate = numbered(rel, k, keep_suffix=False)
            k += 1
            if candidate.casefold() in taken:
                continue
            try:
                self.make_dirs(candidate)
            except (Collision, FileExistsError, NotADirectoryError):
                continue
            return candidate

    def claim_dirs(self, rel_dir: str) -> str:
        """``rel_dir`` with each part that is a file or link of the user's numbered (``a (2)/b``)."""
        if rel_dir not in self._claimed_dirs:
            claimed = ""
            for part in rel_dir.split("/"):
                claimed = self.claim_dir(f"{claimed}/{part}" if claimed else part, set())
            self._claimed_dirs[rel_dir] = claimed
        return self._claimed_dirs[rel_dir]

    def remove_if_owned(self, rel: str) -> bool:
        """Delete a file or empty folder FlowClass created and nobody changed since."""
        if not self.owns(rel):
            self.forget(rel)
            return False
        entry, (parent, name) = self.entries[rel], _split(rel)
        try:
            folder = self._folder(parent)
            if os.lstat(folder.at(name), dir_fd=folder.fd).st_ino != entry.ino:
                return False  # not what was looked at: a folder on the way was swapped meanwhile
            if entry.kind == "dir":
                self._let_folders_go(keep=lambda held: held != rel and not held.startswith(rel + "/"))
                os.rmdir(folder.at(name), dir_fd=folder.fd)  # only when empty: what the user put there stays
            else:
                os.unlink(folder.at(name), dir_fd=folder.fd)
        except OSError:
            return False
        self.forget(rel)
        return True

    # --- files -------------------------------------------------------------------------
    def _new_temp(self, rel_dir: str, make: Callable[[Path], None]) -> str:
        """Journal a temporary name in ``rel_dir``, then ``make`` the file there (in the folder
        held open: :meth:`_folder`)."""
        folder = self._folder(rel_dir or ".")
        while True:
            name = temp_name()  # 30 bytes: fits any NAME_MAX
            if _lstat_in(folder, name) is None:
                break
        rel = name if rel_dir in ("", ".") else f"{rel_dir}/{name}"
        self._append({"temp": rel})
        try:
            make(self._inside(folder, rel))
        except BaseException:
            _unlink(folder, name)
            raise
        return rel

    def _inside(self, folder: _Folder, rel: str) -> Path:
        """The path of ``rel`` in the open ``folder``, for a maker that writes by name: through
        the descriptor where the system names it (Linux's /proc), else its path."""
        if folder.fd is not None and _proc_fds():
            return Path(f"{_PROC_FD}{folder.fd}/{_split(rel)[1]}")
        return self.root / rel

    def _publish(self, rel: str, make: Callable[[Path], None], *, replace: bool,
                 sha256: str = "") -> None:
        """Make the content under a temporary name, claim it as ``rel``, then put it there."""
        _check_confined(self.root, rel)
        parent, _ = _split(rel)
        if parent != ".":
            self.make_dirs(parent)
        if not self.links_free(rel):
            raise Collision(f"a folder on the way to {self.root / rel} is a link or a file")
        self._hold_few()
        try:
            tmp = self._new_temp(parent, make)
        except OSError as exc:
            _name_error(exc, self.root / rel)
            raise
        folder, name = self._folder(parent), _split(tmp)[1]
        try:
            st = os.lstat(folder.at(name), dir_fd=folder.fd)
            target = os.readlink(folder.at(name), dir_fd=folder.fd) if stat.S_ISLNK(st.st_mode) else ""
            kind = "symlink" if target else "file"
            entry = identity(st, kind, target, sha256)
            if entry is None:
                raise OSError(f"{self.root / tmp} is not a file after writing it")
            previous = self.entries.get(rel)
            self._claim(rel, entry)
            try:
                _place(folder, name, _split(rel)[1], replace)
                self._placed[rel] = entry
            except BaseException:
                if previous is None:
                    self.forget(rel)
                else:
                    self._claim(rel, previous)
                raise
        finally:
            _unlink(folder, name)

    def publish_many(self, files: list[tuple[str, Make, str]]) -> None:
        """Put many files in place at once, each ``(rel, make, sha256)`` where nothing is or
        a file of FlowClass's is (which it replaces); ``make`` is a maker, or the path of a
        file to copy. A copy to a new place is made unnamed and linked once whole where the
        system can (:meth:`_copy_unnamed`); every other file takes the steps of
        :meth:`_publish` in the same order, each step's journal records in one write, so a
        few thousand copies cost their copying, not their bookkeeping. A kill at any moment
        leaves no more than :meth:`_publish` would. Raises :class:`Collision` (nothing
        written) when one would go where the user has something."""
        if not files:
            return
        owned_before = {rel for rel, _, _ in files if self._owns_file(rel)}
        self._refuse_users(files, owned_before)
        self._hold_few()
        for parent in sorted({_split(rel)[0] for rel, _, _ in files} - {"."}):
            self.make_dirs(parent)
        def new_copy(file: tuple[str, Make, str]) -> bool:  # a copy of a file, to a new place
            return isinstance(file[1], str) and file[0] not in owned_before

        unnamed = [file for file in files if new_copy(file)]
        named = [file for file in files if not new_copy(file)]
        self._publish_named(named + self._copy_unnamed(unnamed), owned_before)

    def _refuse_users(self, files: list[tuple[str, Make, str]], owned_before: set[str]) -> None:
        """Raise :class:`Collision` when a file of ``files`` would go where something that is
        not FlowClass's is (a folder that is not there yet holds nothing: not looked into)."""
        prefix, absent = self._prefix, {}
        for rel, _, _ in files:
            _check_confined(self.root, rel)
            if rel in owned_before:
                continue
            parent = _split(rel)[0]
            if parent not in absent:
                absent[parent] = parent != "." and not os.path.lexists(prefix + parent)
            if not absent[parent] and os.path.lexists(prefix + rel):
                raise Collision(f"{self.root / rel} exists and was not written by FlowClass; "
                                "FlowClass does not overwrite it")

    def _publish_named(self, files: list[tuple[str, Make, str]], owned_before: set[str]) -> None:
        """:meth:`publish_many`'s files made under journaled temporary names."""
        if not files:
            return
        temps = []  # each file's temporary rel, its folder held open, its name there
        for (rel, _, _), name in zip(files, temp_names(len(files))):
            parent = _split(rel)[0]
            folder = self._folder(parent)
            while _lstat_in(folder, name) is not None:
                name = temp_name()
            temps.append((name if parent == "." else f"{parent}/{name}", folder, name))
        self._append(*({"temp": tmp} for tmp, _, _ in temps))
        try:
            for (rel, make, _), (tmp, folder, _) in zip(files, temps):
                try:
                    if isinstance(make, str):
                        copy_new(make, self._inside(folder, tmp))
                    else:
                        make(self._inside(folder, tmp))
                except OSError as exc:
                    _name_error(exc, self.root / rel)
                    raise
            entries = [identity(os.lstat(folder.at(name), dir_fd=folder.fd), "file", "", sha256)
                       for (_, _, sha256), (_, folder, name) in zip(files, temps)]
            if any(entry is None for entry in entries):
                raise OSError(f"a file made in {self.root} is not a plain file after writing it")
            self._claim_many([(rel, entry) for (rel, _, _), entry in zip(files, entries)])
            for (rel, _, _), (_, folder, name), entry in zip(files, temps, entries):
                _place(folder, name, _split(rel)[1], rel in owned_before)
                self._placed[rel] = entry
        finally:
            for _, folder, name in temps:
                _unlink(folder, name)

    def _copy_unnamed(self, copies: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
        """Each copy ``(rel, source, sha256)`` made as an unnamed file in its folder (Linux's
        ``O_TMPFILE``), its identity journaled, then linked into place: a kill at any moment
        leaves neither a half copy nor a temporary file to remove, and a copy costs one entry
        in its folder where a temporary name costs three. Returns the copies not made so
        (the system or that folder's filesystem cannot), for the temporary names."""
        if not copies or not _AT or not _unnamed_files():
            return copies
        folders: dict[str, int] = {}  # each folder written into, held open (_folder)
        for start in range(0, len(copies), _UNNAMED_AT_ONCE):
            batch = copies[start:start + _UNNAMED_AT_ONCE]
            made = self._link_unnamed(batch, folders)
            if made < len(batch):
                return copies[start + made:]
        return []

    def _link_unnamed(self, batch: list[tuple[str, str, str]], folders: dict[str, int]) -> int:
        """:meth:`_copy_unnamed` for a batch (as many open files as the system allows at
        once); how many of the batch were put in place, from its start (the rest: none can
        be here, and the temporary names' claims replace theirs)."""
        made: list[tuple[str, int, Entry | None]] = []  # (rel, its open unnamed file, identity)
        try:
            self._make_unnamed(batch, folders, made)
            if made:
                self._claim_many([(rel, entry) for rel, _, entry in made])
            for placed, (rel, fd, entry) in enumerate(made):
                parent, name = _split(rel)
                if not _link_unnamed(fd, folders[parent], name):
                    return placed
                self._placed[rel] = entry
        finally:
            for _, fd, _ in made:
                os.close(fd)
        return len(made)

    def _make_unnamed(self, batch: list[tuple[str, str, str]], folders: dict[str, int],
                      made: list[tuple[str, int, Entry | None]]) -> None:
        """Each copy of ``batch`` made as an unnamed file, kept open in ``made``, until one
        cannot be (that folder's filesystem has no unnamed files)."""
        for rel, source, sha256 in batch:
            parent = _split(rel)[0]
            if parent not in folders:  # a real folder (make_dirs saw it): opened as one, not through a link
                folders[parent] = self._folder(parent).fd  # type: ignore[assignment]  # Linux: open
            try:
                fd = os.open(".", os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o666, dir_fd=folders[parent])
            except OSError as exc:
                if exc.errno in _NO_UNNAMED:
                    return
                raise
            made.append((rel, fd, None))
            copy_from(source, fd)
            made[-1] = (rel, fd, identity(os.fstat(fd), "file", "", sha256))

    def write_new(self, rel: str, write: Callable[[Path], None], sha256: str = "") -> None:
        """Create ``rel`` from ``write(tmp_path)``; fails if ``rel`` appeared meanwhile."""
        self._publish(rel, new_file(write), replace=False, sha256=sha256)

    def replace_owned(self, rel: str, write: Callable[[Path], None], sha256: str = "") -> None:
        """Atomically replace a file FlowClass owns."""
        if not self.owns(rel):
            raise PermissionError(f"{self.root / rel} is not FlowClass's to replace")
        self._publish(rel, new_file(write), replace=True, sha256=sha256)

    def write_file(self, rel: str, write: Callable[[Path], None]) -> None:
        """Write ``rel``: replace it if it is FlowClass's, create it if absent, else refuse."""
        if self._owns_file(rel):
            self.replace_owned(rel, write)
        elif os.path.lexists(self.root / rel) or not self.links_free(rel):
            raise Collision(f"{self.root / rel} exists and was not written by FlowClass; "
                            "FlowClass does not overwrite it")
        else:
            self.write_new(rel, write)

    def put(self, rel: str, make: Callable[[Path], None], taken: set[str], *, sha256: str = "",
            same: Callable[[Entry], bool] = lambda entry: False) -> str:
        """Write ``rel``, or ``stem (2).ext``... when the user has something at that name.

        ``make(tmp)`` creates the content at ``tmp``; a file of FlowClass's already at the
        name is reused when ``same(entry)``, else replaced. A folder on the way that is a
        file or link of the user's is numbered too. Returns where it went.
        """
        _check_confined(self.root, rel)
        parent, name = _split(rel)
        if parent != ".":
            rel = f"{self.claim_dirs(parent)}/{name}"
        k = 1
        while True:
            candidate = numbered(rel, k)
            k += 1
            if candidate in taken:
                continue
            if self._owns_file(candidate):
                if not same(self.entries[candidate]):
                    self._publish(candidate, make, replace=True, sha256=sha256)
                return candidate
            if os.path.lexists(self._path(candidate)):
                continue  # the user's: leave it, use another name
            try:
                self._publish(candidate, make, replace=False, sha256=sha256)
            except Collision:
                raise  # a folder on the way is not one: another file name would not help
            except FileExistsError:
                continue  # appeared meanwhile
            return candidate


def _check_confined(root: Path, rel: str) -> None:
    why = confined(rel)
    if why:
        raise Collision(f"FlowClass does not write {rel!r} into {root}: {why}")


def _same(a: Entry, b: Entry) -> bool:
    return (a.kind, a.ino, a.size, a.mtime_ns, a.target) == (b.kind, b.ino, b.size, b.mtime_ns,
                                                             b.target)


def _unlink(folder: _Folder, name: str) -> None:
    """Remove ``name`` from ``folder`` if it is there."""
    try:
        os.unlink(folder.at(name), dir_fd=folder.fd)
    except FileNotFoundError:
        pass


def _lstat_in(folder: _Folder, name: str) -> os.stat_result | None:
    """``name`` in ``folder``, not followed; None when nothing is there."""
    try:
        return os.lstat(folder.at(name), dir_fd=folder.fd)
    except FileNotFoundError:
        return None


def _place(folder: _Folder, tmp: str, name: str, replace: bool) -> None:
    """Give the file ``tmp`` of ``folder`` its ``name`` there: renamed over a file of
    FlowClass's (``replace``), else linked, which never replaces anything."""
    if replace:
        os.replace(folder.at(tmp), folder.at(name), src_dir_fd=folder.fd, dst_dir_fd=folder.fd)
    else:
        os.link(folder.at(tmp), folder.at(name), src_dir_fd=folder.fd, dst_dir_fd=folder.fd,
                follow_symlinks=False)


_proc: list[bool] = []  # whether /proc names open files, once looked at


def _proc_fds() -> bool:
    """Whether an open folder can be named as a path (Linux's /proc/self/fd)."""
    if not _proc:
        _proc.append(os.path.isdir(_PROC_FD))
    return _proc[0]


def _name_error(exc: OSError, path: Path) -> None:
    """Name the file a failed write meant (a full disk), not its temporary name; an error
    with a message of its own (:class:`Collision`) already names it."""
    if exc.errno is not None and (exc.filename is None or str(exc.filename).startswith(_PROC_FD)):
        exc.filename = str(path)


def new_file(write: Callable[[Path], None]) -> Callable[[Path], None]:
    """What makes a file at a temporary path: create it new (mode 0666 less the umask,
    as ``open()`` does), then ``write(tmp)`` into it."""
    def make(tmp: Path) -> None:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                         0o666))
        write(tmp)
    return make


def copy_of(source: str, mode: str) -> Callable[[Path], None]:
    """What puts ``source`` at a temporary path: a copy, a hard link or a symbolic link."""
    if mode == "symlink":
        return lambda tmp: os.symlink(source, tmp)
    if mode == "hardlink":
        return lambda tmp: os.link(source, tmp)
    return lambda tmp: copy_new(source, tmp)


# copy_file_range refuses these where a filesystem or kernel cannot do it: copy by hand
_NO_RANGE_COPY = {errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.EPERM}
# an O_TMPFILE open answers these where a filesystem or kernel has no unnamed files
_NO_UNNAMED = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL}
# linking one through /proc/self/fd answers these where a sandbox does not allow it
_NO_UNNAMED_LINK = {errno.ENOENT, errno.EXDEV, errno.EPERM, errno.EACCES}
_UNNAMED_AT_ONCE = 256  # unnamed copies open at once (well under the usual 1,024 descriptors)
_unnamed: list[bool] = []  # whether this system has unnamed files, once looked at


def _link_unnamed(fd: int, folder: int, name: str) -> bool:
    """Give the unnamed file open as ``fd`` the ``name`` in the folder open as ``folder``
    (never over anything: FileExistsError); False where this system does not let it be
    linked (then none is, in this process)."""
    try:
        os.link(f"/proc/self/fd/{fd}", name, dst_dir_fd=folder, follow_symlinks=True)
    except OSError as exc:
        if exc.errno not in _NO_UNNAMED_LINK:
            raise
        _unnamed[:] = [False]
        return False
    return True


def _unnamed_files() -> bool:
    """Whether unnamed files can be made and then linked by name: Linux's ``O_TMPFILE``,
    linked through ``/proc/self/fd`` (where /proc is not mounted, temporary names are used)."""
    if not _unnamed:
        _unnamed.append(hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd"))
    return _unnamed[0]


def copy_new(source: str | Path, tmp: Path) -> None:
    """Copy ``source`` into a new file ``tmp`` (mode 0666 less the umask, never through a
    link), with one open of each (:func:`copy_bytes`)."""
    dst = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) |
                  getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        copy_from(source, dst)
    finally:
        os.close(dst)


def copy_from(source: str | Path, dst: int) -> None:
    """Copy ``source`` into the new, empty file open as ``dst`` (:func:`copy_bytes`)."""
    src = os.open(source, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        copy_bytes(src, dst)
    finally:
        os.close(src)


def copy_bytes(src: int, dst: int) -> None:
    """The bytes of the file open as ``src`` into the empty file open as ``dst``: a real copy,
    which the kernel makes without passing the bytes through Python (``copy_file_range``; a
    filesystem that can share blocks until one side changes does so), three to four times
    faster than :func:`shutil.copyfile` on small images."""
    size, done = os.fstat(src).st_size, 0
    try:
        while done < size:
            step = os.copy_file_range(src, dst, size - done)  # type: ignore[attr-defined]
            if step == 0:  # the source shrank meanwhile
                break
            done += step
    except (AttributeError, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno not in _NO_RANGE_COPY:
            raise
        os.lseek(src, 0, os.SEEK_SET)
        os.lseek(dst, 0, os.SEEK_SET)
        os.ftruncate(dst, 0)
        with open(src, "rb", closefd=False) as reader, open(dst, "wb", closefd=False) as writer:
            shutil.copyfileobj(reader, writer)


def _make_root(root: Path, field: str) -> None:
    st = _lstat(root)
    if st is not None and stat.S_ISLNK(st.st_mode) and not root.exists():
        raise NodeError(f"{root} is a link to something that does not exist", field=field,
                        hint="choose another folder")
    if root.exists() and not root.is_dir():
        raise NodeError(f"{root} is a file, not a folder", field=field,
                        hint="choose a folder, or a name that is not taken")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise NodeError(f"cannot create the folder {root}: part of that path is a file",
                        field=field, hint="choose another folder") from None


@contextmanager
def owned_folder(root: Path, ctx: RunContext | None = None, *, field: str = "folder",
                 protected: Protected | None = None) -> Iterator[OwnedFolder]:
    """Lock ``root``, read its journal, clean up after interrupted runs; then write into it.
    A node's write into a folder other than its run's output folder (``ctx.out_dir``) first
    waits a moment for a run writing there, and stops if it goes on (:func:`no_run_there`).

    Problems with the folder, its lock or its journal become a :class:`NodeError` on
    ``field`` that names the file and says what to do. ``protected``: the places nothing is
    written into, where the caller has them already (else ``ctx``'s, else found here).
    """
    root = Path(root)
    protected = (ctx.protected if ctx is not None else None) or protected or Protected.here()
    why = protected.why(root)
    if why:
        raise NodeError(f"{why}; FlowClass does not write there, so that nothing a workflow writes "
                        "can run as code", field=field, hint=f"choose another {field}")
    say = ctx.warn if ctx is not None else _log_warning
    check = ctx.check_cancelled if ctx is not None else (lambda: None)
    try:
        with no_run_there(root, ctx.out_dir if ctx is not None else None, say=say, check_cancelled=check):
            _make_root(root, field)
            with folder_lock(root, say=say, check_cancelled=check):
                owned = OwnedFolder(root, warn=say, protected=protected)
                try:
                    owned.hold()
                    owned.recover()
                    yield owned
                    if ctx is not None:
                        ctx.placed.update(owned.stamps())
                finally:
                    try:
                        owned.compact()
                    except OSError:
                        pass  # the appended journal is still whole; the next run compacts it
                    owned.close()
    except FolderError as exc:  # its journal's, its lock's
        raise NodeError(exc.message, field=field, hint=exc.hint) from None
    except Collision as exc:
        raise NodeError(str(exc), field=field, hint="move that away, or choose another "
                        f"{field}") from None
    except OSError as exc:  # a full disk, no permission: name the file, say what to do
        error = write_error(exc, exc.filename or root, hint=f"choose another {field}")
        raise NodeError(error.message, field=field) from None
