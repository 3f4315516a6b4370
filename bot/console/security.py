"""Passwords, session tokens, the Origin check and the login throttle of the console."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from aiohttp import web

from handlers.operators import ConsoleConfig, check_password
from storage.db import Sessions
from storage.ratelimit import WindowCounter

SESSION_COOKIE = "console_session"

# Every response of the console: no inline script, no framing, no sniffing, no Referer outside.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


async def check_password_async(encoded: str | None, password: str) -> bool:
    """:func:`check_password` off the event loop (argon2 takes tens of milliseconds)."""
    return await asyncio.to_thread(check_password, encoded, password)


def new_token() -> str:
    """A random session or CSRF token."""
    return secrets.token_urlsafe(32)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def same_origin(request: web.Request, public_url: str) -> bool:
    """Whether a state-changing request comes from the console's own pages.

    The browser's Origin (or, failing that, the Referer) must be this site as the proxy's
    public URL names it, or as the Host header the request came with. A request with neither
    header is refused: every browser that can run the console sends one on a POST.
    """
    sent = request.headers.get("Origin") or ""
    if not sent or sent == "null":
        sent = _origin(request.headers.get("Referer", ""))
    else:
        sent = _origin(sent)
    if not sent:
        return False
    allowed = {_origin(public_url), f"{request.scheme}://{request.host}".lower()}
    return sent in allowed


def client_address(request: web.Request, header: str) -> str:
    """The client's address: the socket peer, or the header the reverse proxy sets."""
    if header:
        value = request.headers.get(header, "")
        # X-Forwarded-For lists every hop; the proxy appends the peer it saw last.
        last = value.split(",")[-1].strip()
        if last:
            return last[:64]
    return (request.remote or "unknown")[:64]


@dataclass(frozen=True)
class Lock:
    """A login lock: until when (the Chinese message gives the minutes)."""

    until: datetime


class LoginThrottle:
    """At most ``login_max_failures`` failed logins of one account, and from one address, in
    ``login_lock_minutes``; further tries are locked meanwhile, and told to come back when the
    last failure has left the window. Counted by ``storage.ratelimit.WindowCounter``, the
    database's shared counters, so the lock holds whichever web process a try reaches.

    A try counts as a failure before its password is checked (argon2 takes tens of ms):
    otherwise tries arriving together, on one process or several, would all pass the check
    before any failure was written. A success gives its count back."""

    def __init__(self, sessions: Sessions, config: ConsoleConfig) -> None:
        self.max = config.login_max_failures
        minutes = config.login_lock_minutes
        self.scopes = [WindowCounter(sessions, f"login-{s}", minutes) for s in ("account", "ip")]

    async def lock(self, account: str, address: str, now: datetime) -> Lock | None:
        """The lock on logging in as ``account`` from ``address``, if either has failed too
        often (nothing is counted)."""
        for counter, name in zip(self.scopes, (account, address), strict=True):
            total, falls = await counter.count(name, now.timestamp())
            if total >= self.max and falls is not None:
                return Lock(until=datetime.fromtimestamp(falls, UTC))
        return None

    async def attempt(self, account: str, address: str, now: datetime) -> Lock | None:
        """Count a try as a failure of both; a Lock (and nothing counted) if that is one too
        many for either."""
        taken: list[WindowCounter] = []
        for counter, name in zip(self.scopes, (account, address), strict=True):
            taken.append(counter)
            if await counter.add(name, now.timestamp()) > self.max:
                await self.give_back(account, address, now, taken)
                return await self.lock(account, address, now) or Lock(until=now)
        return None

    async def give_back(
        self,
        account: str,
        address: str,
        now: datetime,
        counters: Sequence[WindowCounter] | None = None,
    ) -> None:
        """Uncount a try counted by ``attempt`` at ``now``."""
        for counter, name in zip(self.scopes, (account, address), strict=False):
            if counters is None or counter in counters:
                await counter.add(name, now.timestamp(), -1)


def session_expired(
    config: ConsoleConfig, created_at: datetime, last_seen_at: datetime, now: datetime
) -> bool:
    """Whether a session is past its idle or absolute limit."""
    return now - last_seen_at > timedelta(minutes=config.session_idle_minutes) or (
        now - created_at > timedelta(hours=config.session_absolute_hours)
    )
