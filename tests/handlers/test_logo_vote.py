"""The logo contest's public vote: listing, casting, limits, followers, exact counts."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from sqlalchemy import func, select

from storage import logo as store
from tests.conftest import BotHarness, Chatter


async def approved(harness: BotHarness, *titles: str) -> list[int]:
    """Insert approved entries; returns their numbers."""
    now = harness.clock.now()
    async with harness.bot.sessions() as session, session.begin():
        entries = [
            await store.add_entry(
                session, channel="wechat", user_id="author", title=t, now=now, status="approved"
            )
            for t in titles
        ]
        return [e.id for e in entries]


async def counts(harness: BotHarness) -> dict[int, int]:
    async with harness.bot.sessions() as session:
        return {n: c for n, _t, c in await store.ranking(session)}


async def test_no_entries_yet(chatter: Chatter, harness: BotHarness) -> None:
    assert "还没有通过审核的入围作品" in await chatter.say("投票")


async def test_list_vote_and_my_votes(chatter: Chatter, harness: BotHarness) -> None:
    a, b = await approved(harness, "中原绿叶", "e起同心")
    listing = await chatter.say("投票")
    assert f"{a}号《中原绿叶》" in listing and f"{b}号《e起同心》" in listing
    assert "每人每天可投 3 票" in listing
    reply = await chatter.say(f"投票 {a}")
    assert "投票成功" in reply and "还可以再投 2 票" in reply
    assert await counts(harness) == {a: 1, b: 0}
    mine = await chatter.say("我的投票")
    assert f"{a}号《中原绿叶》" in mine and "还可以再投 2 票" in mine


async def test_entry_and_day_limits(chatter: Chatter, harness: BotHarness) -> None:
    a, b, c, d = await approved(harness, "一", "二", "三", "四")
    assert "投票成功" in await chatter.say(f"投票{a}")
    assert f"已经为 {a} 号作品投过 1 票" in await chatter.say(f"投票 {a}")
    assert "投票成功" in await chatter.say(f"投票 {b}")
    assert "投票成功" in await chatter.say(f"投票 {c}")
    assert "今天的 3 票已经投完了" in await chatter.say(f"投票 {d}")
    assert await counts(harness) == {a: 1, b: 1, c: 1, d: 0}
    # A new Asia/Shanghai day brings new votes.
    harness.clock.advance(hours=24)
    assert "投票成功" in await chatter.say(f"投票 {d}")
    assert (await counts(harness))[d] == 1


async def test_unknown_or_unapproved_entry_is_explained(
    chatter: Chatter, harness: BotHarness
) -> None:
    now = harness.clock.now()
    async with harness.bot.sessions() as session, session.begin():
        pending = await store.add_entry(
            session, channel="wechat", user_id="x", title="待审", now=now
        )
    assert f"没有找到 {pending.id} 号入围作品" in await chatter.say(f"投票 {pending.id}")
    assert "没有找到 999 号入围作品" in await chatter.say("投票 999")


async def test_unfollowed_users_cannot_vote(chatter: Chatter, harness: BotHarness) -> None:
    (a,) = await approved(harness, "中原绿叶")
    await chatter.event("subscribe")
    await chatter.event("unsubscribe")
    assert "只有关注本服务号的用户才能投票" in await chatter.say(f"投票 {a}")
    assert await counts(harness) == {a: 0}


async def test_unknown_user_checked_with_the_platform(harness: BotHarness) -> None:
    (a,) = await approved(harness, "中原绿叶")
    gone = harness.user()
    harness.fake.followers[gone.openid] = False
    assert "只有关注本服务号" in await harness.say(gone, f"投票 {a}")
    stays = harness.user()
    assert "投票成功" in await harness.say(stays, f"投票 {a}")
    assert await counts(harness) == {a: 1}


@pytest.mark.slow
async def test_thousand_users_each_request_three_times_count_exactly(
    harness: BotHarness,
) -> None:
    users_n = 200 if os.environ.get("BOT_LOAD_SCALE") == "short" else 1000
    entries = await approved(harness, "一", "二", "三", "四", "五")
    users = [harness.user() for _ in range(users_n)]
    expected = {e: 0 for e in entries}
    jobs: list[Any] = []
    for i, user in enumerate(users):
        entry = entries[i % len(entries)]
        expected[entry] += 1
        xml = user.text(f"投票 {entry}")  # one MsgId: the platform's retries resend this body
        jobs += [harness.post(user, xml) for _ in range(3)]
    results = await asyncio.gather(*jobs)
    assert all(status == 200 for status, _ in results)
    await harness.drain()
    assert await counts(harness) == expected
    async with harness.bot.sessions() as session:
        total = await session.scalar(select(func.count(store.LogoVote.id)))
    assert total == users_n
