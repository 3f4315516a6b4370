"""Build real, signed (and optionally encrypted) WeChat webhook requests as a user would send
them, and read the bot's XML answers. Used by ``python -m bot chat``, the tests and bench/."""

from __future__ import annotations

import hashlib
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote
from xml.sax.saxutils import escape

from wechatpy.crypto import WeChatCrypto

from bot.xmlguard import cdata, check_xml

_msg_ids = itertools.count(int(time.time() * 1000) % 10**12 * 1000)


def sign(*parts: str) -> str:
    """sha1 of the sorted parts, as both platforms sign."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


@dataclass
class WeChatRequest:
    query: dict[str, str]
    body: bytes


@dataclass
class WeChatUser:
    """A follower of ``account`` talking to the bot through WeChat's webhook."""

    token: str
    openid: str = field(default_factory=lambda: "o" + secrets.token_hex(13))
    account: str = "gh_sandbox"
    aes_key: str = ""
    app_id: str = ""
    encrypt: bool = False
    clock_offset: int = 0  # seconds added to timestamps (stale-timestamp tests)

    @property
    def user_id(self) -> str:
        """The user's id on the platform: the openid."""
        return self.openid

    def _xml(
        self,
        msg_type: str,
        fields: dict[str, Any],
        *,
        create_time: int | None = None,
        msg_id: int | bool | None = True,
    ) -> str:
        parts = [
            f"<ToUserName>{cdata(self.account)}</ToUserName>",
            f"<FromUserName>{cdata(self.openid)}</FromUserName>",
            f"<CreateTime>{create_time or int(time.time())}</CreateTime>",
            f"<MsgType>{cdata(msg_type)}</MsgType>",
        ]
        for key, value in fields.items():
            if isinstance(value, str):
                parts.append(f"<{key}>{cdata(value)}</{key}>")
            else:
                parts.append(f"<{key}>{escape(str(value))}</{key}>")
        if msg_id is True:
            parts.append(f"<MsgId>{next(_msg_ids)}</MsgId>")
        elif msg_id:
            parts.append(f"<MsgId>{msg_id}</MsgId>")
        return "<xml>" + "".join(parts) + "</xml>"

    def text(self, content: str, **kw: Any) -> str:
        """XML of a text message."""
        return self._xml("text", {"Content": content}, **kw)

    def image(self, media_id: str, pic_url: str = "http://127.0.0.1/pic.jpg", **kw: Any) -> str:
        return self._xml("image", {"PicUrl": pic_url, "MediaId": media_id}, **kw)

    def voice(self, media_id: str = "voice-1", recognition: str = "", **kw: Any) -> str:
        return self._xml(
            "voice", {"MediaId": media_id, "Format": "amr", "Recognition": recognition}, **kw
        )

    def video(self, media_id: str = "video-1", short: bool = False, **kw: Any) -> str:
        return self._xml(
            "shortvideo" if short else "video",
            {"MediaId": media_id, "ThumbMediaId": "thumb-1"},
            **kw,
        )

    def location(self, lat: float, lng: float, label: str = "", **kw: Any) -> str:
        return self._xml(
            "location", {"Location_X": lat, "Location_Y": lng, "Scale": 15, "Label": label}, **kw
        )

    def link(self, title: str, url: str, description: str = "", **kw: Any) -> str:
        return self._xml("link", {"Title": title, "Description": description, "Url": url}, **kw)

    def event(
        self, event: str, key: str | None = None, *, create_time: int | None = None, **fields: Any
    ) -> str:
        """XML of an event (subscribe, unsubscribe, SCAN, LOCATION, CLICK, VIEW, ...)."""
        body: dict[str, Any] = {"Event": event}
        if key is not None:
            body["EventKey"] = key
        body.update(fields)
        return self._xml("event", body, create_time=create_time, msg_id=None)

    def request(self, xml: str, *, bad_signature: bool = False) -> WeChatRequest:
        """The query string and body WeChat would POST for ``xml``."""
        timestamp = str(int(time.time()) + self.clock_offset)
        nonce = str(secrets.randbelow(10**9))
        if self.encrypt:
            crypto = WeChatCrypto(self.token, self.aes_key, self.app_id)
            envelope = crypto.encrypt_message(xml, nonce, timestamp)
            encrypted = check_xml(envelope.encode())["Encrypt"]
            msg_signature = sign(self.token, timestamp, nonce, encrypted)
            if bad_signature:
                msg_signature = "0" * 40
            body = (
                f"<xml><ToUserName>{cdata(self.account)}</ToUserName>"
                f"<Encrypt>{cdata(encrypted)}</Encrypt></xml>"
            )
            query = {
                "signature": sign(self.token, timestamp, nonce),
                "timestamp": timestamp,
                "nonce": nonce,
                "openid": self.openid,
                "encrypt_type": "aes",
                "msg_signature": msg_signature,
            }
            return WeChatRequest(query, body.encode())
        signature = "0" * 40 if bad_signature else sign(self.token, timestamp, nonce)
        query = {
            "signature": signature,
            "timestamp": timestamp,
            "nonce": nonce,
            "openid": self.openid,
        }
        return WeChatRequest(query, xml.encode())

    def read_reply(self, body: str) -> dict[str, str]:
        """The fields of the bot's answer (decrypted if needed); {} for ``success``."""
        if not body or body == "success":
            return {}
        fields = check_xml(body.encode())
        if "Encrypt" in fields:
            crypto = WeChatCrypto(self.token, self.aes_key, self.app_id)
            plain = crypto.decrypt_message(
                body, fields["MsgSignature"], fields["TimeStamp"], fields["Nonce"]
            )
            fields = check_xml(plain.encode() if isinstance(plain, str) else plain)
        return fields


