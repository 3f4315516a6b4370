"""Volunteer activities by message: 活动, 参加, 我的活动, 取消报名, 签到, through the webhook."""

from __future__ import annotations

import asyncio
import itertools
import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from bot.app import create_app
from bot.appkeys import DISPATCHER
from bot.kernel.message import Channel
from bot.simulate import reply_text, weibo_reply_text
from storage import activities as store
from storage.activities import Activity, Enrolment
from storage.volunteers import HoursEntry, Volunteer
from tests.conftest import (
    ACCOUNT,
    WEIBO_ACCOUNT,
    BotHarness,
    Chatter,
    WeChatChatter,
    WeiboChatter,
)

_phones = itertools.count(13600000000)


def _volunteer(harness: BotHarness, chatter: Chatter, city: str, name: str) -> Volunteer:
    bot, now = harness.bot, harness.clock.now()
    phone = str(next(_phones))
    return Volunteer(
        channel=chatter.channel.value,
        account=ACCOUNT if chatter.channel is Channel.WECHAT else WEIBO_ACCOUNT,
        user_id=chatter.user_id,
        name_enc=bot.cipher.encrypt(name),
        phone_enc=bot.cipher.encrypt(phone),
        phone_index=bot.cipher.blind_index(phone),
        city=city,
        district="",
        birth_year=1990,
        minor=False,
        guardian_enc=None,
        skills="宣传",
        availability="周末",
        created_at=now,
        updated_at=now,
    )


async def enlist(
    harness: BotHarness, chatter: Chatter, city: str = "郑州市", name: str = "张三"
) -> int:
    """Register ``chatter`` as a volunteer directly in the database; returns the id."""
    async with harness.bot.sessions() as session, session.begin():
        row = _volunteer(harness, chatter, city, name)
        session.add(row)
        await session.flush()
        return row.id


async def new_activity(
    harness: BotHarness,
    title: str = "社区网络安全宣传",
    *,
    starts_in: timedelta = timedelta(days=2),
    length: timedelta = timedelta(hours=3),
    city: str = "",
    capacity: int = 30,
    code: str = "AB12CD",
    hours: str = "3",
) -> Activity:
    """An activity starting ``starts_in`` from the harness clock."""
    now = harness.clock.now()
    async with harness.bot.sessions() as session, session.begin():
        return await store.add_activity(
            session,
            Activity(
                title=title,
                starts_at=now + starts_in,
                ends_at=now + starts_in + length,
                place="郑州市金水区文化路社区",
                city=city,
                hours=Decimal(hours),
                capacity=capacity,
                code=code,
                created_at=now,
            ),
        )


async def enrolled_count(harness: BotHarness, activity_id: int) -> tuple[int, int]:
    """(the counter, the enrolment rows) of an activity."""
    async with harness.bot.sessions() as session:
        counter = await session.scalar(select(Activity.enrolled).where(Activity.id == activity_id))
        rows = await session.scalar(
            select(func.count(Enrolment.id)).where(Enrolment.activity_id == activity_id)
        )
    return int(counter or 0), int(rows or 0)


async def ledger_rows(harness: BotHarness) -> list[tuple[int, Decimal, int | None, str]]:
    async with harness.bot.sessions() as session:
        result = await session.execute(
            select(
                HoursEntry.volunteer_id, HoursEntry.hours, HoursEntry.activity_id, HoursEntry.actor
            ).order_by(HoursEntry.id)
        )
        return [(v, Decimal(h), a, actor) for v, h, a, actor in result.all()]


async def say_thrice_at_once(chatter: Chatter, text: str) -> list[str]:
    """One message delivered three times concurrently (the platforms' retries)."""
    if isinstance(chatter, WeChatChatter):
        xml = chatter.user.text(text)
        results: list[Any] = await asyncio.gather(
            *(chatter.harness.post(chatter.user, xml) for _ in range(3))
        )
        return [reply_text(chatter.user.read_reply(body)) for _s, body in results if body]
    assert isinstance(chatter, WeiboChatter)
    push = chatter.user.text(text)
    results = await asyncio.gather(*(chatter.post(push) for _ in range(3)))
    assert all(status == 200 for status, _ in results)
    return [weibo_reply_text(chatter.user.read_reply(body)) for _s, body in results if body]


