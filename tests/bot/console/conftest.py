"""Console test helpers: operators of each role and a browser-like HTTP client per operator."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import ClientSession, CookieJar
from argon2 import PasswordHasher

from bot.console.pages import Role
from handlers import operators
from handlers.operators import create_operator
from tests.conftest import BotHarness

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashes() -> Iterator[None]:
    """argon2 with its smallest cost: the hashes are the same kind, made and checked in
    microseconds instead of a fifth of a second (the suite logs in hundreds of times)."""
    real = operators._hasher
    operators._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    yield
    operators._hasher = real


class ConsoleClient:
    """One operator's browser: its own cookie jar, sends Origin like a browser does."""

    def __init__(self, harness: BotHarness, http: ClientSession) -> None:
        self.harness = harness
        self.http = http
        self.origin = str(harness.server.make_url("")).rstrip("/")
        self.csrf = ""

    def url(self, path: str) -> str:
        return self.origin + path

    async def get(self, path: str, **kw: Any) -> tuple[int, str]:
        """GET; returns (status, body) without following redirects."""
        async with self.http.get(self.url(path), allow_redirects=False, **kw) as resp:
            body = await resp.text()
        found = CSRF.search(body)
        if found:
            self.csrf = found[1]
        return resp.status, body

    async def post(
        self,
        path: str,
        data: dict[str, Any] | None = None,
        *,
        csrf: bool = True,
        origin: str | None = "",
        **kw: Any,
    ) -> tuple[int, str, str]:
        """POST a form (with the CSRF token unless ``csrf`` is False); returns (status, body,
        Location). ``origin`` None sends no Origin header; '' sends the console's own."""
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf", self.csrf)
        headers = dict(kw.pop("headers", {}))
        if origin is not None:
            headers["Origin"] = origin or self.origin
        async with self.http.post(
            self.url(path), data=form, headers=headers, allow_redirects=False, **kw
        ) as resp:
            return resp.status, await resp.text(), resp.headers.get("Location", "")

    async def login(self, name: str, password: str = PASSWORD) -> tuple[int, str, str]:
        """Log in; on success reads the CSRF token from the dashboard."""
        status, body, location = await self.post(
            "/console/login", {"name": name, "password": password}, csrf=False
        )
        if status == 303:
            await self.get("/console/")
        return status, body, location


class Console:
    """The harness plus operators of every role and a way to open browsers."""

    def __init__(self, harness: BotHarness) -> None:
        self.harness = harness
        self._clients: list[ClientSession] = []

    async def operator(self, name: str, role: Role, password: str = PASSWORD) -> int:
        return await create_operator(self.harness.bot, name, role, password, actor="test")

    async def client(self) -> ConsoleClient:
        http = ClientSession(cookie_jar=CookieJar(unsafe=True))
        self._clients.append(http)
        return ConsoleClient(self.harness, http)

    async def as_role(self, role: Role) -> ConsoleClient:
        """A logged-in client of an operator with ``role`` (created on first use)."""
        name = f"{role.label}1"
        from storage.operators import get_operator

        async with self.harness.bot.sessions() as session:
            exists = await get_operator(session, name) is not None
        if not exists:
            await self.operator(name, role)
        client = await self.client()
        status, body, _ = await client.login(name)
        assert status == 303, body
        return client

    async def close(self) -> None:
        for http in self._clients:
            await http.close()


@pytest.fixture
async def console(harness: BotHarness) -> AsyncIterator[Console]:
    """Operators and browsers of the console served by ``harness``."""
    c = Console(harness)
    yield c
    await c.close()
