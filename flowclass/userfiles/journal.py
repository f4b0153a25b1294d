"""The ownership journal: what FlowClass wrote in one folder, read with suspicion.

The journal, ``.flowclass-owned.jsonl``, sits in the folder it describes, so anyone can
plant one there or ship one inside a folder they hand over. Each line is therefore
checked on its own: it must be UTF-8 JSON of one known shape, and every path in it must
stay inside the folder (relative, no ``..``, no empty or ``.`` parts, no backslashes).
Lines that fail are ignored, so the files they name stay the user's, and the caller is
told which journal held them. A journal that cannot be read at all (a folder, a link,
no permission) is an error that names it and says what to do.

Records, one JSON object a line:

- ``{"path", "kind", "ino", "size", "mtime_ns", "target", "sha256"}``: ``path`` is
  FlowClass's while it still has exactly this identity. Written *before* the file is put
  in place, so a kill at any moment leaves no file of FlowClass's unrecorded. Several
  records for one path are candidates; the one that matches the disk wins.
- ``{"forget": path}``: no longer FlowClass's.
- ``{"temp": path}``: a temporary file about to be created; removed on the next run if
  an interruption left it behind.
- ``{"mkdir": path}``: a folder about to be created.
"""

# No ``from __future__ import annotations`` (see flowclass/fsutil.py): this module's
# NamedTuples would compile their annotations.
import json
import os
import re
import stat
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii as _json_text
from pathlib import Path
from typing import Any, BinaryIO, Iterator, NamedTuple

from flowclass import safe_json
from flowclass.errors import FolderError
from flowclass.fsutil import is_temp_name
from flowclass.reads import stamp_of

JOURNAL = ".flowclass-owned.jsonl"
NAME_MAX = 255
KINDS = ("file", "symlink", "dir")
_DRIVE = re.compile(r"[A-Za-z]:")  # C:..., absolute on Windows


class JournalError(FolderError):
    """The journal cannot be used at all; ``message`` names it, ``hint`` says what to do."""


class Entry(NamedTuple):
    """The identity a path had when FlowClass wrote it."""

    kind: str  # "file", "symlink" or "dir"
    ino: int = 0
    size: int = 0
    mtime_ns: int = 0
    target: str = ""  # symlink target
    sha256: str = ""  # content, when known (copies of images)

    def record(self, rel: str) -> dict:
        return {"path": rel, "kind": self.kind, "ino": self.ino, "size": self.size,
                "mtime_ns": self.mtime_ns, "target": self.target, "sha256": self.sha256}

    def line(self, rel: str) -> str:
        """:meth:`record` as its journal line, the text ``json.dumps`` makes of it, formatted
        at a quarter of that cost (a copy into a new ``--out`` journals 600 of them)."""
        if type(self.ino) is int and type(self.size) is int and type(self.mtime_ns) is int:
            try:
                return _LINE % (_json_text(rel), _json_text(self.kind), self.ino, self.size, self.mtime_ns,
                                _json_text(self.target), _json_text(self.sha256))
            except TypeError:  # not text: as json.dumps writes it
                pass
        return json.dumps(self.record(rel))


# Entry.record as json.dumps writes it (its separators, its keys in order), for text and whole numbers
_LINE = '{"path": %s, "kind": %s, "ino": %d, "size": %d, "mtime_ns": %d, "target": %s, "sha256": %s}'


def identity(st: os.stat_result, kind: str, target: str = "", sha256: str = "") -> Entry | None:
    """The :class:`Entry` for an ``lstat`` result, or None when it is not of ``kind``."""
    if kind == "file" and stat.S_ISREG(st.st_mode):
        return Entry("file", st.st_ino, st.st_size, st.st_mtime_ns, sha256=sha256)
    if kind == "symlink" and stat.S_ISLNK(st.st_mode):
        return Entry("symlink", st.st_ino, target=target)
    if kind == "dir" and stat.S_ISDIR(st.st_mode):
        return Entry("dir", st.st_ino)
    return None


