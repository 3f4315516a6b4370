"""A fake WeChat API server: the local sandbox and the tests' loopback fake.

``python -m bot serve`` with ``api_base_url = "sandbox"`` mounts it under ``/sandbox/wechat``
so a newcomer needs no credentials; ``python -m bot chat`` reads what the bot "sent" from
``/sandbox/wechat/recorded``. Tests start it on a loopback port and inject errors.
It implements just enough of the platform's behaviour to exercise the client honestly:
token validity, stable_token semantics, errcodes, media storage, mass sends.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

OK = {"errcode": 0, "errmsg": "ok"}

MB = 1024 * 1024
# Temporary media the platform accepts (media/upload documentation): image, voice, video, thumb.
MEDIA_LIMITS = {"image": 10 * MB, "voice": 2 * MB, "video": 10 * MB, "thumb": 64 * 1024}
MEDIA_SIZE_ERRORS = {"image": 40009, "voice": 40010, "video": 40011, "thumb": 40012}
# What a sandbox request may carry: the largest medium plus its multipart envelope. Mounted in
# the bot, a request would otherwise get the webhooks' small limit (server.max_body_bytes).
SANDBOX_MAX_BODY = max(MEDIA_LIMITS.values()) + 64 * 1024
_FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


def from_loopback(request: web.BaseRequest) -> bool:
    """Whether ``request`` came straight from this machine: a loopback peer and no proxy
    header (behind a reverse proxy on the same host every peer is loopback)."""
    peer = request.transport.get_extra_info("peername") if request.transport else None
    host = peer[0] if isinstance(peer, tuple) and peer else ""
    if not (host.startswith("127.") or host in ("::1", "::ffff:127.0.0.1")):
        return False
    return not any(name in request.headers for name in _FORWARDING_HEADERS)


def sandbox_app(local_only: list[Handler]) -> web.Application:
    """An aiohttp application for a fake platform: media-sized bodies; the handlers in
    ``local_only`` (tokens, recorded calls, test controls) refuse all but loopback callers."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.match_info.handler in local_only and not from_loopback(request):
            return web.json_response(
                {"errcode": 40164, "errmsg": "sandbox: loopback only"}, status=403
            )
        # Not request.clone(): a clone is never finished, so its spooled uploads stay open.
        request._client_max_size = SANDBOX_MAX_BODY
        return await handler(request)

    return web.Application(client_max_size=SANDBOX_MAX_BODY, middlewares=[guard])


@dataclass
class Recorded:
    path: str
    body: Any
    at: float = field(default_factory=time.time)


def recorded_response(
    request: web.Request, calls: Iterable[Recorded], to_user: Callable[[Recorded, str], bool]
) -> web.Response:
    """The ``calls`` made after ``?since=`` (those ``to_user`` of ``?user=``, when given), as
    ``python -m bot chat`` reads them."""
    user = request.query.get("user")
    since = float(request.query.get("since", "0") or 0)
    return web.json_response(
        [
            {"path": c.path, "body": c.body, "at": c.at}
            for c in calls
            if c.at > since and (user is None or to_user(c, user))
        ]
    )


