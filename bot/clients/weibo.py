"""Async Weibo fans-service API client on aiohttp.

Weibo's access token is issued once for the fans-service account and configured
(``[weibo] access_token``); there is no refresh endpoint to call, so token errors are surfaced.
Errors come as ``{"error_code": n, "error": "..."}``; busy and rate-limit codes back off and
retry like WeChat's -1 / 45009. Campaign posts (``statuses/share``) keep a minimum interval.

Facts about the platform that could not be confirmed are marked [uncertain] and kept here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
import time
from collections.abc import Callable
from functools import cached_property
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.clients.base import ApiError, HttpApi, OutsideWindow, file_form
from bot.kernel.config import WeiboConfig
from bot.kernel.logs import log_event
from bot.kernel.message import Article, Reply, ReplyKind

log = logging.getLogger("bot.weibo.api")

# 10001 system error, 10009 job queue full, 10022-10024 request rate limits.
BACKOFF_ERRORS = frozenset({-1, 10001, 10009, 10022, 10023, 10024})
# [uncertain] The reply window closed / the user no longer follows the account.
WINDOW_ERRORS = frozenset({21604, 21605})

REPLY_PATH = "/2/messages/reply.json"
SHARE_PATH = "/2/statuses/share.json"
USER_PATH = "/2/eps/user/info.json"
# [uncertain] The fans-service media endpoints (download of a user's media by its fid, upload
# of a picture for an articles message); kept in this one place.
MEDIA_GET_PATH = "/2/mss/msget"
MEDIA_UPLOAD_PATH = "/2/mss/upload.json"


class WeiboAPIError(ApiError):
    """error_code / error from the Weibo API."""


class WeiboOutsideWindow(OutsideWindow, WeiboAPIError):
    """The user cannot be messaged now."""


def encode_data(data: dict[str, Any]) -> str:
    """The ``data`` field of replies: UTF-8 JSON, URL-encoded, as the platform expects."""
    return quote(json.dumps(data, ensure_ascii=False, separators=(",", ":")), safe="")


def article_items(articles: tuple[Article, ...]) -> list[dict[str, str]]:
    """WeChat-style articles as Weibo's articles entries."""
    return [
        {"display_name": a.title, "summary": a.description, "image": a.pic_url, "url": a.url}
        for a in articles
    ]