async def test_list_shows_own_city_and_all_city_activities(
    harness: BotHarness, chatter: Chatter
) -> None:
    assert "暂时没有可报名" in await chatter.say("活动")
    await enlist(harness, chatter, city="郑州市")
    mine = await new_activity(harness, "郑州站宣传", city="郑州市")
    other = await new_activity(harness, "洛阳站宣传", city="洛阳市", code="LY2026")
    everyone = await new_activity(harness, "线上绿色上网课堂", code="ONLINE")
    await new_activity(harness, "已结束的活动", starts_in=timedelta(days=-2), code="PAST")
    cancelled = await new_activity(harness, "取消的活动", code="GONE")
    async with harness.bot.sessions() as session, session.begin():
        await store.cancel(session, cancelled.id, "天气", harness.clock.now())

    listing = await chatter.say("活动")
    assert f"{mine.id}. 郑州站宣传" in listing and f"{everyone.id}. 线上绿色上网课堂" in listing
    assert "洛阳站宣传" not in listing and "已结束" not in listing and "取消的" not in listing
    assert "剩余名额：30/30" in listing and "（不限城市）" in listing and "（郑州市）" in listing
    assert "（周" in listing and "时长：3小时" in listing and f"参加 {mine.id}" in listing
    assert listing.index("郑州站宣传") < listing.index("线上绿色上网课堂")  # soonest first

    guest = harness.chatter(chatter.channel)  # type: ignore[attr-defined]
    shown = await guest.event("click", "ACTIVITIES")
    assert "郑州站宣传" in shown and "洛阳站宣传" in shown and f"{other.id}." in shown
    assert "志愿者报名" in shown


async def test_join_withdraw_and_my_activities(harness: BotHarness, chatter: Chatter) -> None:
    activity = await new_activity(harness, city="郑州市")
    assert "还不是志愿者" in await chatter.say(f"参加 {activity.id}")
    await enlist(harness, chatter)
    assert "还没有报名活动" in await chatter.say("我的活动")
    joined = await chatter.say(f"参加 {activity.id}")
    assert "报名成功" in joined and "剩余名额 29 个" in joined and "签到 签到码" in joined
    assert "无需重复报名" in await chatter.say(f"参加{activity.id}")
    assert await enrolled_count(harness, activity.id) == (1, 1)
    mine = await chatter.say("我的活动")
    assert f"{activity.id}. 社区网络安全宣传" in mine and "【已报名】" in mine
    assert "已取消报名" in await chatter.say(f"取消报名 {activity.id}")
    assert await enrolled_count(harness, activity.id) == (0, 0)
    assert "没有报名" in await chatter.say(f"退出活动 {activity.id}")
    # The freed place can be taken again.
    assert "报名成功" in await chatter.say(f"参加活动 {activity.id}")
    assert await enrolled_count(harness, activity.id) == (1, 1)


async def test_join_refusals_each_get_a_clear_reply(harness: BotHarness, chatter: Chatter) -> None:
    await enlist(harness, chatter)
    started = await new_activity(harness, "进行中", starts_in=timedelta(hours=-1), code="RUN1")
    gone = await new_activity(harness, "已取消", code="GONE1")
    full = await new_activity(harness, "只有一个名额", capacity=1, code="FULL1")
    async with harness.bot.sessions() as session, session.begin():
        await store.cancel(session, gone.id, "场地调整", harness.clock.now())
    first = harness.chatter(chatter.channel)  # type: ignore[attr-defined]
    await enlist(harness, first, name="李四")
    assert "报名成功" in await first.say(f"参加 {full.id}")

    assert "参加 活动编号" in await chatter.say("参加")
    assert "参加 活动编号" in await chatter.say("参加 abc")
    assert "参加 活动编号" in await chatter.say("参加 1; DROP TABLE activities")
    assert "没有找到 999 号活动" in await chatter.say("参加 999")
    assert "没有找到 99999999999 号活动" in await chatter.say("参加 99999999999")
    assert "没有找到" in await chatter.say("参加 " + "9" * 40)
    assert "已经开始或结束" in await chatter.say(f"参加 {started.id}")
    assert "已取消" in await chatter.say(f"参加 {gone.id}")
    assert "名额已满" in await chatter.say(f"参加 {full.id}")
    assert "取消报名 活动编号" in await chatter.say("取消报名 abc")
    assert await enrolled_count(harness, full.id) == (1, 1)