def reply_text(fields: dict[str, str]) -> str:
    """A readable rendering of a reply's fields (text, image or news)."""
    kind = fields.get("MsgType")
    if kind == "text":
        return fields.get("Content", "")
    if kind == "image":
        return f"[图片 media_id={fields.get('Image', '')}]"
    if kind == "news":
        return f"[图文] {fields.get('Articles', '')}"
    return ""


# -- Weibo fans service ---------------------------------------------------------------------------

_weibo_uids = itertools.count(int(time.time()) % 10**6 * 1000 + 5_000_000_000)


@dataclass
class WeiboRequest:
    query: dict[str, str]
    body: bytes


@dataclass
class WeiboUser:
    """A fan of ``account`` talking to the bot through the Weibo fans-service push."""

    app_secret: str
    uid: str = field(default_factory=lambda: str(next(_weibo_uids)))
    account: str = "5000000001"
    clock_offset: int = 0  # seconds added to timestamps (stale-timestamp tests)
    timestamp_unit: str = "ms"
    media_field: str = "vfid"
    _last_created: int = 0

    @property
    def user_id(self) -> str:
        """The user's id on the platform: the uid."""
        return self.uid

    def _created_at(self) -> str:
        # A real fan cannot push twice within one second; keep created_at strictly increasing.
        now = max(int(time.time()), self._last_created + 1)
        self._last_created = now
        return time.strftime("%a %b %d %H:%M:%S +0000 %Y", time.gmtime(now))

    def push(
        self, msg_type: str, text: str = "", data: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A push body as the platform sends it."""
        return {
            "type": msg_type,
            "receiver_id": int(self.account),
            "sender_id": int(self.uid),
            "created_at": self._created_at(),
            "text": text,
            "data": data or {},
        }

    def text(self, content: str) -> dict[str, Any]:
        return self.push("text", content)

    def image(self, fid: str) -> dict[str, Any]:
        return self.push("image", "", {self.media_field: fid})

    def voice(self, fid: str) -> dict[str, Any]:
        return self.push("voice", "", {self.media_field: fid})

    def location(self, lat: float, lng: float, label: str = "") -> dict[str, Any]:
        return self.push("position", label, {"latitude": lat, "longitude": lng})

    def event(self, subtype: str, key: str | None = None) -> dict[str, Any]:
        """An event push: follow, unfollow, subscribe, scan, scan_follow, click (with key)."""
        data: dict[str, Any] = {"subtype": subtype}
        if key is not None:
            data["key"] = key
        return self.push("event", "", data)

    def request(self, push: dict[str, Any] | bytes, *, bad_signature: bool = False) -> WeiboRequest:
        """The signed query string and JSON body Weibo would POST."""
        now = time.time() + self.clock_offset
        timestamp = str(int(now * 1000) if self.timestamp_unit == "ms" else int(now))
        nonce = str(secrets.randbelow(10**9))
        signature = "0" * 40 if bad_signature else sign(self.app_secret, timestamp, nonce)
        body = push if isinstance(push, bytes) else json.dumps(push, ensure_ascii=False).encode()
        return WeiboRequest({"signature": signature, "timestamp": timestamp, "nonce": nonce}, body)

    def read_reply(self, body: str) -> dict[str, Any]:
        """The bot's passive reply with ``data`` decoded; {} when it answered nothing."""
        if not body:
            return {}
        reply: dict[str, Any] = json.loads(body)
        reply["data"] = json.loads(unquote(reply["data"]))
        return reply


def weibo_reply_text(reply: dict[str, Any]) -> str:
    """A readable rendering of a Weibo reply (passive or active): text or articles."""
    kind = reply.get("type")
    data = reply.get("data") or {}
    if kind == "text":
        return str(data.get("text", ""))
    if kind == "articles":
        items = data.get("articles", [])
        if len(items) == 1 and not items[0].get("display_name"):
            return f"[图片 {items[0].get('image', '')}]"
        return "[图文] " + " / ".join(str(a.get("display_name", "")) for a in items)
    return ""
