"""The /wechat webhook over real HTTP: modes, message types, replies, bad input."""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from bot.app import create_app
from bot.appkeys import DISPATCHER
from bot.channels.base import Forbidden
from bot.channels.wechat import WeChatAdapter
from bot.config import WeChatConfig
from bot.kernel.clock import FakeClock
from bot.kernel.logs import JsonFormatter
from bot.kernel.message import Article, Kind, Reply
from bot.sandbox import FakeWeChatAPI
from bot.simulate import WeChatUser, reply_text, sign
from bot.xmlguard import UnsafeXML, check_xml
from handlers.context import Ctx
from handlers.router import Router, Text
from storage.models import Follower, InboundMessage
from tests.conftest import ACCOUNT, AES_KEY, APP_ID, TOKEN, BotHarness, make_config


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


async def test_unknown_question_is_passed_to_staff(harness: BotHarness) -> None:
    """Text no command, flow, keyword or FAQ topic takes: handed to staff, menu offered."""
    user = harness.user()
    text = await harness.say(user, "今天天气怎么样")
    assert text == harness.bot.texts("faq.texts.handed_to_staff")
    assert "【菜单】" in text


@pytest.mark.config(faq={"enabled": False})
async def test_unknown_text_gets_menu_with_the_faq_off(harness: BotHarness) -> None:
    user = harness.user()
    text = await harness.say(user, "今天天气怎么样")
    assert "暂时没有理解" in text and "【志愿者报名】" in text


# -- every message type and event --------------------------------------------------------------


MODES = pytest.mark.parametrize("mode", ["plaintext", "aes"])


async def _count(harness: BotHarness, model: Any, *where: Any) -> int:
    await harness.drain()  # the message log of pure handlers is written behind
    async with harness.bot.sessions() as session:
        return int(
            (await session.execute(select(func.count()).select_from(model).where(*where))).scalar()
            or 0
        )


@MODES
async def test_message_types_get_answers(harness: BotHarness, mode: str) -> None:
    user = harness.user(encrypt=mode == "aes")
    media_id = harness.fake.add_media(b"\x89PNG fake", "image/png")
    for xml in (
        user.image(media_id),
        user.video(),
        user.video(short=True),
        user.location(39.9, 116.4, "北京"),
        user.link("标题", "http://127.0.0.1/x"),
    ):
        reply = await harness.send(user, xml)
        assert reply["MsgType"] == "text" and reply["Content"], xml
        assert reply["ToUserName"] == user.openid
    rows = await _count(harness, InboundMessage, InboundMessage.user_id == user.openid)
    assert rows == 5


async def test_voice_recognition_matches_keywords(harness: BotHarness) -> None:
    user = harness.user()
    reply = await harness.send(user, user.voice(recognition="活动介绍。"))
    assert "新时代“e”起行动" in reply_text(reply)


async def test_subscribe_with_scene_records_follower(harness: BotHarness) -> None:
    user = harness.user()
    await harness.send(user, user.event("subscribe", "qrscene_school_a"))
    async with harness.bot.sessions() as session:
        follower = (
            await session.execute(select(Follower).where(Follower.user_id == user.openid))
        ).scalar_one()
    assert follower.subscribed and follower.scene == "school_a"
    assert await harness.send(user, user.event("unsubscribe", create_time=1)) == {}
    async with harness.bot.sessions() as session:
        follower = (
            await session.execute(select(Follower).where(Follower.user_id == user.openid))
        ).scalar_one()
    assert follower.subscribed is False