class WeiboClient(HttpApi[WeiboConfig]):
    error = WeiboAPIError
    outside_window = WeiboOutsideWindow
    code_field = "error_code"
    message_field = "error"
    backoff_errors = BACKOFF_ERRORS
    window_errors = WINDOW_ERRORS
    log = log
    # When this client last posted a status (per client, once set).
    _last_post = float("-inf")

    @cached_property
    def _post_lock(self) -> asyncio.Lock:
        """Held from the wait to the post, so statuses keep ``post_interval_seconds`` apart."""
        return asyncio.Lock()

    @cached_property
    def _media_urls(self) -> dict[str, str]:
        """The URL of each picture this client uploaded, by id (for articles showing it)."""
        return {}

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
        form_factory: Callable[[], aiohttp.FormData] | None = None,
        raw: bool = False,
    ) -> dict[str, Any]:
        """One authenticated call with backoff on busy / rate limits; raises WeiboAPIError."""
        query = dict(params or {})
        if method == "POST" and form_factory is None:
            # Form fields encoded by hand: ``data`` is already URL-encoded JSON.
            fields = {"access_token": self.config.access_token, **(form or {})}
            encoded = "&".join(f"{k}={_form_value(k, v)}" for k, v in fields.items())

            def body() -> tuple[Any, dict[str, str] | None]:
                return encoded, {"Content-Type": "application/x-www-form-urlencoded"}

        else:
            query["access_token"] = self.config.access_token

            def body() -> tuple[Any, dict[str, str] | None]:
                return (form_factory() if form_factory is not None else None), None

        return await self.request(method, path, params=query, body=body, raw=raw)

    # -- features ------------------------------------------------------------------------------

    async def reply_message(self, user: str, kind: str, data: dict[str, Any]) -> None:
        """An active reply through ``messages/reply``: kind text, articles or position."""
        await self.call(
            "POST",
            REPLY_PATH,
            form={
                "type": kind,
                "data": encode_data(data),
                "receiver_id": user,
                "save_sender_box": "0",
            },
        )

    async def send_reply(self, user: str, reply: Reply) -> None:
        """Deliver ``reply`` by active reply (texts are sent in parts of ``text_limit``)."""
        if reply.kind is ReplyKind.TEXT:
            for part in split_text(reply.text, self.config.text_limit):
                await self.reply_message(user, "text", {"text": part})
        elif reply.kind is ReplyKind.IMAGE:
            # Weibo has no image message: the picture goes out as a one-article message whose
            # picture and link are the uploaded image's URL.
            media_id = reply.media_id or await self.upload_image(reply.image_path or "")
            article = self.image_article(media_id)
            await self.reply_message(user, "articles", {"articles": article_items((article,))})
        else:
            await self.reply_message(user, "articles", {"articles": article_items(reply.articles)})

    async def upload_image(self, path: str) -> str:
        """Upload a local picture; returns its id (its URL is kept for articles replies)."""
        data = await self.call("POST", MEDIA_UPLOAD_PATH, form_factory=await file_form(path))
        fid = str(data.get("fid") or "")
        if not fid:
            raise WeiboAPIError(-2, "no fid in the answer", MEDIA_UPLOAD_PATH)
        self._media_urls[fid] = str(data.get("url") or "")
        return fid

    def image_article(self, media_id: str) -> Article:
        """An article showing a picture uploaded by ``upload_image`` (Weibo has no image reply)."""
        url = self._media_urls.get(media_id, "")
        return Article(title="", url=url, pic_url=url)

    async def download_media(self, media_id: str, url: str | None = None) -> tuple[bytes, str]:
        """A user's image or voice by its fid: (bytes, content type)."""
        data = await self.call("GET", MEDIA_GET_PATH, params={"fid": media_id}, raw=True)
        return data["_body"], str(data["_content_type"]).split(";")[0]

    async def user_info(self, uid: str) -> dict[str, Any]:
        """Profile and follow status of a user."""
        return await self.call("GET", USER_PATH, params={"uid": uid})

    async def share_status(
        self, status: str, *, pic: bytes | None = None, pic_name: str = "pic.jpg"
    ) -> str:
        """Post a campaign status (with an optional picture); returns the new post's id."""
        async with self._post_lock:
            wait = self._last_post + self.config.post_interval_seconds - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if pic is None:
                data = await self.call("POST", SHARE_PATH, form={"status": quote(status)})
            else:
                content_type = mimetypes.guess_type(pic_name)[0] or "image/jpeg"

                def form() -> aiohttp.FormData:
                    fd = aiohttp.FormData()
                    fd.add_field("status", quote(status))
                    fd.add_field("pic", pic, filename=pic_name, content_type=content_type)
                    return fd

                data = await self.call("POST", SHARE_PATH, form_factory=form)
            self._last_post = time.monotonic()
        post_id = str(data.get("idstr") or data.get("id") or "")
        if not post_id:
            raise WeiboAPIError(-2, "no id in the answer", SHARE_PATH)
        log_event(log, "status_shared", has_pic=pic is not None)
        return post_id


def _form_value(key: str, value: str) -> str:
    # ``data`` and ``status`` arrive already URL-encoded; everything else is encoded here.
    return value if key in ("data", "status") else quote(value, safe="")


def split_text(text: str, limit: int) -> list[str]:
    """``text`` in parts of at most ``limit`` characters, cut at line breaks where possible."""
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].rstrip("\n"))
        rest = rest[cut:].lstrip("\n")
    if rest or not parts:
        parts.append(rest)
    return parts
