"""Office reports: choose a period and a format, watch the report being built, download it
(the same files as ``python -m bot report``)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from aiohttp import web

from bot.console.call import Call, FormError
from bot.console.exports import ExportJob
from bot.console.pages import Role, Section
from bot.kernel.clock import local
from bot.reports.build import section_queries
from bot.reports.document import NoLibreOffice, libreoffice
from bot.reports.output import FORMATS, write_report
from storage.reports.base import Period, PeriodError

section = Section("reports", nav="office_report.console.nav", nav_role=Role.EDITOR, order=90)


@section.get("/reports", role=Role.EDITOR)
async def reports(call: Call) -> web.StreamResponse:
    """The form: period (this month by default) and format; PDF only with LibreOffice."""
    today = local(call.bot.clock.now())
    return call.render(
        "reports.html",
        period=f"{today.year}-{today.month:02d}",
        formats=FORMATS,
        pdf=libreoffice() is not None,
    )


@section.post("/reports/build", role=Role.EDITOR)
async def build(call: Call) -> web.StreamResponse:
    """Start building the report in the background; the export page shows its progress."""
    form = await call.form()
    text = form.text("period", label=call.t("office_report.console.period"), limit=10)
    try:
        period = Period.parse(text)
    except PeriodError:
        raise FormError(call.t("office_report.console.bad_period", period=text)) from None
    fmt = form.choice("format", FORMATS, label=call.t("office_report.console.format"))
    if fmt == "pdf" and libreoffice() is None:
        raise FormError(call.t("office_report.console.no_pdf"))
    bot = call.bot
    steps = len(section_queries()) + (1 if fmt == "xlsx" else 3 if fmt == "docx" else 4)

    async def write(job: ExportJob) -> None:
        job.total = steps
        seen: dict[str, int] = {}

        def tell(what: str, done: int, total: int) -> None:
            # Sections count one each; charts, the document, the workbook and the PDF one
            # each when they finish.
            seen[what] = done if what == "sections" else int(done >= total)
            job.done = min(steps - 1, sum(seen.values()))

        folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="report-"))
        try:
            written = await write_report(bot, period, [fmt], folder, tell)
            if written.skipped:
                raise NoLibreOffice(written.skipped[0])
            await asyncio.to_thread(shutil.move, written.files[0], job.path)
        finally:
            await asyncio.to_thread(shutil.rmtree, folder, True)

    # Aggregates only (no names or phones): kept as long as [console] report_keep_minutes.
    await call.export(fmt, f"report-{period.code}", personal=False, write=write)