@MODES
async def test_events(harness: BotHarness, mode: str) -> None:
    user = harness.user(encrypt=mode == "aes")
    scan = await harness.send(user, user.event("SCAN", "school_b", Ticket="t"))
    assert scan["MsgType"] == "text"
    click = await harness.send(user, user.event("CLICK", "MENU_INTRO", create_time=2))
    assert "新时代“e”起行动" in click["Content"]
    silent = [
        user.event("LOCATION", create_time=3, Latitude=39.9, Longitude=116.4, Precision=10),
        user.event("VIEW", "http://127.0.0.1/page", create_time=4),
        user.event("MASSSENDJOBFINISH", create_time=5, MsgID=1, Status="send success"),
        user.event("TEMPLATESENDJOBFINISH", create_time=6, MsgID=2, Status="success"),
    ]
    for xml in silent:
        status, body = await harness.post(user, xml)
        assert (status, body) == (200, "success"), xml


@MODES
async def test_reply_kinds(harness: BotHarness, mode: str) -> None:
    user = harness.user(encrypt=mode == "aes")
    dispatcher = harness.app[DISPATCHER]
    router = Router("replies")

    @router.on(Text("图片"))
    async def image(ctx: Ctx) -> Reply | None:
        return Reply.image(media_id="m-1")

    @router.on(Text("图文"))
    async def news(ctx: Ctx) -> Reply | None:
        return Reply.news([Article(title="标题", description="说明", url="http://127.0.0.1/a")])

    @router.on(Text("安静"))
    async def silent(ctx: Ctx) -> Reply | None:
        return None

    dispatcher.routers = [router, *dispatcher.routers]
    img = await harness.send(user, user.text("图片"))
    assert img["MsgType"] == "image" and "m-1" in img["Image"]
    news_reply = await harness.send(user, user.text("图文"))
    assert news_reply["MsgType"] == "news" and "标题" in news_reply["Articles"]
    assert await harness.post(user, user.text("安静")) == (200, "success")


# -- the published AES vector -------------------------------------------------------------------

VECTOR_XML = (
    "<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n"
    "<Encrypt><![CDATA[RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFn"
    "XBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8"
    "XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e"
    "29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxu"
    "GhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=]]>"
    "</Encrypt>\n<AgentID><![CDATA[1]]></AgentID>\n</xml>"
)
VECTOR_QUERY = {
    "timestamp": "1411525903",
    "nonce": "461056294",
    "msg_signature": "74d92dfeb87ba7c714f89d98870ae5eb62dff26d",
    "encrypt_type": "aes",
}


def test_published_vector_decrypts() -> None:
    """wechatpy's tests/test_crypto.py vector (token 123456): our adapter decrypts it."""
    config = WeChatConfig(
        token="123456",
        encoding_aes_key=AES_KEY,
        app_id="wx49f0ab532d5d035a",
        timestamp_window_seconds=10**10,  # the vector is from 2014
    )
    inbound = WeChatAdapter(config).parse(VECTOR_QUERY, VECTOR_XML.encode())
    assert inbound is not None and inbound.kind is Kind.TEXT
    assert inbound.text == "test" and inbound.user == "messense"
    assert inbound.key == "4363689963896700987"
    with pytest.raises(Forbidden):  # with the default window the 2014 timestamp is refused
        WeChatAdapter(replace(config, timestamp_window_seconds=300)).parse(
            VECTOR_QUERY, VECTOR_XML.encode()
        )


# -- bad input ---------------------------------------------------------------------------------


async def _raw_post(harness: BotHarness, query: dict[str, str], body: Any) -> tuple[int, str]:
    async with harness.http.post(harness.url, params=query, data=body) as resp:
        return resp.status, await resp.text()


def _signed_query(**extra: str) -> dict[str, str]:
    ts, nonce = str(int(time.time())), "123"
    return {"timestamp": ts, "nonce": nonce, "signature": sign(TOKEN, ts, nonce), **extra}


@MODES
async def test_bad_signature_is_403(harness: BotHarness, mode: str) -> None:
    user = harness.user(encrypt=mode == "aes")
    req = user.request(user.text("你好"), bad_signature=True)
    assert (await _raw_post(harness, req.query, req.body))[0] == 403


