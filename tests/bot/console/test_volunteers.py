"""Console volunteers: filters, masking, an admin's audited reveal, hours adjustments, the
export job with progress and its file, 志愿之星."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

from openpyxl import load_workbook

from bot.console.pages import Role
from bot.kernel.clock import SHANGHAI
from bot.kernel.message import Channel
from storage.volunteers import Volunteer, add_hours
from tests.bot.console.conftest import Console, ConsoleClient
from tests.conftest import BotHarness
from tests.handlers.test_activities import enlist


async def _people(harness: BotHarness) -> list[int]:
    ids = []
    for city, name in (("郑州市", "张三"), ("洛阳市", "李四"), ("郑州市", "王五")):
        ids.append(await enlist(harness, harness.chatter(Channel.WECHAT), city=city, name=name))  # type: ignore[attr-defined]
    async with harness.bot.sessions() as session, session.begin():
        await add_hours(session, ids[0], Decimal("3.5"), "活动", "system", harness.clock.now())
    return ids


async def _phone(harness: BotHarness, volunteer_id: int) -> str:
    async with harness.bot.sessions() as session:
        v = await session.get(Volunteer, volunteer_id)
    assert v is not None
    return harness.bot.cipher.decrypt(v.phone_enc)


async def test_list_filters_masks_and_reveal(console: Console, harness: BotHarness) -> None:
    ids = await _people(harness)
    phone = await _phone(harness, ids[0])
    viewer = await console.as_role(Role.VIEWER)
    editor = await console.as_role(Role.EDITOR)
    admin = await console.as_role(Role.ADMIN)
    assert (await viewer.get("/console/volunteers"))[0] == 403
    assert (await viewer.get(f"/console/volunteers/{ids[0]}"))[0] == 403
    status, body = await editor.get("/console/volunteers?city=郑州市")
    assert status == 200 and "张*" in body and "王*" in body and "李*" not in body
    assert phone not in body and phone[:3] in body
    status, body = await editor.get(f"/console/volunteers?phone={phone}")
    assert "张*" in body and "王*" not in body
    status, body = await editor.get("/console/volunteers?minor=1")
    assert "张*" not in body
    status, body = await editor.get(f"/console/volunteers/{ids[0]}")
    assert status == 200 and phone not in body and "查看完整手机号" not in body
    status, _b, _l = await editor.post(f"/console/volunteers/{ids[0]}/reveal")
    assert status == 403
    await admin.get(f"/console/volunteers/{ids[0]}")
    status, body, _ = await admin.post(f"/console/volunteers/{ids[0]}/reveal")
    assert status == 200 and phone in body and "记入审计日志" in body
    status, body = await admin.get("/console/operators?action=volunteers.reveal_phone")
    assert f"volunteer={ids[0]}" in body and "admin1" in body
    assert (await admin.get("/console/volunteers/9999"))[0] == 404


async def test_hours_adjustments(console: Console, harness: BotHarness) -> None:
    ids = await _people(harness)
    editor = await console.as_role(Role.EDITOR)
    await editor.get(f"/console/volunteers/{ids[0]}")
    cases = [
        ({"hours": "abc", "reason": "补录"}, "必须是数字"),
        ({"hours": "0", "reason": "补录"}, "不为零"),
        ({"hours": "1.234", "reason": "补录"}, "两位小数"),
        ({"hours": "2", "reason": ""}, "请填写“原因"),
        ({"hours": "-10", "reason": "更正"}, "将为负数"),
    ]
    for form, expected in cases:
        status, body, _ = await editor.post(f"/console/volunteers/{ids[0]}/hours", form)
        assert status == 400 and expected in body, (form, body[-800:])
    status, _b, _l = await editor.post(
        f"/console/volunteers/{ids[0]}/hours", {"hours": "-1.5", "reason": "更正"}
    )
    assert status == 303
    status, body = await editor.get(f"/console/volunteers/{ids[0]}")
    assert "data-total>2<" in body and "更正" in body and "editor1" in body


async def _finished(client: ConsoleClient, location: str) -> str:
    job = location.split("/")[3]
    for _ in range(100):
        _status, body = await client.get(f"/console/exports/{job}/status")
        state = json.loads(body)
        if state["ready"]:
            return job
        await asyncio.sleep(0.02)
    raise AssertionError("export did not finish")


async def test_export_job_with_progress(console: Console, harness: BotHarness) -> None:
    ids = await _people(harness)
    phone = await _phone(harness, ids[0])
    editor = await console.as_role(Role.EDITOR)
    admin = await console.as_role(Role.ADMIN)
    viewer = await console.as_role(Role.VIEWER)
    await editor.get("/console/volunteers")
    assert (await viewer.post("/console/volunteers/export", {"format": "csv"}))[0] == 403
    status, _b, _l = await editor.post(
        "/console/volunteers/export", {"format": "csv", "phones": "1"}
    )
    assert status == 403
    status, _b, location = await editor.post(
        "/console/volunteers/export", {"format": "csv", "city": "郑州市"}
    )
    assert status == 303 and location.startswith("/console/exports/")
    status, body = await editor.get(location)
    assert status == 200 and "data-status" in body
    job = await _finished(editor, location)
    async with editor.http.get(editor.url(f"/console/exports/{job}/file")) as resp:
        assert resp.status == 200 and "attachment" in resp.headers["Content-Disposition"]
        text = (await resp.read()).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == 3 and rows[1][2] == "张三" and phone not in text
    # Another operator cannot download it.
    async with admin.http.get(admin.url(f"/console/exports/{job}/file")) as resp:
        assert resp.status == 404
    await admin.get("/console/volunteers")
    status, _b, location = await admin.post(
        "/console/volunteers/export", {"format": "xlsx", "phones": "1"}
    )
    job = await _finished(admin, location)
    async with admin.http.get(admin.url(f"/console/exports/{job}/file")) as resp:
        data = await resp.read()
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    assert sheet.max_row == 4 and any(
        str(cell.value) == phone for row in sheet.iter_rows() for cell in row
    )
    status, body = await admin.get("/console/operators?action=volunteers.export")
    assert "phones=full" in body and "rows=3" in body
    assert (await admin.get("/console/exports/nope/status"))[0] == 404
    status, body, _ = await admin.post("/console/volunteers/export", {"format": "pdf"})
    assert status == 400 and "选项无效" in body


async def test_stars(console: Console, harness: BotHarness) -> None:
    await _people(harness)
    editor = await console.as_role(Role.EDITOR)
    status, body = await editor.get("/console/volunteers/stars")
    assert status == 200 and "志愿之星" in body and "张*" in body and 'class="chart"' in body
    status, body = await editor.get("/console/volunteers/stars?month=1999-13&city=洛阳市")
    assert status == 200 and "张*" not in body


async def test_hours_export_file(console: Console, harness: BotHarness) -> None:
    """``hours export`` in the console: the ledger and totals sheets, names masked, one city
    and a period; validated in Chinese; audited. The form's days are the campaign's: the
    clock sits where Shanghai's day (Dec 1) is a day ahead of UTC's (Nov 30)."""
    harness.clock.set(datetime(2026, 12, 1, 0, 30, tzinfo=SHANGHAI).astimezone(UTC))
    await _people(harness)
    editor = await console.as_role(Role.EDITOR)
    viewer = await console.as_role(Role.VIEWER)
    assert (await viewer.post("/console/volunteers/hours-export", {"format": "csv"}))[0] == 403
    status, body = await editor.get("/console/volunteers")
    assert "data-hours-export" in body
    status, body, _ = await editor.post(
        "/console/volunteers/hours-export", {"format": "xlsx", "from": "2026-13-01"}
    )
    assert status == 400 and "日期格式" in body
    status, body, _ = await editor.post(
        "/console/volunteers/hours-export", {"format": "xlsx", "city": "火星市"}
    )
    assert status == 400 and "未知城市" in body
    status, _b, location = await editor.post(
        "/console/volunteers/hours-export",
        {"format": "xlsx", "city": "郑州市", "from": "2026-12-01", "to": "2026-12-01"},
    )
    assert status == 303
    job = await _finished(editor, location)
    async with editor.http.get(editor.url(f"/console/exports/{job}/file")) as resp:
        book = load_workbook(io.BytesIO(await resp.read()))
    ledger, totals = book.worksheets
    values = [c.value for row in ledger.iter_rows(min_row=2) for c in row]
    assert 3.5 in values and "张*" in values and "张三" not in values
    assert totals.max_row == 2
    status, body = await editor.get("/console/operators?action=volunteers.hours_export")
    assert "rows=1" in body and "console:editor1" in body
