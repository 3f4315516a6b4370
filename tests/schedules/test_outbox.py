"""Scheduled pushes against the fake WeChat API with a controlled clock: on time, never twice."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.app import build_context, close_context
from bot.config import Config
from bot.kernel.clock import FakeClock, as_utc
from bot.kernel.context import BotContext
from bot.sandbox import FakeWeChatAPI
from schedules.outbox import claim, run_due
from schedules.posts import PostError
from schedules.service import PostSpec, add_post, rules_of
from storage.schedules import CampaignPost, OutboxItem
from tests.conftest import make_config

SENDALL = "/cgi-bin/message/mass/sendall"


@pytest.fixture
def clock() -> FakeClock:
    """2027-01-10 12:00 Shanghai, before the 2027 key dates."""
    return FakeClock(datetime(2027, 1, 10, 4, 0, tzinfo=UTC))


@pytest.fixture
def bot_config(db_url: str, tmp_path: Path, fake_wechat: FakeWeChatAPI) -> Config:
    """Short backoffs; three attempts."""
    return make_config(
        db_url,
        tmp_path,
        fake_wechat.base_url,  # type: ignore[attr-defined]
        schedules={"max_attempts": 3, "backoff_seconds": 60, "misfire_grace_seconds": 3600},
    )


def shanghai(*args: int) -> datetime:
    """A Shanghai wall-clock time as aware UTC."""
    from zoneinfo import ZoneInfo

    return datetime(*args, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)  # type: ignore[misc]


async def add(bot: BotContext, **kw: Any) -> CampaignPost:
    """Store a post through the same function `schedule add` uses."""
    spec = PostSpec(
        label=kw.pop("label", "test"),
        kind=kw.pop("kind", "text"),
        body=kw.pop("body", {"text": "{year}年{festival}，一起做公益！"}),
        channels=kw.pop("channels", ["wechat"]),
        **kw,
    )
    async with bot.sessions() as session, session.begin():
        return await add_post(session, spec, rules_of(bot), bot.clock.now())


async def rows(bot: BotContext) -> list[OutboxItem]:
    async with bot.sessions() as session:
        return list((await session.execute(select(OutboxItem).order_by(OutboxItem.id))).scalars())


@pytest.fixture
async def second_bot(bot_config: Config, clock: FakeClock) -> AsyncIterator[BotContext]:
    """Another process on the same database (its own engine and API client)."""
    other = build_context(bot_config, clock)
    yield other
    await close_context(other)


async def test_yearly_key_date_post_goes_out_once_on_time(
    bot_context: BotContext, fake_wechat: FakeWeChatAPI, clock: FakeClock
) -> None:
    await add(bot_context, key_date="lei_feng_day", time_of_day="09:00")
    clock.set(shanghai(2027, 3, 5, 8, 59))
    await run_due(bot_context)
    assert fake_wechat.calls_to(SENDALL) == []
    clock.set(shanghai(2027, 3, 5, 9, 0, 30))
    report = await run_due(bot_context)
    assert report.sent == 1
    [call] = fake_wechat.calls_to(SENDALL)
    assert call.body["filter"] == {"is_to_all": True}
    assert call.body["text"]["content"] == "2027年学雷锋日，一起做公益！"
    clock.advance(600)
    await run_due(bot_context)
    assert len(fake_wechat.calls_to(SENDALL)) == 1
    [row] = await rows(bot_context)
    assert (row.status, row.attempts) == ("sent", 1)
    assert row.platform_id and row.platform_id.isdigit()


async def test_lunar_post_follows_the_festival_each_year(
    bot_context: BotContext, fake_wechat: FakeWeChatAPI, clock: FakeClock
) -> None:
    await add(bot_context, key_date="mid_autumn_festival", time_of_day="20:00", tag_id=7)
    for day in (shanghai(2027, 9, 15, 20, 0), shanghai(2028, 10, 3, 20, 0)):
        clock.set(day - timedelta(minutes=1))
        await run_due(bot_context)
        clock.set(day)
        await run_due(bot_context)
    calls = fake_wechat.calls_to(SENDALL)
    assert [c.body["text"]["content"] for c in calls] == [
        "2027年中秋节，一起做公益！",
        "2028年中秋节，一起做公益！",
    ]
    assert calls[0].body["filter"] == {"is_to_all": False, "tag_id": 7}


async def test_two_schedulers_at_once_send_once(
    bot_context: BotContext, second_bot: BotContext, fake_wechat: FakeWeChatAPI, clock: FakeClock
) -> None:
    await add(bot_context, at=shanghai(2027, 2, 1, 10, 0))
    clock.set(shanghai(2027, 2, 1, 10, 0))
    reports = await asyncio.gather(*(run_due(b) for b in (bot_context, second_bot) * 3))
    assert sum(r.sent for r in reports) == 1
    assert len(fake_wechat.calls_to(SENDALL)) == 1
    assert len(await rows(bot_context)) == 1


async def test_restart_after_platform_accepted_does_not_send_twice(
    bot_context: BotContext, second_bot: BotContext, fake_wechat: FakeWeChatAPI, clock: FakeClock
) -> None:
    await add(bot_context, at=shanghai(2027, 2, 1, 10, 0))
    clock.set(shanghai(2027, 2, 1, 10, 0))
    await run_due(bot_context)
    # The process "died" after WeChat accepted the send but before recording it.
    async with bot_context.sessions() as session, session.begin():
        await session.execute(update(OutboxItem).values(status="sending", platform_id=None))
    clock.advance(60)
    await run_due(second_bot)  # not stale yet: left alone
    assert (await rows(second_bot))[0].status == "sending"
    clock.advance(bot_context.config.schedules.stale_sending_seconds)
    report = await run_due(second_bot)
    assert report.reconciled == 1
    [row] = await rows(second_bot)
    assert row.status == "sent"
    assert "already sent" in (row.error or "")
    assert len(fake_wechat.calls_to(SENDALL)) == 1  # the repeat was refused by clientmsgid


async def test_restart_before_the_platform_got_it_sends_once(
    bot_context: BotContext, fake_wechat: FakeWeChatAPI, clock: FakeClock
) -> None:
    await add(bot_context, at=shanghai(2027, 2, 1, 10, 0))
    clock.set(shanghai(2027, 2, 1, 10, 0))
    await run_due(bot_context)
    fake_wechat.calls.clear()
    fake_wechat.mass_client_ids.clear()  # as if the request never reached WeChat
    async with bot_context.sessions() as session, session.begin():
        await session.execute(update(OutboxItem).values(status="sending"))
    clock.advance(3600)
    await run_due(bot_context)
    assert len(fake_wechat.calls_to(SENDALL)) == 1
    assert (await rows(bot_context))[0].status == "sent"


async def test_weibo_row_interrupted_mid_send_is_not_resent(
    bot_context: BotContext, clock: FakeClock
) -> None:
    await add(
        bot_context,
        at=shanghai(2027, 2, 1, 10, 0),
        channels=["weibo"],
        link="https://e.example.cn/a",
    )
    clock.set(shanghai(2027, 2, 1, 10, 0))
    async with bot_context.sessions() as session, session.begin():
        from schedules.outbox import RunReport, materialize

        await materialize(bot_context, RunReport())
    [row] = await rows(bot_context)
    assert await claim(bot_context, row.id)  # then the process dies
    clock.advance(3600)
    report = await run_due(bot_context)
    assert report.reconciled == 1 and report.sent == 0
    [row] = await rows(bot_context)
    assert row.status == "unknown"
    assert "not re-sent" in (row.error or "")


async def test_api_errors_retry_with_backoff_then_fail(
    bot_context: BotContext, fake_wechat: FakeWeChatAPI, clock: FakeClock
) -> None:
    await add(bot_context, at=shanghai(2027, 2, 1, 10, 0))
    fake_wechat.inject(SENDALL, 45028, times=5)  # "has no masssend quota"
    clock.set(shanghai(2027, 2, 1, 10, 0))
    assert (await run_due(bot_context)).retried == 1
    [row] = await rows(bot_context)
    assert row.status == "pending" and "45028" in (row.error or "")
    assert as_utc(row.next_attempt_at) == clock.now() + timedelta(seconds=60)
    clock.advance(59)
    assert (await run_due(bot_context)).retried == 0  # not yet
    clock.advance(1)
    assert (await run_due(bot_context)).retried == 1
    clock.advance(120)
    report = await run_due(bot_context)
    assert report.failed == 1
    [row] = await rows(bot_context)
    assert (row.status, row.attempts) == ("failed", 3)
    assert fake_wechat.calls_to(SENDALL) == []


async def test_retry_succeeds_after_a_transient_error(
    bot_context: BotContext, fake_wechat: FakeWeChatAPI, clock: FakeClock
) -> None:
    await add(bot_context, at=shanghai(2027, 2, 1, 10, 0))
    fake_wechat.inject(SENDALL, 40007, times=1)
    clock.set(shanghai(2027, 2, 1, 10, 0))
    await run_due(bot_context)
    clock.advance(60)
    assert (await run_due(bot_context)).sent == 1
    assert (await rows(bot_context))[0].status == "sent"


async def test_post_missed_beyond_grace_is_marked_not_sent(
    bot_context: BotContext, fake_wechat: FakeWeChatAPI, clock: FakeClock
) -> None:
    await add(bot_context, at=shanghai(2027, 2, 1, 10, 0))
    clock.set(shanghai(2027, 2, 1, 11, 30))  # the scheduler was down for 90 minutes
    report = await run_due(bot_context)
    assert report.missed == 1 and report.sent == 0
    assert (await rows(bot_context))[0].status == "missed"
    assert fake_wechat.calls_to(SENDALL) == []


async def test_late_within_grace_still_goes_out(
    bot_context: BotContext, fake_wechat: FakeWeChatAPI, clock: FakeClock
) -> None:
    await add(bot_context, at=shanghai(2027, 2, 1, 10, 0))
    clock.set(shanghai(2027, 2, 1, 10, 45))  # restarted 45 minutes late
    assert (await run_due(bot_context)).sent == 1


async def test_preview_goes_to_operators_before_the_send(
    bot_context: BotContext, fake_wechat: FakeWeChatAPI, clock: FakeClock
) -> None:
    await add(
        bot_context,
        key_date="spring_festival",
        time_of_day="08:00",
        preview_to=["op-1", "op-2"],
        preview_minutes=120,
    )
    clock.set(shanghai(2027, 2, 6, 5, 59))
    await run_due(bot_context)
    assert fake_wechat.calls_to("/cgi-bin/message/mass/preview") == []
    clock.set(shanghai(2027, 2, 6, 6, 0))
    await run_due(bot_context)
    previews = fake_wechat.calls_to("/cgi-bin/message/mass/preview")
    assert [p.body["touser"] for p in previews] == ["op-1", "op-2"]
    assert previews[0].body["text"]["content"] == "2027年春节，一起做公益！"
    assert fake_wechat.calls_to(SENDALL) == []
    clock.set(shanghai(2027, 2, 6, 8, 0))
    await run_due(bot_context)
    assert len(fake_wechat.calls_to(SENDALL)) == 1
    assert len(fake_wechat.calls_to("/cgi-bin/message/mass/preview")) == 2


async def test_news_post_uploads_cover_and_articles(
    bot_context: BotContext, fake_wechat: FakeWeChatAPI, clock: FakeClock, tmp_path: Path
) -> None:
    cover = tmp_path / "cover.jpg"
    cover.write_bytes(b"\xff\xd8\xff" + b"0" * 100)
    article = {
        "title": "{festival}倡议",
        "digest": "{date}",
        "cover": str(cover),
        "link": "https://e.example.cn/1",
    }
    await add(
        bot_context,
        kind="news",
        body={"articles": [article]},
        key_date="volunteer_day",
        time_of_day="10:00",
    )
    clock.set(shanghai(2027, 12, 5, 10, 0))
    assert (await run_due(bot_context)).sent == 1
    [upload] = fake_wechat.calls_to("/cgi-bin/media/upload")
    assert upload.body["type"] == "thumb"
    [news] = fake_wechat.calls_to("/cgi-bin/media/uploadnews")
    assert news.body["articles"][0]["title"] == "国际志愿者日倡议"
    assert news.body["articles"][0]["digest"] == "2027-12-05"
    [send] = fake_wechat.calls_to(SENDALL)
    assert send.body["msgtype"] == "mpnews" and send.body["mpnews"]["media_id"].startswith("news-")


async def test_cancelled_post_sends_nothing(
    bot_context: BotContext, fake_wechat: FakeWeChatAPI, clock: FakeClock
) -> None:
    from schedules.service import cancel_post

    post = await add(bot_context, at=shanghai(2027, 2, 1, 10, 0))
    async with bot_context.sessions() as session, session.begin():
        assert await cancel_post(session, post.id)
    clock.set(shanghai(2027, 2, 1, 10, 0))
    await run_due(bot_context)
    assert fake_wechat.calls_to(SENDALL) == []


async def test_quota_subscription_one_a_day_refused_naming_the_conflict(
    bot_context: BotContext, clock: FakeClock
) -> None:
    first = await add(bot_context, label="雷锋日推送", key_date="lei_feng_day", time_of_day="09:00")
    with pytest.raises(PostError) as err:
        await add(bot_context, at=shanghai(2027, 3, 5, 20, 0))
    message = str(err.value)
    assert "1 a day" in message and f"post {first.id}" in message and "雷锋日推送" in message
    assert "2027-03-05 09:00" in message
    # Another day, or Weibo only, is fine.
    await add(bot_context, at=shanghai(2027, 3, 6, 9, 0))
    await add(
        bot_context, at=shanghai(2027, 3, 5, 20, 0), channels=["weibo"], link="https://e.example.cn"
    )


async def test_quota_service_account_four_a_month(
    db_url: str, tmp_path: Path, fake_wechat: FakeWeChatAPI, clock: FakeClock
) -> None:
    config = make_config(
        db_url, tmp_path, fake_wechat.base_url, schedules={"account_type": "service"}
    )  # type: ignore[attr-defined]
    bot = build_context(config, clock)
    try:
        for day in (1, 2, 3, 4):
            await add(bot, at=shanghai(2027, 2, day, 9, 0))
        with pytest.raises(PostError, match="4 a month"):
            await add(bot, at=shanghai(2027, 2, 20, 9, 0))
        await add(bot, at=shanghai(2027, 3, 1, 9, 0))
    finally:
        await close_context(bot)


async def test_quota_override(
    db_url: str, tmp_path: Path, fake_wechat: FakeWeChatAPI, clock: FakeClock
) -> None:
    config = make_config(db_url, tmp_path, fake_wechat.base_url, schedules={"mass_quota": 2})  # type: ignore[attr-defined]
    bot = build_context(config, clock)
    try:
        await add(bot, at=shanghai(2027, 2, 1, 9, 0))
        await add(bot, at=shanghai(2027, 2, 1, 12, 0))
        with pytest.raises(PostError, match="2 a day"):
            await add(bot, at=shanghai(2027, 2, 1, 18, 0))
    finally:
        await close_context(bot)


@pytest.mark.parametrize(
    ("text", "problem"),
    [("{name}你好", "unknown placeholder {name}"), ("{year", "bad braces"), ("", "empty")],
)
async def test_bad_text_refused_at_add(bot_context: BotContext, text: str, problem: str) -> None:
    with pytest.raises(PostError, match=problem.replace("{", r"\{").replace("}", r"\}")):
        await add(bot_context, body={"text": text}, at=shanghai(2027, 2, 1, 9, 0))


async def test_weibo_needs_a_link_and_schedule_must_be_valid(bot_context: BotContext) -> None:
    with pytest.raises(PostError, match="requires a link"):
        await add(bot_context, channels=["weibo"], at=shanghai(2027, 2, 1, 9, 0))
    with pytest.raises(PostError, match="unknown key date"):
        await add(bot_context, key_date="labour_day", time_of_day="09:00")
    with pytest.raises(PostError, match="HH:MM"):
        await add(bot_context, key_date="charity_day", time_of_day="9点")
    with pytest.raises(PostError, match="in the past"):
        await add(bot_context, at=shanghai(2026, 1, 1, 9, 0))


async def test_mass_send_finished_event_is_recorded(harness: Any, clock: FakeClock) -> None:
    bot = harness.bot
    await add(bot, at=shanghai(2027, 2, 1, 10, 0))
    clock.set(shanghai(2027, 2, 1, 10, 0))
    await run_due(bot)
    [row] = await rows(bot)
    user = harness.user()
    reply = await harness.send(
        user,
        user.event(
            "MASSSENDJOBFINISH",
            MsgID=row.platform_id,
            Status="send success",
            TotalCount="100",
            FilterCount="80",
            SentCount="75",
            ErrorCount="5",
        ),
    )
    assert not reply.get("Content")
    [row] = await rows(bot)
    assert json.loads(row.report or "{}") == {
        "MsgID": row.platform_id,
        "Status": "send success",
        "TotalCount": "100",
        "FilterCount": "80",
        "SentCount": "75",
        "ErrorCount": "5",
    }


async def test_channel_without_a_client_fails_clearly(
    bot_context: BotContext, clock: FakeClock
) -> None:
    from bot.kernel.message import Channel

    bot_context.clients.pop(Channel.WEIBO, None)
    await add(
        bot_context, at=shanghai(2027, 2, 1, 10, 0), channels=["weibo"], link="https://e.example.cn"
    )
    clock.set(shanghai(2027, 2, 1, 10, 0))
    report = await run_due(bot_context)
    assert report.failed == 1
    [row] = await rows(bot_context)
    assert row.status == "failed" and "weibo is not configured" in (row.error or "")
