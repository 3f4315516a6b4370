"""The operator inbox end to end over HTTP, on every channel: a question the FAQ cannot answer
lands in the inbox, the operator's reply goes out through the fake platform's customer-service
API, and the platform's limits hold (5 replies a window, 48 hours after the last message);
outside them the reply waits and arrives with the answer to the person's next message. Also the
watchlist: fundraising reply, help routing, critical alerts, flags that still get an answer."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from bot.kernel.message import Channel
from handlers import inbox
from handlers.faq import operations as faq_ops
from handlers.operations import Actor, OperationError
from storage.faq import FaqEvent
from storage.inbox import InboxItem, InboxReply, set_duty
from storage.models import AuditEvent
from tests.conftest import BotHarness, Chatter
from tests.handlers.test_stories import submit_to_confirm
from tests.handlers.test_volunteers import _sign_up_to_confirm

QUESTION = "今天天气怎么样"


async def _items(harness: BotHarness) -> list[InboxItem]:
    async with harness.bot.sessions() as session:
        return list((await session.execute(select(InboxItem).order_by(InboxItem.id))).scalars())


async def _only_item(harness: BotHarness, chatter: Chatter) -> InboxItem:
    items = await _items(harness)
    assert [i.user_id for i in items] == [chatter.user_id]
    return items[0]


async def test_round_trip_with_the_platform_limits(chatter: Chatter, harness: BotHarness) -> None:
    assert "转给工作人员" in await chatter.say(QUESTION)
    item = await _only_item(harness, chatter)
    groups = await inbox.groups(harness.bot)
    assert [(g.user_id, [i.id for i in g.items]) for g in groups] == [(chatter.user_id, [item.id])]
    shown = await inbox.detail(harness.bot, item.id)
    assert shown.text == QUESTION and shown.window.open and shown.window.left == 5

    # Five replies inside the window go out through the customer-service API ...
    for n in range(1, 6):
        harness.clock.advance(minutes=1)
        result = await inbox.reply(harness.bot, item.id, Actor.cli("alice"), f"第{n}条回复")
        assert result.status == "sent" and result.window.left == 5 - n
    assert [m for m in chatter.late_messages() if m.startswith("第")] == [
        f"第{n}条回复" for n in range(1, 6)
    ]
    # ... the sixth is kept and arrives in front of the answer to their next message.
    sixth = await inbox.reply(harness.bot, item.id, Actor.cli("alice"), "第6条回复")
    assert sixth.status == "queued" and not sixth.window.open
    assert "第6条回复" not in chatter.late_messages()
    harness.clock.advance(minutes=1)
    answer = await chatter.say("谢谢")
    assert "【工作人员回复】第6条回复" in answer

    # Their message opened a new window: the count starts again.
    harness.clock.advance(minutes=1)
    assert (await inbox.reply(harness.bot, item.id, Actor.cli("alice"), "新窗口")).status == "sent"
    # 48 hours after their last message the window is closed whatever the count.
    harness.clock.advance(hours=48, seconds=1)
    late = await inbox.reply(harness.bot, item.id, Actor.cli("bob"), "两天后的回复")
    assert late.status == "queued"
    assert "两天后的回复" not in chatter.late_messages()
    assert "【工作人员回复】两天后的回复" in await chatter.say("你好呀")

    async with harness.bot.sessions() as session:
        statuses = [r.status for r in (await session.execute(select(InboxReply))).scalars()]
        audit = [
            (a.actor, a.action)
            for a in (await session.execute(select(AuditEvent).order_by(AuditEvent.id))).scalars()
        ]
        refreshed = await session.get(InboxItem, item.id)
    assert statuses == ["sent"] * 5 + ["queued", "sent", "queued"]
    assert audit == [("cli:alice", "inbox.reply")] * 7 + [("cli:bob", "inbox.reply")]
    assert refreshed is not None and refreshed.status == "answered"
    assert refreshed.assignee == "alice"


async def test_platform_refusal_keeps_the_reply(chatter: Chatter, harness: BotHarness) -> None:
    await chatter.say(QUESTION)
    item = await _only_item(harness, chatter)
    if chatter.channel is Channel.WECHAT:
        harness.fake.inject("/cgi-bin/message/custom/send", 45015)
    else:
        assert harness.weibo_fake is not None
        harness.weibo_fake.inject("/2/messages/reply.json", 21604)
    result = await inbox.reply(harness.bot, item.id, Actor.cli("alice"), "稍后送达")
    assert result.status == "queued"
    assert "【工作人员回复】稍后送达" in await chatter.say("在吗")


async def test_assign_close_and_refusals(chatter: Chatter, harness: BotHarness) -> None:
    await chatter.say(QUESTION)
    item = await _only_item(harness, chatter)
    assert (
        await inbox.assign(harness.bot, item.id, Actor.cli("lead"), "carol")
    ).status == "assigned"
    assert (await inbox.close(harness.bot, item.id, Actor.cli("carol"))).status == "closed"
    with pytest.raises(inbox.InboxError, match="closed") as closed:
        await inbox.reply(harness.bot, item.id, Actor.cli("carol"), "太晚了")
    # An operation error like the others: the CLI's main prints it, the console its Chinese.
    assert isinstance(closed.value, OperationError)
    assert closed.value.text(harness.bot.texts) == f"{item.id} 号消息已关闭"
    with pytest.raises(inbox.InboxError, match="empty"):
        await inbox.reply(harness.bot, item.id, Actor.cli("carol"), "  ")
    with pytest.raises(inbox.InboxError, match="no inbox item"):
        await inbox.reply(harness.bot, 999, Actor.cli("carol"), "x")
    assert await inbox.groups(harness.bot) == []


async def test_an_answered_question_becomes_an_faq_example(
    chatter: Chatter, harness: BotHarness
) -> None:
    await chatter.say("你们办公室在哪里办公")
    item = await _only_item(harness, chatter)
    await inbox.reply(harness.bot, item.id, Actor.cli("alice"), "请留言预约")
    entry = await faq_ops.learn(
        harness.bot,
        item.id,
        Actor.cli("alice"),
        faq_ops.TopicDraft("office", "办公地点", "我们不接待来访，请在本号留言。"),
    )
    assert entry.source == "operator"
    assert "不接待来访" in await chatter.say("你们办公室在哪里办公")
    with pytest.raises(faq_ops.FaqError, match="already") as taken:
        await faq_ops.learn(harness.bot, item.id, Actor.cli("alice"), faq_ops.TopicDraft("office"))
    assert isinstance(taken.value, OperationError)
    assert taken.value.text(harness.bot.texts) == "问答主题 office 已有这个问题"


async def test_fundraising_request_gets_the_standard_reply(
    chatter: Chatter, harness: BotHarness
) -> None:
    reply = await chatter.say("我家孩子生病了，求大家帮忙捐款")
    assert "民政部指定的互联网公开募捐信息平台" in reply
    item = await _only_item(harness, chatter)
    assert (item.reason, item.category, item.severity) == ("flagged", "fundraising", 1)


async def test_personal_help_is_routed_to_operators(chatter: Chatter, harness: BotHarness) -> None:
    reply = await chatter.say("求助！我被家暴了，不知道怎么办")
    assert "已转给工作人员" in reply and "110" in reply
    item = await _only_item(harness, chatter)
    assert (item.reason, item.category, item.severity, item.status) == (
        "flagged",
        "help",
        2,
        "new",
    )


async def test_a_flag_that_only_flags_still_gets_the_faq_answer(
    chatter: Chatter, harness: BotHarness
) -> None:
    reply = await chatter.say("孩子在网上被欺负了怎么办")
    assert "网络欺凌" in reply
    item = await _only_item(harness, chatter)
    assert (item.category, item.severity) == ("bullying", 2)
    async with harness.bot.sessions() as session:
        outcomes = [e.outcome for e in (await session.execute(select(FaqEvent))).scalars()]
    assert outcomes == ["answered"]


async def test_critical_flag_alerts_on_duty_operators_at_once(
    harness: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    operator = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    off_duty = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    for who in (operator, off_duty):
        await who.say("菜单")  # they wrote to the account: inside their 48 h window
    await harness.drain()  # the message log of keyword answers is written behind
    async with harness.bot.sessions() as session, session.begin():
        now = harness.clock.now()
        await set_duty(session, "值班员甲", now, user_id=operator.user_id)
        await set_duty(session, "休息的乙", now, user_id=off_duty.user_id, on=False)
    person = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    with caplog.at_level(logging.DEBUG, logger="bot"):
        reply = await person.say("我真的不想活了")
        await inbox.drain_alerts(harness.bot)
    assert "12356" in reply
    item = await _only_item(harness, person)
    assert (item.category, item.severity) == ("self_harm", 3)
    alerts = operator.late_messages()
    assert len(alerts) == 1 and f"#{item.id}" in alerts[0] and "不想活" not in alerts[0]
    assert off_duty.late_messages() == []
    # No personal data in logs: neither the message nor the person's id.
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "不想活" not in logged and person.user_id not in logged
    async with harness.bot.sessions() as session:
        actions = [a.action for a in (await session.execute(select(AuditEvent))).scalars()]
    assert actions == ["inbox.alert"]


@pytest.mark.config(inbox={"watchlist": False})
async def test_watchlist_can_be_switched_off(chatter: Chatter, harness: BotHarness) -> None:
    reply = await chatter.say("我家孩子生病了，求大家帮忙捐款")
    assert "民政部指定的互联网公开募捐信息平台" not in reply
    assert all(i.reason == "unanswered" for i in await _items(harness))


async def test_a_retried_message_is_filed_once(harness: BotHarness) -> None:
    user = harness.user()
    xml = user.text(QUESTION)
    first = await harness.send(user, xml)
    again = await harness.send(user, xml)
    # The retry gets the same answer (its CreateTime is the time it is sent).
    first.pop("CreateTime"), again.pop("CreateTime")
    assert first == again
    assert len(await _items(harness)) == 1


async def test_a_worrying_story_submission_is_flagged(
    chatter: Chatter, harness: BotHarness
) -> None:
    story = "我是一名初中生，在班级群里经常被同学骂，还被孤立，不知道该怎么办，救救我。"
    await submit_to_confirm(chatter, story=story, contact=None)
    assert "投稿成功" in await chatter.say("确认")
    item = await _only_item(harness, chatter)
    assert (item.reason, item.category, item.severity) == ("flagged", "help", 2)
    assert inbox.masked(harness.bot, item) == f"【投稿故事 #1】{story}"


async def test_an_ordinary_story_is_not_flagged(chatter: Chatter, harness: BotHarness) -> None:
    await submit_to_confirm(chatter, contact=None)
    assert "投稿成功" in await chatter.say("确认")
    assert await _items(harness) == []


async def test_old_done_items_and_stale_choices_are_purged(
    chatter: Chatter, harness: BotHarness
) -> None:
    from bot.app import purge_once
    from storage.faq import FaqChoice

    await chatter.say(QUESTION)
    await chatter.say("又一个没人回答的问题：月亮上有什么")
    await chatter.say("怎么投稿")  # a "您是想问" list nobody picks from
    first, second = await _items(harness)
    await inbox.close(harness.bot, first.id, Actor.cli("alice"))
    harness.clock.advance(days=181)
    done = await purge_once(harness.bot)
    assert done["inbox.purge_old_items"] == 1 and done["faq.purge_expired_choices"] == 1
    assert [i.id for i in await _items(harness)] == [second.id]  # open items stay
    async with harness.bot.sessions() as session:
        assert (await session.execute(select(FaqChoice))).first() is None


async def test_a_very_long_question_is_handed_over_not_failed(
    chatter: Chatter, harness: BotHarness
) -> None:
    long = "请问" + "这是一段很长的留言，" * 150
    assert "转给工作人员" in await chatter.say(long)
    item = await _only_item(harness, chatter)
    assert inbox.masked(harness.bot, item) == long


async def test_erasing_a_volunteer_deletes_what_they_asked_staff(
    chatter: Chatter, harness: BotHarness
) -> None:
    """PIPL: the person's inbox items (and replies to them) go with their volunteer data."""
    await _sign_up_to_confirm(chatter)
    await chatter.say("确认")
    await chatter.say(QUESTION)
    item = await _only_item(harness, chatter)
    await inbox.reply(harness.bot, item.id, Actor.cli("alice"), "您好，已收到。")
    await chatter.say("注销志愿者")
    assert "已删除" in await chatter.say("确认注销")
    assert await _items(harness) == []
    async with harness.bot.sessions() as session:
        assert list((await session.execute(select(InboxReply))).scalars()) == []