def confined(rel: object) -> str | None:
    """Why ``rel`` is not a plain relative path inside the folder; None when it is."""
    if not isinstance(rel, str) or not rel:
        return "not a path"
    if "\0" in rel or "\\" in rel:
        return f"{rel!r} has a NUL or backslash"
    if rel.startswith("/") or _DRIVE.match(rel):
        return f"{rel!r} is absolute"
    parts = rel.split("/")  # three looks into a short list: a third of a regular expression's search
    if "" not in parts and "." not in parts and ".." not in parts:  # only a long name is left to see
        if len(rel) <= NAME_MAX and rel.isascii():
            return None  # every part is shorter than the whole (a journal names thousands)
    for part in parts:
        if part in ("", ".", ".."):
            return f"{rel!r} leaves the folder or is not in plain form"
        if (len(part) if part.isascii() else len(os.fsencode(part))) > NAME_MAX:  # its bytes
            return f"{rel!r} has a name longer than {NAME_MAX} bytes"
    return None


def is_natural(value: object) -> bool:
    """Whether ``value``, read from JSON, is a whole number >= 0 (a bool, of type bool, is not)."""
    return type(value) is int and value >= 0


def _entry(record: dict) -> Entry | str:
    kind = record.get("kind")
    if kind not in KINDS:
        return f"unknown kind {kind!r}"
    ino, size, mtime_ns = record.get("ino", 0), record.get("size", 0), record.get("mtime_ns", 0)
    if not (is_natural(ino) and is_natural(size) and is_natural(mtime_ns)) or not ino:
        return "its identity (ino, size, mtime_ns) is missing or not whole numbers"
    target, sha256 = record.get("target", ""), record.get("sha256", "")
    if not (isinstance(target, str) and isinstance(sha256, str)):
        return "target or sha256 is not text"
    return Entry(kind, ino, size, mtime_ns, target, sha256)


@dataclass
class Replay:
    """What the journal's lines add up to."""

    candidates: dict[str, list[Entry]] = field(default_factory=dict)
    temps: set[str] = field(default_factory=set)
    mkdirs: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)  # "line N: why"

    def apply(self, record: object) -> str | None:
        """Take one decoded line into account; returns why it was refused, if it was."""
        if not isinstance(record, dict):
            return "not a JSON object"
        keys = [key for key in ("path", "forget", "temp", "mkdir") if key in record]
        if len(keys) != 1:
            return "not one of FlowClass's records"
        rel = record[keys[0]]
        why = confined(rel)
        if why:
            return why
        if keys[0] == "forget":
            self.candidates.pop(rel, None)
        elif keys[0] == "temp":
            if not is_temp_name(rel.rsplit("/", 1)[-1]):
                return f"{rel!r} is not a FlowClass temporary name"
            self.temps.add(rel)
        elif keys[0] == "mkdir":
            self.mkdirs.add(rel)
        else:
            entry = _entry(record)
            if isinstance(entry, str):
                return entry
            self.candidates.setdefault(rel, []).append(entry)
        return None


# A journal has a line of some 200 bytes per file FlowClass wrote (an export of 1,000,000 images:
# some 300 MB). A stranger's bundle can hold an output folder with a journal in it: one of 2 GB
# was read whole, and 1 GB of line breaks split into a list of 8 GB.
MAX_JOURNAL_BYTES = 2**30
MAX_JOURNAL_LINES = 10_000_000
MAX_ENTRY = 64 * 2**10  # a line: a path (at most 4,096 bytes), a hash, a few numbers


def _open_journal(journal: Path) -> BinaryIO | None:
    """The journal open for reading, or None when there is none; a JournalError when it is not
    a regular file, or larger (or of more lines) than any FlowClass writes."""
    what_to_do = (f"move or rename {journal}; FlowClass then treats everything in "
                  f"{journal.parent} as yours and writes beside it, never over it")
    try:
        fd = os.open(journal, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) |
                     getattr(os, "O_NONBLOCK", 0))  # a FIFO planted there must not hang the run
    except FileNotFoundError:
        return None
    except OSError as exc:
        if os.path.islink(journal):
            raise JournalError(f"{journal} is a link, not FlowClass's journal of the files it "
                               "wrote here; FlowClass does not read or write through it",
                               what_to_do) from None
        raise JournalError(f"cannot read {journal}, FlowClass's journal of the files it wrote "
                           f"here: {exc.strerror or exc}", what_to_do) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise JournalError(f"{journal} is {kind}, not FlowClass's journal of the files it "
                               "wrote here", what_to_do)
        if info.st_size > MAX_JOURNAL_BYTES:
            raise JournalError(f"{journal} is {info.st_size / 2**20:,.0f} MB; FlowClass writes at most "
                               f"{MAX_JOURNAL_BYTES // 2**20:,} MB there", what_to_do)
        handle = os.fdopen(os.dup(fd), "rb")
    finally:
        os.close(fd)
    if _line_count(handle) > MAX_JOURNAL_LINES:
        handle.close()
        raise JournalError(f"{journal} has more than {MAX_JOURNAL_LINES:,} lines, more than FlowClass "
                           "writes there", what_to_do)
    return handle


