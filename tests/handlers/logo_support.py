"""Shared helpers of the logo contest tests: designs, a submission up to 确认, entries, phases."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from PIL import Image

from bot.kernel.clock import SHANGHAI
from storage import logo as store
from tests.conftest import BotHarness, Chatter

PHONE = "13812345678"

# A contest calendar used by the phase tests (Asia/Shanghai).
PHASES: dict[str, Any] = {
    "submission_from": "2026-03-01 09:00",
    "submission_to": "2026-03-20",
    "review_from": "2026-03-21",
    "review_to": "2026-03-24",
    "voting_from": "2026-03-25 09:00",
    "voting_to": "2026-04-10",
    "results_from": "2026-04-15 10:00",
}


def design(seed: int = 0, size: tuple[int, int] = (400, 400), fmt: str = "PNG") -> bytes:
    """A distinct image (its colour depends on ``seed``) encoded as ``fmt``."""
    image = Image.new("RGB", size, ((seed * 37) % 256, (seed * 91) % 256, (seed * 53) % 256))
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def shanghai(text: str) -> datetime:
    """'2026-03-10 12:00' in Asia/Shanghai as an aware datetime."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=SHANGHAI)


async def submit_to_confirm(
    chatter: Chatter,
    image: bytes,
    *,
    title: str = "中原绿叶",
    statement: str = "绿叶象征生生不息的公益力量，e字代表网络。",
    author: str = "张三丰",
    phone: str = PHONE,
) -> str:
    """Walk the submission flow up to the summary; returns the summary text."""
    assert "发送您的设计作品图片" in await chatter.say("投稿")
    assert "作品名称" in await chatter.image(image)
    assert "设计说明" in await chatter.say(title)
    assert "真实姓名" in await chatter.say(statement)
    assert "手机号码" in await chatter.say(author)
    assert "征集规则" in await chatter.say(phone)
    return await chatter.say("同意")


async def add_approved(harness: BotHarness, *titles: str, **fields: Any) -> list[int]:
    """Insert approved entries; returns their numbers."""
    now = harness.clock.now()
    async with harness.bot.sessions() as session, session.begin():
        entries = [
            await store.add_entry(
                session,
                channel="wechat",
                user_id="author",
                title=t,
                now=now,
                status="approved",
                **fields,
            )
            for t in titles
        ]
        return [e.id for e in entries]
