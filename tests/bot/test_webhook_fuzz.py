"""Mutated but correctly signed requests on /wechat and /weibo: never a 500, never a handler
crash, and the bot still answers normally afterwards.

The mutations are what a broken proxy, a platform change or someone probing the endpoint could
send: fields dropped, doubled, nested or given attributes, odd values, cut-off bodies and
flipped bytes. The generator is seeded, so a failure reproduces.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import pytest

from bot.kernel.message import Channel
from bot.simulate import WeChatUser, sign
from tests.conftest import TOKEN, BotHarness, WeiboChatter

CASES = 150  # per channel and backend: a few seconds

ODD_VALUES = [
    "",
    " ",
    "]]>",
    "<a>1</a>",
    "&amp;",
    "0",
    "-1",
    "99999999999999999999999999",
    "1e309",
    "nan",
    "投票 1",
    "投稿",
    "志愿者报名",
    "\u200b\u3000",
    "x" * 5000,
    "qrscene_",
    "qrscene_" + "y" * 300,
]

WECHAT_TYPES = ["text", "image", "voice", "video", "shortvideo", "location", "link", "event", "x"]
EVENTS = [
    "subscribe",
    "unsubscribe",
    "SCAN",
    "LOCATION",
    "CLICK",
    "VIEW",
    "MASSSENDJOBFINISH",
    "nope",
]
# The optional fields a mutation may add (the four required ones are always written first).
OPTIONAL_FIELDS = [
    "Content",
    "PicUrl",
    "MediaId",
    "Format",
    "Recognition",
    "ThumbMediaId",
    "Location_X",
    "Location_Y",
    "Scale",
    "Label",
    "Title",
    "Description",
    "Url",
    "Event",
    "EventKey",
    "Ticket",
    "Latitude",
    "Longitude",
    "Precision",
]


def _wechat_fields(rng: random.Random, user: WeChatUser) -> list[tuple[str, str]]:
    msg_type = rng.choice(WECHAT_TYPES)
    fields = [
        ("ToUserName", user.account),
        ("FromUserName", user.openid),
        ("CreateTime", str(int(time.time()))),
        ("MsgType", msg_type),
    ]
    if msg_type == "event":
        fields.append(("Event", rng.choice(EVENTS)))
    extra = rng.sample(OPTIONAL_FIELDS, rng.randint(0, 6))
    fields += [(name, rng.choice(ODD_VALUES)) for name in extra]
    fields.append(("MsgId", str(rng.randint(1, 10**15))))
    return fields


def _element(rng: random.Random, name: str, value: str) -> str:
    form = rng.random()
    if form < 0.03:
        return f'<{name} kind="{rng.randint(0, 9)}">{value}</{name}>'  # an attribute
    if form < 0.06:
        return f"<{name}><Item>{value}</Item><Item>2</Item></{name}>"  # nested children
    if form < 0.09:
        return f"<{name}>{value}</{name}><{name}>{value}</{name}>"  # doubled
    if form < 0.3:
        return f"<{name}>{value}</{name}>".replace(value, value.replace("<", "&lt;"))
    return f"<{name}><![CDATA[{value.replace(']]>', ']]]]><![CDATA[>')}]]></{name}>"


def _wechat_body(rng: random.Random, user: WeChatUser) -> bytes:
    fields = _wechat_fields(rng, user)
    if rng.random() < 0.1 and len(fields) > 1:
        fields.pop(rng.randrange(len(fields)))  # a required field may go
    inner = "".join(_element(rng, name, value) for name, value in fields)
    body = f"<xml>{inner}</xml>".encode()
    roll = rng.random()
    if roll < 0.05:
        body = body[: rng.randrange(len(body))]  # cut off
    elif roll < 0.1:
        data = bytearray(body)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        body = bytes(data)
    elif roll < 0.13:
        body = b"<?xml version='1.0' encoding='gbk'?>" + body
    elif roll < 0.18:
        body = body.replace(b"<xml>", b"<xml><!-- c --><?pi x?>")
    return body


def _no_crash(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Error lines the bot logged (a handler that raised, an unhandled exception)."""
    return [
        f"{r.name}: {r.getMessage()} {getattr(r, 'fields', '')}"
        for r in caplog.records
        if r.levelno >= logging.ERROR
    ]


async def _still_answers(harness: BotHarness) -> None:
    async with harness.http.get(str(harness.server.make_url("/healthz"))) as resp:
        assert resp.status == 200
    user = harness.user()
    assert "网络公益" in await harness.say(user, "活动介绍")


@pytest.mark.parametrize("encrypt", [False, True], ids=["plain", "aes"])
async def test_mutated_wechat_messages_never_crash(
    harness: BotHarness, caplog: pytest.LogCaptureFixture, encrypt: bool
) -> None:
    rng = random.Random(20261124 + encrypt)
    statuses: dict[int, int] = {}
    for i in range(CASES):
        user = harness.user(encrypt=encrypt, openid=f"o_fuzz_{i}")
        body = _wechat_body(rng, user)
        if encrypt:
            # The envelope is well formed; what it carries is the mutated message.
            req = user.request(body.decode("utf-8", "replace"))
            query, data = req.query, req.body
        else:
            ts, nonce = str(int(time.time())), str(i)
            query = {"timestamp": ts, "nonce": nonce, "signature": sign(TOKEN, ts, nonce)}
            data = body
        async with harness.http.post(harness.url, params=query, data=data) as resp:
            statuses[resp.status] = statuses.get(resp.status, 0) + 1
            assert resp.status in (200, 400), (resp.status, body[:200])
    await harness.drain()
    assert statuses.get(200) and statuses.get(400)  # the mix reached both kinds of answer
    assert _no_crash(caplog) == []
    await _still_answers(harness)


