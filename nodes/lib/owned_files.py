"""Writing into the user's folders without ever harming what is theirs.

Each folder FlowClass writes into keeps a hidden journal, ``.flowclass-owned.jsonl``, of
the files and folders FlowClass created there, with their size and modification time. A
file counts as FlowClass's only while it is in the journal *and* unchanged since; only
such files are ever replaced or removed. Everything else is the user's: FlowClass writes
beside it under another name, or stops with an error that names it.

Files are written under a hidden temporary name and then linked into place with
``os.link``, which fails instead of overwriting, so an interrupted run leaves either the
whole file or nothing. The journal is appended to after each file, so an interruption
loses at most the record of one file, never the ownership of the rest.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from flowclass import safe_json
from flowclass.fsutil import atomic_path, atomic_write_text, file_stamp

JOURNAL = ".flowclass-owned.jsonl"


@dataclass(frozen=True)
class Entry:
    kind: str  # "file", "symlink" or "dir"
    size: int = 0
    mtime_ns: int = 0
    target: str = ""  # symlink target
    sha256: str = ""  # content, when known (copies of images)


def _identity(path: Path, kind: str) -> Entry | None:
    if not os.path.lexists(path):
        return None
    if kind == "symlink":
        return Entry("symlink", target=os.readlink(path)) if os.path.islink(path) else None
    if kind == "dir":
        return Entry("dir") if path.is_dir() and not path.is_symlink() else None
    if not path.is_file() or path.is_symlink():
        return None
    return Entry("file", *file_stamp(path, follow_symlinks=False))


class OwnedFolder:
    """The journal of one folder, and safe writes into it."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.entries: dict[str, Entry] = {}
        journal = self.root / JOURNAL
        if journal.is_file():
            for line in journal.read_text(encoding="utf-8").splitlines():
                try:
                    record = safe_json.loads(line)
                except ValueError:
                    continue  # a line cut short by an interruption
                if record.get("forget"):
                    self.entries.pop(record["forget"], None)
                elif "path" in record:
                    self.entries[record["path"]] = Entry(
                        record.get("kind", "file"), record.get("size", 0),
                        record.get("mtime_ns", 0), record.get("target", ""), record.get("sha256", ""))

    # --- ownership ---------------------------------------------------------------------
    def owns(self, rel: str) -> bool:
        """Whether ``rel`` is FlowClass's: recorded, and unchanged since it was written."""
        entry = self.entries.get(rel)
        if entry is None:
            return False
        now = _identity(self.root / rel, entry.kind)
        if now is None:
            return False
        if entry.kind == "file":
            return (now.size, now.mtime_ns) == (entry.size, entry.mtime_ns)
        return now.target == entry.target if entry.kind == "symlink" else True

    def _append(self, record: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / JOURNAL, "a", encoding="utf-8") as journal:
            journal.write(json.dumps(record) + "\n")

    def record(self, rel: str, kind: str = "file", sha256: str = "") -> None:
        entry = _identity(self.root / rel, kind)
        if entry is None:
            return
        entry = Entry(entry.kind, entry.size, entry.mtime_ns, entry.target, sha256)
        self.entries[rel] = entry
        self._append({"path": rel, "kind": entry.kind, "size": entry.size,
                      "mtime_ns": entry.mtime_ns, "target": entry.target, "sha256": sha256})

    def forget(self, rel: str) -> None:
        if self.entries.pop(rel, None) is not None:
            self._append({"forget": rel})

    def compact(self) -> None:
        """Rewrite the journal with only the live entries (atomically)."""
        if not self.entries and not os.path.lexists(self.root / JOURNAL):
            return  # nothing owned, nothing to remember: no empty journal in the user's folder
        lines = [json.dumps({"path": rel, "kind": e.kind, "size": e.size, "mtime_ns": e.mtime_ns,
                             "target": e.target, "sha256": e.sha256})
                 for rel, e in sorted(self.entries.items())]
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.root / JOURNAL, "".join(line + "\n" for line in lines))

    # --- folders -----------------------------------------------------------------------
    def make_dirs(self, rel_dir: str) -> None:
        """Create ``rel_dir`` (and parents), recording the ones FlowClass created."""
        parts = Path(rel_dir).parts
        for depth in range(1, len(parts) + 1):
            rel = str(Path(*parts[:depth]))
            path = self.root / rel
            if not path.exists():
                path.mkdir()
                self.record(rel, "dir")

    def remove_if_owned(self, rel: str) -> bool:
        """Delete a file or empty folder FlowClass created and nobody changed since."""
        if not self.owns(rel):
            self.forget(rel)
            return False
        path = self.root / rel
        try:
            if self.entries[rel].kind == "dir":
                path.rmdir()  # only when empty: anything the user put there stays
            else:
                path.unlink()
        except OSError:
            return False
        self.forget(rel)
        return True

    # --- files -------------------------------------------------------------------------
    def free_name(self, rel: str, taken: set[str]) -> str:
        """``rel``, or ``stem (2).ext``, ``stem (3).ext``... whichever is free."""
        path = Path(rel)
        candidate, k = rel, 2
        while candidate in taken or os.path.lexists(self.root / candidate):
            candidate = str(path.with_name(f"{path.stem} ({k}){path.suffix}"))
            k += 1
        return candidate

    @staticmethod
    def _via_temporary(target: Path, write: Callable[[Path], None], overwrite: bool) -> None:
        """Write into a hidden temporary file beside ``target``, then publish it.

        No fsync per file: exports copy thousands of images, and a copy cut short by a
        crash is never published under its name.
        """
        with atomic_path(target, overwrite=overwrite, fsync=False) as tmp:
            write(tmp)

    def write_new(self, rel: str, write: Callable[[Path], None], sha256: str = "") -> None:
        """Create ``rel`` from ``write(tmp_path)``; fails if ``rel`` appeared meanwhile."""
        self._via_temporary(self.root / rel, write, overwrite=False)  # never replaces a file
        self.record(rel, "file", sha256)

    def replace_owned(self, rel: str, write: Callable[[Path], None], sha256: str = "") -> None:
        """Atomically replace a file FlowClass owns."""
        if not self.owns(rel):
            raise PermissionError(f"{self.root / rel} is not FlowClass's to replace")
        self._via_temporary(self.root / rel, write, overwrite=True)
        self.record(rel, "file", sha256)

    def write_file(self, rel: str, write: Callable[[Path], None]) -> None:
        """Write ``rel``: replace it if it is FlowClass's, create it if absent, else refuse."""
        if self.owns(rel):
            self.replace_owned(rel, write)
        elif os.path.lexists(self.root / rel):
            raise FileExistsError(f"{self.root / rel} exists and was not written by FlowClass; "
                                  "FlowClass does not overwrite it")
        else:
            self.make_dirs(str(Path(rel).parent)) if Path(rel).parent != Path(".") else None
            self.write_new(rel, write)

    def link_new(self, rel: str, source: str, mode: str, sha256: str) -> None:
        """Create ``rel`` as a copy, hard link or symbolic link of ``source``."""
        target = self.root / rel
        if mode == "symlink":
            os.symlink(source, target)  # fails if target exists
            self.record(rel, "symlink")
        elif mode == "hardlink":
            os.link(source, target)
            self.record(rel, "file", sha256)
        else:
            self.write_new(rel, lambda tmp: shutil.copyfile(source, tmp), sha256)
