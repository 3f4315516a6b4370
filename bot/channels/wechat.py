"""WeChat Official Account webhook: verify, decrypt, parse → Inbound; Reply → passive XML.

Only this module touches WeChat's XML. wechatpy does the signature and AES crypto. Messages
are flat (every field a child of ``<xml>``), so they are read with the strict expat parse of
``bot.xmlguard`` and replies are written from templates: wechatpy's xmltodict parse and
field-by-field render cost a third of a keyword answer's CPU, and its render left ``]]>`` in a
text unquoted.
"""

from __future__ import annotations

import logging
import struct
import time
from datetime import UTC, datetime
from typing import Any
from xml.parsers.expat import ExpatError

from aiohttp import web
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature

from bot.channels.base import BadRequest, Forbidden, WebhookRequest, read_body, serve_message
from bot.config import WeChatConfig
from bot.message import Channel, Event, Inbound, Kind, Link, Location, Reply, ReplyKind
from bot.xmlguard import MalformedXML, UnsafeXML, cdata, check_xml, guard_prolog

log = logging.getLogger("bot.wechat")

SUCCESS = "success"

# [uncertain] WeChat may show only one article of a news reply to a user message; the platform
# docs have said so at times. Extra articles are dropped here, in this one place.
NEWS_REPLY_MAX_ARTICLES = 1

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
    "unsubscribe": Event.UNSUBSCRIBE,
    "scan": Event.SCAN,
    "location": Event.LOCATION,
    "click": Event.CLICK,
    "view": Event.VIEW,
    "masssendjobfinish": Event.MASS_SEND_FINISHED,
    "templatesendjobfinish": Event.TEMPLATE_SEND_FINISHED,
}


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
        try:
            raw = check_xml(xml)
        except (UnsafeXML, MalformedXML) as exc:
            raise BadRequest(str(exc)) from None
        # Surrounding white space is not content (wechatpy's parser stripped it too).
        fields = {k: v.strip() for k, v in raw.items()}
        for required in ("ToUserName", "FromUserName", "CreateTime", "MsgType"):
            if not fields.get(required):
                raise BadRequest(f"missing {required}")
        try:
            int(fields["CreateTime"])
        except ValueError:
            raise BadRequest("bad CreateTime") from None
        return self._to_inbound(fields), encrypted, nonce

    def _to_inbound(self, fields: dict[str, str]) -> Inbound | None:
        kind = _KINDS.get(fields["MsgType"].lower())
        if kind is None:
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
                # A follow through a parametric QR code carries EventKey qrscene_<scene>.
                scene = key.removeprefix("qrscene_")
            location = None
            if event is Event.LOCATION:
                location = Location(
                    latitude=float(fields.get("Latitude") or 0),
                    longitude=float(fields.get("Longitude") or 0),
                    precision=float(fields.get("Precision") or 0),
                )
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
        # Absent and empty fields alike read as None, as they did through wechatpy.
        media_id = fields.get("MediaId") or None
        if kind is Kind.TEXT:
            body["text"] = fields.get("Content", "")
        elif kind is Kind.IMAGE:
            body.update(media_id=media_id, media_url=fields.get("PicUrl") or None)
        elif kind is Kind.VOICE:
            body.update(
                media_id=media_id,
                media_format=fields.get("Format") or None,
                text=fields.get("Recognition") or None,
            )
        elif kind in (Kind.VIDEO, Kind.SHORTVIDEO):
            body.update(media_id=media_id, thumb_media_id=fields.get("ThumbMediaId") or None)
        elif kind is Kind.LOCATION:
            scale = fields.get("Scale")
            try:
                body["location"] = Location(
                    latitude=float(fields["Location_X"]),
                    longitude=float(fields["Location_Y"]),
                    scale=int(scale) if scale else None,
                    label=fields.get("Label") or None,
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

    def render(self, inbound: Inbound, reply: Reply | None, encrypted: bool, nonce: str) -> str:
        """Passive reply XML (encrypted when the request was), or ``success``."""
        if reply is None:
            return SUCCESS
        if reply.kind is ReplyKind.TEXT:
            if not reply.text:
                return SUCCESS
            msg_type, body = "text", f"<Content>{cdata(reply.text)}</Content>"
        elif reply.kind is ReplyKind.IMAGE:
            msg_type = "image"
            body = f"<Image><MediaId>{cdata(reply.media_id or '')}</MediaId></Image>"
        else:
            articles = reply.articles[:NEWS_REPLY_MAX_ARTICLES]
            items = "".join(
                f"<item><Title>{cdata(a.title)}</Title>"
                f"<Description>{cdata(a.description)}</Description>"
                f"<PicUrl>{cdata(a.pic_url)}</PicUrl><Url>{cdata(a.url)}</Url></item>"
                for a in articles
            )
            msg_type = "news"
            body = f"<ArticleCount>{len(articles)}</ArticleCount><Articles>{items}</Articles>"
        xml = (
            f"<xml><ToUserName>{cdata(inbound.user)}</ToUserName>"
            f"<FromUserName>{cdata(inbound.account)}</FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime>"
            f"<MsgType><![CDATA[{msg_type}]]></MsgType>{body}</xml>"
        )
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
