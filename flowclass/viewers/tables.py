"""Tables: any DataFrame, a page of rows at a time, with a CSV download of all of it.

Also the fallback for data types nobody wrote a viewer for: their table form if they
have one, otherwise a one-line summary of the value.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pandas as pd
from nicegui import ui

from ..safe_tables import csv_text
from . import Viewer, ViewerContext, viewer
from .names import shown

ROWS_PER_PAGE = 50
MAX_COLUMNS = 40  # wider tables (embeddings: one column per dimension) show their first columns


def as_table(value: Any) -> pd.DataFrame | None:
    if isinstance(value, pd.DataFrame):
        return value
    to_table = getattr(value, "to_table", None)
    return to_table() if callable(to_table) else None


def page_rows(table: pd.DataFrame, page: int, per_page: int = ROWS_PER_PAGE) -> list[dict[str, Any]]:
    """JSON-safe rows of one page (1-based); NaN becomes empty, numpy scalars plain numbers,
    and text as :func:`~.names.shown` (a stranger's label or file name never reorders its row)."""
    part = table.iloc[(page - 1) * per_page: page * per_page, :MAX_COLUMNS]
    part = part.set_axis([str(c) for c in part.columns], axis=1)
    rows = json.loads(part.to_json(orient="records", double_precision=6, default_handler=str))
    return [{name: shown(value) if isinstance(value, str) else value for name, value in row.items()}
            for row in rows]


def csv_bytes(table: pd.DataFrame) -> bytes:
    return csv_text(table).encode("utf-8")  # no cell runs as a formula in a spreadsheet


def csv_name(ctx: ViewerContext) -> str:
    return f"{ctx.node_id}-{ctx.port}.csv"


# a file path is cut at its start (the file name stays in view), the whole path on hover
PATH_CELL = ('<q-td :props="props"><div class="fc-path-cell" :title="props.value">'
             '<span dir="ltr">{{ props.value }}</span></div></q-td>')


def path_columns(table: pd.DataFrame, columns: list[str]) -> list[str]:
    """The columns of ``columns`` that hold absolute file paths (judged by their first value)."""
    found = []
    for name in columns:
        values = table[name].dropna()
        first = values.iloc[0] if len(values) else None
        if isinstance(first, str) and os.path.isabs(first):
            found.append(name)
    return found


def show_table(table: pd.DataFrame, ctx: ViewerContext, caption: str = "") -> None:
    """A paginated table of ``table`` with a CSV download button."""
    rows, cols = table.shape
    names = [str(c) for c in table.columns[:MAX_COLUMNS]]
    with ui.row().classes("items-center gap-3 w-full"):
        note = f"{rows:,} rows × {cols:,} columns"
        if cols > MAX_COLUMNS:
            note += f" (first {MAX_COLUMNS} columns shown; the CSV has all)"
        ui.label(caption or note).classes("text-sm text-gray-600")
        if caption:
            ui.label(note).classes("text-sm text-gray-500")
        ui.button("Download CSV", icon="download",
                  on_click=lambda: ui.download.content(csv_bytes(table), csv_name(ctx), "text/csv"),
                  ).props("flat dense")
    columns = [{"name": c, "label": shown(c), "field": c, "align": "left"} for c in names]
    grid = ui.table(columns=columns, rows=page_rows(table, 1)).props("dense flat bordered")
    grid.classes("w-full fc-result-table")
    for name in path_columns(table, names):
        grid.add_slot(f"body-cell-{name}", PATH_CELL)
    pages = max(1, -(-rows // ROWS_PER_PAGE))
    if pages > 1:
        ui.pagination(1, pages, direction_links=True, on_change=lambda e: grid.update_rows(
            page_rows(table, e.value))).props("max-pages=9 boundary-numbers")


@viewer("table", title="Table", order=90)
def table_viewer(table: pd.DataFrame, ctx: ViewerContext) -> None:
    show_table(table, ctx)


def show_as_table(value: Any, ctx: ViewerContext) -> None:
    show_table(as_table(value), ctx)


def show_summary(value: Any, ctx: ViewerContext) -> None:
    size = f", {len(value):,} items" if hasattr(value, "__len__") else ""
    ui.label(f"{type(value).__name__}{size}").classes("text-sm text-gray-600")
    ui.code(repr(value)[:2000]).classes("w-full text-xs")


def fallback_viewers(data_type: str, value: Any) -> list[Viewer]:
    """For a type without viewers: its table if it has one, else a summary."""
    if as_table(value) is not None:
        return [Viewer(data_type, "Table", show_as_table, order=90)]
    return [Viewer(data_type, "Value", show_summary, order=90)]


VIEWERS = [table_viewer]
