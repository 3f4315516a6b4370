"""WeChat Official Account webhook: verify, decrypt, parse → Inbound; Reply → passive XML.

Only this module (and its reply templates, ``bot.channels.wechat_xml``) touches WeChat's
XML. The strict expat reader of ``bot.xmlguard`` reads the flat message and the replies are
written from templates: wechatpy's parser and reply classes were the largest single costs of a
keyword answer (README, Performance), and ``tests/bot/test_wechat_xml.py`` checks both against
wechatpy for every message and reply type. wechatpy does the signatures and the AES crypto.
"""

from __future__ import annotations

import logging
import re
import struct
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature

from bot.channels.base import BadRequest, Forbidden, Rendered, channel_routes
from bot.channels.wechat_xml import encrypted, image_reply, news_reply, text_reply
from bot.kernel.config import WeChatConfig
from bot.kernel.message import Channel, Event, Inbound, Kind, Link, Location, Reply, ReplyKind
from bot.xmlguard import MalformedXML, UnsafeXML, guard_prolog, read_message

log = logging.getLogger("bot.wechat")

SUCCESS = "success"

_KINDS = {
    "text": Kind.TEXT,
    "image": Kind.IMAGE,
    "voice": Kind.VOICE,
    "video": Kind.VIDEO,
    "shortvideo": Kind.SHORTVIDEO,
    "location": Kind.LOCATION,
    "link": Kind.LINK,
    "event": Kind.EVENT,
}
_EVENTS = {
    "subscribe": Event.SUBSCRIBE,
    "subscribe_scan": Event.SUBSCRIBE,
    "unsubscribe": Event.UNSUBSCRIBE,
    "scan": Event.SCAN,
    "location": Event.LOCATION,
    "click": Event.CLICK,
    "view": Event.VIEW,
    "masssendjobfinish": Event.MASS_SEND_FINISHED,
    "templatesendjobfinish": Event.TEMPLATE_SEND_FINISHED,
}


_EVENT_EXTRA = frozenset(
    {"Ticket", "MsgID", "Status", "TotalCount", "FilterCount", "SentCount", "ErrorCount"}
)

# Every field the adapter reads: each must be plain text.
_TEXT_FIELDS = frozenset(
    {
        "ToUserName", "FromUserName", "CreateTime", "MsgType", "MsgId", "Content", "PicUrl",
        "MediaId", "Format", "Recognition", "ThumbMediaId", "Location_X", "Location_Y", "Scale",
        "Label", "Title", "Description", "Url", "Event", "EventKey", "Ticket", "Latitude",
        "Longitude", "Precision", "MsgID", "Status", "TotalCount", "FilterCount", "SentCount",
        "ErrorCount",
    }
)  # fmt: skip


def _guard(xml: bytes) -> None:
    try:
        guard_prolog(xml)
    except (UnsafeXML, MalformedXML) as exc:
        raise BadRequest(str(exc)) from None


