"""Follow events, keywords and the fallback through the channel-neutral chatter."""

from __future__ import annotations

import pytest

from tests.conftest import Chatter


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