async def test_valid_signature_but_wrong_msg_signature_is_403(harness: BotHarness) -> None:
    user = harness.user(encrypt=True)
    req = user.request(user.text("你好"))
    query = {**req.query, "msg_signature": "f" * 40}
    assert sign(TOKEN, query["timestamp"], query["nonce"]) == query["signature"]
    assert (await _raw_post(harness, query, req.body))[0] == 403


async def test_malformed_xml_is_400(harness: BotHarness) -> None:
    assert (await _raw_post(harness, _signed_query(), b"<xml><ToUserName>"))[0] == 400
    assert (await _raw_post(harness, _signed_query(), b"<notxml/>"))[0] == 400


async def test_xxe_and_billion_laughs_are_refused(
    harness: BotHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    opened: list[str] = []
    real_open = builtins.open

    def spy_open(file: Any, *a: Any, **kw: Any) -> Any:
        opened.append(str(file))
        return real_open(file, *a, **kw)

    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file://{secret}">]>'
        "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName>"
        "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&x;</Content></xml>"
    ).encode()
    lol = '<!ENTITY l0 "lol">' + "".join(
        f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    )
    laughs = f"<!DOCTYPE xml [{lol}]><xml><Content>&l9;</Content></xml>".encode()
    monkeypatch.setattr(builtins, "open", spy_open)
    for body in (xxe, laughs):
        started = time.perf_counter()
        status, text = await _raw_post(harness, _signed_query(), body)
        assert status == 400 and "TOP-SECRET" not in text and "lol" not in text
        assert time.perf_counter() - started < 1.0
    assert str(secret) not in opened
    with pytest.raises(UnsafeXML):
        check_xml(xxe)


async def test_body_over_64k_is_413(harness: BotHarness) -> None:
    big = b"<xml><Content>" + b"a" * 70_000 + b"</Content></xml>"
    assert (await _raw_post(harness, _signed_query(), big))[0] == 413

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"a" * 10_000

    status, _ = await _raw_post(harness, _signed_query(), chunks())
    assert status == 413


async def test_stale_timestamp_is_403(harness: BotHarness) -> None:
    user = harness.user(clock_offset=-3600)
    assert (await harness.post(user, user.text("你好")))[0] == 403


async def test_missing_fields_and_bad_create_time_are_400(harness: BotHarness) -> None:
    missing = b"<xml><ToUserName>a</ToUserName><MsgType>text</MsgType></xml>"
    assert (await _raw_post(harness, _signed_query(), missing))[0] == 400
    bad_time = (
        b"<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName>"
        b"<CreateTime>yesterday</CreateTime><MsgType>text</MsgType><Content>x</Content></xml>"
    )
    assert (await _raw_post(harness, _signed_query(), bad_time))[0] == 400


async def test_bad_location_and_undecodable_bodies_are_400(harness: BotHarness) -> None:
    user = harness.user()
    for bad in ("north", ""):
        xml = user.location(39.9, 116.4).replace("<Location_X>39.9<", f"<Location_X>{bad}<")
        assert (await harness.post(user, xml))[0] == 400, bad
    not_utf8 = user.text("你好").encode().replace("你好".encode(), b"\xff\xfe")
    assert (await _raw_post(harness, _signed_query(), not_utf8))[0] == 400
    unclosed = user.text("你好").replace("</Content>", "")
    assert (await harness.post(user, unclosed))[0] == 400
    # Found by tests/bot/test_webhook_fuzz.py: both used to answer 500.
    location_event = user.event("LOCATION", Latitude="north", Longitude="116.4", Precision="1")
    assert (await harness.post(user, location_event))[0] == 400


