"""The report as a Word document in the form offices send on (python-docx), and its PDF
(LibreOffice, when installed): title, period, 工作开展情况, 主要数据 with charts, 典型案例,
and 存在问题和下一步计划 left for the operator, marked."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.kernel.clock import local
from bot.kernel.content import Texts
from bot.reports.build import Report, is_ratio, label
from storage.reports.base import Chart, Section

BODY_PT, HEADING_PT, TITLE_PT = 14, 16, 22
PDF_TIMEOUT = 300


class NoLibreOffice(RuntimeError):
    """PDF output needs LibreOffice (``soffice``), which is not installed here."""


def formatted(texts: Texts, key: str, value: Any) -> str:
    """A total as the document prints it: shares as percentages, hours without trailing 0."""
    if is_ratio(key):
        return texts("office_report.document.percent", value=float(value) * 100)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def title(texts: Texts, report: Report) -> str:
    """The document's title for the period (month, quarter or year)."""
    p = report.period
    return texts(
        f"office_report.document.title_{p.kind}",
        year=p.year,
        month=p.first_month,
        quarter=p.quarter,
    )


def write_document(
    path: Path,
    report: Report,
    texts: Texts,
    charts: Mapping[str, Sequence[tuple[Chart, Path]]],
    workbook: str,
) -> Path:
    """Write the .docx; ``charts`` are each section's PNGs, ``workbook`` the sheet's file name."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm, Pt

    t = texts
    doc = Document()
    page = doc.sections[0]
    page.page_width, page.page_height = Cm(21), Cm(29.7)
    page.top_margin = page.bottom_margin = Cm(2.5)
    page.left_margin = page.right_margin = Cm(2.6)
    body_font = t("office_report.document.font_body")
    heading_font = t("office_report.document.font_heading")
    normal = doc.styles["Normal"]
    normal.font.size = Pt(BODY_PT)
    _east_asian(normal.element, body_font)
    normal.font.name = body_font

    def para(
        text: str,
        *,
        font: str = body_font,
        size: int = BODY_PT,
        bold: bool = False,
        centre: bool = False,
        indent: bool = True,
        mark: bool = False,
    ) -> Any:
        p = doc.add_paragraph()
        p.paragraph_format.space_after = Pt(4)
        p.paragraph_format.line_spacing = 1.3
        if centre:
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        elif indent:
            p.paragraph_format.first_line_indent = Pt(size * 2)
        run = p.add_run(text)
        run.bold = bold
        run.font.size = Pt(size)
        run.font.name = font
        _east_asian(run._element, font)
        if mark:
            from docx.enum.text import WD_COLOR_INDEX
            from docx.shared import RGBColor

            run.font.highlight_color = WD_COLOR_INDEX.YELLOW
            run.font.color.rgb = RGBColor(0xC0, 0x00, 0x00)
        return p

    def heading(text: str) -> None:
        p = para(text, font=heading_font, size=HEADING_PT, indent=False)
        p.paragraph_format.space_before = Pt(10)
        p.paragraph_format.keep_with_next = True

    period = report.period
    totals = {k: formatted(t, k, v) for k, v in report.totals().items()}
    para(title(t, report), font=t("office_report.document.font_title"), size=TITLE_PT, centre=True)
    last_day = period.end_day - timedelta(days=1)
    para(
        t(
            "office_report.document.subtitle",
            organisation=t("office_report.document.organisation"),
            start=_cn_date(period.first_day),
            end=_cn_date(last_day),
        ),
        size=12,
        centre=True,
    )

    heading(t("office_report.document.heading_work"))
    ordinals = list(t.get("office_report.document.ordinals", []))
    done = 0
    for section in report.sections:
        key = f"office_report.work.{section.key}"
        if t.has(key):
            number = ordinals[done] if done < len(ordinals) else f"{done + 1}."
            para(number + t(key, **totals))
            done += 1

    heading(t("office_report.document.heading_data"))
    para(t("office_report.document.data_intro", workbook=workbook))
    figure = 0
    for number, section in enumerate(report.sections, 1):
        sub = para(
            f"{number}. {t(f'office_report.sections.{section.key}')}",
            font=heading_font,
            indent=False,
        )
        sub.paragraph_format.keep_with_next = True
        _totals_table(doc, section, t, body_font)
        for chart, png in charts.get(section.key, ()):
            figure += 1
            doc.add_picture(str(png), width=Cm(15))
            picture = doc.paragraphs[-1]
            picture.alignment = WD_ALIGN_PARAGRAPH.CENTER
            # The caption stays on the chart's page.
            picture.paragraph_format.keep_with_next = True
            para(
                t(
                    "office_report.document.figure",
                    number=figure,
                    title=t(f"office_report.charts.{chart.title}"),
                ),
                size=11,
                centre=True,
            )

    heading(t("office_report.document.heading_cases"))
    para(t("office_report.document.cases_stories"), font=heading_font, indent=False)
    stories = _cases(report, "stories")
    if not stories:
        para(t("office_report.document.cases_no_stories"))
    for index, case in enumerate(stories, 1):
        fields = {**case.fields, "channel": _channel(t, str(case.fields.get("channel", "")))}
        para(t("office_report.cases.story_heading", index=index, **fields), bold=True, indent=False)
        para(t("office_report.cases.story_text", **fields))
    para(t("office_report.document.cases_stars"), font=heading_font, indent=False)
    stars = _cases(report, "stars")
    if stars:
        para(t("office_report.document.stars_intro"))
        for case in stars:
            para(t("office_report.cases.star_line", **case.fields))
    else:
        para(t("office_report.document.cases_no_stars"))

    heading(t("office_report.document.heading_plan"))
    for key in ("plan_problems", "plan_next"):
        para(t(f"office_report.document.{key}"), font=heading_font, indent=False)
        para(t("office_report.document.plan_fill"), mark=True)
        para(" ")
    para(
        t(
            "office_report.document.generated",
            now=local(report.generated_at).strftime("%Y-%m-%d %H:%M"),
        ),
        size=11,
        indent=False,
    )
    doc.save(str(path))
    return path


def _cases(report: Report, key: str) -> list[Any]:
    try:
        return list(report.section(key).cases)
    except KeyError:
        return []


def _channel(texts: Texts, channel: str) -> str:
    name: str = texts.get(f"common.channel_names.{channel}", channel)
    return name


def _cn_date(day: Any) -> str:
    return f"{day.year}-{day.month:02d}-{day.day:02d}"


def _east_asian(element: Any, font: str) -> None:
    """Set the East Asian font (python-docx's ``font.name`` sets only the Latin one)."""
    from docx.oxml.ns import qn

    rpr = element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.append(fonts)
    fonts.set(qn("w:eastAsia"), font)


def _totals_table(doc: Any, section: Section, texts: Texts, font: str) -> None:
    from docx.shared import Pt

    table = doc.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for key, value in section.totals:
        cells = table.add_row().cells
        for cell, text in zip(
            cells, (label(texts, key), formatted(texts, key, value)), strict=True
        ):
            cell.text = text
            # Rows kept with the next one: a short table never breaks across pages.
            cell.paragraphs[0].paragraph_format.keep_with_next = True
            for run in cell.paragraphs[0].runs:
                run.font.size = Pt(11)
                _east_asian(run._element, font)
    doc.add_paragraph()


def libreoffice() -> str | None:
    """The LibreOffice command, if installed."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def convert_to_pdf(docx: Path, out_dir: Path) -> Path:
    """The PDF of ``docx`` by LibreOffice (its own profile, so parallel runs never collide)."""
    soffice = libreoffice()
    if not soffice:
        raise NoLibreOffice(
            "PDF needs LibreOffice, which is not installed here (Debian/Ubuntu: apt-get install "
            "libreoffice-writer-nogui); the .docx is written and can be converted elsewhere"
        )
    with tempfile.TemporaryDirectory(prefix="report-lo-") as profile:
        result = subprocess.run(
            [
                soffice,
                f"-env:UserInstallation=file://{profile}",
                "--headless",
                "--convert-to",
                "pdf",
                "--outdir",
                str(out_dir),
                str(docx),
            ],
            capture_output=True,
            text=True,
            timeout=PDF_TIMEOUT,
            check=False,
        )
    pdf = out_dir / (docx.stem + ".pdf")
    if result.returncode != 0 or not pdf.is_file():
        raise NoLibreOffice(f"LibreOffice could not convert {docx.name}: {result.stderr.strip()}")
    return pdf
