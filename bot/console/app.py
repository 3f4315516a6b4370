"""The console as an aiohttp sub-application mounted at /console.

Public routes: the login form, logout and the static files. Every other route comes from a
:class:`~bot.console.pages.Section` and runs behind :func:`guarded`, which checks the session
(idle and absolute limits, operator still enabled), the route's role and, for a POST, the CSRF
token and the Origin/Referer. The middleware adds the security headers to every answer and turns
what a client can get wrong into 400/403/404/413 pages, and a database outage into a 503 page.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web
from aiohttp.web_request import FileField
from multidict import MultiDictProxy
from sqlalchemy.exc import DBAPIError, OperationalError

from bot.console.call import Call, FormError, Operator, Renderer, read_form
from bot.console.exports import Exports
from bot.console.pages import PageRoute, Role, Section
from bot.console.security import (
    HEADERS,
    SESSION_COOKIE,
    LoginThrottle,
    check_password_async,
    client_address,
    new_token,
    same_origin,
    session_expired,
)
from bot.kernel.context import BotContext
from bot.kernel.logs import log_event
from bot.kernel.periodic import STOP_WAIT_SECONDS, Periodic
from handlers.feature import Feature
from handlers.operations import OperationError
from handlers.operators import CONSOLE
from storage import operators as store
from storage.db import transaction

log = logging.getLogger("bot.console")

STATIC = Path(__file__).parent / "static"
RENDERER: web.AppKey[Renderer] = web.AppKey("console_renderer")
EXPORTS: web.AppKey[Exports] = web.AppKey("console_exports")
CONSOLE_BOT: web.AppKey[BotContext] = web.AppKey("console_bot")
# last_seen_at is written at most this often (a page view need not always be a write).
TOUCH_EVERY = timedelta(seconds=60)
LOGIN_NAME_MAX = 64
# Seconds between two sweeps of expired export files.
EXPIRE_EVERY = 60


def _bot(request: web.Request) -> BotContext:
    return request.app[CONSOLE_BOT]


def _error_page(request: web.Request, status: int, key: str) -> web.Response:
    renderer = request.app[RENDERER]
    return renderer.html(
        "error.html", status=status, message=renderer.texts(f"console.errors.{key}")
    )


@web.middleware
async def console_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Security headers on everything; client mistakes and outages as Chinese pages."""
    try:
        response = await handler(request)
    except FormError as exc:
        renderer = request.app[RENDERER]
        response = renderer.html("error.html", status=400, message=exc.text)
    except OperationError as exc:
        # A page calls the feature's operation and lets its refusal come here: one mapping.
        renderer = request.app[RENDERER]
        response = renderer.html("error.html", status=400, message=exc.text(renderer.texts))
    except web.HTTPException as exc:
        if exc.status in (400, 403, 404, 405, 413):
            response = _error_page(request, exc.status, f"http_{exc.status}")
        else:
            for name, value in HEADERS.items():
                exc.headers.setdefault(name, value)
            raise
    except (OperationalError, DBAPIError, ConnectionError, TimeoutError):
        log.exception("console request failed: database unavailable")
        response = _error_page(request, 503, "unavailable")
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _cookie(response: web.StreamResponse, bot: BotContext, token: str) -> None:
    secure = bot.config.public_url.startswith("https://")
    response.set_cookie(
        SESSION_COOKIE,
        token,
        path="/console",
        httponly=True,
        samesite="Strict",
        secure=secure,
        max_age=CONSOLE.of(bot.config).session_absolute_hours * 3600,
    )


async def _current(request: web.Request) -> tuple[Operator, str, str] | None:
    """The operator of the request's session, its CSRF token and cookie token; None when
    there is no valid session (expired sessions are deleted)."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token or len(token) > 100:
        return None
    bot = _bot(request)
    now = bot.clock.now()
    async with transaction(bot.sessions) as session:
        found = await store.find_session(session, token)
        if found is None:
            return None
        row, op = found
        if not op.enabled or session_expired(
            CONSOLE.of(bot.config), row.created_at, row.last_seen_at, now
        ):
            await store.drop_session(session, token)
            return None
        if now - row.last_seen_at > TOUCH_EVERY:
            await store.touch_session(session, token, now)
        return Operator(op.id, op.name, Role.parse(op.role)), row.csrf, token


def guarded(
    route: PageRoute, renderer: Renderer
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The handler of ``route`` behind the login, role, CSRF and Origin checks."""

    async def handle(request: web.Request) -> web.StreamResponse:
        bot = _bot(request)
        if request.method == "POST" and not same_origin(request, bot.config.public_url):
            raise web.HTTPForbidden()
        current = await _current(request)
        if current is None:
            if request.method == "GET":
                target = quote(request.path_qs, safe="")
                raise web.HTTPSeeOther(f"/console/login?next={target}")
            raise web.HTTPForbidden()
        operator, csrf, _token = current
        if not operator.can(route.role):
            raise web.HTTPForbidden()
        data = None
        if request.method == "POST":
            data = await read_form(request, CONSOLE.of(bot.config).upload_max_bytes)
            sent = data.get("csrf") or request.headers.get("X-CSRF-Token", "")
            if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), csrf.encode()):
                raise web.HTTPForbidden()
        call = Call(request, bot, operator, csrf, renderer, data, request.app[EXPORTS])
        try:
            return await route.handler(call)
        finally:
            _close_uploads(data)

    return handle


