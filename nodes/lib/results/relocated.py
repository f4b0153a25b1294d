"""The files an output node wrote for one output folder, put into another (see
:mod:`flowclass.relocation`): an unchanged re-run into a new ``--out`` copies them instead
of making them again.

Copies are real copies, never links: a user who edits an exported image must not change
the original. A file already there that FlowClass wrote with the same bytes is left as it
is. A table that names the copies' paths (an export's ``images.csv`` / ``images.xlsx``) is
rewritten with the new paths, cell by cell in that column, without pandas or openpyxl.
"""

from __future__ import annotations

import filecmp
import os
import re
from pathlib import Path
from typing import Any, Callable

from flowclass.context import RunContext
from flowclass.safe_tables import _printable, neutralise, restore
from flowclass.userfiles.journal import read_journal
from flowclass.userfiles.owned_folder import new_file, owned_folder

TABLE_NAMES = tuple(f"images.{fmt}" for fmt in ("csv", "xlsx"))  # an export's tables

# make(there, tmp): writes the file that goes here at the temporary path ``tmp``
Maker = Callable[[str, Path], None]


def copy_into(ctx: RunContext, root: Path, moves: list[tuple[str, str]], *, field: str,
              makers: dict[str, Maker] | None = None, tidies: bool = False) -> bool:
    """Copy each ``(there, here)`` into the folder ``root`` (every ``here`` inside it); a
    file in ``makers`` (by its ``here``) is made by its maker instead. False, with nothing
    written, when this cannot give what the node itself would: a file of the user's where
    one goes, or (for a node that ``tidies`` its folder) files of an earlier FlowClass run
    there that the node would remove."""
    makers, prefix = makers or {}, os.path.join(str(root), "")
    wanted, places = {}, {}  # rel -> there, rel -> here
    for there, here in moves:
        if not here.startswith(prefix):
            return False
        rel = here[len(prefix):].replace(os.sep, "/")
        wanted[rel], places[rel] = there, here
    known = ctx.known_sha256 if ctx.known_sha256 is not None else _sha256s(wanted) if wanted else {}
    with owned_folder(root, ctx, field=field) as owned:
        theirs = {rel for rel, entry in owned.entries.items() if entry.kind != "dir"}
        if tidies and theirs - set(wanted):
            return False
        files = []
        for rel, there in wanted.items():
            here = places[rel]
            if here in makers:
                make = makers[here]
                files.append((rel, new_file(lambda tmp, make=make, there=there: make(there, tmp)), ""))
            elif rel not in theirs or not _same(owned.entries[rel], known.get(there, ""), there, here):
                files.append((rel, there, known.get(there, "")))  # a copy of there
        try:
            owned.publish_many(files)
        except FileExistsError:  # a file of the user's is in the way: the node numbers around it
            return False
    return True


def relocate_export(ctx: RunContext, params: dict[str, Any], moves: list[tuple[str, str]], copied: bool):
    """An export made for another output folder, copied into this one (see
    flowclass.relocation): its copies copied, its tables with their new paths."""
    if params["mode"] != "copy":  # links point at the originals: the node makes them again
        return None
    root, paths = Path(params["folder"]), dict(moves)
    tables, prefix = {}, os.path.join(str(root), "")
    for here in paths.values():
        if not here.startswith(prefix):  # not in the folder (os.path.split's, at a third of its cost)
            continue
        rest = here[len(prefix):]
        folder, name = (str(root), rest) if "/" not in rest and os.sep not in rest else os.path.split(here)
        if folder == str(root):  # a table: the images are in label folders
            if name not in TABLE_NAMES:  # numbered around a file of the user's: run again
                return None
            rewrite = rewrite_csv if name.endswith(".csv") else rewrite_xlsx
            tables[here] = rewrite("exported", paths)
    if not copied and not copy_into(ctx, root, moves, field="folder", makers=tables, tidies=True):
        return None
    return lambda port, value: value.assign(exported=value["exported"].map(paths))


def relocate_table(ctx: RunContext, params: dict[str, Any], moves: list[tuple[str, str]], copied: bool):
    """A table saved for another output folder, copied into this one (see
    flowclass.relocation): the same bytes, no table library imported."""
    target = Path(params["path"])
    if [here for _, here in moves] != [str(target)]:
        return None
    if not copied and not copy_into(ctx, target.parent, moves, field="path"):
        return None
    return lambda port, value: value


def _same(entry, sha256: str, there: str, here: str) -> bool:
    """Whether the file of FlowClass's ``here`` (its journal ``entry``) holds the bytes of
    ``there``: by the content hashes the journals keep, else by reading both."""
    if sha256 and entry.sha256:
        return entry.sha256 == sha256
    try:
        return os.path.getsize(there) == os.path.getsize(here) and filecmp.cmp(there, here, shallow=False)
    except OSError:
        return False


def _sha256s(wanted: dict[str, str]) -> dict[str, str]:
    """The content hashes the other folder's journal keeps for its files (so this folder's
    journal says the same, and a later export recognises its copies without hashing)."""
    there_root = _common_root(wanted)
    try:
        replay = read_journal(there_root)
    except Exception:  # an unreadable journal there only costs the hashes
        return {}
    found, there = {}, str(there_root)
    for rel, candidates in replay.candidates.items():
        if candidates and candidates[-1].sha256:  # str(there_root / rel), without a Path a file
            found[os.path.join(there, rel.replace("/", os.sep))] = candidates[-1].sha256
    return found


