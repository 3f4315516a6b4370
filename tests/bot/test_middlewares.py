"""Middlewares around dispatch, over real HTTP: pending notices shown (never silently marked
delivered), retries outside the rate limit."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from bot.appkeys import DISPATCHER
from bot.kernel.message import Article, Channel, Reply
from handlers.context import Ctx
from handlers.router import Router, Text
from storage.models import Notice
from tests.conftest import ACCOUNT, WEIBO_ACCOUNT, BotHarness, Chatter

NOTICE = "您的作品已通过审核"


def _news_router() -> Router:
    """A handler answering with a news reply, which cannot carry a notice in front."""
    router = Router("test_news")

    @router.on(Text("看新闻"))
    async def news(ctx: Ctx) -> Reply | None:
        return Reply.news([Article(title="网络公益新闻", url="https://example.org/n/1")])

    return router


async def _add_notice(harness: BotHarness, chatter: Chatter) -> None:
    harness.app[DISPATCHER].routers = [_news_router(), *harness.app[DISPATCHER].routers]
    account = ACCOUNT if chatter.channel is Channel.WECHAT else WEIBO_ACCOUNT
    async with harness.bot.sessions() as session, session.begin():
        session.add(
            Notice(
                channel=chatter.channel.value,
                account=account,
                user_id=chatter.user_id,
                text=NOTICE,
                created_at=harness.clock.now(),
            )
        )


async def _delivered(harness: BotHarness, chatter: Chatter) -> list[bool]:
    async with harness.bot.sessions() as session:
        rows = await session.execute(
            select(Notice.delivered_at).where(Notice.user_id == chatter.user_id)
        )
        return [at is not None for (at,) in rows]


def _close_window(harness: BotHarness, chatter: Chatter) -> None:
    """The platform refuses active messages to this user (outside the reply window)."""
    if chatter.channel is Channel.WECHAT:
        harness.fake.closed_window.add(chatter.user_id)
    else:
        assert harness.weibo_fake is not None
        harness.weibo_fake.inject("/2/messages/reply.json", 21604)


async def test_notice_after_news_reply_goes_out_apart(
    harness: BotHarness, chatter: Chatter
) -> None:
    """Regression (issue 11): a notice pending when the reply is a news article used to be
    marked delivered and never shown. Now it goes out as a message of its own."""
    await _add_notice(harness, chatter)
    answer = await chatter.say("看新闻")
    assert "网络公益新闻" in answer and NOTICE not in answer
    await harness.drain()
    assert chatter.late_messages() == [NOTICE]
    assert await _delivered(harness, chatter) == [True]
    # Shown once: the next text reply does not repeat it.
    assert not (await chatter.say("你好")).startswith(NOTICE)


async def test_notice_stays_pending_when_the_separate_send_fails(
    harness: BotHarness, chatter: Chatter
) -> None:
    await _add_notice(harness, chatter)
    _close_window(harness, chatter)
    answer = await chatter.say("看新闻")
    assert NOTICE not in answer
    await harness.drain()
    assert chatter.late_messages() == []
    assert await _delivered(harness, chatter) == [False]
    # The next text reply carries it in front, and only then is it delivered.
    text = await chatter.say("你好")
    assert text.startswith(NOTICE)
    assert await _delivered(harness, chatter) == [True]


async def test_notice_in_front_of_text_reply(harness: BotHarness, chatter: Chatter) -> None:
    await _add_notice(harness, chatter)
    assert (await chatter.say("你好")).startswith(NOTICE)
    await harness.drain()
    assert chatter.late_messages() == []
    assert await _delivered(harness, chatter) == [True]


@pytest.mark.config(limits={"messages_per_minute": 3})
async def test_platform_retries_do_not_count_against_the_rate_limit(
    harness: BotHarness,
) -> None:
    """Regression (issue 15, defect 9): deliveries 31-32 of a busy user got "too fast" instead
    of the first delivery's answer."""
    too_fast = harness.bot.texts("common.too_fast")
    user = harness.user()
    first = user.text("你好")
    answer = (await harness.send(user, first)).get("Content")
    assert answer and answer != too_fast
    for content in ("帮助", "活动"):
        assert await harness.say(user, content) != too_fast
    # The limit is reached; the platform retries the first message three more times.
    for _ in range(3):
        assert (await harness.send(user, first)).get("Content") == answer
    # A new message is over the limit, and so are its retries.
    extra = user.text("再来一条")
    assert (await harness.send(user, extra)).get("Content") == too_fast
    assert (await harness.send(user, extra)).get("Content") == too_fast


async def test_an_answer_that_cannot_be_sent_is_an_empty_200_logged_once(
    harness: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    """The webhook's last resort: an exception the dispatcher's apology does not cover (here
    a test-only handler's reply holding a lone surrogate, which cannot be encoded when the
    answer is rendered) is answered with an empty 200, never a 500, with one error line and
    one request-log line; the next message is answered as usual."""
    router = Router("test_broken")

    @router.on(Text("坏回复"), pure=True)
    async def broken(ctx: Ctx) -> Reply | None:
        return Reply.of_text("半个\ud800字")

    harness.app[DISPATCHER].routers = [router, *harness.app[DISPATCHER].routers]
    user = harness.user()
    caplog.set_level(logging.INFO)
    status, body = await harness.post(user, user.text("坏回复"))
    assert (status, body) == (200, "")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["webhook request failed"]
    logged = [getattr(r, "fields", {}) for r in caplog.records if r.getMessage() == "request"]
    assert len(logged) == 1
    assert (logged[0]["status"], logged[0]["outcome"]) == (200, "error")
    assert logged[0]["reason"] == "UnicodeEncodeError"
    assert "网络公益" in await harness.say(user, "活动介绍")
