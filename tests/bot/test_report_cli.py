"""``python -m bot report`` and ``demo-data`` end to end: files written from a generated year,
their sheets, sections and charts, PDF with and without LibreOffice, refusals."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from docx import Document
from openpyxl import load_workbook

from bot.config import load_config
from bot.kernel.content import Texts
from bot.kernel.context import BotContext
from bot.kernel.message import Channel, UserKey
from bot.reports.build import section_queries
from bot.sandbox import FakeWeChatAPI
from storage import stories as store
from storage.db import Sessions, create_engine, create_sessions
from tests.bot.test_cli import _cli, _write_config

DEMO = ("--followers", "300", "--messages", "2000", "--volunteers", "80", "--year", "2027")


@pytest.fixture
def texts() -> Texts:
    return Texts.load()


@pytest.fixture
def config_file(tmp_path: Path, db_url: str, fake_wechat: FakeWeChatAPI) -> Path:
    return _write_config(tmp_path, db_url, fake_wechat.base_url)  # type: ignore[attr-defined]


async def _demo(capsys: pytest.CaptureFixture[str], path: Path) -> str:
    code, out, err = await _cli(capsys, "demo-data", "-c", str(path), *DEMO)
    assert code == 0, err
    assert "messages: 2000/2000 (100%)" in err  # progress shown
    return out


async def _report(
    capsys: pytest.CaptureFixture[str], path: Path, period: str, formats: str, out: Path
) -> tuple[int, str, str]:
    return await _cli(
        capsys,
        "report",
        "-c",
        str(path),
        "--period",
        period,
        "--format",
        formats,
        "--out",
        str(out),
    )


async def _story(sessions: Sessions, text: str, *, approved: bool) -> int:
    """A story received on 4 May 2027, approved or still pending."""
    async with sessions() as session, session.begin():
        at = datetime(2027, 5, 4, 2, tzinfo=UTC)
        story = await store.add_story(
            session, UserKey(Channel.WEIBO, "w", "u"), text=text, consent_at=at, now=at
        )
        if approved:
            await store.review_story(session, story.id, "approved", at, None)
        return story.id


async def _approved_story(path: Path, text: str) -> int:
    engine = create_engine(load_config(str(path)).database_url)
    try:
        return await _story(create_sessions(engine), text, approved=True)
    finally:
        await engine.dispose()


async def test_report_workbook_and_document_from_a_demo_year(
    capsys: pytest.CaptureFixture[str], config_file: Path, tmp_path: Path, texts: Texts
) -> None:
    await _demo(capsys, config_file)
    story = await _approved_story(config_file, "志愿者带着孩子们制定家庭上网公约的故事。")
    code, out, err = await _cli(capsys, "stories", "feature", str(story), "-c", str(config_file))
    assert code == 0 and "典型案例" in out
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, out, err = await _report(capsys, config_file, "2027", "xlsx,docx", out_dir)
    assert code == 0, err
    n = len(section_queries())
    assert f"sections: {n}/{n} (100%)" in err and "charts:" in err
    book = load_workbook(out_dir / "report-2027.xlsx")
    for key in ("summary", "followers", "messages", "volunteers", "logo", "pushes"):
        assert texts(f"office_report.sections.{key}") in book.sheetnames
    overview = {
        (row[0], row[1]): row[2]
        for row in book[texts("office_report.sections.summary")].iter_rows(
            min_row=2, values_only=True
        )
    }
    followers = texts("office_report.sections.followers")
    assert overview[(followers, texts("office_report.labels.follows"))] == 300
    messages = texts("office_report.sections.messages")
    assert overview[(messages, texts("office_report.labels.messages"))] == 2000
    sheet = book[followers]
    monthly = texts("office_report.tables.followers_by_month")
    titles = [row[0] for row in sheet.iter_rows(values_only=True)]
    start = titles.index(monthly)
    rows = list(sheet.iter_rows(min_row=start + 3, max_row=start + 14, values_only=True))
    assert [r[0] for r in rows] == [f"2027-{m:02d}" for m in range(1, 13)]
    assert sum(r[1] for r in rows) == 300

    doc = Document(str(out_dir / "report-2027.docx"))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert text.startswith(texts("office_report.document.title_year", year=2027))
    for key in ("heading_work", "heading_data", "heading_cases", "heading_plan"):
        assert texts(f"office_report.document.{key}") in text
    assert text.count(texts("office_report.document.plan_fill")) == 2
    assert "家庭上网公约" in text  # the featured story is a typical case
    assert len(doc.inline_shapes) >= 8  # charts embedded
    assert list((out_dir / "report-2027-charts").glob("*.png"))
    assert not (out_dir / "report-2027.pdf").exists()


async def test_feature_refuses_a_story_not_approved(
    capsys: pytest.CaptureFixture[str], config_file: Path, bot_context: BotContext
) -> None:
    story = await _story(bot_context.sessions, "x" * 20, approved=False)
    code, _out, err = await _cli(capsys, "stories", "feature", str(story), "-c", str(config_file))
    assert code == 1 and "not approved" in err  # the operations layer's refusal
    code, _out, err = await _cli(capsys, "stories", "feature", "999", "-c", str(config_file))
    assert code == 1


@pytest.mark.skipif(not shutil.which("soffice"), reason="LibreOffice not installed")
async def test_report_pdf_by_libreoffice(
    capsys: pytest.CaptureFixture[str], config_file: Path, tmp_path: Path
) -> None:
    code, _out, err = await _report(capsys, config_file, "2027-03", "pdf", tmp_path)
    assert code == 0, err
    pdf = tmp_path / "report-2027-03.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    assert not (tmp_path / "report-2027-03.docx").exists()  # only what was asked for


async def test_report_says_when_pdf_cannot_be_made(
    capsys: pytest.CaptureFixture[str],
    config_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no soffice on the path
    code, _out, err = await _report(capsys, config_file, "2027-Q2", "docx,pdf", tmp_path)
    assert code == 1
    assert "pdf not written" in err and "LibreOffice" in err
    assert (tmp_path / "report-2027-Q2.docx").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--period", "2027-13"), "--period"),
        (("--period", "2027", "--format", "xlsx,odt"), "--format"),
        (("--period", "2027", "--out", "/no/such/dir"), "--out"),
    ],
)
async def test_report_refuses_bad_options(
    capsys: pytest.CaptureFixture[str], config_file: Path, args: tuple[str, ...], message: str
) -> None:
    code, _out, err = await _cli(capsys, "report", "-c", str(config_file), *args)
    assert code == 1 and message in err


async def test_demo_data_refuses_a_database_with_data(
    capsys: pytest.CaptureFixture[str], config_file: Path
) -> None:
    await _demo(capsys, config_file)
    code, _out, err = await _cli(capsys, "demo-data", "-c", str(config_file), *DEMO)
    assert code == 1 and "empty database" in err
    code, _out, err = await _cli(
        capsys, "demo-data", "-c", str(config_file), "--followers", "5", "--volunteers", "9"
    )
    assert code == 1 and "--volunteers" in err
