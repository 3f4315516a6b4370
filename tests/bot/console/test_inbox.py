"""Console inbox: the grouped list with the week's reports, an item with the masked history and
the reply window, a reply that goes out by customer-service message and one kept for the
person's next message (5 a window), assign, close, learn as an FAQ example; viewers only read."""

from __future__ import annotations

from sqlalchemy import select

from bot.console.pages import Role
from bot.kernel.message import Channel
from handlers import inbox
from storage.inbox import InboxItem
from storage.models import AuditEvent
from tests.bot.console.conftest import Console
from tests.conftest import BotHarness

PHONE = "13812345678"


async def test_inbox_pages_and_actions(console: Console, harness: BotHarness) -> None:
    person = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    assert "转给工作人员" in await person.say(f"我的电话{PHONE}，请问办公室在哪")
    await person.say("孩子上网要注意什么")  # answered: counted in the hits
    async with harness.bot.sessions() as session:
        item = (await session.execute(select(InboxItem))).scalar_one()

    viewer = await console.as_role(Role.VIEWER)
    status, body = await viewer.get("/console/inbox")
    assert status == 200 and "留言处理" in body and f'data-item="{item.id}"' in body
    assert "138****5678" in body and PHONE not in body and person.user_id not in body
    assert "本周未能回答的问题" in body and "未成年人绿色上网小贴士" in body
    status, body = await viewer.get(f"/console/inbox/{item.id}")
    assert status == 200 and 'data-window="open"' in body and "还可发 5 条" in body
    assert "138****5678" in body and PHONE not in body
    assert (await viewer.post(f"/console/inbox/{item.id}/reply", {"text": "x"}))[0] == 403

    editor = await console.as_role(Role.EDITOR)
    await editor.get(f"/console/inbox/{item.id}")
    status, body, _ = await editor.post(f"/console/inbox/{item.id}/reply", {"text": ""})
    assert status == 400
    for n in range(5):
        harness.clock.advance(minutes=1)
        status, _b, location = await editor.post(
            f"/console/inbox/{item.id}/reply", {"canned": "later"} if n else {"text": "您好"}
        )
        assert status == 303 and "done=inbox_sent" in location
    assert person.late_messages()[0] == "您好" and len(person.late_messages()) == 5
    status, _b, location = await editor.post(f"/console/inbox/{item.id}/reply", {"text": "第六条"})
    assert status == 303 and "done=inbox_queued" in location
    status, body = await editor.get(f"/console/inbox/{item.id}")
    assert 'data-window="closed"' in body and "待下次消息时送达" in body

    status, _b, _l = await editor.post(f"/console/inbox/{item.id}/assign", {"assignee": "小王"})
    assert status == 303
    status, _b, _l = await editor.post(
        f"/console/inbox/{item.id}/learn",
        {"topic": "office", "question": "请问办公室在哪", "title": "办公地点", "answer": "请留言"},
    )
    assert status == 303
    status, body, _ = await editor.post(
        f"/console/inbox/{item.id}/learn", {"topic": "office", "question": "请问办公室在哪"}
    )
    assert status == 400 and "问答主题 office 已有这个问题" in body
    assert (await editor.post(f"/console/inbox/{item.id}/close", {}))[0] == 303
    status, body, _ = await editor.post(f"/console/inbox/{item.id}/reply", {"text": "晚了"})
    assert status == 400
    assert (await editor.get("/console/inbox/999"))[0] == 404

    assert "【工作人员回复】第六条" in await person.say("谢谢")
    assert "请留言" in await person.say("请问办公室在哪")
    async with harness.bot.sessions() as session:
        events = list((await session.execute(select(AuditEvent))).scalars())
    actions = [a.action for a in events]
    assert actions.count("inbox.reply") == 6
    assert {"inbox.assign", "faq.learn", "inbox.close"} <= set(actions)
    # Console actions name their operator the one way every operation does.
    inbox_actors = {a.actor for a in events if a.action.split(".")[0] in ("inbox", "faq")}
    assert inbox_actors == {"console:editor1"}