async def test_withdraw_after_the_start_is_refused(harness: BotHarness, chatter: Chatter) -> None:
    await enlist(harness, chatter)
    activity = await new_activity(harness)
    await chatter.say(f"参加 {activity.id}")
    harness.clock.advance(days=2, minutes=1)
    assert "已经开始，不能取消报名" in await chatter.say(f"取消报名 {activity.id}")
    assert await enrolled_count(harness, activity.id) == (1, 1)


async def test_check_in_window_credits_hours_once(harness: BotHarness, chatter: Chatter) -> None:
    vid = await enlist(harness, chatter)
    activity = await new_activity(harness, hours="2.5")
    await chatter.say(f"参加 {activity.id}")
    early = await chatter.say("签到 AB12CD")
    assert "签到将于" in early and "开始" in early
    harness.clock.advance(days=2, minutes=-31)
    assert "签到将于" in await chatter.say("签到 AB12CD")
    harness.clock.advance(minutes=2)  # 29 minutes before the start: the window is open
    done = await chatter.say("签到 ab12cd")  # codes are case-insensitive
    assert "签到成功" in done and "2.5 小时" in done and "累计时长 2.5 小时" in done
    assert "无需重复签到" in await chatter.say("签到 AB12CD")
    assert await ledger_rows(harness) == [(vid, Decimal("2.5"), activity.id, "checkin")]
    assert "【已签到】" in await chatter.say("我的活动")
    assert "2.5 小时" in await chatter.say("我的时长")


async def test_check_in_refusals_each_get_a_clear_reply(
    harness: BotHarness, chatter: Chatter
) -> None:
    assert "还不是志愿者" in await chatter.say("签到 AB12CD")
    await enlist(harness, chatter)
    mine = await new_activity(harness, "我报名的", starts_in=timedelta(minutes=10))
    other = await new_activity(harness, "没报名的", starts_in=timedelta(minutes=10), code="XY34")
    await chatter.say(f"参加 {mine.id}")
    assert "签到 签到码" in await chatter.say("签到")
    assert "4-8位" in await chatter.say("签到 '; DROP TABLE activities; --")
    assert "4-8位" in await chatter.say("签到 " + "A" * 500)
    assert "4-8位" in await chatter.say("签到 😀😀😀😀")
    assert "签到码不正确" in await chatter.say("签到 ZZZZ")
    not_enrolled = await chatter.say("签到 xy34")
    assert "没有报名" in not_enrolled and f"参加 {other.id}" in not_enrolled
    harness.clock.advance(minutes=11)  # started: too late to join, so no invitation to
    assert f"参加 {other.id}" not in (await chatter.say("签到 XY34"))
    harness.clock.advance(hours=3)
    assert "已于" in (late := await chatter.say("签到 AB12CD")) and "结束" in late
    assert await ledger_rows(harness) == []


async def test_cancelled_activity_cannot_be_checked_in(
    harness: BotHarness, chatter: Chatter
) -> None:
    await enlist(harness, chatter)
    activity = await new_activity(harness, starts_in=timedelta(minutes=5))
    await chatter.say(f"参加 {activity.id}")
    async with harness.bot.sessions() as session, session.begin():
        await store.cancel(session, activity.id, "暴雨", harness.clock.now())
    assert "已取消" in await chatter.say("签到 AB12CD")
    assert "【活动已取消】" in await chatter.say("我的活动")
    assert await ledger_rows(harness) == []


async def test_same_check_in_retried_three_times_concurrently_credits_once(
    harness: BotHarness, chatter: Chatter
) -> None:
    vid = await enlist(harness, chatter)
    activity = await new_activity(harness, starts_in=timedelta(minutes=5))
    await chatter.say(f"参加 {activity.id}")
    replies = await say_thrice_at_once(chatter, "签到 AB12CD")
    assert replies and all("签到成功" in r for r in replies)
    # Two different messages racing each other: still one check-in and one credit.
    second, third = await asyncio.gather(chatter.say("签到 AB12CD"), chatter.say("签到 AB12CD"))
    assert "无需重复签到" in second and "无需重复签到" in third
    assert await ledger_rows(harness) == [(vid, Decimal(3), activity.id, "checkin")]
    async with harness.bot.sessions() as session:
        stamped = await session.scalar(
            select(func.count(Enrolment.id)).where(Enrolment.checked_in_at.is_not(None))
        )
    assert stamped == 1