class WeChatAdapter:
    """Turns HTTP requests on /wechat into Inbound messages and replies into XML."""

    channel = Channel.WECHAT

    def __init__(self, config: WeChatConfig) -> None:
        self.config = config
        self.crypto = (
            WeChatCrypto(config.token, config.encoding_aes_key, config.app_id)
            if config.encoding_aes_key
            else None
        )

    def _check_time(self, timestamp: str) -> None:
        try:
            ts = int(timestamp)
        except ValueError:
            raise Forbidden("bad timestamp") from None
        if abs(time.time() - ts) > self.config.timestamp_window_seconds:
            raise Forbidden("timestamp outside the accepted window")

    def verify(self, query: Mapping[str, str]) -> str:
        """Answer the platform's GET URL check with ``echostr``."""
        signature, timestamp, nonce = (
            query.get(k, "") for k in ("signature", "timestamp", "nonce")
        )
        try:
            check_signature(self.config.token, signature, timestamp, nonce)
        except InvalidSignatureException:
            raise Forbidden("bad signature") from None
        return query.get("echostr", "")

    def query_signed(self, query: Mapping[str, str]) -> bool:
        """Whether the query's ``signature`` checks out (the platform sends it in every mode),
        so the body is worth reading before anything else is known."""
        try:
            check_signature(
                self.config.token,
                query.get("signature", ""),
                query.get("timestamp", ""),
                query.get("nonce", ""),
            )
        except InvalidSignatureException:
            return False
        return True

    def parse(
        self, query: Mapping[str, str], body: bytes, *, signed: bool | None = None
    ) -> Inbound | None:
        """Verify and decode a POST; None for a message type the bot does not know.
        ``signed``: ``query_signed``'s answer for ``query`` (None: check it here)."""
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        _guard(body)
        if _encrypted(query):
            if self.crypto is None:
                raise BadRequest("encrypted message but no encoding_aes_key configured")
            envelope = {"Encrypt": _read(body).get("Encrypt") or ""}
            try:
                plain = self.crypto.decrypt_message(
                    envelope, query.get("msg_signature", ""), timestamp, nonce
                )
            except InvalidSignatureException:
                raise Forbidden("bad msg_signature") from None
            except (
                InvalidAppIdException,
                ValueError,
                KeyError,
                TypeError,
                IndexError,
                struct.error,  # a ciphertext too short to hold the length prefix
            ) as exc:
                raise BadRequest(f"cannot decrypt: {type(exc).__name__}") from None
            xml = plain.encode() if isinstance(plain, str) else plain
            _guard(xml)
        else:
            if not (self.query_signed(query) if signed is None else signed):
                raise Forbidden("bad signature")
            xml = body
        self._check_time(timestamp)
        return _to_inbound(_fields(xml))

    def render(
        self, query: Mapping[str, str], inbound: Inbound | None, reply: Reply | None
    ) -> Rendered:
        """Passive reply XML (encrypted when the request was), or ``success``."""
        if inbound is None or reply is None:
            return NOTHING
        user, account, now = inbound.user, inbound.account, int(time.time())
        if reply.kind is ReplyKind.TEXT:
            if not reply.text:
                return NOTHING
            xml = text_reply(user, account, now, reply.text)
        elif reply.kind is ReplyKind.IMAGE:
            xml = image_reply(user, account, now, reply.media_id or "")
        else:
            # [uncertain] how many articles WeChat shows: config wechat.news_reply_max_articles.
            articles = reply.articles[: self.config.news_reply_max_articles]
            xml = news_reply(user, account, now, articles)
        if _encrypted(query) and self.crypto is not None:
            # [uncertain] In compatible mode the platform accepts a plaintext or an encrypted
            # reply; we answer in kind (encrypted for a request that carried encrypt_type=aes).
            xml = encrypted(self.crypto, xml, query.get("nonce", ""), str(now))
        return Rendered(xml, "application/xml")


def _encrypted(query: Mapping[str, str]) -> bool:
    return query.get("encrypt_type", "raw").lower() == "aes"


# Ids as the platform issues them: openids and gh_ ids (letters, digits, - and _), MsgIds
# (64-bit numbers), CreateTime (seconds). Anything else never came from WeChat: 400, before it
# can reach the database (a 300-digit MsgId used to break a whole message-log batch).
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MSG_ID = re.compile(r"[0-9]{1,20}")
_TIME = re.compile(r"[0-9]{1,12}")
_EVENT_MAX = 48


def _read(xml: bytes) -> dict[str, str | None]:
    try:
        return read_message(xml)
    except (MalformedXML, UnsafeXML) as exc:
        raise BadRequest(f"malformed message: {exc}") from None


def _fields(xml: bytes) -> dict[str, str]:
    """The message's fields, read by the strict expat reader behind the prolog guard; every
    field the adapter reads must be plain text."""
    fields: dict[str, str] = {}
    for name, value in _read(xml).items():
        if value is not None:
            fields[name] = value
        elif name in _TEXT_FIELDS:
            # Doubled, with attributes or with children: fine in the nested fields of menu
            # events we do not read, not in ours.
            raise BadRequest(f"malformed message: {name} is not text")
    for required in ("ToUserName", "FromUserName", "CreateTime", "MsgType"):
        if not fields.get(required):
            raise BadRequest(f"missing {required}")
    for name, pattern in (("ToUserName", _ID), ("FromUserName", _ID), ("CreateTime", _TIME)):
        if not pattern.fullmatch(fields[name]):
            raise BadRequest(f"bad {name}")
    msg_id = fields.get("MsgId")
    if msg_id and not _MSG_ID.fullmatch(msg_id):
        raise BadRequest("bad MsgId")
    if len(fields.get("Event", "")) > _EVENT_MAX:
        raise BadRequest("bad Event")
    return fields