def _close_uploads(data: MultiDictProxy[Any] | None) -> None:
    """Close the temporary files aiohttp spooled uploads into."""
    for value in (data or {}).values():
        if isinstance(value, FileField):
            value.file.close()


def _safe_next(target: str) -> str:
    """Only paths inside the console are followed after login (no open redirect)."""
    if target.startswith("/console") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console/"


async def login_form(request: web.Request) -> web.StreamResponse:
    """GET /console/login."""
    if await _current(request) is not None:
        raise web.HTTPSeeOther("/console/")
    renderer = request.app[RENDERER]
    return renderer.html(
        "login.html", next=_safe_next(request.query.get("next", "")), error=None, name=""
    )


async def login(request: web.Request) -> web.StreamResponse:
    """POST /console/login: the throttle, the password, a new session."""
    bot = _bot(request)
    renderer = request.app[RENDERER]
    if not same_origin(request, bot.config.public_url):
        raise web.HTTPForbidden()
    data = await read_form(request)
    name = str(data.get("name", "")).strip()[:LOGIN_NAME_MAX]
    password = str(data.get("password", ""))[:256]
    target = _safe_next(str(data.get("next", "")))
    now = bot.clock.now()
    address = client_address(request, CONSOLE.of(bot.config).client_ip_header)
    account = name.lower()

    def refuse(key: str, status: int, **params: object) -> web.Response:
        return renderer.html(
            "login.html",
            status=status,
            next=target,
            name=name,
            error=renderer.texts(f"console.login.{key}", **params),
        )

    throttle = LoginThrottle(bot.sessions, CONSOLE.of(bot.config))
    lock = await throttle.lock(account, address, now) or await throttle.attempt(
        account, address, now
    )
    if lock is not None:
        minutes = max(1, int((lock.until - now).total_seconds() + 59) // 60)
        return refuse("locked", 429, minutes=minutes)
    async with bot.sessions() as session:
        op = await store.get_operator(session, name) if name else None
    ok = await check_password_async(op.password_hash if op else None, password)
    if not ok or op is None or not op.enabled:
        # The try stays counted as a failure (LoginThrottle.attempt counted it).
        log_event(log, "console_login_failed", account_known=op is not None)
        return refuse("failed", 401)
    await throttle.give_back(account, address, now)
    token, csrf = new_token(), new_token()
    async with transaction(bot.sessions) as session:
        await store.clear_failures(session, "account", account)
        await store.start_session(session, token, csrf, op.id, now)
        await store.audit(session, now, f"console:{op.name}", "console.login", "")
        console = CONSOLE.of(bot.config)
        await store.purge_sessions(
            session,
            now - timedelta(minutes=console.session_idle_minutes),
            now - timedelta(hours=console.session_absolute_hours),
        )
    response = web.HTTPSeeOther(target)
    _cookie(response, bot, token)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    """POST /console/logout (CSRF-checked like every other POST)."""
    bot = _bot(request)
    if not same_origin(request, bot.config.public_url):
        raise web.HTTPForbidden()
    current = await _current(request)
    if current is not None:
        _operator, csrf, token = current
        data = await read_form(request)
        sent = data.get("csrf", "")
        if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), csrf.encode()):
            raise web.HTTPForbidden()
        async with transaction(bot.sessions) as session:
            await store.drop_session(session, token)
    response = web.HTTPSeeOther("/console/login")
    response.del_cookie(SESSION_COOKIE, path="/console")
    raise response


def console_app(bot: BotContext, sections: Sequence[Section]) -> web.Application:
    """The sub-application serving ``sections`` (mounted at /console by the app factory)."""
    app = web.Application(middlewares=[console_middleware])
    renderer = Renderer(bot.texts, sections, bot.config.schedules.timezone)
    app[RENDERER] = renderer
    app[CONSOLE_BOT] = bot
    exports = Exports(bot, bot.config.data_path / "exports")
    app[EXPORTS] = exports

    async def expire_exports(_app: web.Application) -> AsyncIterator[None]:
        # Files with personal data go when their time is up, even if nobody exports again.
        async def expire() -> None:
            try:
                await exports.expire()
            except (OperationalError, DBAPIError, OSError):
                log.exception("console export expiry failed")

        expiry = Periodic(expire, EXPIRE_EVERY, name="console-export-expiry")
        expiry.start()
        yield
        await expiry.stop(STOP_WAIT_SECONDS)
        await exports.close()

    app.cleanup_ctx.append(expire_exports)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_static("/static", STATIC, append_version=True)
    seen: set[tuple[str, str]] = set()
    for section in sections:
        for route in section.routes:
            key = (route.method, route.path)
            if key in seen:
                raise ValueError(f"console route declared twice: {route.method} {route.path}")
            seen.add(key)
            app.router.add_route(route.method, route.path, guarded(route, renderer))
    return app


async def _redirect_home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/console/")


def mount_console(app: web.Application, bot: BotContext, features: Sequence[Feature]) -> None:
    """Serve the console (its own and ``features``' pages) under /console, with / redirecting
    there; nothing when ``[console] enabled`` is off."""
    if not CONSOLE.of(bot.config).enabled:
        return
    from bot.console import all_sections

    # A feature the campaign pack switches off (Hunan runs no logo contest) has no pages and
    # no menu entry: its routes answer 404 like any unknown page.
    running = [f for f in features if bot.pack.on(f.name)]
    app.add_subapp("/console", console_app(bot, all_sections(running)))
    app.router.add_get("/", _redirect_home)
    app.router.add_get("/console", _redirect_home)
