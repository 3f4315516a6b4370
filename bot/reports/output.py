"""Write a period's report in the asked formats (xlsx, docx, pdf), with progress."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.kernel.content import Texts
from bot.kernel.context import BotContext
from bot.reports.build import Report, gather, section_queries
from bot.reports.charts import draw
from bot.reports.document import NoLibreOffice, convert_to_pdf, write_document
from bot.reports.workbook import write_workbook
from storage.reports.base import Chart, Period

FORMATS = ("xlsx", "docx", "pdf")
# (what is being done, done, total): the CLI draws it on stderr, the console in the page.
ProgressFn = Callable[[str, int, int], None]


@dataclass
class Written:
    """The files written, and why a format asked for could not be (PDF without LibreOffice)."""

    report: Report
    files: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def parse_formats(text: str) -> list[str]:
    """``xlsx,docx,pdf`` in any order and subset; ValueError naming the unknown one."""
    chosen = [f.strip().lower() for f in text.split(",") if f.strip()]
    for fmt in chosen:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    if not chosen:
        raise ValueError("no format given")
    return [f for f in FORMATS if f in chosen]


async def write_report(
    bot: BotContext,
    period: Period,
    formats: Sequence[str],
    out_dir: Path,
    progress: ProgressFn | None = None,
) -> Written:
    """Gather the period's sections and write them; charts only when a document is asked for."""
    tell = progress or (lambda _what, _done, _total: None)
    done, total = 0, len(section_queries())

    def step(_key: str) -> None:
        nonlocal done
        done += 1
        tell("sections", done, total)

    report = await gather(bot, period, step)
    base = f"report-{period.code}"
    out = Written(report)
    texts = bot.texts
    workbook = out_dir / f"{base}.xlsx"
    # Files are drawn and written in a thread: the console builds reports inside the serving
    # process, whose event loop must keep answering messages meanwhile.
    if "xlsx" in formats:
        tell("workbook", 0, 1)
        out.files.append(await asyncio.to_thread(write_workbook, workbook, report, texts))
        tell("workbook", 1, 1)
    if "docx" in formats or "pdf" in formats:
        charts = await _draw_charts(report, out_dir / f"{base}-charts", texts, tell)
        tell("document", 0, 1)
        docx = await asyncio.to_thread(
            write_document, out_dir / f"{base}.docx", report, texts, charts, workbook.name
        )
        if "docx" in formats:
            out.files.append(docx)
        tell("document", 1, 1)
        if "pdf" in formats:
            try:
                tell("pdf", 0, 1)
                out.files.append(await asyncio.to_thread(convert_to_pdf, docx, out_dir))
                tell("pdf", 1, 1)
            except NoLibreOffice as exc:
                out.skipped.append(str(exc))
            if "docx" not in formats:
                docx.unlink(missing_ok=True)
    return out


async def _draw_charts(
    report: Report, folder: Path, texts: Texts, tell: ProgressFn
) -> dict[str, list[tuple[Chart, Path]]]:
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    wanted = [(s, c) for s in report.sections for c in s.charts if s.table(c.table).rows]
    charts: dict[str, list[tuple[Chart, Path]]] = {}
    for n, (section, chart) in enumerate(wanted, 1):
        path = folder / f"{n:02d}-{chart.title}.png"
        png = await asyncio.to_thread(draw, path, section, chart, texts)
        charts.setdefault(section.key, []).append((chart, png))
        tell("charts", n, len(wanted))
    return charts
