"""Writing operator exports: CSV (Excel-friendly) or XLSX, one or more sheets. Used by the CLI
and the console (both above it)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Sheet:
    """A titled table: the XLSX sheet name, or a section heading after the first in CSV."""

    title: str
    headers: Sequence[str]
    rows: Sequence[Sequence[Any]]


def write_sheets(path: Path, fmt: str, sheets: Sequence[Sheet]) -> None:
    """Write ``sheets`` to ``path``: XLSX sheets, or CSV sections separated by a blank row."""
    if fmt == "csv":
        # utf-8-sig: Excel opens a BOM-marked CSV with the Chinese intact.
        with path.open("w", newline="", encoding="utf-8-sig") as fh:
            writer = csv.writer(fh)
            for i, sheet in enumerate(sheets):
                if i:
                    writer.writerows([[], [sheet.title]])
                writer.writerow(sheet.headers)
                writer.writerows(sheet.rows)
        return
    from openpyxl import Workbook

    book = Workbook()
    first = book.active
    assert first is not None  # a new workbook always has one sheet
    book.remove(first)
    for sheet in sheets:
        ws = book.create_sheet(sheet.title)
        ws.append(list(sheet.headers))
        for row in sheet.rows:
            ws.append(list(row))
    book.save(path)
