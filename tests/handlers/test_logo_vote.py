"""The logo contest's public vote: listing, casting, limits, followers, exact counts."""

from __future__ import annotations

import asyncio
import os
from typing import Any
from xml.etree import ElementTree

import pytest
from sqlalchemy import func, select
from wechatpy.crypto import WeChatCrypto

from bot.kernel.message import Channel
from bot.xmlguard import check_xml
from storage import logo as store
from tests.conftest import AES_KEY, APP_ID, TOKEN, BotHarness, Chatter
from tests.handlers.logo_support import add_approved

approved = add_approved


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


async def test_the_platform_is_asked_outside_the_transaction(harness: BotHarness) -> None:
    # A slow platform: while it answers an unknown voter's follower check no database
    # connection is held, so the other voter (a known follower) is not kept waiting.
    (a,) = await approved(harness, "中原绿叶")
    harness.fake.delay_seconds["/cgi-bin/user/info"] = 1.0
    unknown, known = harness.user(), harness.user()
    await harness.send(known, known.event("subscribe"))
    pool = harness.bot.sessions.kw["bind"].sync_engine.pool
    slow = asyncio.create_task(harness.say(unknown, f"投票 {a}"))
    await asyncio.sleep(0.3)
    assert pool.checkedout() == 0  # the unknown voter waits for the platform, holding nothing
    started = asyncio.get_running_loop().time()
    assert "投票成功" in await harness.say(known, f"投票 {a}")
    assert asyncio.get_running_loop().time() - started < 0.6
    assert "投票成功" in await slow
    assert len(harness.fake.calls_to("/cgi-bin/user/info")) == 1
    assert await counts(harness) == {a: 2}


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


# -- 投票 as a news reply ([logo] vote_list = "news") ----------------------------------------


def news_items(user: Any, body: str) -> list[dict[str, str]]:
    """The articles of a WeChat news reply (decrypted when the reply is)."""
    fields = check_xml(body.encode())
    xml = body
    if "Encrypt" in fields:
        crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
        xml = crypto.decrypt_message(
            body, fields["MsgSignature"], fields["TimeStamp"], fields["Nonce"]
        )
    root = ElementTree.fromstring(xml)
    assert root.findtext("MsgType") == "news"
    items = [{child.tag: child.text or "" for child in item} for item in root.iter("item")]
    assert root.findtext("ArticleCount") == str(len(items))
    return items


async def approved_with_designs(harness: BotHarness, *titles: str) -> list[int]:
    numbers = []
    for seed, title in enumerate(titles):
        name = f"{seed:064x}.png"
        numbers += await approved(harness, title, image_hash=name[:64], image_path=name)
    return numbers


@pytest.mark.config(logo={"vote_list": "news"})
async def test_news_reply_is_one_cover_leading_to_the_gallery(harness: BotHarness) -> None:
    first, _second = await approved_with_designs(harness, "中原绿叶", "e起同心")
    user = harness.user()
    status, body = await harness.post(user, user.text("投票"))
    assert status == 200
    (cover,) = news_items(user, body)
    base = harness.bot.config.public_url
    assert cover["Title"] == "网络公益标识征集·入围作品（2件）"
    assert cover["Url"] == f"{base}/logo"
    assert cover["PicUrl"] == f"{base}/logo/media/{0:064x}.png"
    assert "回复【投票 编号】" in cover["Description"]
    assert f"投票 {first}" not in cover["Description"]


@pytest.mark.config(logo={"vote_list": "news"}, wechat={"news_reply_max_articles": 3})
async def test_more_articles_when_the_account_shows_them(harness: BotHarness) -> None:
    first, second, _third = await approved_with_designs(harness, "一", "二", "三")
    user = harness.user()
    _, body = await harness.post(user, user.text("投票"))
    cover, one, two = news_items(user, body)
    base = harness.bot.config.public_url
    assert cover["Url"] == f"{base}/logo"
    assert (one["Title"], one["Url"]) == (f"{first}号《一》", f"{base}/logo/{first}")
    assert one["PicUrl"] == f"{base}/logo/media/{0:064x}.png"
    assert (two["Title"], two["Url"]) == (f"{second}号《二》", f"{base}/logo/{second}")