async def crowd_joins(harness: BotHarness, users_n: int, capacity: int) -> tuple[int, int]:
    """``users_n`` volunteers send 参加 at once, half to a second app instance (a second
    worker process on the same database), every message delivered three times; returns how
    many were told they got in and how many that it was full."""
    activity = await new_activity(harness, capacity=capacity)
    users = [harness.user() for _ in range(users_n)]
    async with harness.bot.sessions() as session, session.begin():
        session.add_all(
            _volunteer(harness, WeChatChatter(harness, u), "郑州市", "张三") for u in users
        )
    second = create_app(harness.bot.config, clock=harness.clock, migrate=False)
    server = TestServer(second, host="127.0.0.1")
    await server.start_server()

    async def send(user: Any, url: str, xml: str) -> str:
        req = user.request(xml)
        async with harness.http.post(url, params=req.query, data=req.body) as resp:
            assert resp.status == 200
            body = await resp.text()
        return reply_text(user.read_reply(body)) if body else ""

    try:
        jobs = []
        for i, user in enumerate(users):
            url = harness.url if i % 2 else str(server.make_url("/wechat"))
            xml = user.text(f"参加 {activity.id}")
            jobs += [send(user, url, xml) for _ in range(3)]
        replies = await asyncio.gather(*jobs)
        await harness.drain()
        await second[DISPATCHER].drain()
    finally:
        await server.close()
    assert await enrolled_count(harness, activity.id) == (capacity, capacity)
    # On a loaded machine some answers miss the deadline and go out by customer-service message.
    late = [
        " ".join(m["text"]["content"] for m in harness.fake.sent_to(u.openid) if "text" in m)
        for u in users
    ]
    by_user = [" ".join([*replies[i * 3 : i * 3 + 3], late[i]]) for i in range(users_n)]
    return sum("报名成功" in r for r in by_user), sum("名额已满" in r for r in by_user)


async def test_capacity_holds_when_more_join_at_once_than_there_are_places(
    harness: BotHarness,
) -> None:
    assert await crowd_joins(harness, users_n=12, capacity=5) == (5, 7)


@pytest.mark.slow
async def test_capacity_holds_for_a_crowd(harness: BotHarness) -> None:
    users_n = 150 if os.environ.get("BOT_LOAD_SCALE") == "short" else 600
    capacity = users_n // 3
    assert await crowd_joins(harness, users_n, capacity) == (capacity, users_n - capacity)


async def test_erased_volunteer_enrolment_stays_anonymous(
    harness: BotHarness, chatter: Chatter
) -> None:
    vid = await enlist(harness, chatter)
    activity = await new_activity(harness, starts_in=timedelta(minutes=5))
    later = await new_activity(harness, "下周的活动", starts_in=timedelta(days=7), code="NEXT1")
    await chatter.say(f"参加 {activity.id}")
    await chatter.say(f"参加 {later.id}")
    await chatter.say("签到 AB12CD")
    await chatter.say("注销志愿者")
    assert "已删除" in await chatter.say("确认注销")
    # The place in the activity to come is freed; the attended one stays, anonymous.
    assert await enrolled_count(harness, later.id) == (0, 0)
    assert await enrolled_count(harness, activity.id) == (1, 1)
    assert "还不是志愿者" in await chatter.say("我的活动")
    async with harness.bot.sessions() as session:
        rows = await store.roster(session, activity.id)
    assert [(e.volunteer_id, v.name_enc, v.user_id) for e, v in rows] == [
        (vid, "", f"erased:{vid}")
    ]
    assert await ledger_rows(harness) == [(vid, Decimal(3), activity.id, "checkin")]


async def test_activity_times_are_shown_in_shanghai_time(
    harness: BotHarness, chatter: Chatter
) -> None:
    from bot.kernel.clock import SHANGHAI

    harness.clock.set(datetime(2026, 12, 1, 2, 0, tzinfo=SHANGHAI).astimezone(UTC))
    await enlist(harness, chatter)
    start = datetime(2026, 12, 5, 9, 0, tzinfo=SHANGHAI) - harness.clock.now()
    await new_activity(harness, starts_in=start, length=timedelta(hours=3))
    await new_activity(
        harness, "两天的活动", starts_in=start, length=timedelta(days=1), code="TWODAY"
    )
    listing = await chatter.say("活动")
    assert "12月5日（周六）09:00-12:00" in listing
    assert "12月5日（周六）09:00 至 12月6日（周日）09:00" in listing