def _common_root(wanted: dict[str, str]) -> Path:
    """The folder that was ``root`` in the other output folder."""
    rel, there = next(iter(wanted.items()))
    depth = len(Path(rel).parts)
    folder = Path(there)
    for _ in range(depth):
        folder = folder.parent
    return folder


def rewrite_csv(column: str, paths: dict[str, str]) -> Maker:
    """A maker of a CSV table FlowClass wrote (:mod:`flowclass.safe_tables`) with each
    path of ``column`` replaced as ``paths`` says; every other cell kept byte for byte."""
    def make(there: str, tmp: Path) -> None:
        text = Path(there).read_text(encoding="utf-8")
        rewritten = _rewrite_plain_csv(text, column, paths)
        if rewritten is None:
            rewritten = _rewrite_any_csv(text, column, paths)
        tmp.write_text(rewritten, encoding="utf-8", newline="")
    return make


_QUOTED = (",", '"', "\r", "\n")  # what the csv module quotes, with "\n" ending its lines
_QUOTES = re.compile("[" + re.escape("".join(_QUOTED)) + "]")  # one of them (a search, not a loop a cell)


def _rewrite_plain_csv(text: str, column: str, paths: dict[str, str]) -> str | None:
    """:func:`rewrite_csv`'s table when no cell in it, old or new, is quoted: each line
    split at its commas, as the csv module would read and write it at many times the cost
    (a table of 600 images); None when a cell is or would be quoted, or a line is empty."""
    if '"' in text or "\r" in text or not text.endswith("\n"):
        return None
    lines = text[:-1].split("\n")
    at = [restore(name) for name in lines[0].split(",")].index(column)
    for number in range(1, len(lines)):
        cells = lines[number].split(",")
        if len(cells) <= at or not lines[number]:
            return None
        if cells[at]:
            cells[at] = neutralise(paths[restore(cells[at])])
            if _QUOTES.search(cells[at]):
                return None
            lines[number] = ",".join(cells)
    return "\n".join(lines) + "\n"


def _rewrite_any_csv(text: str, column: str, paths: dict[str, str]) -> str:
    """:func:`rewrite_csv`'s table read and written by the csv module (quoted cells)."""
    import csv
    import io

    rows = list(csv.reader(io.StringIO(text, newline="")))
    at = [restore(name) for name in rows[0]].index(column)
    for row in rows[1:]:
        if row[at]:
            row[at] = neutralise(paths[restore(row[at])])
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


_CELL = re.compile(r'(<c r="([A-Z]+)(\d+)" t="inlineStr"><is><t(?: xml:space="preserve")?>)(.*?)(</t></is></c>)',
                   re.S)


def rewrite_xlsx(column: str, paths: dict[str, str]) -> Maker:
    """A maker of an XLSX table FlowClass wrote (one sheet, text as inline strings) with
    each path of ``column`` replaced as ``paths`` says; every other part kept as it was."""
    printable = {_printable(old): _printable(new) for old, new in paths.items()}

    def make(there: str, tmp: Path) -> None:
        import zipfile

        # its parts named in ASCII, as FlowClass's workbooks name them (another name, not ours,
        # fails the copy and the node runs), which spares importing the cp437 codec
        with zipfile.ZipFile(there, metadata_encoding="ascii") as source, zipfile.ZipFile(tmp, "w") as target:
            for info in source.infolist():
                data = source.read(info)
                if info.filename != "xl/worksheets/sheet1.xml":
                    target.writestr(info, data)
                    continue
                data = _rewrite_sheet(data.decode("utf-8"), column, printable).encode("utf-8")
                # deflated as fast as zlib can: three times faster than its default on a
                # sheet of 600 paths, for a sheet a sixth larger (about 27 KB against 23 KB)
                target.writestr(info, data, compresslevel=1)
    return make


def escape(text: str) -> str:
    """Text as XML character data, as :func:`xml.sax.saxutils.escape` writes it (whose
    module imports urllib.request, http.client and email: a third of a re-run's imports)."""
    return text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")


def unescape(text: str) -> str:
    """XML character data as text, as :func:`xml.sax.saxutils.unescape` reads it."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _rewrite_sheet(xml: str, column: str, paths: dict[str, str]) -> str:
    letter = None
    for match in _CELL.finditer(xml):
        if match.group(3) == "1" and unescape(match.group(4)) == column:
            letter = match.group(2)
            break
    if letter is None:
        raise ValueError(f"no column {column!r} in the table")

    def cell(match: re.Match) -> str:
        if match.group(3) == "1":
            return match.group(0)
        new = paths[unescape(match.group(4))]
        opening = match.group(1)
        if new != new.strip() and 'xml:space="preserve"' not in opening:
            opening = opening.replace("<t>", '<t xml:space="preserve">')
        return opening + escape(new) + match.group(5)

    # the column's cells only (one callback each, not one for every text cell of the sheet)
    return re.compile(_CELL.pattern.replace("([A-Z]+)", f"({letter})", 1), re.S).sub(cell, xml)