class FakeWeChatAPI:
    """State of the fake platform; ``app()`` serves it."""

    def __init__(self, app_id: str = "", app_secret: str = "") -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.tokens: dict[str, float] = {}  # token -> expiry (epoch seconds)
        self.stable_token: str | None = None
        self.token_calls = 0
        self.calls: list[Recorded] = []
        self.media: dict[str, tuple[bytes, str]] = {}
        self.followers: dict[str, bool] = {}  # openid -> subscribed; unknown users follow
        self.closed_window: set[str] = set()  # openids outside the 48-hour window
        self._injected: dict[str, list[int]] = defaultdict(list)
        self._ids = itertools.count(1000)
        self.delay_seconds: dict[str, float] = {}
        # Calls held by delay_seconds right now (a test kills the caller mid-call).
        self.in_flight: dict[str, int] = defaultdict(int)
        self._slow_calls: set[asyncio.Future[web.StreamResponse]] = set()
        self.token_lifetime = 7200  # seconds a new token is valid (tests shorten it)
        self.token_grace_seconds = 300  # how long a replaced token keeps working
        # clientmsgid -> msg_id of mass sends: the platform refuses a repeat with 45065.
        self.mass_client_ids: dict[str, int] = {}
        # Scenes of the temporary QR codes created (ticket -> scene_str).
        self.qr_scenes: dict[str, str] = {}

    # -- test controls -------------------------------------------------------------------------

    def inject(self, path: str, errcode: int, times: int = 1) -> None:
        """Make the next ``times`` calls to ``path`` (e.g. '/cgi-bin/message/custom/send') fail."""
        self._injected[path].extend([errcode] * times)

    def expire_tokens(self) -> None:
        """Invalidate every token (the next authenticated call gets 42001)."""
        self.tokens.clear()
        self.stable_token = None

    def add_media(self, data: bytes, content_type: str = "image/jpeg") -> str:
        """Store media as if a user had sent it; returns its media_id."""
        media_id = f"media-{next(self._ids)}"
        self.media[media_id] = (data, content_type)
        return media_id

    def sent_to(self, user: str) -> list[dict[str, Any]]:
        """Customer-service messages sent to ``user``."""
        return [
            c.body
            for c in self.calls
            if c.path == "/cgi-bin/message/custom/send" and c.body.get("touser") == user
        ]

    def calls_to(self, path: str) -> list[Recorded]:
        """Recorded calls to ``path``."""
        return [c for c in self.calls if c.path == path]

    def _qrcode(self, body: dict[str, Any]) -> dict[str, Any]:
        """A temporary string-scene QR code as the platform answers (scene 1-64 characters,
        at most 30 days)."""
        scene = ((body.get("action_info") or {}).get("scene") or {}).get("scene_str")
        expire = body.get("expire_seconds", 60)
        if (
            body.get("action_name") != "QR_STR_SCENE"
            or not isinstance(scene, str)
            or not 1 <= len(scene) <= 64
            or not isinstance(expire, int)
            or not 60 <= expire <= 2592000
        ):
            return {"errcode": 40013, "errmsg": "invalid qrcode parameter"}
        ticket = "gQ" + secrets.token_urlsafe(24)
        self.qr_scenes[ticket] = scene
        return {
            "ticket": ticket,
            "expire_seconds": expire,
            "url": f"http://weixin.qq.com/q/{secrets.token_urlsafe(16)}",
        }

    # -- server --------------------------------------------------------------------------------

    def _new_token(self) -> str:
        token = "TOKEN_" + secrets.token_hex(32)  # real tokens are long; keep ours long too
        self.tokens[token] = time.time() + self.token_lifetime
        return token

    def _valid(self, token: str | None) -> bool:
        return bool(token) and self.tokens.get(token or "", 0) > time.time()

    def _injected_error(self, path: str) -> dict[str, Any] | None:
        queue = self._injected.get(path)
        if queue:
            code = queue.pop(0)
            return {"errcode": code, "errmsg": f"injected {code}"}
        return None

    def app(self) -> web.Application:
        """The aiohttp application of the fake."""
        # Tokens would let anyone drive the sandbox, and recorded calls show what the bot sent.
        app = sandbox_app([self._token, self._stable_token, self._recorded, self._simulate_media])
        app.router.add_route("*", "/cgi-bin/token", self._token)
        app.router.add_post("/cgi-bin/stable_token", self._stable_token)
        app.router.add_get("/recorded", self._recorded)
        app.router.add_post("/simulate/media", self._simulate_media)
        app.router.add_route("*", "/cgi-bin/{tail:.*}", self._api)

        async def end_slow_calls(_app: web.Application) -> None:
            for task in list(self._slow_calls):
                task.cancel()

        app.on_shutdown.append(end_slow_calls)
        return app

    async def _token(self, request: web.Request) -> web.Response:
        self.token_calls += 1
        if (err := self._injected_error("/cgi-bin/token")) is not None:
            return web.json_response(err)
        if self.app_secret and request.query.get("secret") != self.app_secret:
            return web.json_response({"errcode": 40125, "errmsg": "invalid appsecret"})
        # Each fetch replaces the last: the old token keeps working for 5 minutes only.
        for token in list(self.tokens):
            self.tokens[token] = min(self.tokens[token], time.time() + self.token_grace_seconds)
        return web.json_response(
            {"access_token": self._new_token(), "expires_in": self.token_lifetime}
        )

    async def _stable_token(self, request: web.Request) -> web.Response:
        self.token_calls += 1
        if (err := self._injected_error("/cgi-bin/stable_token")) is not None:
            return web.json_response(err)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"errcode": 47001, "errmsg": "data format error"})
        if self.app_secret and body.get("secret") != self.app_secret:
            return web.json_response({"errcode": 40125, "errmsg": "invalid appsecret"})
        current = self.stable_token
        if body.get("force_refresh") or current is None or not self._valid(current):
            if current is not None and current in self.tokens:
                # The replaced token keeps working for 5 minutes, as on the platform.
                grace = time.time() + self.token_grace_seconds
                self.tokens[current] = min(self.tokens[current], grace)
            current = self.stable_token = self._new_token()
        remaining = int(self.tokens[current] - time.time())
        return web.json_response({"access_token": current, "expires_in": remaining})

    async def _simulate_media(self, request: web.Request) -> web.Response:
        """Store a picture as if a user had sent it (``chat``'s /image); returns its media_id."""
        data = await request.read()
        media_id = self.add_media(data, request.content_type or "image/jpeg")
        return web.json_response({"media_id": media_id})

    async def _recorded(self, request: web.Request) -> web.Response:
        """Messages the bot sent, for ``python -m bot chat`` (``?user=&since=``)."""
        return recorded_response(
            request,
            (c for c in self.calls if not c.path.startswith("/cgi-bin/media/")),
            lambda c, user: isinstance(c.body, dict) and c.body.get("touser") in (user, None),
        )

    async def _api(self, request: web.Request) -> web.StreamResponse:
        # Relative to this app: mounted as the sandbox, request.path carries the mount prefix.
        path = "/cgi-bin/" + request.match_info["tail"]
        delay = self.delay_seconds.get(path)
        if not delay:
            return await self._respond(request, path, None)
        # A slow platform (tests). It has the whole request before it is slow to answer, and
        # goes on with it when the caller vanishes meanwhile (a test kills the bot mid-call),
        # so the work is shielded from the test server's cancelling of handlers.
        raw = None
        if request.can_read_body and not request.content_type.startswith("multipart/"):
            raw = await request.read()
        task = asyncio.ensure_future(self._slowly(request, path, raw, delay))
        self._slow_calls.add(task)
        task.add_done_callback(self._slow_calls.discard)
        return await asyncio.shield(task)

    async def _slowly(
        self, request: web.Request, path: str, raw: bytes | None, delay: float
    ) -> web.StreamResponse:
        self.in_flight[path] += 1
        try:
            await asyncio.sleep(delay)
        finally:
            self.in_flight[path] -= 1
        return await self._respond(request, path, raw)

    async def _respond(
        self, request: web.Request, path: str, raw: bytes | None
    ) -> web.StreamResponse:
        if not self._valid(request.query.get("access_token")):
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        if (err := self._injected_error(path)) is not None:
            return web.json_response(err)
        body: Any = None
        if path == "/cgi-bin/media/upload":
            post = await request.post()
            media = post.get("media")
            if not isinstance(media, web.FileField):
                return web.json_response({"errcode": 41005, "errmsg": "media data missing"})
            data = media.file.read()
            media.file.close()  # large uploads are spooled to a temporary file
            media_type = request.query.get("type", "")
            if media_type not in MEDIA_LIMITS:
                return web.json_response({"errcode": 40004, "errmsg": "invalid media type"})
            if not data or len(data) > MEDIA_LIMITS[media_type]:
                code = MEDIA_SIZE_ERRORS[media_type]
                return web.json_response({"errcode": code, "errmsg": "invalid media size"})
            media_id = f"upload-{next(self._ids)}"
            self.media[media_id] = (data, media.content_type)
            self.calls.append(
                Recorded(path, {"type": request.query.get("type"), "size": len(data)})
            )
            return web.json_response(
                {
                    "type": request.query.get("type"),
                    "media_id": media_id,
                    "created_at": int(time.time()),
                }
            )
        if path == "/cgi-bin/media/get":
            item = self.media.get(request.query.get("media_id", ""))
            if item is None:
                return web.json_response({"errcode": 40007, "errmsg": "invalid media_id"})
            return web.Response(body=item[0], content_type=item[1])
        if raw is None and request.can_read_body:
            raw = await request.read()
        if raw is not None:
            try:
                body = json.loads(raw)
            except ValueError:
                return web.json_response({"errcode": 47001, "errmsg": "data format error"})
        self.calls.append(Recorded(path, body if body is not None else dict(request.query)))
        if path == "/cgi-bin/message/custom/send":
            user = (body or {}).get("touser", "")
            if user in self.closed_window or self.followers.get(user) is False:
                self.calls.pop()
                return web.json_response(
                    {
                        "errcode": 45015,
                        "errmsg": "response out of time limit or subscription is canceled",
                    }
                )
            return web.json_response(OK)
        if path == "/cgi-bin/user/info":
            openid = request.query.get("openid", "")
            subscribed = self.followers.get(openid, True)
            return web.json_response({"subscribe": 1 if subscribed else 0, "openid": openid})
        if path.startswith("/cgi-bin/message/mass/"):
            if path.endswith(("/sendall", "/send")):
                client_id = str((body or {}).get("clientmsgid") or "")
                if client_id and client_id in self.mass_client_ids:
                    self.calls.pop()  # refused: nothing went out
                    return web.json_response(
                        {
                            "errcode": 45065,
                            "errmsg": "clientmsgid exist",
                            "msg_id": self.mass_client_ids[client_id],
                        }
                    )
                msg_id = next(self._ids)
                if client_id:
                    self.mass_client_ids[client_id] = msg_id
                return web.json_response({**OK, "msg_id": msg_id, "msg_data_id": next(self._ids)})
            return web.json_response(OK)
        if path == "/cgi-bin/qrcode/create":
            return web.json_response(self._qrcode(body or {}))
        if path in ("/cgi-bin/media/uploadimg",):
            return web.json_response({"url": f"http://127.0.0.1/fake/{next(self._ids)}.jpg"})
        if path == "/cgi-bin/material/add_news" or path == "/cgi-bin/media/uploadnews":
            return web.json_response({"type": "news", "media_id": f"news-{next(self._ids)}"})
        return web.json_response(OK)
