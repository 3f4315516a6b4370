"""Weibo fans-service webhook: verify, parse JSON pushes → Inbound; Reply → passive JSON.

Only this module knows the push and passive-reply JSON. Facts about the protocol that could
not be confirmed are marked [uncertain], kept here and switched by ``[weibo]`` config keys:
the timestamp unit (``timestamp_unit``) and the data field naming a user's media
(``media_id_field``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot.appkeys import BOT, DISPATCHER
from bot.channels.base import BadRequest, Forbidden, WebhookRequest, read_body, serve_message
from bot.clients.weibo import WeiboClient, article_items, encode_data, split_text
from bot.kernel.config import WeiboConfig
from bot.message import Article, Channel, Event, Inbound, Kind, Location, Reply, ReplyKind

log = logging.getLogger("bot.weibo")

CREATED_AT_FORMAT = "%a %b %d %H:%M:%S %z %Y"  # "Mon Jul 16 18:09:20 +0800 2012"

_KINDS = {
    "text": Kind.TEXT,
    "position": Kind.LOCATION,
    "image": Kind.IMAGE,
    "voice": Kind.VOICE,
    "event": Kind.EVENT,
}
_EVENTS = {
    "follow": Event.SUBSCRIBE,
    "subscribe": Event.SUBSCRIBE,
    "scan_follow": Event.SUBSCRIBE,
    "unfollow": Event.UNSUBSCRIBE,
    "unsubscribe": Event.UNSUBSCRIBE,
    "scan": Event.SCAN,
    "click": Event.CLICK,
    "view": Event.VIEW,
}


def signature(app_secret: str, timestamp: str, nonce: str) -> str:
    """sha1 of the sorted app secret, timestamp and nonce (URL check and pushes)."""
    return hashlib.sha1("".join(sorted([app_secret, timestamp, nonce])).encode()).hexdigest()


def _uid(value: Any, name: str) -> str:
    # uids arrive as JSON numbers; accept digit strings too, nothing else.
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return str(value)
    if isinstance(value, str) and value.isdigit():
        return value
    raise BadRequest(f"bad {name}")


def _number(data: dict[str, Any], name: str) -> float:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadRequest(f"bad data.{name}")
    try:
        return float(value)
    except ValueError:
        raise BadRequest(f"bad data.{name}") from None


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name, "")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise BadRequest(f"bad {name}")
    return value


class WeiboAdapter:
    """Turns HTTP requests on /weibo into Inbound messages and replies into JSON."""

    def __init__(self, config: WeiboConfig) -> None:
        self.config = config

    def _check_signature(self, query: dict[str, str]) -> None:
        expected = signature(
            self.config.app_secret, query.get("timestamp", ""), query.get("nonce", "")
        )
        if not hmac.compare_digest(expected, query.get("signature", "")):
            raise Forbidden("bad signature")

    def _check_time(self, timestamp: str) -> None:
        try:
            ts = int(timestamp)
        except ValueError:
            raise Forbidden("bad timestamp") from None
        # [uncertain] The documented example carries milliseconds; config switch timestamp_unit.
        seconds = ts / 1000 if self.config.timestamp_unit == "ms" else ts
        if abs(time.time() - seconds) > self.config.timestamp_window_seconds:
            raise Forbidden("timestamp outside the accepted window")

    def verify_url(self, query: dict[str, str]) -> str:
        """Answer the platform's GET URL check with ``echostr``."""
        self._check_signature(query)
        return query.get("echostr", "")

    def parse(self, query: dict[str, str], body: bytes) -> Inbound | None:
        """Verify and decode a push; None for a type the bot does not know."""
        self._check_signature(query)
        self._check_time(query.get("timestamp", ""))
        try:
            push = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("malformed JSON") from None
        if not isinstance(push, dict):
            raise BadRequest("push must be a JSON object")
        msg_type = push.get("type")
        if not isinstance(msg_type, str) or not msg_type:
            raise BadRequest("bad type")
        user = _uid(push.get("sender_id"), "sender_id")
        account = _uid(push.get("receiver_id"), "receiver_id")
        created_at = push.get("created_at")
        if not isinstance(created_at, str):
            raise BadRequest("bad created_at")
        try:
            received_at = datetime.strptime(created_at, CREATED_AT_FORMAT).astimezone(UTC)
        except ValueError:
            raise BadRequest("bad created_at") from None
        text = _text(push, "text")
        data = push.get("data", {})
        if data in ("", None):
            data = {}
        if not isinstance(data, dict):
            raise BadRequest("bad data")
        kind = _KINDS.get(msg_type)
        if kind is None:
            return None
        # Dedupe key: sender + created_at + type/subtype as documented. created_at has only
        # second resolution, so a digest of the content keeps two different messages of the
        # same second apart while a retry (same body) still maps to the same key.
        subtype = _text(data, "subtype") if kind is Kind.EVENT else ""
        digest = hashlib.sha1(
            json.dumps([text, data], sort_keys=True, ensure_ascii=False).encode()
        ).hexdigest()[:12]
        common: dict[str, Any] = {
            "channel": Channel.WEIBO,
            "account": account,
            "user": user,
            "kind": kind,
            "received_at": received_at,
            "key": f"{user}:{created_at}:{msg_type}:{subtype}:{digest}",
        }
        if kind is Kind.EVENT:
            event = _EVENTS.get(subtype.lower(), Event.OTHER)
            key = _text(data, "key")
            scene = key if event in (Event.SUBSCRIBE, Event.SCAN) and key else None
            extra = {"ticket": _text(data, "ticket")} if data.get("ticket") else {}
            return Inbound(**common, event=event, event_key=key or None, scene=scene, extra=extra)
        if kind is Kind.TEXT:
            return Inbound(**common, text=text)
        if kind is Kind.LOCATION:
            location = Location(
                latitude=_number(data, "latitude"),
                longitude=_number(data, "longitude"),
                label=text or None,  # as WeChat's Label: a place name, not a message text
            )
            return Inbound(**common, location=location)
        # [uncertain] Which field of ``data`` names the media (vfid / tovfid): config switch.
        media_id = _text(data, self.config.media_id_field)
        if not media_id:
            raise BadRequest(f"missing data.{self.config.media_id_field}")
        return Inbound(**common, media_id=media_id)

    def render(self, inbound: Inbound, reply: Reply | None, client: WeiboClient) -> tuple[str, str]:
        """Passive reply JSON ('' for nothing to say) and text left over for an active reply."""
        if reply is None:
            return "", ""
        rest = ""
        data: dict[str, Any]
        if reply.kind is ReplyKind.TEXT:
            if not reply.text:
                return "", ""
            # The platform caps a text at ``text_limit`` (300) characters: the first part goes
            # passively, cut at a line break, the rest follows by active reply.
            first, *more = split_text(reply.text, self.config.text_limit)
            rest = "\n".join(more)
            kind, data = "text", {"text": first}
        else:
            articles: tuple[Article, ...]
            if reply.kind is ReplyKind.IMAGE:
                # Weibo has no image reply: an article showing the uploaded picture.
                articles = (client.image_article(reply.media_id or ""),)
            else:
                articles = reply.articles
            kind, data = "articles", {"articles": article_items(articles)}
        body = {
            "result": True,
            "sender_id": inbound.account,
            "receiver_id": inbound.user,
            "type": kind,
            "data": encode_data(data),
        }
        return json.dumps(body, ensure_ascii=False), rest


