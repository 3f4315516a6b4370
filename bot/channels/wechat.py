"""WeChat Official Account webhook: verify, decrypt, parse → Inbound; Reply → passive XML.

Only this module touches WeChat's XML. wechatpy does the parsing, replies and AES crypto.
"""

from __future__ import annotations

import logging
import struct
import time
from datetime import UTC, datetime
from typing import Any
from xml.parsers.expat import ExpatError

from aiohttp import web
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.messages import UnknownMessage
from wechatpy.replies import ArticlesReply, ImageReply, TextReply
from wechatpy.utils import check_signature

from bot.channels.base import BadRequest, Forbidden, WebhookRequest, read_body, serve_message
from bot.kernel.config import WeChatConfig
from bot.message import Channel, Event, Inbound, Kind, Link, Location, Reply, ReplyKind
from bot.xmlguard import MalformedXML, UnsafeXML, cdata_content, guard_prolog

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

    def verify_url(self, query: dict[str, str]) -> str:
        """Answer the platform's GET URL check with ``echostr``."""
        signature, timestamp, nonce = (
            query.get(k, "") for k in ("signature", "timestamp", "nonce")
        )
        try:
            check_signature(self.config.token, signature, timestamp, nonce)
        except InvalidSignatureException:
            raise Forbidden("bad signature") from None
        return query.get("echostr", "")

    def parse(self, query: dict[str, str], body: bytes) -> tuple[Inbound | None, bool, str]:
        """Verify and decode a POST; returns (inbound or None if unknown, encrypted, nonce)."""
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        encrypted = query.get("encrypt_type", "raw").lower() == "aes"
        _guard(body)
        if encrypted:
            if self.crypto is None:
                raise BadRequest("encrypted message but no encoding_aes_key configured")
            try:
                plain = self.crypto.decrypt_message(
                    body, query.get("msg_signature", ""), timestamp, nonce
                )
            except InvalidSignatureException:
                raise Forbidden("bad msg_signature") from None
            except (
                InvalidAppIdException,
                ValueError,
                KeyError,
                TypeError,
                IndexError,
                ExpatError,
                struct.error,  # a ciphertext too short to hold the length prefix
            ) as exc:
                raise BadRequest(f"cannot decrypt: {type(exc).__name__}") from None
            xml = plain.encode() if isinstance(plain, str) else plain
            _guard(xml)
        else:
            try:
                check_signature(self.config.token, query.get("signature", ""), timestamp, nonce)
            except InvalidSignatureException:
                raise Forbidden("bad signature") from None
            xml = body
        self._check_time(timestamp)
        # One parse, by wechatpy (xmltodict with entities disabled), behind the prolog guard.
        try:
            msg: Any = parse_message(xml)
        except (ValueError, KeyError, TypeError, AttributeError, ExpatError) as exc:
            raise BadRequest(f"malformed message: {type(exc).__name__}") from None
        if msg is None or not isinstance(getattr(msg, "_data", None), dict):
            raise BadRequest("empty message")
        fields: dict[str, str] = {}
        for name, value in msg._data.items():
            if value is None or isinstance(value, str):
                fields[name] = value or ""
            elif name in _TEXT_FIELDS:
                # A doubled element reads as a list, one with attributes or children as a
                # dict: fine in the nested fields of menu events we do not read, not in ours.
                raise BadRequest(f"malformed message: {name} is not text")
        for required in ("ToUserName", "FromUserName", "CreateTime", "MsgType"):
            if not fields.get(required):
                raise BadRequest(f"missing {required}")
        try:
            int(fields["CreateTime"])
        except ValueError:
            raise BadRequest("bad CreateTime") from None
        return self._to_inbound(msg, fields), encrypted, nonce

    def _to_inbound(self, msg: Any, fields: dict[str, str]) -> Inbound | None:
        msg_type = fields["MsgType"].lower()
        kind = _KINDS.get(msg_type)
        if kind is None or (isinstance(msg, UnknownMessage) and kind is not Kind.EVENT):
            return None
        common: dict[str, Any] = {
            "channel": Channel.WECHAT,
            "account": fields["ToUserName"],
            "user": fields["FromUserName"],
            "kind": kind,
            "received_at": datetime.fromtimestamp(int(fields["CreateTime"]), UTC),
        }
        if kind is Kind.EVENT:
            raw_event = fields.get("Event", "").lower()
            event = _EVENTS.get(raw_event, Event.OTHER)
            key = fields.get("EventKey", "")
            extra = {
                k: v
                for k, v in fields.items()
                if k
                in {
                    "Ticket",
                    "MsgID",
                    "Status",
                    "TotalCount",
                    "FilterCount",
                    "SentCount",
                    "ErrorCount",
                }
            }
            scene = None
            if event in (Event.SUBSCRIBE, Event.SCAN) and key:
                # wechatpy already strips qrscene_ (and renames the event subscribe_scan).
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
                key=f"{fields['FromUserName']}:{fields['CreateTime']}:{raw_event}",
                event=event,
                event_key=scene if scene is not None else key or None,
                scene=scene,
                location=location,
                extra=extra,
            )
        key = fields.get("MsgId") or f"{fields['FromUserName']}:{fields['CreateTime']}"
        body: dict[str, Any] = {}
        if kind is Kind.TEXT:
            body["text"] = msg.content or ""
        elif kind is Kind.IMAGE:
            body.update(media_id=msg.media_id, media_url=msg.image)
        elif kind is Kind.VOICE:
            body.update(
                media_id=msg.media_id, media_format=msg.format, text=msg.recognition or None
            )
        elif kind in (Kind.VIDEO, Kind.SHORTVIDEO):
            body.update(media_id=msg.media_id, thumb_media_id=msg.thumb_media_id)
        elif kind is Kind.LOCATION:
            try:
                body["location"] = Location(
                    latitude=float(msg.location_x),
                    longitude=float(msg.location_y),
                    scale=int(msg.scale) if msg.scale else None,
                    label=msg.label,
                )
            except (TypeError, ValueError):
                raise BadRequest("bad location") from None
        elif kind is Kind.LINK:
            body["link"] = Link(
                title=msg.title or "", description=msg.description or "", url=msg.url or ""
            )
        return Inbound(**common, key=key, **body)

    def render(self, inbound: Inbound, reply: Reply | None, encrypted: bool, nonce: str) -> str:
        """Passive reply XML (encrypted when the request was), or ``success``."""
        if reply is None:
            return SUCCESS
        source, target = inbound.account, inbound.user
        # wechatpy wraps every value in CDATA without quoting a literal ``]]>``, so a user's text
        # echoed back could end the section early: values go in quoted.
        if reply.kind is ReplyKind.TEXT:
            if not reply.text:
                return SUCCESS
            out: Any = TextReply(source=source, target=target, content=cdata_content(reply.text))
        elif reply.kind is ReplyKind.IMAGE:
            out = ImageReply(source=source, target=target, media_id=reply.media_id)
        else:
            out = ArticlesReply(source=source, target=target)
            # [uncertain] how many articles WeChat shows: config wechat.news_reply_max_articles.
            for article in reply.articles[: self.config.news_reply_max_articles]:
                out.add_article(
                    {
                        "title": cdata_content(article.title),
                        "description": cdata_content(article.description),
                        "image": cdata_content(article.pic_url),
                        "url": cdata_content(article.url),
                    }
                )
        xml: str = out.render()
        if encrypted and self.crypto is not None:
            # [uncertain] In compatible mode the platform accepts a plaintext or an encrypted
            # reply; we answer in kind (encrypted for a request that carried encrypt_type=aes).
            xml = self.crypto.encrypt_message(xml, nonce)
        return xml