async def test_doubled_nested_or_attributed_fields_are_400(harness: BotHarness) -> None:
    user = harness.user()
    text = user.text("活动介绍")
    doubled = text.replace("</Content>", "</Content><Content>活动介绍</Content>", 1)
    nested = text.replace("<Content>", "<Content><b>", 1).replace("</Content>", "</b></Content>")
    attributed = text.replace("<Content>", '<Content lang="zh">', 1)
    for xml in (doubled, nested, attributed):
        assert (await harness.post(user, xml))[0] == 400, xml
    # Nested fields the adapter does not read (a scan-code menu event) are still accepted.
    info = "<ScanCodeInfo><ScanType>qrcode</ScanType><ScanResult>1</ScanResult></ScanCodeInfo>"
    scan = user.event("scancode_push", "SCAN_1").replace("</xml>", info + "</xml>")
    assert (await harness.post(user, scan))[0] == 200


@pytest.mark.config(faq={"enabled": False})  # the fallback menu echoes the text
async def test_reply_quotes_a_cdata_terminator_the_user_typed(harness: BotHarness) -> None:
    """The fallback echoes the user's text: a typed ']]>' must not end the CDATA section."""
    user = harness.user()
    reply = await harness.send(user, user.text("a]]></Content>b"))
    assert reply["MsgType"] == "text"
    assert "a]]></Content>b" in reply["Content"]


async def test_fields_are_read_without_surrounding_white_space(harness: BotHarness) -> None:
    user = harness.user()
    xml = user.text("x").replace("<![CDATA[x]]>", "<![CDATA[  活动介绍 \n]]>")
    assert "新时代“e”起行动" in reply_text(await harness.send(user, xml))
    # A field with child elements (a scan-code menu event) does not break parsing.
    nested = user.event("scancode_push", "SCAN_1").replace(
        "</xml>",
        "<ScanCodeInfo><ScanType>qrcode</ScanType><ScanResult>r</ScanResult></ScanCodeInfo></xml>",
    )
    assert await harness.post(user, nested) == (200, "success")


