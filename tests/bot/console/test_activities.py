"""Console activities: create (validated in Chinese), edit, the printable check-in sheet with
its QR code, the roster, and cancelling with the enrolled volunteers told."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from bot.console.pages import Role
from bot.kernel.clock import SHANGHAI
from bot.kernel.message import Channel
from storage.activities import Activity
from tests.bot.console.conftest import Console
from tests.bot.console.test_volunteers import _finished
from tests.conftest import BotHarness
from tests.handlers.test_activities import enlist


def _at(harness: BotHarness, days: float) -> str:
    return (
        (harness.clock.now() + timedelta(days=days)).astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")
    )


def _form(harness: BotHarness, **kw: str) -> dict[str, str]:
    form = {
        "title": "社区网络安全宣传",
        "place": "郑州市文化路社区",
        "start": _at(harness, 2),
        "end": _at(harness, 2.1),
        "city": "",
        "hours": "2.5",
        "capacity": "20",
        "code": "",
    }
    form.update(kw)
    return form


async def test_create_edit_sheet_and_cancel(console: Console, harness: BotHarness) -> None:
    editor = await console.as_role(Role.EDITOR)
    viewer = await console.as_role(Role.VIEWER)
    status, _b, _l = await viewer.post("/console/activities/new", _form(harness))
    assert status == 403
    await editor.get("/console/activities")
    status, body, location = await editor.post("/console/activities/new", _form(harness))
    assert status == 303, body
    number = int(location.split("/")[3].split("?")[0])
    status, body = await editor.get(location)
    assert status == 200 and "社区网络安全宣传" in body and "活动已创建" in body
    async with harness.bot.sessions() as session:
        activity = await session.get(Activity, number)
    assert activity is not None and len(activity.code) >= 4
    status, body = await viewer.get(f"/console/activities/{number}/sheet")
    assert (
        status == 200 and activity.code in body and 'class="qr" src="data:image/png;base64,' in body
    )
    # A volunteer joins; the roster shows them masked.
    volunteer = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    await enlist(harness, volunteer, name="张三")
    assert "报名成功" in await volunteer.say(f"参加 {number}")
    status, body = await editor.get(f"/console/activities/{number}")
    assert "张*" in body
    status, body = await viewer.get(f"/console/activities/{number}")
    assert "张*" not in body
    # Edit: not below the places taken.
    status, body, _ = await editor.post(
        f"/console/activities/{number}/edit", _form(harness, title="新标题", capacity="0")
    )
    assert status == 400 and "名额" in body
    status, _b, _l = await editor.post(
        f"/console/activities/{number}/edit", _form(harness, title="新标题", capacity="5")
    )
    assert status == 303
    async with harness.bot.sessions() as session:
        activity = await session.get(Activity, number)
    assert activity is not None and activity.title == "新标题" and activity.capacity == 5
    # Cancel: reason required, volunteers told.
    status, body, _ = await editor.post(f"/console/activities/{number}/cancel", {"reason": ""})
    assert status == 400 and "请填写“取消原因" in body
    status, _b, _l = await editor.post(
        f"/console/activities/{number}/cancel", {"reason": "天气原因"}
    )
    assert status == 303
    await harness.drain()
    assert any("取消" in m for m in volunteer.late_messages())
    status, body, _ = await editor.post(f"/console/activities/{number}/cancel", {"reason": "再次"})
    assert status == 400 and "已取消或已结束" in body
    status, body = await editor.get("/console/operators?action=activities.")
    assert "activities.cancel" in body and "天气原因" in body


async def test_create_is_validated_in_chinese(console: Console, harness: BotHarness) -> None:
    editor = await console.as_role(Role.EDITOR)
    await editor.get("/console/activities")
    cases = [
        (_form(harness, title=""), "请填写“活动名称"),
        (_form(harness, end=_at(harness, 1)), "结束时间应晚于开始时间"),
        (_form(harness, start=_at(harness, -3), end=_at(harness, -2)), "结束时间已经过去"),
        (_form(harness, start="soon"), "时间格式"),
        (_form(harness, hours="abc"), "必须是数字"),
        (_form(harness, hours="0.001"), "最多两位小数"),
        (_form(harness, capacity="0"), "之间"),
        (_form(harness, city="火星市"), "选项无效"),
        (_form(harness, code="!!"), "签到码应为"),
    ]
    for form, expected in cases:
        status, body, _ = await editor.post("/console/activities/new", form)
        assert status == 400 and expected in body, (form, body[-1500:])
    await editor.post("/console/activities/new", _form(harness, code="ZZ99"))
    status, body, _ = await editor.post("/console/activities/new", _form(harness, code="zz99"))
    assert status == 400 and "已被" in body and "号活动使用" in body
    status, _b = await editor.get("/console/activities/12345")
    assert status == 404


async def test_roster_export_file(console: Console, harness: BotHarness) -> None:
    """``activities roster --output`` in the console: a file job, names and phones masked,
    audited; viewers cannot, a missing activity is a Chinese 400."""
    editor = await console.as_role(Role.EDITOR)
    viewer = await console.as_role(Role.VIEWER)
    await editor.get("/console/activities")
    _s, _b, location = await editor.post("/console/activities/new", _form(harness))
    number = int(location.split("/")[3].split("?")[0])
    volunteer = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    await enlist(harness, volunteer, name="张三")
    assert "报名成功" in await volunteer.say(f"参加 {number}")
    status, body = await editor.get(f"/console/activities/{number}")
    assert f"/console/activities/{number}/roster" in body
    await viewer.get(f"/console/activities/{number}")
    assert (await viewer.post(f"/console/activities/{number}/roster", {"format": "csv"}))[0] == 403
    status, body, _ = await editor.post("/console/activities/9999/roster", {"format": "csv"})
    assert status == 400 and "没有 9999 号活动" in body
    status, _b, location = await editor.post(
        f"/console/activities/{number}/roster", {"format": "csv"}
    )
    assert status == 303 and location.startswith("/console/exports/")
    job = await _finished(editor, location)
    async with editor.http.get(editor.url(f"/console/exports/{job}/file")) as resp:
        text = (await resp.read()).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == 2 and "张*" in rows[1] and "张三" not in text
    status, body = await editor.get("/console/operators?action=activities.roster_export")
    assert f"activity={number}" in body and "console:editor1" in body