def _event_name(fields: dict[str, str]) -> str:
    """The event's name as wechatpy spells it (a scan-to-follow is ``subscribe_scan``)."""
    raw = fields.get("Event", "").lower()
    if raw == "subscribe":
        key = fields.get("EventKey", "")
        if key.startswith(("scanbarcode|", "scanimage|")):
            return "subscribe_scan_product"
        if key.startswith("qrscene_"):
            return "subscribe_scan"
    return raw


def _optional(fields: dict[str, str], name: str) -> str | None:
    return fields.get(name) or None


def _to_inbound(fields: dict[str, str]) -> Inbound | None:
    kind = _KINDS.get(fields["MsgType"].lower())
    if kind is None:
        return None
    user = fields["FromUserName"]
    common: dict[str, Any] = {
        "channel": Channel.WECHAT,
        "account": fields["ToUserName"],
        "user": user,
        "kind": kind,
        "received_at": datetime.fromtimestamp(int(fields["CreateTime"]), UTC),
    }
    if kind is Kind.EVENT:
        raw_event = _event_name(fields)
        event = _EVENTS.get(raw_event, Event.OTHER)
        key = fields.get("EventKey", "")
        extra = {k: v for k, v in fields.items() if k in _EVENT_EXTRA}
        scene = None
        if event in (Event.SUBSCRIBE, Event.SCAN) and key:
            scene = key.removeprefix("qrscene_")
        location = None
        if event is Event.LOCATION:
            try:
                location = Location(
                    latitude=float(fields.get("Latitude") or 0),
                    longitude=float(fields.get("Longitude") or 0),
                    precision=float(fields.get("Precision") or 0),
                )
            except ValueError:
                raise BadRequest("bad location") from None
        # Events carry no MsgId: the same user and second (and event) identify a retry.
        return Inbound(
            **common,
            key=f"{user}:{fields['CreateTime']}:{raw_event}",
            event=event,
            event_key=scene if scene is not None else key or None,
            scene=scene,
            location=location,
            extra=extra,
        )
    key = fields.get("MsgId") or f"{user}:{fields['CreateTime']}"
    body: dict[str, Any] = {}
    if kind is Kind.TEXT:
        # NUL never comes from a keyboard, and PostgreSQL refuses it in text.
        body["text"] = fields.get("Content", "").replace("\x00", "")
    elif kind is Kind.IMAGE:
        body.update(media_id=_optional(fields, "MediaId"), media_url=_optional(fields, "PicUrl"))
    elif kind is Kind.VOICE:
        body.update(
            media_id=_optional(fields, "MediaId"),
            media_format=_optional(fields, "Format"),
            text=_optional(fields, "Recognition"),
        )
    elif kind in (Kind.VIDEO, Kind.SHORTVIDEO):
        body.update(
            media_id=_optional(fields, "MediaId"),
            thumb_media_id=_optional(fields, "ThumbMediaId"),
        )
    elif kind is Kind.LOCATION:
        try:
            scale = fields.get("Scale")
            body["location"] = Location(
                latitude=float(fields["Location_X"]),
                longitude=float(fields["Location_Y"]),
                scale=int(scale) if scale else None,
                label=_optional(fields, "Label"),
            )
        except (KeyError, ValueError):
            raise BadRequest("bad location") from None
    elif kind is Kind.LINK:
        body["link"] = Link(
            title=fields.get("Title", ""),
            description=fields.get("Description", ""),
            url=fields.get("Url", ""),
        )
    return Inbound(**common, key=key, **body)


NOTHING = Rendered(SUCCESS)


def wechat_routes(adapter: WeChatAdapter) -> list[web.RouteDef]:
    """GET and POST /wechat."""
    return channel_routes("/wechat", adapter)
