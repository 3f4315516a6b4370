"""The report workbook (openpyxl): an overview sheet, then one sheet per section with its
totals and its tables (per day or per month rows)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.kernel.content import Texts
from bot.reports.build import Report, is_ratio, label
from storage.reports.base import Label, Table

PERCENT = "0.0%"
WIDTH_MAX = 60


def _cell(texts: Texts, value: Any) -> Any:
    return label(texts, value) if isinstance(value, Label) else value


def write_workbook(path: Path, report: Report, texts: Texts) -> Path:
    """Write ``report`` to ``path`` (.xlsx)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    bold = Font(bold=True)
    title_font = Font(bold=True, size=13)
    book = Workbook()
    overview = book.active
    assert overview is not None  # a new workbook always has one sheet
    overview.title = texts("office_report.sections.summary")
    overview.append([texts(f"office_report.labels.{k}") for k in ("section", "item", "value")])
    for cell in overview[1]:
        cell.font = bold
    for section in report.sections:
        name = texts(f"office_report.sections.{section.key}")
        for key, value in section.totals:
            overview.append([name, label(texts, key), value])
            if is_ratio(key):
                overview.cell(overview.max_row, 3).number_format = PERCENT
    _fit(overview)
    for section in report.sections:
        ws = book.create_sheet(texts(f"office_report.sections.{section.key}")[:31])
        ws.append([texts("office_report.tables.totals")])
        ws.cell(1, 1).font = title_font
        for key, value in section.totals:
            ws.append([label(texts, key), value])
            if is_ratio(key):
                ws.cell(ws.max_row, 2).number_format = PERCENT
        for table in section.tables:
            ws.append([])
            _write_table(ws, table, texts, bold, title_font)
        _fit(ws)
    book.save(path)
    return path


def _write_table(ws: Any, table: Table, texts: Texts, bold: Any, title_font: Any) -> None:
    ws.append([texts(f"office_report.tables.{table.title}")])
    ws.cell(ws.max_row, 1).font = title_font
    ws.append([label(texts, c) for c in table.columns])
    for cell in ws[ws.max_row]:
        cell.font = bold
    ratios = [i for i, c in enumerate(table.columns, 1) if is_ratio(c)]
    for row in table.rows:
        ws.append([_cell(texts, v) for v in row])
        for i in ratios:
            ws.cell(ws.max_row, i).number_format = PERCENT


def _fit(ws: Any) -> None:
    """Column widths from the longest value (CJK characters count double)."""
    widths: dict[str, int] = {}
    for row in ws.iter_rows():
        for cell in row:
            if cell.value is None:
                continue
            text = str(cell.value)
            width = sum(2 if ord(c) > 0x2E80 else 1 for c in text) + 2
            widths[cell.column_letter] = min(
                WIDTH_MAX, max(widths.get(cell.column_letter, 8), width)
            )
    for letter, width in widths.items():
        ws.column_dimensions[letter].width = width
