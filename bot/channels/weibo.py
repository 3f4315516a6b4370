"""Weibo fans-service webhook: verify, parse JSON pushes → Inbound; Reply → passive JSON.

Only this module knows the push and passive-reply JSON. Facts about the protocol that could
not be confirmed are marked [uncertain], kept here and switched by ``[weibo]`` config keys:
the timestamp unit (``timestamp_unit``) and the data field naming a user's media
(``media_id_field``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot.channels.base import BadRequest, Forbidden, Rendered, channel_routes
from bot.clients.weibo import WeiboClient, article_items, encode_data, split_text
from bot.kernel.config import WeiboConfig
from bot.kernel.message import Article, Channel, Event, Inbound, Kind, Location, Reply, ReplyKind

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


_UID_MAX = 10**20  # uids are 64-bit numbers; a 200-digit one never came from Weibo


def _uid(value: Any, name: str) -> str:
    # uids arrive as JSON numbers; accept ASCII digit strings too, nothing else.
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < _UID_MAX:
        return str(value)
    if isinstance(value, str) and 0 < len(value) <= 20 and value.isascii() and value.isdigit():
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
    if not isinstance(value, str) or (name != "text" and "\x00" in value):
        raise BadRequest(f"bad {name}")
    return value


class WeiboAdapter:
    """Turns HTTP requests on /weibo into Inbound messages and replies into JSON."""

    channel = Channel.WEIBO

    def __init__(self, config: WeiboConfig, client: WeiboClient) -> None:
        self.config = config
        self.client = client  # knows the URLs of pictures it uploaded (image replies)

    def _check_signature(self, query: Mapping[str, str]) -> None:
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

    def query_signed(self, query: Mapping[str, str]) -> bool:
        """Whether the query's signature checks out (before the body is read)."""
        try:
            self._check_signature(query)
        except Forbidden:
            return False
        return True

    def verify(self, query: Mapping[str, str]) -> str:
        """Answer the platform's GET URL check with ``echostr``."""
        self._check_signature(query)
        return query.get("echostr", "")

    def parse(
        self, query: Mapping[str, str], body: bytes, *, signed: bool | None = None
    ) -> Inbound | None:
        """Verify and decode a push; None for a type the bot does not know. ``signed``:
        ``query_signed``'s answer for ``query`` (None: check it here)."""
        if signed is None:
            self._check_signature(query)
        elif not signed:
            raise Forbidden("bad signature")
        self._check_time(query.get("timestamp", ""))
        push = _load(body)
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
        # NUL never comes from a keyboard, and PostgreSQL refuses it in text.
        text = _text(push, "text").replace("\x00", "")
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
        if len(subtype) > _SUBTYPE_MAX:
            raise BadRequest("bad data.subtype")
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

    def render(
        self, query: Mapping[str, str], inbound: Inbound | None, reply: Reply | None
    ) -> Rendered:
        """Passive reply JSON (nothing for nothing to say); a text over the platform's limit
        leaves the rest for an active reply."""
        if inbound is None or reply is None:
            return NOTHING
        rest = None
        data: dict[str, Any]
        if reply.kind is ReplyKind.TEXT:
            if not reply.text:
                return NOTHING
            # The platform caps a text at ``text_limit`` (300) characters: the first part goes
            # passively, cut at a line break, the rest follows by active reply.
            first, *more = split_text(reply.text, self.config.text_limit)
            rest = Reply.of_text("\n".join(more)) if more else None
            kind, data = "text", {"text": first}
        else:
            articles: tuple[Article, ...]
            if reply.kind is ReplyKind.IMAGE:
                # Weibo has no image reply: an article showing the uploaded picture.
                articles = (self.client.image_article(reply.media_id or ""),)
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
        return Rendered(json.dumps(body, ensure_ascii=False), "application/json", rest)


NOTHING = Rendered("")
# Longer than any event name the platform sends; the dedupe key must fit its column.
_SUBTYPE_MAX = 32


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _load(body: bytes) -> dict[str, Any]:
    """The push as a JSON object: strict JSON (no NaN / Infinity), nested no deeper than the
    parser's recursion limit, and encodable (a lone surrogate escape such as \\ud800 can never
    be stored or digested)."""
    try:
        push = json.loads(body, parse_constant=_refuse_constant)
        json.dumps(push, ensure_ascii=False).encode()
    except (ValueError, RecursionError):  # UnicodeError is a ValueError
        raise BadRequest("malformed JSON") from None
    if not isinstance(push, dict):
        raise BadRequest("push must be a JSON object")
    return push


def weibo_routes(adapter: WeiboAdapter) -> list[web.RouteDef]:
    """GET and POST /weibo."""
    return channel_routes("/weibo", adapter)
