"""The WeChat XML codec against wechatpy, which it replaced on the hot path.

Every message type the bot reads gives the fields wechatpy's ``parse_message`` gives, and
every reply template writes XML that wechatpy reads back as it reads its own render, with
``]]>``, ``<``, ``&``, CJK and emoji in the values, in plaintext and AES modes. Hostile input
is refused as a bad request (400), never an error.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from xml.sax.saxutils import escape

import pytest
import xmltodict
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.replies import (
    ArticlesReply,
    ImageReply,
    MusicReply,
    TextReply,
    VideoReply,
    VoiceReply,
    deserialize_reply,
)

from bot.channels.base import BadRequest
from bot.channels.wechat import WeChatAdapter
from bot.channels.wechat_xml import (
    Music,
    Video,
    encrypted,
    image_reply,
    music_reply,
    news_reply,
    text_reply,
    video_reply,
    voice_reply,
)
from bot.config import WeChatConfig
from bot.kernel.message import Article, Event, Inbound, Kind, Reply
from bot.simulate import WeChatUser
from bot.xmlguard import cdata, cdata_content, read_message
from tests.conftest import ACCOUNT, AES_KEY, APP_ID, TOKEN, BotHarness

TRICKY = "a]]>b <c> & d ]]]]> 中文，活动介绍 😀🎉 &amp; ' \""
USER = "oUser-1_x"
NOW = 1_700_000_000

CONFIG = WeChatConfig(token=TOKEN, encoding_aes_key=AES_KEY, app_id=APP_ID)
ADAPTER = WeChatAdapter(CONFIG)
CRYPTO = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
SENDER = WeChatUser(token=TOKEN, openid=USER, account=ACCOUNT, aes_key=AES_KEY, app_id=APP_ID)
MODES = pytest.mark.parametrize("mode", ["plaintext", "aes"])


def _escaped(xml: str, value: str) -> str:
    """``xml`` with ``value`` written as escaped text instead of CDATA."""
    return xml.replace(cdata(value), escape(value, {"'": "&apos;", '"': "&quot;"}))


# Every message and event the bot reads, and the ones it ignores (None from the adapter).
MESSAGES: dict[str, str] = {
    "text": SENDER.text(TRICKY),
    "text_escaped": _escaped(SENDER.text(TRICKY), TRICKY),
    "text_padded": SENDER.text("  活动介绍\n "),
    "image": SENDER.image("media]]>1", pic_url="http://127.0.0.1/p.jpg?a=1&b=<2>"),
    "voice": SENDER.voice(recognition=TRICKY),
    "voice_unrecognised": SENDER.voice(),
    "video": SENDER.video("video-1"),
    "shortvideo": SENDER.video("video-2", short=True),
    "location": SENDER.location(39.915, 116.404, label=TRICKY),
    "link": SENDER.link(TRICKY, "http://127.0.0.1/x?a=1&b=<2>", description=TRICKY),
    "subscribe": SENDER.event("subscribe"),
    "subscribe_empty_key": SENDER.event("subscribe", ""),
    "subscribe_qrscene": SENDER.event("subscribe", "qrscene_123", Ticket="TICKET]]>x"),
    "unsubscribe": SENDER.event("unsubscribe"),
    "scan": SENDER.event("SCAN", "123", Ticket="TICKET"),
    "location_event": SENDER.event("LOCATION", Latitude="23.137", Longitude="113.352",
                                   Precision="119.385"),
    "click": SENDER.event("CLICK", TRICKY),
    "view": SENDER.event("VIEW", "http://127.0.0.1/menu?a=1&b=2"),
    "masssendjobfinish": SENDER.event(
        "MASSSENDJOBFINISH", MsgID="1000001625", Status="send success", TotalCount="100",
        FilterCount="80", SentCount="75", ErrorCount="5",
    ),
    "templatesendjobfinish": SENDER.event(
        "TEMPLATESENDJOBFINISH", MsgID="200163836", Status="failed:user block"
    ),
    "scancode_push": SENDER.event("scancode_push", "scan-1").replace(
        "</xml>",
        "<ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>"
        "<ScanResult><![CDATA[1]]></ScanResult></ScanCodeInfo></xml>",
    ),
}  # fmt: skip


def _retyped(msg_type: str, fields: str) -> str:
    """A text message turned into another type with ``fields`` instead of its Content."""
    xml = SENDER.text("x").replace("<![CDATA[text]]>", f"<![CDATA[{msg_type}]]>")
    return xml.replace("<Content><![CDATA[x]]></Content>", fields)


IGNORED: dict[str, str] = {
    "file": _retyped("file", "<Title>a.pdf</Title><FileKey>k</FileKey><FileMd5>0</FileMd5>"),
    "miniprogrampage": _retyped("miniprogrampage", "<Title>t</Title><AppId>wx1</AppId>"),
}


def _parse(xml: str, mode: str) -> Inbound | None:
    req = replace(SENDER, encrypt=mode == "aes").request(xml)
    return ADAPTER.parse(req.query, req.body)


def _wechatpy_view(msg: Any) -> dict[str, Any]:
    """What the bot needs of a message, as wechatpy reads it."""
    view: dict[str, Any] = {"user": msg.source, "account": msg.target, "time": msg.time}
    kind = msg.type
    if kind == "text":
        view["text"] = msg.content
    elif kind == "image":
        view.update(media_id=msg.media_id, media_url=msg.image)
    elif kind == "voice":
        view.update(media_id=msg.media_id, format=msg.format, text=msg.recognition or None)
    elif kind in ("video", "shortvideo"):
        view.update(media_id=msg.media_id, thumb_media_id=msg.thumb_media_id)
    elif kind == "location":
        view["location"] = (float(msg.location_x), float(msg.location_y), int(msg.scale), msg.label)
    elif kind == "link":
        view["link"] = (msg.title, msg.description, msg.url)
    elif msg.event in ("subscribe_scan", "scan"):
        view.update(scene=msg.scene_id, ticket=msg.ticket)
    elif msg.event == "location":
        view["location"] = (msg.latitude, msg.longitude, msg.precision)
    elif msg.event == "click":
        view["key"] = msg.key
    elif msg.event == "view":
        view["key"] = msg.url
    elif msg.event in ("masssendjobfinish", "templatesendjobfinish"):
        counts = ("total_count", "filter_count", "sent_count", "error_count")
        numbers = [getattr(msg, n) for n in counts if msg.event == "masssendjobfinish"]
        view["job"] = (msg.id, msg.status, *numbers)
    else:  # subscribe without a scene, unsubscribe, menu events the bot does not name
        view["key"] = getattr(msg, "key", "") or None
    return view


def _bot_view(inbound: Inbound, event: str) -> dict[str, Any]:
    """The same, as the bot's adapter reads it (``event``: wechatpy's name for an event)."""
    view: dict[str, Any] = {
        "user": inbound.user,
        "account": inbound.account,
        "time": int(inbound.received_at.timestamp()),
    }
    kind = inbound.kind
    location = inbound.location
    if kind is Kind.TEXT:
        view["text"] = inbound.text
    elif kind is Kind.IMAGE:
        view.update(media_id=inbound.media_id, media_url=inbound.media_url)
    elif kind is Kind.VOICE:
        view.update(media_id=inbound.media_id, format=inbound.media_format, text=inbound.text)
    elif kind in (Kind.VIDEO, Kind.SHORTVIDEO):
        view.update(media_id=inbound.media_id, thumb_media_id=inbound.thumb_media_id)
    elif kind is Kind.LOCATION:
        assert location is not None
        view["location"] = (location.latitude, location.longitude, location.scale,
                            location.label or "")  # fmt: skip
    elif kind is Kind.LINK:
        assert inbound.link is not None
        link = inbound.link
        view["link"] = (link.title, link.description, link.url)
    elif event in ("subscribe_scan", "scan"):
        assert inbound.event_key == inbound.scene
        view.update(scene=inbound.scene, ticket=inbound.extra.get("Ticket"))
    elif event == "location":
        assert location is not None
        view["location"] = (location.latitude, location.longitude, location.precision)
    elif event in ("masssendjobfinish", "templatesendjobfinish"):
        extra = inbound.extra
        counts = ("TotalCount", "FilterCount", "SentCount", "ErrorCount")
        numbers = [int(extra[n]) for n in counts if event == "masssendjobfinish"]
        view["job"] = (int(extra["MsgID"]), extra["Status"], *numbers)
    else:
        view["key"] = inbound.event_key
    return view


@MODES
@pytest.mark.parametrize("name", list(MESSAGES))
def test_every_message_reads_as_wechatpy_reads_it(name: str, mode: str) -> None:
    xml = MESSAGES[name]
    msg = parse_message(xml)
    inbound = _parse(xml, mode)
    assert inbound is not None
    assert inbound.kind.value == msg.type
    event = getattr(msg, "event", "")
    if inbound.kind is Kind.EVENT:
        expected = {
            "subscribe": Event.SUBSCRIBE, "subscribe_scan": Event.SUBSCRIBE,
            "unsubscribe": Event.UNSUBSCRIBE, "scan": Event.SCAN, "location": Event.LOCATION,
            "click": Event.CLICK, "view": Event.VIEW,
            "masssendjobfinish": Event.MASS_SEND_FINISHED,
            "templatesendjobfinish": Event.TEMPLATE_SEND_FINISHED,
        }.get(event, Event.OTHER)  # fmt: skip
        assert inbound.event is expected
    else:
        assert inbound.key == str(msg.id)
    assert _bot_view(inbound, event) == _wechatpy_view(msg)


@pytest.mark.parametrize("name", list(MESSAGES) + list(IGNORED))
def test_the_reader_reads_every_field_as_wechatpy_does(name: str) -> None:
    """Plain fields as xmltodict (wechatpy's reader) reads them; nested ones marked None."""
    xml = (MESSAGES | IGNORED)[name]
    theirs = xmltodict.parse(xml)["xml"]
    plain = {k: v or "" for k, v in theirs.items() if not isinstance(v, dict | list)}
    ours = read_message(xml.encode())
    assert {k: v for k, v in ours.items() if v is not None} == plain
    assert [k for k, v in ours.items() if v is None] == [
        k for k, v in theirs.items() if isinstance(v, dict | list)
    ]


@MODES
@pytest.mark.parametrize("name", list(IGNORED))
def test_types_the_bot_does_not_read_are_ignored(name: str, mode: str) -> None:
    assert _parse(IGNORED[name], mode) is None


def _same_as_wechatpy(ours: str, theirs: Any) -> Any:
    """Assert ``ours`` parses (in xmltodict, wechatpy's reader) to what wechatpy's own render
    of ``theirs`` parses to, and return wechatpy's reading of ``ours``."""
    assert xmltodict.parse(ours) == xmltodict.parse(theirs.render())
    return deserialize_reply(ours)


def _q(value: str) -> str:
    """How a value must go into wechatpy's replies, which do not quote ``]]>``."""
    return cdata_content(value)


def test_text_reply() -> None:
    theirs = TextReply(source=ACCOUNT, target=USER, time=NOW, content=_q(TRICKY))
    back = _same_as_wechatpy(text_reply(USER, ACCOUNT, NOW, TRICKY), theirs)
    assert (back.content, back.source, back.target, back.time) == (TRICKY, ACCOUNT, USER, NOW)


def test_image_and_voice_replies() -> None:
    media = "media]]><x>&1"
    image = ImageReply(source=ACCOUNT, target=USER, time=NOW, media_id=_q(media))
    assert _same_as_wechatpy(image_reply(USER, ACCOUNT, NOW, media), image).media_id == media
    voice = VoiceReply(source=ACCOUNT, target=USER, time=NOW, media_id=_q(media))
    assert _same_as_wechatpy(voice_reply(USER, ACCOUNT, NOW, media), voice).media_id == media


@pytest.mark.parametrize("full", [True, False], ids=["titled", "bare"])
def test_video_reply(full: bool) -> None:
    extra = {"title": TRICKY, "description": TRICKY + "说明"} if full else {}
    theirs = VideoReply(
        source=ACCOUNT, target=USER, time=NOW,
        video={"media_id": _q("v]]>1"), **{k: _q(v) for k, v in extra.items()}},
    )  # fmt: skip
    back = _same_as_wechatpy(video_reply(USER, ACCOUNT, NOW, Video("v]]>1", **extra)), theirs)
    assert (back.media_id, back.title, back.description) == (
        "v]]>1",
        extra.get("title"),
        extra.get("description"),
    )


@pytest.mark.parametrize("full", [True, False], ids=["full", "thumb_only"])
def test_music_reply(full: bool) -> None:
    extra = (
        {"title": TRICKY, "description": "歌 🎵", "music_url": "http://127.0.0.1/m?a=1&b=2",
         "hq_music_url": "http://127.0.0.1/hq]]>"}
        if full else {}
    )  # fmt: skip
    theirs = MusicReply(
        source=ACCOUNT, target=USER, time=NOW,
        music={"thumb_media_id": "t-1", **{k: _q(v) for k, v in extra.items()}},
    )  # fmt: skip
    back = _same_as_wechatpy(music_reply(USER, ACCOUNT, NOW, Music("t-1", **extra)), theirs)
    assert back.thumb_media_id == "t-1"
    assert (back.title, back.music_url, back.hq_music_url) == (
        extra.get("title"),
        extra.get("music_url"),
        extra.get("hq_music_url"),
    )


@pytest.mark.parametrize("count", [1, 3])
def test_news_reply(count: int) -> None:
    articles = [
        Article(f"{TRICKY} {i}", f"说明 <{i}> & ]]>", f"http://127.0.0.1/a?{i}&x=]]>",
                f"http://127.0.0.1/p{i}.jpg")
        for i in range(count)
    ]  # fmt: skip
    theirs = ArticlesReply(source=ACCOUNT, target=USER, time=NOW)
    for a in articles:
        theirs.add_article({"title": _q(a.title), "description": _q(a.description),
                            "image": _q(a.pic_url), "url": _q(a.url)})  # fmt: skip
    ours = news_reply(USER, ACCOUNT, NOW, articles)
    assert xmltodict.parse(ours) == xmltodict.parse(theirs.render())
    assert _articles(ours) == [(a.title, a.description, a.pic_url, a.url) for a in articles]


def _articles(xml: str) -> list[tuple[str | None, ...]]:
    """A news reply's articles as WeChat reads them. wechatpy's ``deserialize_reply`` cannot
    read a single article (xmltodict gives it as a dict, not a list), its own render included;
    so the items are read with xmltodict directly."""
    fields = xmltodict.parse(xml, force_list=("item",))["xml"]
    assert int(fields["ArticleCount"]) == len(fields["Articles"]["item"])
    return [
        (item["Title"], item["Description"], item["PicUrl"], item["Url"])
        for item in fields["Articles"]["item"]
    ]


def test_safe_mode_envelope() -> None:
    xml = text_reply(USER, ACCOUNT, NOW, TRICKY)
    ours = encrypted(CRYPTO, xml, "nonce-1", str(NOW))
    theirs = CRYPTO.encrypt_message(xml, "nonce-1", str(NOW))
    ours_fields, theirs_fields = xmltodict.parse(ours)["xml"], xmltodict.parse(theirs)["xml"]
    assert list(ours_fields) == list(theirs_fields)
    assert ours_fields["TimeStamp"] == theirs_fields["TimeStamp"] == str(NOW)
    # wechatpy checks our signature and decrypts our ciphertext to the very same reply.
    plain = CRYPTO.decrypt_message(ours, ours_fields["MsgSignature"], str(NOW), "nonce-1")
    assert plain == xml and deserialize_reply(plain).content == TRICKY


@MODES
@pytest.mark.parametrize(
    "reply",
    [
        Reply.of_text(TRICKY),
        Reply.image(media_id="media-1"),
        Reply.news([Article(TRICKY, TRICKY, "http://127.0.0.1/a?b=1&c=2", "")]),
    ],
    ids=["text", "image", "news"],
)
def test_adapter_replies_read_back_in_wechatpy(reply: Reply, mode: str) -> None:
    req = replace(SENDER, encrypt=mode == "aes").request(SENDER.text("x"))
    inbound = ADAPTER.parse(req.query, req.body)
    rendered = ADAPTER.render(req.query, inbound, reply)
    body = rendered.body
    if mode == "aes":
        envelope = xmltodict.parse(body)["xml"]
        assert envelope["Nonce"] == req.query["nonce"]
        body = CRYPTO.decrypt_message(
            body, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
        )
    fields = xmltodict.parse(body)["xml"]
    assert (fields["MsgType"], fields["FromUserName"], fields["ToUserName"]) == (
        reply.kind.value, ACCOUNT, USER
    )  # fmt: skip
    if reply.kind.value == "news":
        assert _articles(body) == [
            (TRICKY, TRICKY, None, "http://127.0.0.1/a?b=1&c=2")
        ]  # empty: None
        return
    back = deserialize_reply(body)
    assert back.content == TRICKY if reply.kind.value == "text" else back.media_id == "media-1"


# -- hostile input -------------------------------------------------------------------------------

_TEXT = SENDER.text("活动介绍")
_DEEP = "<a>" * 5_000 + "x" + "</a>" * 5_000  # 35 KB: under the 64 KB limit
HOSTILE = {
    "undefined_entity": _TEXT.replace("<Content>", "<Content>&x;", 1),
    "dtd_after_comment": '<?xml version="1.0"?><!-- c --><!DOCTYPE xml [<!ENTITY x "y">]>' + _TEXT,
    "dtd_with_internal_subset": '<!DOCTYPE xml [<!ENTITY x "y">]>' + _TEXT,
    "parameter_entity": '<!DOCTYPE xml [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>' + _TEXT,
    "deep_nesting_in_content": _TEXT.replace("<Content>", "<Content>" + _DEEP, 1),
    "root_not_xml": _TEXT.replace("<xml>", "<root>").replace("</xml>", "</root>"),
    "two_roots": _TEXT + _TEXT,
    "empty": "",
}


@MODES
@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_input_is_a_bad_request(name: str, mode: str) -> None:
    with pytest.raises(BadRequest):
        _parse(HOSTILE[name], mode)


@pytest.mark.parametrize(
    "body",
    [
        _TEXT.encode("gbk"),
        ('<?xml version="1.0" encoding="GBK"?>' + _TEXT).encode("gbk"),
        _TEXT.encode("utf-16"),
        _TEXT.encode().replace("活动".encode(), b"\xff\xfe"),
    ],
    ids=["gbk", "gbk_declared", "utf16", "invalid_utf8"],
)
def test_bodies_not_in_utf8_are_bad_requests(body: bytes) -> None:
    req = SENDER.request("")
    with pytest.raises(BadRequest):
        ADAPTER.parse(req.query, body)


def test_deep_nesting_in_a_field_the_bot_does_not_read_is_accepted() -> None:
    xml = _TEXT.replace("</xml>", f"<ScanCodeInfo>{_DEEP}</ScanCodeInfo></xml>")
    inbound = _parse(xml, "plaintext")
    assert inbound is not None and inbound.text == "活动介绍"


async def test_hostile_bodies_are_400_over_http(harness: BotHarness) -> None:
    user = harness.user()
    text = user.text("活动介绍")
    for body in (
        text.replace("<Content>", "<Content>&x;", 1).encode(),
        text.replace("<Content>", "<Content>" + _DEEP, 1).encode(),
        ('<?xml version="1.0" encoding="GBK"?>' + text).encode("gbk"),
    ):
        req = user.request("")
        async with harness.http.post(harness.url, params=req.query, data=body) as resp:
            assert resp.status == 400
    assert (await harness.post(user, text))[0] == 200
