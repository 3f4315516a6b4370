"""Console pushes over real HTTP: compose, Chinese validation, quota, draft -> approve ->
scheduled -> sent, the second approver, preview, cancel, the calendar."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image

from bot.console.pages import Role
from storage.models import InboundMessage
from storage.schedules import CampaignPost, OutboxItem
from tests.bot.console.conftest import Console, ConsoleClient
from tests.conftest import BotHarness


def _later(harness: BotHarness, days: int = 3) -> str:
    when = harness.clock.now() + timedelta(days=days)
    return when.astimezone(harness.bot.config.schedules.timezone and _tz()).strftime(
        "%Y-%m-%dT10:00"
    )


def _tz() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")


def _form(harness: BotHarness, **kw: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "label": "国际志愿者日推送",
        "kind": "text",
        "text": "{year}年国际志愿者日，感谢每一位志愿者！",
        "channels": "wechat",
        "schedule": "at",
        "at": _later(harness),
        "key_date": "volunteer_day",
        "time_of_day": "09:00",
    }
    form.update(kw)
    return form


async def _draft(client: ConsoleClient, form: dict[str, Any]) -> int:
    await client.get("/console/pushes/new")
    status, body, location = await client.post("/console/pushes/new", form)
    assert status == 303, body
    return int(location.split("/")[3].split("?")[0])


async def _post(harness: BotHarness, post_id: int) -> CampaignPost:
    async with harness.bot.sessions() as session:
        post = await session.get(CampaignPost, post_id)
    assert post is not None
    return post


async def test_draft_approve_schedule_and_calendar(console: Console, harness: BotHarness) -> None:
    editor = await console.as_role(Role.EDITOR)
    admin = await console.as_role(Role.ADMIN)
    viewer = await console.as_role(Role.VIEWER)
    post_id = await _draft(editor, _form(harness))
    assert (await _post(harness, post_id)).status == "draft"
    status, body = await editor.get(f"/console/pushes/{post_id}")
    assert status == 200 and "待审批" in body and "审批通过" not in body
    # Editors draft; only admins approve.
    status, _b, _l = await editor.post(f"/console/pushes/{post_id}/approve")
    assert status == 403
    status, _b, _l = await viewer.post("/console/pushes/new", _form(harness))
    assert status == 403
    status, body = await viewer.get("/console/pushes/new")
    assert status == 403
    status, body = await admin.get(f"/console/pushes/{post_id}")
    assert "审批通过" in body
    status, _b, location = await admin.post(f"/console/pushes/{post_id}/approve")
    assert status == 303 and "done=push_approved" in location
    post = await _post(harness, post_id)
    assert post.status == "active" and post.approved_by == "admin1" and post.drafted_by == "editor1"
    year = (harness.clock.now() + timedelta(days=3)).astimezone(_tz()).year
    status, body = await viewer.get(f"/console/calendar?year={year}")
    assert status == 200 and f'data-push="{post_id}"' in body and "国际志愿者日" in body
    assert "春节" in body  # a lunar key date, computed
    status, body = await viewer.get("/console/")
    assert "国际志愿者日推送" in body
    # Run now: the outbox shows the delivery as sent.
    status, _b, _l = await admin.post(f"/console/pushes/{post_id}/run")
    assert status == 303
    status, body = await viewer.get(f"/console/pushes/{post_id}")
    assert 'data-state="sent"' in body and "已发送" in body
    assert harness.fake.calls_to("/cgi-bin/message/mass/sendall")


async def test_compose_is_validated_in_chinese(console: Console, harness: BotHarness) -> None:
    editor = await console.as_role(Role.EDITOR)
    await editor.get("/console/pushes/new")
    past = (harness.clock.now() - timedelta(days=1)).astimezone(_tz()).strftime("%Y-%m-%dT10:00")
    cases = [
        (_form(harness, label=""), "请填写“名称"),
        (_form(harness, text=""), "请填写“正文"),
        (_form(harness, at=past), "发送时间已过"),
        (_form(harness, at="tomorrow"), "时间格式"),
        (_form(harness, channels="nowhere"), "请填写“渠道"),
        (_form(harness, kind="video"), "选项无效"),
        (_form(harness, channels="weibo"), "需要填写链接"),
        (_form(harness, schedule="key_date", key_date="no_such_day"), "选项无效"),
        (_form(harness, tag_id="x"), "必须是数字"),
        (_form(harness, kind="image"), "请填写“图片"),
        (_form(harness, text="{unknown} 占位符"), "推送设置有误"),
    ]
    for form, expected in cases:
        status, body, _ = await editor.post("/console/pushes/new", form)
        assert status == 400 and expected in body, (form, body[-2000:])
        assert 'name="label"' in body  # the form comes back, filled in


async def test_image_upload_and_bad_image(console: Console, harness: BotHarness) -> None:
    editor = await console.as_role(Role.EDITOR)
    buf = io.BytesIO()
    Image.new("RGB", (40, 40), "red").save(buf, "PNG")
    from aiohttp import FormData

    def data(image: bytes) -> FormData:
        fd = FormData()
        for key, value in _form(harness, kind="image", caption="图").items():
            fd.add_field(key, value)
        fd.add_field("csrf", editor.csrf)
        fd.add_field("image", image, filename="a.png", content_type="image/png")
        return fd

    await editor.get("/console/pushes/new")
    async with editor.http.post(
        editor.url("/console/pushes/new"),
        data=data(b"not an image"),
        headers={"Origin": editor.origin},
        allow_redirects=False,
    ) as resp:
        assert resp.status == 400 and "图片无法识别" in await resp.text()
    async with editor.http.post(
        editor.url("/console/pushes/new"),
        data=data(buf.getvalue()),
        headers={"Origin": editor.origin},
        allow_redirects=False,
    ) as resp:
        assert resp.status == 303


async def test_quota_is_checked_before_saving(console: Console, harness: BotHarness) -> None:
    admin = await console.as_role(Role.ADMIN)
    first = await _draft(admin, _form(harness))
    await admin.post(f"/console/pushes/{first}/approve")
    await admin.get("/console/pushes/new")
    at = _later(harness).replace("T10:00", "T20:00")
    status, body, _ = await admin.post("/console/pushes/new", _form(harness, at=at))
    assert status == 400 and "群发额度已用完" in body


@pytest.mark.config(console={"two_person_approval": True})
async def test_two_person_approval(console: Console, harness: BotHarness) -> None:
    admin = await console.as_role(Role.ADMIN)
    post_id = await _draft(admin, _form(harness))
    status, body = await admin.get(f"/console/pushes/{post_id}")
    assert "审批通过" not in body and "双人审批" in body
    status, body, _ = await admin.post(f"/console/pushes/{post_id}/approve")
    assert status == 400 and "撰写人以外的管理员" in body
    await console.operator("second", Role.ADMIN)
    other = await console.client()
    await other.login("second")
    status, _b, _l = await other.post(f"/console/pushes/{post_id}/approve")
    assert status == 303
    post = await _post(harness, post_id)
    assert post.status == "active" and post.approved_by == "second"


async def test_preview_to_own_wechat_and_cancel(console: Console, harness: BotHarness) -> None:
    editor = await console.as_role(Role.EDITOR)
    admin = await console.as_role(Role.ADMIN)
    post_id = await _draft(editor, _form(harness))
    status, body, _ = await editor.post(
        f"/console/pushes/{post_id}/preview", {"openid": "o_operator_1"}
    )
    assert status == 303, body
    previews = harness.fake.calls_to("/cgi-bin/message/mass/preview")
    assert previews and previews[-1].body["touser"] == "o_operator_1"  # type: ignore[attr-defined]
    assert (await _post(harness, post_id)).status == "draft"
    async with harness.bot.sessions() as session:
        from sqlalchemy import select

        items = list(await session.scalars(select(OutboxItem)))
    assert [i.purpose for i in items] == ["preview"]
    # An editor cancels their own draft; an approved push only an admin cancels.
    status, _b, _l = await editor.post(f"/console/pushes/{post_id}/cancel")
    assert status == 303 and (await _post(harness, post_id)).status == "cancelled"
    other = await _draft(editor, _form(harness, at=_later(harness, 10)))
    await admin.post(f"/console/pushes/{other}/approve")
    status, _b, _l = await editor.post(f"/console/pushes/{other}/cancel")
    assert status == 403
    status, _b, _l = await admin.post(f"/console/pushes/{other}/cancel")
    assert status == 303
    status, body, _ = await admin.post(f"/console/pushes/{other}/cancel")
    assert status == 400 and "有效推送" in body
    status, _b = await admin.get("/console/pushes/99999")
    assert status == 404
    status, body = await admin.get("/console/pushes")
    assert status == 200 and "已取消" in body


async def test_operators_bind_their_wechat_by_qr_and_choose_what_they_are_told(
    console: Console, harness: BotHarness
) -> None:
    """Issue 12 part 4 end to end over HTTP: the 我的通知 page asks the (fake) WeChat API for a
    temporary QR code with a one-off scene; the SCAN event with that scene binds the scanner;
    an opted-in admin is told of a push waiting for approval, an opted-out one is not."""
    from bot.kernel.message import Channel

    admin = await console.as_role(Role.ADMIN)
    editor = await console.as_role(Role.EDITOR)
    viewer = await console.as_role(Role.VIEWER)
    phone = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    await phone.say("菜单")  # the admin's own WeChat, inside the 48 h window
    await harness.logged(phone.user_id, InboundMessage.id)  # the log is written behind replies
    status, body = await admin.get("/console/me")
    assert status == 200 and "未绑定" in body
    assert (await viewer.post("/console/me/qr"))[0] == 403
    assert (await viewer.post("/console/me/notify", {"inbox": "1"}))[0] == 403
    status, body, _ = await admin.post("/console/me/qr")
    assert status == 200 and "data-bind-qr" in body and "data:image/png;base64," in body
    created = harness.fake.calls_to("/cgi-bin/qrcode/create")[-1].body
    assert created["action_name"] == "QR_STR_SCENE" and created["expire_seconds"] == 600
    scene = created["action_info"]["scene"]["scene_str"]
    # Someone else's scene is not the admin's; the real one binds and answers.
    stranger = harness.user()
    reply = await harness.send(stranger, stranger.event("SCAN", "opbind_not-a-real-scene"))
    assert "已过期" in reply.get("Content", "")
    user = harness.user(openid=phone.user_id)
    reply = await harness.send(user, user.event("SCAN", scene))
    assert "admin1" in reply.get("Content", "") and "已绑定" in reply.get("Content", "")
    # Used up: the same code binds nobody again.
    reply = await harness.send(stranger, stranger.event("SCAN", scene))
    assert "已过期" in reply.get("Content", "")
    status, body = await admin.get("/console/me")
    assert phone.user_id[:4] in body and phone.user_id not in body  # masked
    # Not opted in yet: a new draft tells nobody.
    await _draft(editor, _form(harness, label="第一条草稿"))
    await harness.drain()
    assert not any("第一条草稿" in m for m in phone.late_messages())
    status, _b, _l = await admin.post("/console/me/notify", {"pushes": "1", "inbox": "1"})
    assert status == 303
    await _draft(editor, _form(harness, label="待审批的推送", at=_later(harness, 5)))
    await harness.drain()
    assert any("待审批的推送" in m and "editor1" in m for m in phone.late_messages())
    # An editor cannot ask for push approvals (they cannot approve).
    await editor.get("/console/me")
    await editor.post("/console/me/notify", {"pushes": "1", "inbox": "1"})
    async with harness.bot.sessions() as session:
        from storage.operators import get_operator

        ed = await get_operator(session, "editor1")
    assert ed is not None and not ed.notify_pushes and ed.notify_inbox
    status, _b, _l = await admin.post("/console/me/unbind")
    assert status == 303
    async with harness.bot.sessions() as session:
        op = await get_operator(session, "admin1")
    assert op is not None and op.notify_openid is None
    status, body = await admin.get("/console/operators?action=operators.notify")
    assert "operators.notify_bind" in body and "console:admin1" in body