def wechat_routes(adapter: WeChatAdapter) -> list[web.RouteDef]:
    """GET and POST /wechat."""

    async def get(request: web.Request) -> web.StreamResponse:
        wr = WebhookRequest(request, "wechat")
        try:
            echo = adapter.verify_url(dict(request.query))
        except Forbidden as exc:
            return wr.fail(403, str(exc))
        return wr.done(web.Response(text=echo), outcome="verified")

    async def post(request: web.Request) -> web.StreamResponse:
        wr = WebhookRequest(request, "wechat")
        try:
            body = await read_body(request)
            inbound, encrypted, nonce = adapter.parse(dict(request.query), body)
        except BadRequest as exc:
            return wr.fail(400, str(exc))
        except Forbidden as exc:
            return wr.fail(403, str(exc))
        except web.HTTPRequestEntityTooLarge:
            return wr.fail(413, "body too large")
        if inbound is None:
            wr.fields["msg_type"] = "unknown"
            return wr.done(web.Response(text=SUCCESS), outcome="unknown_type")
        result = await serve_message(request, wr, inbound)
        xml = adapter.render(inbound, result.reply, encrypted, nonce)
        return wr.done(
            web.Response(
                text=xml, content_type="application/xml" if xml != SUCCESS else "text/plain"
            ),
            outcome=result.outcome.value,
        )

    return [web.get("/wechat", get), web.post("/wechat", post)]