async def test_unknown_msg_type_is_success_and_logged(
    harness: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    user = harness.user()
    xml = user.text("x").replace("<![CDATA[text]]>", "<![CDATA[hologram]]>")
    with caplog.at_level(logging.INFO, logger="bot.request"):
        assert await harness.post(user, xml) == (200, "success")
    outcomes = [getattr(r, "fields", {}).get("outcome") for r in caplog.records]
    assert "unknown_type" in outcomes


async def test_garbage_encrypt_is_400(harness: BotHarness) -> None:
    ts, nonce, garbage = str(int(time.time())), "7", "bm90IGEgY2lwaGVydGV4dA=="
    query = {
        "timestamp": ts,
        "nonce": nonce,
        "signature": sign(TOKEN, ts, nonce),
        "encrypt_type": "aes",
        "msg_signature": sign(TOKEN, ts, nonce, garbage),
    }
    body = f"<xml><ToUserName>a</ToUserName><Encrypt>{garbage}</Encrypt></xml>".encode()
    assert (await _raw_post(harness, query, body))[0] == 400


async def test_encrypted_without_aes_key_is_400(
    db_url: str, tmp_path: Path, fake_wechat: FakeWeChatAPI, clock: FakeClock
) -> None:
    config = make_config(db_url, tmp_path, fake_wechat.base_url, wechat={"encoding_aes_key": ""})
    app = create_app(config, clock=clock, migrate=False)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        user = WeChatUser(
            token=TOKEN, account=ACCOUNT, aes_key=AES_KEY, app_id=APP_ID, encrypt=True
        )
        req = user.request(user.text("你好"))
        url = server.make_url("/wechat")
        async with ClientSession() as http, http.post(url, params=req.query, data=req.body) as r:
            assert r.status == 400
    finally:
        await server.close()


# -- logging and privacy ------------------------------------------------------------------------


async def test_one_structured_log_line_per_request(
    harness: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    user = harness.user()
    with caplog.at_level(logging.INFO, logger="bot.request"):
        await harness.say(user, "活动介绍")
    lines = [r for r in caplog.records if r.name == "bot.request"]
    assert len(lines) == 1
    fields = lines[0].fields  # type: ignore[attr-defined]
    assert fields["msg_type"] == "text" and fields["handler"] == "keywords.reply"
    assert fields["outcome"] == "replied" and fields["latency_ms"] >= 0


async def test_request_line_keeps_its_name_for_events(
    harness: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    """The platform's event type must not overwrite the line's name: log searches for
    event=request found no text message (their field was null) and no subscribe."""
    user = harness.user()
    with caplog.at_level(logging.INFO, logger="bot.request"):
        await harness.say(user, "活动介绍")
        await harness.send(user, user.event("subscribe"))
    lines = [
        json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "bot.request"
    ]
    assert [line["event"] for line in lines] == ["request", "request"]
    assert [line["msg_event"] for line in lines] == [None, "subscribe"]
    assert [line["msg_type"] for line in lines] == ["text", "event"]


async def test_phone_numbers_are_redacted_in_message_log(harness: BotHarness) -> None:
    user = harness.user()
    await harness.say(user, "我的电话 13812345678 请联系")
    await harness.drain()
    async with harness.bot.sessions() as session:
        stored = (
            await session.execute(
                select(InboundMessage.text).where(InboundMessage.user_id == user.openid)
            )
        ).scalar_one()
    assert "13812345678" not in stored and "请联系" in stored


async def test_compatible_mode_plaintext_and_encrypt_together(harness: BotHarness) -> None:
    """Compatible mode: the body carries the plaintext fields AND Encrypt; we use Encrypt."""
    user = harness.user(encrypt=True)
    xml = user.text("活动介绍")
    req = user.request(xml)
    body = req.body.replace(b"</xml>", xml.removeprefix("<xml>").encode())
    status, text = await _raw_post(harness, req.query, body)
    assert status == 200
    assert "新时代“e”起行动" in reply_text(user.read_reply(text))


async def test_entity_inside_the_ciphertext_is_refused(harness: BotHarness) -> None:
    user = harness.user(encrypt=True)
    inner = '<!DOCTYPE xml [<!ENTITY a "b">]>' + user.text("&a;").replace("<![CDATA[&a;]]>", "&a;")
    req = user.request(inner)
    assert (await _raw_post(harness, req.query, req.body))[0] == 400


async def test_ids_no_platform_sends_are_400_and_the_others_are_all_logged(
    harness: BotHarness,
) -> None:
    """Regression (issue 15, defect 3): forty messages sent together with one whose MsgId has
    300 digits: the message-log batch of 41 was lost whole on PostgreSQL. The bad one is now
    refused at the edge and the forty are kept."""
    users = [harness.user() for _ in range(40)]
    bad = harness.user()
    sends = [harness.post(u, u.text("活动介绍")) for u in users]
    sends.append(harness.post(bad, bad.text("活动介绍", msg_id=int("9" * 300))))
    results = await asyncio.gather(*sends)
    assert [status for status, _ in results] == [200] * 40 + [400]
    await harness.drain()
    async with harness.bot.sessions() as session:
        logged = set((await session.execute(select(InboundMessage.user_id))).scalars())
    assert {u.openid for u in users} <= logged and bad.openid not in logged
    for name in ("openid", "account"):
        odd = harness.user(**{name: "用户" if name == "openid" else "gh_" + "x" * 80})
        assert (await harness.post(odd, odd.text("你好")))[0] == 400, name


async def test_message_path_tests_run_on_both_loops_behind_the_network_guard(
    request: pytest.FixtureRequest,
) -> None:
    """This module's tests run on asyncio's loop and on uvloop (``serve``'s default), and
    the loopback-only guard holds on both (uvloop connects past ``socket.connect``)."""
    import uvloop

    loop = asyncio.get_running_loop()
    on_uvloop = "uvloop" in request.node.callspec.id
    assert isinstance(loop, uvloop.Loop) is on_uvloop
    async with ClientSession() as http:
        with pytest.raises(RuntimeError, match="only loopback"):
            await http.get("http://192.0.2.1:9/")  # TEST-NET-1: never routed