async def _alert_in_flight(harness: BotHarness, delay: float) -> Chatter:
    """An on-duty operator and a critical message whose alert is still being sent (the
    platform takes ``delay`` seconds to answer); returns the operator."""
    operator = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    await operator.say("菜单")
    await harness.drain()
    async with harness.bot.sessions() as session, session.begin():
        await set_duty(session, "值班员甲", harness.clock.now(), user_id=operator.user_id)
    harness.fake.delay_seconds["/cgi-bin/message/custom/send"] = delay
    person = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    assert "12356" in await person.say("我真的不想活了")
    return operator


async def test_an_alert_in_flight_at_shutdown_is_sent_before_the_process_stops(
    harness: BotHarness,
) -> None:
    """Regression: the app's shutdown closed the API client under an alert being sent."""
    operator = await _alert_in_flight(harness, 1.0)
    await harness.server.close()  # the app's cleanup runs now
    assert len(operator.late_messages()) == 1


async def test_shutdown_waits_for_work_in_flight_only_so_long(
    harness: BotHarness, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.app

    monkeypatch.setattr(bot.app, "STOP_WAIT_SECONDS", 0.2)
    await _alert_in_flight(harness, 5.0)
    with caplog.at_level(logging.WARNING, logger="bot"):
        await harness.server.close()
    abandoned = [r for r in caplog.records if r.getMessage() == "stop_work_abandoned"]
    assert [getattr(r, "fields", {}) for r in abandoned] == [{"feature": "inbox"}]
