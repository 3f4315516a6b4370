"""Async WeChat Official Account API client on aiohttp.

The access token comes from ``/cgi-bin/stable_token`` by default: within its validity every
process asking gets the same token, so several workers never invalidate each other (the
classic ``/cgi-bin/token`` endpoint issues a new token each call and breaks the others).
Refresh happens under a lock, re-checked once the lock is held, ahead of expiry, and once more
on 40001 / 40014 / 42001. -1 (busy) and 45009 (frequency limit) back off and retry.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from functools import cached_property
from typing import Any

import aiohttp

from bot.clients.base import ApiError, BodyFactory, HttpApi, OutsideWindow, file_form
from bot.kernel.config import WeChatConfig
from bot.kernel.logs import log_event
from bot.kernel.message import Reply, ReplyKind

log = logging.getLogger("bot.wechat.api")

TOKEN_ERRORS = frozenset({40001, 40014, 42001})
BACKOFF_ERRORS = frozenset({-1, 45009})
WINDOW_ERRORS = frozenset({45015, 45047, 43004})


class WeChatAPIError(ApiError):
    """errcode / errmsg from the WeChat API."""


class WeChatOutsideWindow(OutsideWindow, WeChatAPIError):
    """45015 and friends: the user is outside the 48-hour window or has unfollowed."""


def _body(
    json_body: Any = None, form_factory: Callable[[], aiohttp.FormData] | None = None
) -> BodyFactory:
    """What a call sends: a multipart form (built anew for every attempt), JSON or nothing."""

    def body() -> tuple[Any, dict[str, str] | None]:
        if form_factory is not None:
            return form_factory(), None
        if json_body is not None:
            # ensure_ascii=False: WeChat shows \\uXXXX escapes literally in some fields.
            data = json.dumps(json_body, ensure_ascii=False).encode()
            return data, {"Content-Type": "application/json"}
        return None, None

    return body


class WeChatClient(HttpApi[WeChatConfig]):
    error = WeChatAPIError
    outside_window = WeChatOutsideWindow
    backoff_errors = BACKOFF_ERRORS
    window_errors = WINDOW_ERRORS
    log = log
    # The cached access token and when to refresh it (per client, once set).
    _token: str | None = None
    _expires_at = 0.0

    @cached_property
    def _lock(self) -> asyncio.Lock:
        """Held while the token is refreshed, so one task refreshes and the others wait."""
        return asyncio.Lock()

    # -- token ---------------------------------------------------------------------------------

    async def access_token(self) -> str:
        """A valid token, refreshed ahead of expiry under a lock."""
        if self._token and time.monotonic() < self._expires_at:
            return self._token
        async with self._lock:
            if self._token and time.monotonic() < self._expires_at:
                return self._token
            return await self._refresh(force=False)

    async def _refresh(self, *, force: bool) -> str:
        if self.config.token_endpoint == "stable":
            credentials = {
                "grant_type": "client_credential",
                "appid": self.config.app_id,
                "secret": self.config.app_secret,
                "force_refresh": force,
            }
            data = await self.request("POST", "/cgi-bin/stable_token", body=_body(credentials))
        else:
            data = await self.request(
                "GET",
                "/cgi-bin/token",
                params={
                    "grant_type": "client_credential",
                    "appid": self.config.app_id,
                    "secret": self.config.app_secret,
                },
            )
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise WeChatAPIError(-2, "no access_token in the answer", "/cgi-bin/token")
        expires_in = int(data.get("expires_in", 7200))
        margin = min(self.config.token_refresh_margin_seconds, expires_in // 2)
        self._token = token
        self._expires_at = time.monotonic() + expires_in - margin
        log_event(
            log,
            "token_refreshed",
            endpoint=self.config.token_endpoint,
            forced=force,
            expires_in=expires_in,
        )
        return token

    async def _recover_token(self, failed: str) -> None:
        """After a token error: refetch; force a new token only if the platform repeats ours."""
        async with self._lock:
            if self._token != failed:
                return  # another task already refreshed
            self._expires_at = 0
            token = await self._refresh(force=False)
            if token == failed:
                await self._refresh(force=True)

    # -- calls ---------------------------------------------------------------------------------

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        form_factory: Callable[[], aiohttp.FormData] | None = None,
        raw: bool = False,
    ) -> dict[str, Any]:
        """An authenticated call with backoff on -1 / 45009 (raises WeChatAPIError on any other
        errcode); a token error refreshes the token and retries once."""
        body = _body(json_body, form_factory)
        for attempt in (1, 2):
            token = await self.access_token()
            try:
                query = {**(params or {}), "access_token": token}
                return await self.request(method, path, params=query, body=body, raw=raw)
            except WeChatAPIError as exc:
                if exc.code in TOKEN_ERRORS and attempt == 1:
                    await self._recover_token(token)
                    continue
                raise
        raise AssertionError("unreachable")

    # -- features ------------------------------------------------------------------------------

    async def send_reply(self, user: str, reply: Reply) -> None:
        """A customer-service message (within 48 h of the user's last action)."""
        body: dict[str, Any] = {"touser": user}
        if reply.kind is ReplyKind.TEXT:
            body.update(msgtype="text", text={"content": reply.text})
        elif reply.kind is ReplyKind.IMAGE:
            media_id = reply.media_id or await self.upload_image(reply.image_path or "")
            body.update(msgtype="image", image={"media_id": media_id})
        else:
            body.update(
                msgtype="news",
                news={
                    "articles": [
                        {
                            "title": a.title,
                            "description": a.description,
                            "url": a.url,
                            "picurl": a.pic_url,
                        }
                        for a in reply.articles
                    ]
                },
            )
        await self.call("POST", "/cgi-bin/message/custom/send", json_body=body)

    async def upload_image(self, path: str) -> str:
        """Upload a temporary image (kept 3 days by the platform); returns its media_id."""
        return await self.upload_media(path, "image")

    async def upload_media(self, path: str, media_type: str) -> str:
        """Upload temporary media of ``media_type``; returns its media_id."""
        form = await file_form(path)
        data = await self.call(
            "POST", "/cgi-bin/media/upload", params={"type": media_type}, form_factory=form
        )
        media_id = data.get("media_id")
        if not isinstance(media_id, str):
            raise WeChatAPIError(-2, "no media_id in the answer", "/cgi-bin/media/upload")
        return media_id

    async def download_media(self, media_id: str, url: str | None = None) -> tuple[bytes, str]:
        """A user's media from ``media/get``: (bytes, content type)."""
        data = await self.call("GET", "/cgi-bin/media/get", params={"media_id": media_id}, raw=True)
        return data["_body"], str(data["_content_type"]).split(";")[0]

    async def create_menu(self, buttons: list[dict[str, Any]]) -> None:
        """Replace the custom menu."""
        await self.call("POST", "/cgi-bin/menu/create", json_body={"button": buttons})

    async def create_qrcode(self, scene: str, expire_seconds: int) -> dict[str, Any]:
        """A temporary parametric QR code with a string scene (qrcode/create, QR_STR_SCENE):
        ``ticket``, ``url`` (the code's content) and ``expire_seconds``."""
        return await self.call(
            "POST",
            "/cgi-bin/qrcode/create",
            json_body={
                "expire_seconds": expire_seconds,
                "action_name": "QR_STR_SCENE",
                "action_info": {"scene": {"scene_str": scene}},
            },
        )

    async def user_info(self, openid: str) -> dict[str, Any]:
        """Profile and follow status (``subscribe`` 1/0) of a user."""
        return await self.call(
            "GET", "/cgi-bin/user/info", params={"openid": openid, "lang": "zh_CN"}
        )