def _line_count(handle: BinaryIO) -> int:
    """The line breaks in the file, counted a MiB at a time in C; the handle is left at its start."""
    lines = 0
    while chunk := handle.read(1 << 20):
        lines += chunk.count(b"\n")
    handle.seek(0)
    return lines


def _lines(handle: BinaryIO) -> Iterator[tuple[bytes, bool]]:
    """Each line (its break included) and whether it is longer than MAX_ENTRY, read a piece at
    a time: a long line is never held whole (it is given as b"")."""
    while line := handle.readline(MAX_ENTRY + 1):
        if len(line) <= MAX_ENTRY or line.endswith(b"\n"):
            yield line, False
            continue
        while (rest := handle.readline(MAX_ENTRY)) and not rest.endswith(b"\n"):
            pass
        yield b"", True


def read_journal(folder: Path) -> Replay:
    """Replay ``folder``'s journal; unusable lines end up in ``problems``, not in the result."""
    replay = Replay()
    handle = _open_journal(folder / JOURNAL)
    if handle is None:
        return replay
    with handle:
        for number, (raw, too_long) in enumerate(_lines(handle), 1):
            if too_long:
                replay.problems.append(f"line {number}: longer than {MAX_ENTRY // 2**10} KiB, which no entry is")
                continue
            if not raw.strip():
                continue
            try:
                record = safe_json.loads(raw.decode("utf-8"))
            except ValueError:  # not UTF-8, not JSON, or nested absurdly deep
                if not raw.endswith(b"\n"):
                    continue  # the last line, cut short by an interruption: nothing was written yet
                why = "not UTF-8 JSON"
            else:
                why = replay.apply(record)
            if why:
                replay.problems.append(f"line {number}: {why}")
    return replay


def content_hashes(files: list[str], there: str) -> tuple[dict[str, str], list[list[Any]]] | None:
    """The content hashes the journals in the output folder ``there`` keep for ``files``
    (each file's nearest journal above it, from which its node would copy the hashes into
    a new folder's journal), and each journal read, with its stamp; None when one cannot be
    read. An unchanged re-run into a new ``--out`` takes them from its witnesses while those
    journals are unchanged (:func:`flowclass.new_out.take`)."""
    found, journals, roots, replays = {}, [], {}, {}
    for path in files:
        folder = os.path.dirname(path)
        if folder not in roots:
            roots[folder] = _journal_root(folder, there)
        root = roots[folder]
        if root is None:
            continue
        if root not in replays:
            try:
                replays[root] = read_journal(Path(root))
            except JournalError:
                return None
            journal = os.path.join(root, JOURNAL)
            journals.append([journal, stamp_of(journal, follow_symlinks=False)])
        candidates = replays[root].candidates.get(path[len(root) + 1:].replace(os.sep, "/"))
        if candidates and candidates[-1].sha256:
            found[path] = candidates[-1].sha256
    return found, journals


def _journal_root(folder: str, there: str) -> str | None:
    """The nearest folder from ``folder`` up to ``there`` that holds a journal; None: none."""
    from flowclass.placements import inside

    while inside(folder, there) is not None:
        if os.path.isfile(os.path.join(folder, JOURNAL)):
            return folder
        folder = os.path.dirname(folder)
    return None


def problems_warning(folder: Path, problems: list[str]) -> str:
    """One warning for the lines of ``folder``'s journal that were ignored."""
    shown = "; ".join(problems[:3]) + ("; ..." if len(problems) > 3 else "")
    return (f"{folder / JOURNAL}: ignored {len(problems)} line(s) that are not valid FlowClass "
            f"journal entries ({shown}); the files they name are treated as yours and left alone")
