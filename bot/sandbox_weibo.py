"""A fake Weibo fans-service API: the local sandbox and the tests' loopback fake.

``api_base_url = "sandbox"`` mounts it under ``/sandbox/weibo``; tests start it on a loopback
port and inject errors. It checks the access token, decodes the URL-encoded ``data`` of
replies, stores media and posts, and records every call.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from bot.sandbox import Recorded, recorded_response, sandbox_app

REPLY_PATH = "/2/messages/reply.json"
PICTURE_MAX_BYTES = 5 * 1024 * 1024  # the platform's documented limit for a post's picture


class FakeWeiboAPI:
    """State of the fake platform; ``app()`` serves it."""

    def __init__(self, access_token: str = "") -> None:
        self.access_token = access_token
        self.calls: list[Recorded] = []
        self.media: dict[str, tuple[bytes, str]] = {}
        self.posts: list[dict[str, Any]] = []
        self.followers: dict[str, bool] = {}  # uid -> follows; unknown users follow
        self._injected: dict[str, list[int]] = defaultdict(list)
        self._ids = itertools.count(4_000_000_000_000_000)

    # -- test controls -------------------------------------------------------------------------

    def inject(self, path: str, error_code: int, times: int = 1) -> None:
        """Make the next ``times`` calls to ``path`` (e.g. '/2/messages/reply.json') fail."""
        self._injected[path].extend([error_code] * times)

    def add_media(self, data: bytes, content_type: str = "image/jpeg") -> str:
        """Store media as if a user had sent it; returns its fid."""
        fid = str(next(self._ids))
        self.media[fid] = (data, content_type)
        return fid

    def sent_to(self, user: str) -> list[dict[str, Any]]:
        """Active replies sent to ``user``: {"type", "data" (decoded)}."""
        return [
            c.body for c in self.calls if c.path == REPLY_PATH and c.body.get("receiver_id") == user
        ]

    def calls_to(self, path: str) -> list[Recorded]:
        """Recorded calls to ``path``."""
        return [c for c in self.calls if c.path == path]

    # -- server --------------------------------------------------------------------------------

    def app(self) -> web.Application:
        """The aiohttp application of the fake."""
        app = sandbox_app([self._recorded, self._simulate_media])
        app.router.add_get("/recorded", self._recorded)
        app.router.add_post("/simulate/media", self._simulate_media)
        app.router.add_route("*", "/2/{tail:.*}", self._api)
        return app

    def _error(self, path: str, code: int, message: str) -> web.Response:
        status = 403 if code in (21327, 21332) else 400
        return web.json_response(
            {"request": path, "error_code": code, "error": message}, status=status
        )

    async def _simulate_media(self, request: web.Request) -> web.Response:
        """Store a picture as if a fan had sent it (``chat``'s /image); returns its fid."""
        data = await request.read()
        return web.json_response({"media_id": self.add_media(data, request.content_type)})

    async def _recorded(self, request: web.Request) -> web.Response:
        """Active replies the bot sent, for ``python -m bot chat --channel weibo``."""
        return recorded_response(
            request,
            (c for c in self.calls if c.path == REPLY_PATH),
            lambda c, user: bool(c.body.get("receiver_id") == user),
        )

    async def _api(self, request: web.Request) -> web.StreamResponse:
        path = "/2/" + request.match_info["tail"]
        fields: dict[str, Any] = dict(request.query)
        if request.method == "POST":
            post = await request.post()
            for key, value in post.items():
                fields[key] = value
        token = fields.get("access_token")
        if self.access_token and token != self.access_token:
            return self._error(path, 21332, "invalid_access_token")
        queue = self._injected.get(path)
        if queue:
            code = queue.pop(0)
            return self._error(path, code, f"injected {code}")
        if path == REPLY_PATH:
            return self._reply(path, fields)
        if path == "/2/statuses/share.json":
            return self._share(path, fields)
        if path == "/2/mss/msget":
            item = self.media.get(str(fields.get("fid", "")))
            if item is None:
                return self._error(path, 20003, "media not found")
            self.calls.append(Recorded(path, {"fid": fields.get("fid")}))
            return web.Response(body=item[0], content_type=item[1])
        if path == "/2/mss/upload.json":
            media = fields.get("media")
            if not isinstance(media, web.FileField):
                return self._error(path, 10008, "param error: media")
            data = media.file.read()
            media.file.close()  # large uploads are spooled to a temporary file
            if len(data) > PICTURE_MAX_BYTES:
                return self._error(path, 20006, "image size too large")
            fid = str(next(self._ids))
            self.media[fid] = (data, media.content_type)
            self.calls.append(Recorded(path, {"size": len(data)}))
            base = str(request.url.with_query(None))[: -len(path)]
            return web.json_response({"fid": fid, "url": f"{base}/2/mss/msget?fid={fid}"})
        if path == "/2/eps/user/info.json":
            uid = str(fields.get("uid", ""))
            self.calls.append(Recorded(path, {"uid": uid}))
            follows = self.followers.get(uid, True)
            return web.json_response({"id": uid, "follow": 1 if follows else 0})
        return self._error(path, 10014, "unknown api")

    def _reply(self, path: str, fields: dict[str, Any]) -> web.Response:
        kind = fields.get("type")
        user = str(fields.get("receiver_id", ""))
        if kind not in ("text", "articles", "position") or not user:
            return self._error(path, 10008, "param error")
        try:
            data = json.loads(unquote(str(fields.get("data", ""))))
        except ValueError:
            return self._error(path, 10008, "param error: data")
        if kind == "text" and len(str(data.get("text", ""))) > 300:
            return self._error(path, 20012, "text too long")
        if self.followers.get(user) is False:
            return self._error(path, 21605, "user does not follow")
        self.calls.append(Recorded(path, {"type": kind, "receiver_id": user, "data": data}))
        return web.json_response({"result": True, "receiver_id": user})

    def _share(self, path: str, fields: dict[str, Any]) -> web.Response:
        status = unquote(str(fields.get("status", "")))
        if not status:
            return self._error(path, 10016, "miss required parameter (status)")
        pic = fields.get("pic")
        size = len(pic.file.read()) if isinstance(pic, web.FileField) else 0
        post_id = str(next(self._ids))
        post = {"id": int(post_id), "idstr": post_id, "text": status, "pic_size": size}
        self.posts.append(post)
        self.calls.append(Recorded(path, post))
        return web.json_response(post)