@pytest.mark.config(logo={"vote_list": "news"})
async def test_news_reply_on_weibo(harness: BotHarness) -> None:
    await approved_with_designs(harness, "中原绿叶")
    fan = harness.chatter(Channel.WEIBO)  # type: ignore[attr-defined]
    reply = await fan.send(fan.user.text("投票"))
    assert reply["type"] == "articles"
    (item,) = reply["data"]["articles"]
    assert item["url"].endswith("/logo") and item["image"].endswith(f"{0:064x}.png")


@pytest.mark.config(logo={"vote_list": "news"})
async def test_news_mode_without_entries_says_so_in_text(chatter: Chatter) -> None:
    assert "还没有通过审核的入围作品" in await chatter.say("投票")


# -- integrity: rate limit, burst flags ----------------------------------------------------------


@pytest.mark.config(
    logo={"votes_per_minute": 3, "votes_per_day": 10, "votes_per_entry_per_day": 10}
)
async def test_vote_rate_limit_per_minute(chatter: Chatter, harness: BotHarness) -> None:
    (a,) = await approved(harness, "中原绿叶")
    harness.clock.set(harness.clock.now().replace(second=5))
    for _ in range(3):
        assert "投票成功" in await chatter.say(f"投票 {a}")
    reply = await chatter.say(f"投票 {a}")
    assert "投票太频繁" in reply and "每分钟最多尝试 3 次" in reply
    # Attempts count even when they fail: probing unknown numbers is limited too.
    assert "投票太频繁" in await chatter.say("投票 999")
    assert await counts(harness) == {a: 3}
    harness.clock.advance(minutes=1)
    assert "投票成功" in await chatter.say(f"投票 {a}")
    # Another user is not affected.
    other = harness.chatter(chatter.channel)  # type: ignore[attr-defined]
    assert "投票成功" in await other.say(f"投票 {a}")


@pytest.mark.config(
    logo={"votes_per_minute": 5, "votes_per_day": 50, "votes_per_entry_per_day": 50}
)
async def test_rate_limit_holds_under_concurrency(harness: BotHarness) -> None:
    """Twenty different messages of one user at once: the counter in SQL admits five."""
    (a,) = await approved(harness, "中原绿叶")
    harness.clock.set(harness.clock.now().replace(second=5))
    user = harness.user()
    results = await asyncio.gather(*(harness.post(user, user.text(f"投票 {a}")) for _ in range(20)))
    assert all(status == 200 for status, _ in results)
    await harness.drain()
    assert await counts(harness) == {a: 5}


async def follow_via_scene(
    harness: BotHarness, scene: str, n: int, channel: Channel
) -> list[Chatter]:
    fans = [harness.chatter(channel) for _ in range(n)]  # type: ignore[attr-defined]
    for fan in fans:
        await fan.event("subscribe", scene)
    return fans


async def flags(harness: BotHarness) -> list[tuple[str, int]]:
    async with harness.bot.sessions() as session:
        return [(f.scene, f.vote_count) for f in await store.list_flags(session)]


@pytest.mark.config(logo={"burst_threshold": 3, "burst_window_minutes": 10})
async def test_burst_from_one_qr_scene_is_flagged_not_blocked(
    chatter: Chatter, harness: BotHarness
) -> None:
    (a,) = await approved(harness, "中原绿叶")
    fans = await follow_via_scene(harness, "poster-7", 4, chatter.channel)
    for fan in fans[:2]:
        assert "投票成功" in await fan.say(f"投票 {a}")
    assert await flags(harness) == []
    for fan in fans[2:]:
        assert "投票成功" in await fan.say(f"投票 {a}")  # flagging never blocks
    assert await flags(harness) == [("poster-7", 4)]  # one flag, brought up to date
    # Votes of people without that scene, or who followed long ago, do not add up.
    assert "投票成功" in await chatter.say(f"投票 {a}")
    assert await flags(harness) == [("poster-7", 4)]
    assert await counts(harness) == {a: 5}


@pytest.mark.config(logo={"burst_threshold": 2, "burst_follower_hours": 24})
async def test_old_followers_of_a_scene_are_no_burst(harness: BotHarness) -> None:
    (a,) = await approved(harness, "中原绿叶")
    fans = await follow_via_scene(harness, "poster-8", 2, Channel.WECHAT)
    harness.clock.advance(hours=25)
    for fan in fans:
        assert "投票成功" in await fan.say(f"投票 {a}")
    assert await flags(harness) == []