async def _send_rest(
    client: WeiboClient, user: str, rest: str, answered: asyncio.Event, wait_seconds: float
) -> None:
    """The overflow of a long text, sent once the passive part is on its way."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(answered.wait(), wait_seconds)
    try:
        await client.send_reply(user, Reply.of_text(rest))
    except Exception as exc:  # the passive part reached the user; log, never crash the loop
        log.warning("weibo overflow reply failed: %s", type(exc).__name__)


def weibo_routes(adapter: WeiboAdapter) -> list[web.RouteDef]:
    """GET and POST /weibo."""

    async def get(request: web.Request) -> web.StreamResponse:
        wr = WebhookRequest(request, "weibo")
        try:
            echo = adapter.verify_url(dict(request.query))
        except Forbidden as exc:
            return wr.fail(403, str(exc))
        return wr.done(web.Response(text=echo), outcome="verified")

    async def post(request: web.Request) -> web.StreamResponse:
        wr = WebhookRequest(request, "weibo")
        try:
            body = await read_body(request)
            inbound = adapter.parse(dict(request.query), body)
        except BadRequest as exc:
            return wr.fail(400, str(exc))
        except Forbidden as exc:
            return wr.fail(403, str(exc))
        except web.HTTPRequestEntityTooLarge:
            return wr.fail(413, "body too large")
        if inbound is None:
            wr.fields["msg_type"] = "unknown"
            return wr.done(web.Response(text=""), outcome="unknown_type")
        result = await serve_message(request, wr, inbound)
        client = request.app[BOT].client(Channel.WEIBO)
        assert isinstance(client, WeiboClient)
        text, rest = adapter.render(inbound, result.reply, client)
        response = web.Response(
            text=text, content_type="application/json" if text else "text/plain"
        )
        if not rest:
            return wr.done(response, outcome=result.outcome.value)
        answered = asyncio.Event()
        request.app[DISPATCHER].follow_up(
            _send_rest(client, inbound.user, rest, answered, adapter.config.api_timeout_seconds)
        )
        try:
            wr.done(response, outcome=result.outcome.value)
            await response.prepare(request)
            await response.write_eof()
        finally:
            answered.set()
        return response

    return [web.get("/weibo", get), web.post("/weibo", post)]
