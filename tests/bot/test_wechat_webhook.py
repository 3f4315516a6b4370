"""The /wechat webhook over real HTTP: modes, message types, replies, bad input."""

from __future__ import annotations

import pytest

from bot.simulate import sign
from tests.conftest import TOKEN, BotHarness


async def test_url_verification_echoes(harness: BotHarness) -> None:
    query = {"timestamp": "1700000000", "nonce": "42", "echostr": "hello-echo"}
    query["signature"] = sign(TOKEN, query["timestamp"], query["nonce"])
    async with harness.http.get(harness.url, params=query) as resp:
        assert resp.status == 200
        assert await resp.text() == "hello-echo"


async def test_url_verification_bad_signature_is_403(harness: BotHarness) -> None:
    query = {"timestamp": "1700000000", "nonce": "42", "echostr": "x", "signature": "bad"}
    async with harness.http.get(harness.url, params=query) as resp:
        assert resp.status == 403


@pytest.mark.parametrize("encrypt", [False, True], ids=["plaintext", "aes"])
async def test_subscribe_gets_welcome(harness: BotHarness, encrypt: bool) -> None:
    user = harness.user(encrypt=encrypt)
    reply = await harness.send(user, user.event("subscribe"))
    assert reply["MsgType"] == "text"
    assert "欢迎关注" in reply["Content"]
    assert reply["ToUserName"] == user.openid


async def test_keyword_reply(harness: BotHarness) -> None:
    user = harness.user()
    assert "新时代“e”起行动" in await harness.say(user, "活动介绍")
    assert "绿色上网" in await harness.say(user, "绿色上网")


async def test_unknown_text_gets_menu(harness: BotHarness) -> None:
    user = harness.user()
    text = await harness.say(user, "今天天气怎么样")
    assert "暂时没有理解" in text and "【志愿者报名】" in text
