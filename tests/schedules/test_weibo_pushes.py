"""Scheduled posts on Weibo through statuses/share against the fake Weibo API on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from bot.app import build_context, close_context
from bot.config import Config
from bot.kernel.clock import FakeClock
from bot.kernel.context import BotContext
from bot.sandbox import FakeWeChatAPI
from bot.sandbox_weibo import FakeWeiboAPI
from schedules.outbox import run_due
from storage.schedules import OutboxItem
from tests.conftest import make_config
from tests.schedules.test_outbox import add, shanghai

SHARE = "/2/statuses/share.json"
SENDALL = "/cgi-bin/message/mass/sendall"
WEIBO_TOKEN = "weibo-test-token"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2027, 1, 10, 4, 0, tzinfo=UTC))


@pytest.fixture
async def fake_weibo() -> AsyncIterator[FakeWeiboAPI]:
    fake = FakeWeiboAPI(WEIBO_TOKEN)
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    fake.base_url = str(server.make_url("")).rstrip("/")  # type: ignore[attr-defined]
    yield fake
    await server.close()


@pytest.fixture
def bot_config(
    db_url: str, tmp_path: Path, fake_wechat: FakeWeChatAPI, fake_weibo: FakeWeiboAPI
) -> Config:
    """Both channels on loopback fakes; Weibo posts at least 60 s apart."""
    return make_config(
        db_url,
        tmp_path,
        fake_wechat.base_url,  # type: ignore[attr-defined]
        weibo={
            "api_base_url": fake_weibo.base_url,  # type: ignore[attr-defined]
            "access_token": WEIBO_TOKEN,
            "api_backoff_seconds": 0.01,
            "post_interval_seconds": 60,
        },
        schedules={"max_attempts": 2, "backoff_seconds": 30},
    )


async def rows(bot: BotContext) -> list[OutboxItem]:
    async with bot.sessions() as session:
        return list((await session.execute(select(OutboxItem).order_by(OutboxItem.id))).scalars())


async def test_post_goes_to_wechat_and_weibo_with_the_link(
    bot_context: BotContext,
    fake_wechat: FakeWeChatAPI,
    fake_weibo: FakeWeiboAPI,
    clock: FakeClock,
) -> None:
    await add(
        bot_context,
        key_date="charity_day",
        time_of_day="10:00",
        channels=["wechat", "weibo"],
        link="https://e.example.cn/charity",
    )
    clock.set(shanghai(2027, 9, 5, 10, 0))
    report = await run_due(bot_context)
    assert report.sent == 2
    [post] = fake_weibo.posts
    assert post["text"] == "2027年中华慈善日，一起做公益！ https://e.example.cn/charity"
    assert len(fake_wechat.calls_to(SENDALL)) == 1
    weibo_row = next(r for r in await rows(bot_context) if r.channel == "weibo")
    assert weibo_row.status == "sent" and weibo_row.platform_id == post["idstr"]
    clock.advance(3600)
    await run_due(bot_context)
    assert len(fake_weibo.posts) == 1


async def test_image_post_uploads_the_picture(
    bot_context: BotContext, fake_weibo: FakeWeiboAPI, clock: FakeClock, tmp_path: Path
) -> None:
    pic = tmp_path / "poster.jpg"
    pic.write_bytes(b"\xff\xd8\xff" + b"1" * 500)
    await add(
        bot_context,
        kind="image",
        body={"image": str(pic), "text": "{festival}快乐"},
        key_date="lantern_festival",
        time_of_day="19:00",
        channels=["weibo"],
        link="https://e.example.cn/yx",
    )
    clock.set(shanghai(2027, 2, 20, 19, 0))
    assert (await run_due(bot_context)).sent == 1
    [post] = fake_weibo.posts
    assert post["text"] == "元宵节快乐 https://e.example.cn/yx"
    assert post["pic_size"] == 503


async def test_weibo_posts_are_spaced_across_processes(
    bot_context: BotContext, bot_config: Config, fake_weibo: FakeWeiboAPI, clock: FakeClock
) -> None:
    for minute in (0, 1):
        await add(
            bot_context,
            at=shanghai(2027, 2, 1, 10, minute),
            channels=["weibo"],
            link="https://e.example.cn",
        )
    clock.set(shanghai(2027, 2, 1, 10, 1, 30))
    report = await run_due(bot_context)
    assert (report.sent, report.deferred) == (1, 1)
    clock.advance(59)
    assert (await run_due(bot_context)).deferred == 1
    clock.advance(1)
    other = build_context(bot_config, clock)  # another scheduler process takes over
    try:
        assert (await run_due(other)).sent == 1
    finally:
        await close_context(other)
    assert len(fake_weibo.posts) == 2


async def test_weibo_errors_retry_then_fail_visibly(
    bot_context: BotContext, fake_weibo: FakeWeiboAPI, clock: FakeClock
) -> None:
    await add(
        bot_context, at=shanghai(2027, 2, 1, 10, 0), channels=["weibo"], link="https://e.example.cn"
    )
    fake_weibo.inject(SHARE, 20019, times=5)  # "repeat content"
    clock.set(shanghai(2027, 2, 1, 10, 0))
    assert (await run_due(bot_context)).retried == 1
    clock.advance(30)
    assert (await run_due(bot_context)).failed == 1
    [row] = await rows(bot_context)
    assert row.status == "failed" and "20019" in (row.error or "")
    assert fake_weibo.posts == []


async def test_too_long_weibo_status_is_refused_at_add(bot_context: BotContext) -> None:
    from schedules.posts import PostError

    with pytest.raises(PostError, match="at most 140"):
        await add(
            bot_context,
            body={"text": "公益" * 60 + "{festival}"},
            at=shanghai(2027, 2, 1, 10, 0),
            channels=["weibo"],
            link="https://e.example.cn/a-long-campaign-page",
        )
