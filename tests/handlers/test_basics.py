"""Follow events, keywords and the fallback through the channel-neutral chatter."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from storage.inbox import InboxItem
from tests.conftest import BotHarness, Chatter


async def test_follow_then_keywords(chatter: Chatter) -> None:
    assert "欢迎" in await chatter.event("subscribe")
    assert "家长" in await chatter.say("家长课堂")
    assert "公益政策要点" in await chatter.say("  政策解读 ")


async def test_media_outside_flow_is_acknowledged(chatter: Chatter) -> None:
    reply = await chatter.image(b"\x89PNG fake", "image/png")
    assert "已收到您发来的图片" in reply


@pytest.mark.config(faq={"enabled": False})
async def test_fallback_masks_a_phone_it_echoes(chatter: Chatter) -> None:
    # What a user types when a sign-up flow expired under them: the answer must not show it.
    reply = await chatter.say("13812345678")
    assert "暂时没有理解" in reply and "13812345678" not in reply
    assert "138****5678" in reply


@pytest.mark.parametrize(
    ("said", "answer"),
    [
        ("谢谢", "不客气"),
        ("谢谢～", "不客气"),
        ("好的", "有需要随时找我"),
        ("👍", "有需要随时找我"),
        ("哈哈哈", "有需要随时找我"),
        ("在吗？", "在的"),
        ("你是机器人吗？", "智能助手"),
        ("拜拜", "再见"),
    ],
)
async def test_courtesy_is_answered_not_filed_for_staff(
    chatter: Chatter, harness: BotHarness, said: str, answer: str
) -> None:
    """A thank-you after an answer is not a question nobody could answer: it gets a friendly
    word and no inbox item (operators would close one for every thank-you after a push)."""
    reply = await chatter.say(said)
    assert answer in reply and "转给工作人员" not in reply
    async with harness.bot.sessions() as session:
        assert (await session.scalar(select(func.count()).select_from(InboxItem))) == 0


async def test_a_question_that_starts_with_thanks_still_reaches_the_faq(
    chatter: Chatter,
) -> None:
    reply = await chatter.say("谢谢，请问怎么报名当志愿者")
    assert "不客气" not in reply and "志愿者报名" in reply