FLOW_WORDS = [
    "志愿者报名",
    "投稿",
    "修改信息",
    "注销志愿者",
    "志愿之星",
    "我的信息",
    "我的时长",
    "活动",
    "取消",
    "返回",
    "帮助",
    "确认",
    "同意",
    "跳过",
    "1",
    "1,2",
    "2008",
    "1990",
    "郑州",
    "13812345678",
    "张三",
    "投票 1",
    "参加 1",
    "签到 X",
]


def _odd_message(rng: random.Random, user: WeChatUser) -> str:
    roll = rng.random()
    if roll < 0.6:
        return user.text(rng.choice([*FLOW_WORDS, *ODD_VALUES]))
    if roll < 0.7:
        return user.image(rng.choice(["m-1", "", "x" * 200]))
    if roll < 0.8:
        return user.voice(recognition=rng.choice([*FLOW_WORDS, *ODD_VALUES]))
    if roll < 0.85:
        return user.location(rng.uniform(-90, 90), rng.uniform(-180, 180), rng.choice(ODD_VALUES))
    if roll < 0.9:
        return user.link(rng.choice(ODD_VALUES), rng.choice(["http://127.0.0.1/", "", "]]>"]))
    return user.event(
        rng.choice(["CLICK", "subscribe", "unsubscribe", "SCAN", "VIEW"]),
        rng.choice([*ODD_VALUES, "VOLUNTEER_SIGNUP", "LOGO_SUBMIT"]),
    )


async def test_odd_answers_inside_flows_never_crash(
    harness: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    """Users who start a flow, then answer with anything: each answer is well formed, so each
    gets a 200 (a re-prompt, a step, or the way out), and no handler raises."""
    rng = random.Random(20261124)
    for i in range(12):
        user = harness.user(openid=f"o_flow_fuzz_{i}")
        await harness.send(user, user.text(rng.choice(["志愿者报名", "投稿", "修改信息"])))
        for _ in range(12):
            status, body = await harness.post(user, _odd_message(rng, user))
            assert status == 200, body[:200]
    await harness.drain()
    assert _no_crash(caplog) == []
    await _still_answers(harness)


def _odd_json(rng: random.Random) -> Any:
    return rng.choice(
        [None, True, 0, -1, 2**70, 1.5, "", "x", [], [1], {}, {"a": 1}, rng.choice(ODD_VALUES)]
    )


def _weibo_mutations(chatter: WeiboChatter) -> list[Callable[[random.Random], Any]]:
    user = chatter.user
    kinds = ["text", "image", "voice", "position", "event", "mention", "x"]

    def base(rng: random.Random) -> dict[str, Any]:
        kind = rng.choice(kinds)
        data: dict[str, Any] = {}
        if kind == "event":
            data = {
                "subtype": rng.choice(
                    ["follow", "unfollow", "scan", "subscribe", "click", "scan_follow", "?"]
                ),
                "key": rng.choice(ODD_VALUES),
            }
        elif kind == "position":
            data = {
                "longitude": rng.choice(["113.6", "x", ""]),
                "latitude": rng.choice(["34.7", "north"]),
            }
        elif kind in ("image", "voice"):
            data = {rng.choice(["tovfid", "vfid", "fid"]): rng.choice(ODD_VALUES)}
        return user.push(kind, rng.choice(ODD_VALUES), data)

    def odd_field(rng: random.Random) -> dict[str, Any]:
        push = base(rng)
        push[rng.choice([*push, "data", "extra"])] = _odd_json(rng)
        return push

    def odd_data(rng: random.Random) -> dict[str, Any]:
        push = base(rng)
        if isinstance(push.get("data"), dict) and push["data"]:
            push["data"][rng.choice(list(push["data"]))] = _odd_json(rng)
        return push

    def dropped(rng: random.Random) -> dict[str, Any]:
        push = base(rng)
        push.pop(rng.choice(list(push)))
        return push

    def raw(rng: random.Random) -> bytes:
        text = json.dumps(base(rng), ensure_ascii=False).encode()
        return text[: rng.randrange(len(text))] if rng.random() < 0.5 else text + b"}"

    return [base, odd_field, odd_data, dropped, raw]


async def test_mutated_weibo_pushes_never_crash(
    harness: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    rng = random.Random(20261124)
    statuses: dict[int, int] = {}
    for i in range(CASES):
        chatter = harness.chatter(Channel.WEIBO)  # type: ignore[attr-defined]
        assert isinstance(chatter, WeiboChatter)
        mutate = rng.choice(_weibo_mutations(chatter))
        status, body = await chatter.post(mutate(rng))
        statuses[status] = statuses.get(status, 0) + 1
        assert status in (200, 400), (i, status, body[:200])
    await harness.drain()
    assert statuses.get(200) and statuses.get(400)
    assert _no_crash(caplog) == []
    await _still_answers(harness)
