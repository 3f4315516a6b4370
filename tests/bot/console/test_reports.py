"""The console's report page: editors build a report of a period in the background, watch its
progress and download the file; a bad period gets a Chinese 400; viewers may not build."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from openpyxl import load_workbook

from bot.cli.report import material
from bot.console.pages import Role
from storage.demo import DemoSize, generate
from tests.bot.console.conftest import Console, ConsoleClient
from tests.conftest import BotHarness


async def _finished(client: ConsoleClient, location: str) -> str:
    job = location.rsplit("/", 1)[1]
    for _ in range(600):
        _status, body = await client.get(f"/console/exports/{job}/status")
        state = json.loads(body)
        assert not state["failed"]
        if state["ready"]:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError("report did not finish")


async def _download(client: ConsoleClient, job: str) -> tuple[bytes, str]:
    async with client.http.get(client.url(f"/console/exports/{job}/file")) as resp:
        assert resp.status == 200
        return await resp.read(), resp.headers["Content-Disposition"]


async def test_editor_builds_and_downloads_a_workbook(
    console: Console, harness: BotHarness
) -> None:
    tally = await generate(
        harness.bot.sessions,
        DemoSize(followers=200, messages=1000, volunteers=50, year=2027),
        material(harness.bot, 2027),
    )
    editor = await console.as_role(Role.EDITOR)
    status, body = await editor.get("/console/reports")
    assert status == 200 and "2027-Q1" in body  # the hint
    status, _body, location = await editor.post(
        "/console/reports/build", {"period": "2027", "format": "xlsx"}
    )
    assert status == 303 and location.startswith("/console/exports/")
    job = await _finished(editor, location)
    data, disposition = await _download(editor, job)
    assert 'filename="report-2027.xlsx"' in disposition
    book = load_workbook(io.BytesIO(data))
    overview = list(book[book.sheetnames[0]].iter_rows(min_row=2, values_only=True))
    follows = [r[2] for r in overview if r[1] == harness.bot.texts("office_report.labels.follows")]
    assert follows == [sum(tally.follows.values())]


async def test_document_by_the_console(console: Console, harness: BotHarness) -> None:
    editor = await console.as_role(Role.EDITOR)
    await editor.get("/console/reports")
    status, _body, location = await editor.post(
        "/console/reports/build", {"period": "2027-03", "format": "docx"}
    )
    assert status == 303
    data, disposition = await _download(editor, await _finished(editor, location))
    assert data.startswith(b"PK") and 'filename="report-2027-03.docx"' in disposition


@pytest.mark.parametrize("period", ["2027-13", "march", "", "2027-Q0"])
async def test_bad_period_is_a_chinese_400(
    console: Console, harness: BotHarness, period: str
) -> None:
    editor = await console.as_role(Role.EDITOR)
    await editor.get("/console/reports")
    status, body, _l = await editor.post(
        "/console/reports/build", {"period": period, "format": "xlsx"}
    )
    assert status == 400 and "统计时段" in body


async def test_pdf_refused_without_libreoffice(
    console: Console, harness: BotHarness, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    editor = await console.as_role(Role.EDITOR)
    await editor.get("/console/reports")
    monkeypatch.setenv("PATH", str(tmp_path))  # no soffice on the path
    status, body, _l = await editor.post(
        "/console/reports/build", {"period": "2027", "format": "pdf"}
    )
    assert status == 400 and "LibreOffice" in body


async def test_viewer_may_not_build(console: Console, harness: BotHarness) -> None:
    viewer = await console.as_role(Role.VIEWER)
    status, _b = await viewer.get("/console/reports")
    assert status == 403
    status, _b, _l = await viewer.post(
        "/console/reports/build", {"period": "2027", "format": "xlsx"}
    )
    assert status == 403
