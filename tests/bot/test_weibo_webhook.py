"""The /weibo webhook over real HTTP: URL check, push types, passive and active replies,
deduplication and bad input (never a 500)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.channels.weibo import signature
from bot.config import Config
from bot.kernel.message import Channel
from bot.sandbox import FakeWeChatAPI
from bot.simulate import weibo_reply_text
from storage.models import InboundMessage
from tests.conftest import WEIBO_ACCOUNT, WEIBO_SECRET, BotHarness, WeiboChatter, make_config

TEXT_LIMIT = 80  # below the welcome's length, so the overflow path runs


@pytest.fixture
def bot_config(db_url: str, tmp_path: Path, fake_wechat: FakeWeChatAPI) -> Config:
    return make_config(
        db_url,
        tmp_path,
        fake_wechat.base_url,  # type: ignore[attr-defined]
        weibo={"text_limit": TEXT_LIMIT},
    )


def test_signature_matches_the_documented_example() -> None:
    assert (
        signature("xyz123xyz", "1397022061823", "57155157")
        == "90e4c22c90a58f26526c2dd5b6c56c8822edeaa1"
    )


def fan(harness: BotHarness, **kw: object) -> WeiboChatter:
    chatter = harness.chatter(Channel.WEIBO)  # type: ignore[attr-defined]
    for key, value in kw.items():
        setattr(chatter.user, key, value)
    assert isinstance(chatter, WeiboChatter)
    return chatter


def weibo_url(harness: BotHarness) -> str:
    return str(harness.server.make_url("/weibo"))


async def test_url_verification_echoes(harness: BotHarness) -> None:
    query = {"timestamp": "1397022061823", "nonce": "57155157", "echostr": "echo-1"}
    query["signature"] = signature(WEIBO_SECRET, query["timestamp"], query["nonce"])
    async with harness.http.get(weibo_url(harness), params=query) as resp:
        assert resp.status == 200
        assert await resp.text() == "echo-1"


async def test_url_verification_bad_signature_is_403(harness: BotHarness) -> None:
    query = {"timestamp": "1", "nonce": "2", "echostr": "x", "signature": "0" * 40}
    async with harness.http.get(weibo_url(harness), params=query) as resp:
        assert resp.status == 403


async def test_follow_gets_a_passive_text_reply_in_the_fans_service_format(
    harness: BotHarness,
) -> None:
    chatter = fan(harness)
    reply = await chatter.send(chatter.user.event("follow"))
    assert reply["result"] is True
    assert reply["type"] == "text"
    assert reply["sender_id"] == WEIBO_ACCOUNT
    assert reply["receiver_id"] == chatter.user_id
    assert "欢迎" in reply["data"]["text"]
    assert len(reply["data"]["text"]) <= TEXT_LIMIT


async def test_long_text_is_cut_at_a_line_break_and_continued_by_active_reply(
    harness: BotHarness,
) -> None:
    chatter = fan(harness)
    full = harness.bot.texts("common.welcome")
    assert len(full) > TEXT_LIMIT
    passive = await chatter.send(chatter.user.event("follow"))
    await harness.drain()
    active = harness.weibo_fake.sent_to(chatter.user_id)  # type: ignore[union-attr]
    assert active and all(m["type"] == "text" for m in active)
    parts = [passive["data"]["text"], *(m["data"]["text"] for m in active)]
    assert all(0 < len(p) <= TEXT_LIMIT for p in parts)
    assert "\n".join(parts).replace("\n", "") == full.replace("\n", "")
    # The first part was cut at a line break, not inside a line.
    assert full.startswith(parts[0] + "\n") or full.lstrip().startswith(parts[0] + "\n")


async def test_text_keyword_and_fallback(harness: BotHarness) -> None:
    chatter = fan(harness)
    assert "家长" in await chatter.say("家长课堂")
    assert await chatter.say("一句没有关键词的话") != ""


async def test_position_and_scan_reach_the_handlers(harness: BotHarness) -> None:
    chatter = fan(harness)
    await chatter.event("scan", "scene-1")
    await chatter.location(34.75, 113.62, "郑州")
    await harness.drain()  # the message log is written behind the answers
    async with harness.bot.sessions() as session:
        rows = (
            await session.execute(
                select(InboundMessage.kind, InboundMessage.event).where(
                    InboundMessage.user_id == chatter.user_id,
                    InboundMessage.channel == "weibo",
                )
            )
        ).all()
    assert sorted((k, e or "") for k, e in rows) == [
        ("event", "scan"),
        ("location", ""),
    ]


async def test_image_push_carries_the_media_id_and_downloads(harness: BotHarness) -> None:
    chatter = fan(harness)
    assert "已收到您发来的图片" in await chatter.image(b"\x89PNG data")
    fid = next(iter(harness.weibo_fake.media))  # type: ignore[union-attr]
    client = harness.bot.client(Channel.WEIBO)
    assert await client.download_media(fid) == (b"\x89PNG data", "image/png")


async def test_retried_push_is_deduplicated(harness: BotHarness) -> None:
    chatter = fan(harness)
    push = chatter.user.text("家长课堂")
    first = await chatter.send(push)
    second = await chatter.send(push)  # the platform retries the same body
    assert first["data"] == second["data"]
    await harness.drain()  # the message log is written behind the answers
    async with harness.bot.sessions() as session:
        rows = (
            await session.execute(
                select(InboundMessage.id).where(InboundMessage.user_id == chatter.user_id)
            )
        ).all()
    assert len(rows) == 1


async def test_unknown_push_type_gets_an_empty_answer(harness: BotHarness) -> None:
    chatter = fan(harness)
    status, body = await chatter.post(chatter.user.push("mention", "@账号"))
    assert (status, body) == (200, "")


async def test_bad_signature_is_403(harness: BotHarness) -> None:
    chatter = fan(harness)
    status, _ = await chatter.post(chatter.user.text("hi"), bad_signature=True)
    assert status == 403


async def test_stale_timestamp_is_403(harness: BotHarness) -> None:
    chatter = fan(harness, clock_offset=-3600)
    status, body = await chatter.post(chatter.user.text("hi"))
    assert status == 403 and "timestamp" in body


async def test_timestamp_in_seconds_is_stale_under_the_millisecond_default(
    harness: BotHarness,
) -> None:
    chatter = fan(harness, timestamp_unit="s")
    status, _ = await chatter.post(chatter.user.text("hi"))
    assert status == 403


async def test_malformed_json_is_400(harness: BotHarness) -> None:
    chatter = fan(harness)
    for body in (b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe"):
        status, _ = await chatter.post(body)
        assert status == 400, body


async def test_wrong_field_types_are_400(harness: BotHarness) -> None:
    chatter = fan(harness)
    good = chatter.user.text("hi")
    bad_values = [
        ("type", 5),
        ("sender_id", "abc"),
        ("sender_id", True),
        ("receiver_id", None),
        ("created_at", "yesterday"),
        ("text", ["x"]),
        ("data", [1]),
    ]
    for key, value in bad_values:
        status, _ = await chatter.post({**good, key: value})
        assert status == 400, key
    status, _ = await chatter.post(chatter.user.push("position", "", {"latitude": "north"}))
    assert status == 400
    status, _ = await chatter.post(chatter.user.push("image", "", {}))
    assert status == 400


async def test_oversized_body_is_413(harness: BotHarness) -> None:
    chatter = fan(harness)
    limit = harness.bot.config.server.max_body_bytes
    status, _ = await chatter.post(chatter.user.text("长" * limit))
    assert status == 413


async def test_weibo_user_is_its_own_identity(harness: BotHarness) -> None:
    wechat = harness.chatter(Channel.WECHAT)  # type: ignore[attr-defined]
    weibo = fan(harness)
    await wechat.event("subscribe")
    await weibo.event("subscribe")
    await harness.drain()  # the message log is written behind the answers
    async with harness.bot.sessions() as session:
        channels = (
            await session.execute(
                select(InboundMessage.channel).where(
                    InboundMessage.user_id.in_([wechat.user_id, weibo.user_id])
                )
            )
        ).scalars()
        assert sorted(channels) == ["wechat", "weibo"]


def test_reply_text_renders_articles_and_images() -> None:
    reply = {"type": "articles", "data": {"articles": [{"display_name": "标题"}]}}
    assert weibo_reply_text(reply) == "[图文] 标题"
    image = {"type": "articles", "data": {"articles": [{"display_name": "", "image": "u"}]}}
    assert weibo_reply_text(image) == "[图片 u]"


async def test_reply_missing_the_deadline_goes_out_by_active_reply(harness: BotHarness) -> None:
    from bot.appkeys import DISPATCHER

    harness.app[DISPATCHER].deadline = 0.0  # every handler is "too slow"
    chatter = fan(harness)
    assert await chatter.event("subscribe") == ""
    await harness.drain()
    late = chatter.late_messages()
    assert late and all(len(part) <= TEXT_LIMIT for part in late)  # long texts go in parts
    assert "欢迎" in "\n".join(late)


async def test_image_reply_is_rendered_as_an_article_with_the_uploaded_picture(
    harness: BotHarness, tmp_path: Path
) -> None:
    from bot.channels.weibo import WeiboAdapter
    from bot.clients.weibo import WeiboClient
    from bot.kernel.message import Reply

    pic = tmp_path / "cert.png"
    pic.write_bytes(b"\x89PNG cert")
    client = harness.bot.client(Channel.WEIBO)
    assert isinstance(client, WeiboClient)
    fid = await client.upload_image(str(pic))
    chatter = fan(harness)
    adapter = WeiboAdapter(harness.bot.config.weibo, client)
    request = chatter.user.request(chatter.user.text("x"))
    inbound = adapter.parse(request.query, request.body)
    assert inbound is not None
    rendered = adapter.render(request.query, inbound, Reply.image(media_id=fid))
    reply = chatter.user.read_reply(rendered.body)
    assert rendered.rest is None and reply["type"] == "articles"
    url = reply["data"]["articles"][0]["image"]
    assert url.endswith(f"fid={fid}")
    async with harness.http.get(url, params={"access_token": "weibo-test-token"}) as resp:
        assert await resp.read() == b"\x89PNG cert"


async def test_hostile_json_is_400(harness: BotHarness) -> None:
    """Regression (issue 15, defect 2): 20,000 levels of nesting (RecursionError) and a lone
    surrogate (UnicodeEncodeError in the key's digest) were 500s; NaN and Infinity were taken."""
    chatter = fan(harness)
    push = chatter.user.text("你好")
    base = json.dumps(push, ensure_ascii=False)[:-1]
    bodies = {
        "deep": (base + ', "x": ' + "[" * 20_000 + "]" * 20_000 + "}").encode(),
        "surrogate": json.dumps({**push, "text": "a\ud800b"}).encode(),
        "nan": (base + ', "x": NaN}').encode(),
        "infinity": (base + ', "x": -Infinity}').encode(),
    }
    for name, body in bodies.items():
        status, text = await chatter.post(body)
        assert status == 400, (name, text)
    assert "网络公益" in await chatter.say("活动介绍")


async def test_ids_no_platform_sends_are_400_and_nul_is_stripped(harness: BotHarness) -> None:
    """Regression (issue 15, defect 3): a 200-digit sender id or a NUL in a text reached the
    database (PostgreSQL refused the row, and with it the rest of the log batch)."""
    chatter = fan(harness)
    for field, value in (
        ("sender_id", int("1" * 200)),
        ("sender_id", "1" * 21),
        ("sender_id", "１２３"),  # full-width digits: str.isdigit says yes
        ("receiver_id", int("5" * 200)),
    ):
        status, text = await chatter.post({**chatter.user.text("你好"), field: value})
        assert status == 400, (field, value, text)
    for data in ({"subtype": "click", "key": "a\x00"}, {"subtype": "x" * 40}):
        status, _ = await chatter.post(chatter.user.push("event", "", data))
        assert status == 400, data
    assert "网络公益" in await chatter.say("活动\x00介绍")
    rows = await harness.logged(chatter.user_id, InboundMessage.text)
    assert rows[-1][0] == "活动介绍"
