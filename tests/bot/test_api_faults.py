"""The WeChat API down or slow while replies go out late (issue 15, part 13, short form)."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import select

from bot.kernel.message import Reply
from handlers.context import Ctx
from handlers.router import Router, Text
from storage.models import InboundMessage
from tests.bot.test_dispatch import _install
from tests.conftest import BotHarness

SEND = "/cgi-bin/message/custom/send"


def _slow_router() -> Router:
    router = Router("slow_fault")

    async def slow_answer(ctx: Ctx) -> Reply | None:
        await asyncio.sleep(0.8)  # past the deadline: the answer goes out by API
        return Reply.of_text("慢回复")

    router.add(Text("慢问题"), slow_answer, "slow_fault.answer", pure=True)
    return router


async def _status(harness: BotHarness, user: str) -> str:
    async with harness.bot.sessions() as session:
        return str(
            (
                await session.execute(
                    select(InboundMessage.status).where(InboundMessage.user_id == user)
                )
            ).scalar_one()
        )


@pytest.mark.config(wechat={"reply_deadline_seconds": 0.5})
async def test_a_busy_api_is_retried_and_the_late_reply_goes_out_once(
    harness: BotHarness,
) -> None:
    _install(harness.app, _slow_router())
    harness.fake.inject(SEND, -1, times=2)  # "system busy" twice, then it works
    user = harness.user()
    assert await harness.post(user, user.text("慢问题")) == (200, "success")
    await harness.drain()
    assert [b["text"]["content"] for b in harness.fake.sent_to(user.openid)] == ["慢回复"]
    assert await _status(harness, user.openid) == "late_sent"


@pytest.mark.config(wechat={"reply_deadline_seconds": 0.5})
async def test_a_slow_api_delays_the_late_reply_not_the_webhook(harness: BotHarness) -> None:
    _install(harness.app, _slow_router())
    harness.fake.delay_seconds[SEND] = 1.0
    user = harness.user()
    started = time.perf_counter()
    assert await harness.post(user, user.text("慢问题")) == (200, "success")
    assert time.perf_counter() - started < 0.8
    # Meanwhile other users are answered at once.
    assert "新时代" in await harness.say(harness.user(), "活动介绍")
    await harness.drain()
    assert [b["text"]["content"] for b in harness.fake.sent_to(user.openid)] == ["慢回复"]
    assert await _status(harness, user.openid) == "late_sent"