async def test_operators_who_opted_in_are_told_of_a_flagged_message(
    console: Console, harness: BotHarness
) -> None:
    """An editor who bound their WeChat (QR scan through the fake API) and asked for flagged
    messages is told of a critical flag by customer-service message, without its content."""
    from handlers import inbox

    editor = await console.as_role(Role.EDITOR)
    phone = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    await phone.say("菜单")  # inside the 48 h window
    await harness.drain()
    await editor.get("/console/me")
    status, _body, _ = await editor.post("/console/me/qr")
    assert status == 200
    scene = harness.fake.calls_to("/cgi-bin/qrcode/create")[-1].body["action_info"]["scene"][
        "scene_str"
    ]
    user = harness.user(openid=phone.user_id)
    await harness.send(user, user.event("SCAN", scene))
    await editor.post("/console/me/notify", {"inbox": "1"})
    person = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    await person.say("我真的不想活了")
    await inbox.drain_alerts(harness.bot)
    told = phone.late_messages()
    assert any("留言处理" in m for m in told) and not any("不想活" in m for m in told)


async def test_duty_roster_page_sets_who_is_alerted(console: Console, harness: BotHarness) -> None:
    """``inbox duty`` in the browser: admins add an operator with the account they are told
    on and switch them on or off duty; the roster they set is the one the alerts use."""
    on_call = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    await on_call.say("菜单")  # they wrote to the account: inside their 48 h window
    await harness.drain()
    for role in (Role.VIEWER, Role.EDITOR):
        other = await console.as_role(role)
        assert (await other.get("/console/inbox/duty"))[0] == 403
        assert (await other.post("/console/inbox/duty", {"name": "x", "state": "on"}))[0] == 403
    editor_page = (await (await console.as_role(Role.EDITOR)).get("/console/inbox"))[1]
    assert "/console/inbox/duty" not in editor_page

    admin = await console.as_role(Role.ADMIN)
    status, body = await admin.get("/console/inbox")
    assert status == 200 and 'href="/console/inbox/duty"' in body
    status, body = await admin.get("/console/inbox/duty")
    assert status == 200 and "值班名单" in body
    bad = {"name": "值班员甲", "channel": "wechat", "account": "not an id!", "state": "on"}
    status, body, _ = await admin.post("/console/inbox/duty", bad)
    assert status == 400 and "微信 openid 或微博 uid" in body
    status, body, _ = await admin.post("/console/inbox/duty", {**bad, "channel": "qq"})
    assert status == 400 and "只能是微信或微博" in body
    good = {**bad, "account": on_call.user_id}
    status, _b, location = await admin.post("/console/inbox/duty", good)
    assert status == 303 and "duty_saved" in location
    status, body = await admin.get("/console/inbox/duty")
    assert 'data-duty="值班员甲"' in body and "值班中" in body
    assert on_call.user_id not in body  # the account shown masked

    person = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    await person.say("我真的不想活了")
    await inbox.drain_alerts(harness.bot)
    assert len(on_call.late_messages()) == 1

    status, _b, _l = await admin.post("/console/inbox/duty", {"name": "值班员甲", "state": "off"})
    assert status == 303
    status, body = await admin.get("/console/inbox/duty")
    assert "未值班" in body
    roster = await inbox.roster(harness.bot)
    assert [(o.name, o.user_id, o.on_duty) for o in roster] == [
        ("值班员甲", on_call.user_id, False)
    ]
    await harness.chatter(Channel.WECHAT).say("我真的不想活了")  # type: ignore[attr-defined]
    await inbox.drain_alerts(harness.bot)
    assert len(on_call.late_messages()) == 1  # off duty: not told again
    async with harness.bot.sessions() as session:
        audits = (
            await session.execute(select(AuditEvent).where(AuditEvent.action == "inbox.duty"))
        ).scalars()
        assert [a.actor for a in audits] == ["console:admin1", "console:admin1"]
