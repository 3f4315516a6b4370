"""Shared fixtures: databases (SQLite always, PostgreSQL when BOT_TEST_POSTGRES_URL is set),
the fake WeChat API on loopback, the bot served over real HTTP, and a network guard."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp.web_app
import pytest
import uvloop
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from sqlalchemy import select, text

from bot.app import build_context, close_context, create_app
from bot.appkeys import BOT, DISPATCHER
from bot.config import SANDBOX, Config, load_config, with_overrides
from bot.kernel.clock import FakeClock
from bot.kernel.context import BotContext
from bot.kernel.message import Channel
from bot.sandbox import FakeWeChatAPI
from bot.sandbox_weibo import FakeWeiboAPI
from bot.simulate import WeChatUser, WeiboUser, reply_text, weibo_reply_text
from handlers.feature import Feature
from handlers.registry import FEATURES
from storage.db import create_engine
from storage.migrate import upgrade
from storage.models import InboundMessage

PG_URL = os.environ.get("BOT_TEST_POSTGRES_URL", "")
TOKEN = "test-token"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
APP_ID = "wx49f0ab532d5d035a"
ACCOUNT = "gh_testaccount"
DATA_KEY = "mZVBQ6RK3o3xJ7s4o8kGZ0xCx4Y2vIs0kQ2hB7H4V1c="
WEIBO_SECRET = "weibo-test-secret"
WEIBO_TOKEN = "weibo-test-token"
WEIBO_ACCOUNT = "5000000001"


# -- network guard -----------------------------------------------------------------------------

_real_connect = socket.socket.connect


def _check_loopback(host: Any) -> None:
    if isinstance(host, str) and not (host.startswith("127.") or host in ("::1", "localhost")):
        raise RuntimeError(f"test tried to reach {host}: only loopback is allowed")


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if isinstance(address, tuple) and self.family in (socket.AF_INET, socket.AF_INET6):
        _check_loopback(address[0])
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def restore_root_logging() -> Iterator[None]:
    """A command run in a test (``main([...])``) installs the bot's log handler on the root
    logger, writing to that test's captured stderr; later tests must not log into the closed
    stream, so handlers and level a test added go when it ends."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture(autouse=True)
def forget_finished_apps() -> Iterator[None]:
    """aiohttp caches each route's middleware chain for the life of the process (an lru_cache
    of 1,024 entries keyed by the handler and its apps): one app a process in production, but a
    test process starts hundreds, and the cache kept up to 1,024 of them alive with their
    texts, routes and compiled statements. Millions of objects that every full garbage
    collection walked, up to 5.7 s at a time (measured over the suite): long enough to push a
    test's message past the reply deadline, its answer then empty. Emptied after each test."""
    yield
    cache = getattr(aiohttp.web_app, "_cached_build_middleware", None)
    if cache is not None:  # a private name: an aiohttp without it has nothing to empty
        cache.cache_clear()


@pytest.fixture(autouse=True, scope="session")
def network_guard() -> Iterator[None]:
    """Fail any test that tries to talk to anything but loopback."""
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]


class GuardedUVLoop(uvloop.Loop):  # type: ignore[misc]
    """uvloop connects through libuv, past ``socket.connect``: the same guard, on the loop."""

    async def create_connection(self, *args: Any, **kwargs: Any) -> Any:
        _check_loopback(kwargs.get("host", args[1] if len(args) > 1 else None))
        return await super().create_connection(*args, **kwargs)


# The modules whose async tests run on both loops: asyncio's (every test's) and uvloop, which
# ``serve`` runs on by default. The message path end to end (webhooks, dispatch, deadlines and
# late replies, slow bodies, faults, the hot path's storage), where the loops' scheduling and
# transports differ; the rest of the suite runs on asyncio's loop only.
BOTH_LOOPS = frozenset(
    {
        "test_dispatch.py",
        "test_wechat_webhook.py",
        "test_slow_bodies.py",
        "test_database_faults.py",
        "test_api_faults.py",
        "test_hotpath.py",
    }
)


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
    """Each async test's event loop(s) (pytest-asyncio's hook): see ``BOTH_LOOPS``."""
    if item.path.name in BOTH_LOOPS:
        return {"asyncio": asyncio.new_event_loop, "uvloop": GuardedUVLoop}
    return {"asyncio": asyncio.new_event_loop}


# -- databases ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; each test gets a copy (migrating per test is slow)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    asyncio.run(upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


_pg_migrated = False


async def _reset_postgres(url: str) -> None:
    global _pg_migrated
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            if not _pg_migrated:
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
            else:
                rows = await conn.execute(
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                        "AND tablename <> 'alembic_version'"
                    )
                )
                tables = [r[0] for r in rows]
                if tables:
                    quoted = ", ".join(f'"{t}"' for t in tables)
                    await conn.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()
    if not _pg_migrated:
        await upgrade(url)
        _pg_migrated = True


def _backends() -> list[Any]:
    marks = [] if PG_URL else [pytest.mark.skip(reason="BOT_TEST_POSTGRES_URL not set")]
    return ["sqlite", pytest.param("postgres", marks=marks)]


@pytest.fixture(params=_backends())
async def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "bot.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    await _reset_postgres(PG_URL)
    return PG_URL


# -- config, fake API, bot ---------------------------------------------------------------------


@pytest.fixture
async def fake_wechat() -> AsyncIterator[FakeWeChatAPI]:
    """The fake WeChat API, served on a loopback port."""
    fake = FakeWeChatAPI(APP_ID, "test-secret")
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    fake.base_url = str(server.make_url("")).rstrip("/")  # type: ignore[attr-defined]
    yield fake
    await server.close()


@pytest.fixture
async def fake_weibo() -> AsyncIterator[FakeWeiboAPI]:
    """The fake Weibo API, served on a loopback port."""
    fake = FakeWeiboAPI(WEIBO_TOKEN)
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    fake.base_url = str(server.make_url("")).rstrip("/")  # type: ignore[attr-defined]
    yield fake
    await server.close()


def with_fake_weibo(config: Config, fake: FakeWeiboAPI) -> Config:
    """``config`` with its Weibo client pointed at ``fake`` (left alone if set explicitly)."""
    if config.weibo.api_base_url != SANDBOX or not config.weibo.app_secret:
        return config
    return with_overrides(config, weibo={"api_base_url": fake.base_url})  # type: ignore[attr-defined]


def make_config(
    db_url: str,
    tmp_path: Path,
    api_base_url: str,
    *,
    features: Sequence[Feature] = FEATURES,
    **sections: dict[str, Any],
) -> Config:
    """A test config: loopback everything, tiny backoffs, real crypto keys; the sections of
    ``features`` (the registry's unless a test brings its own)."""
    overrides: dict[str, dict[str, Any]] = {
        "server": {"host": "127.0.0.1", "port": 8080, "data_dir": str(tmp_path / "data")},
        "database": {"url": db_url},
        "wechat": {
            "app_id": APP_ID,
            "app_secret": "test-secret",
            "token": TOKEN,
            "encoding_aes_key": AES_KEY,
            "account_id": ACCOUNT,
            "api_base_url": api_base_url,
            "api_backoff_seconds": 0.01,
        },
        "weibo": {
            "app_secret": WEIBO_SECRET,
            "access_token": WEIBO_TOKEN,
            "account_id": WEIBO_ACCOUNT,
            "api_backoff_seconds": 0.01,
            "post_interval_seconds": 0.0,
        },
        "security": {"data_key": DATA_KEY},
        "log": {"format": "text"},
    }
    for name, values in sections.items():
        overrides.setdefault(name, {}).update(values)
    return load_config(None, env={}, overrides=overrides, features=features)


class BotHarness:
    """The bot served over real HTTP on loopback, with helpers to talk to it."""

    def __init__(
        self, server: TestServer, http: ClientSession, fake: FakeWeChatAPI, clock: FakeClock
    ) -> None:
        self.server = server
        self.http = http
        self.fake = fake
        self.clock = clock
        self.app: web.Application = server.app  # type: ignore[assignment]
        self.weibo_fake: FakeWeiboAPI | None = None

    @property
    def bot(self) -> BotContext:
        return self.app[BOT]

    @property
    def url(self) -> str:
        return str(self.server.make_url("/wechat"))

    def user(self, **kw: Any) -> WeChatUser:
        """A new follower talking to the bot."""
        kw.setdefault("token", TOKEN)
        kw.setdefault("account", ACCOUNT)
        kw.setdefault("aes_key", AES_KEY)
        kw.setdefault("app_id", APP_ID)
        return WeChatUser(**kw)

    async def post(self, user: WeChatUser, xml: str, **kw: Any) -> tuple[int, str]:
        """POST ``xml`` as ``user``; returns (status, body)."""
        req = user.request(xml, **kw)
        async with self.http.post(self.url, params=req.query, data=req.body) as resp:
            return resp.status, await resp.text()

    async def send(self, user: WeChatUser, xml: str) -> dict[str, str]:
        """POST and return the parsed reply fields; asserts HTTP 200."""
        status, body = await self.post(user, xml)
        assert status == 200, body
        return user.read_reply(body)

    async def say(self, user: WeChatUser, content: str) -> str:
        """Send a text message and return the reply's readable text."""
        return reply_text(await self.send(user, user.text(content)))

    async def drain(self) -> None:
        """Wait for late replies in flight."""
        await self.app[DISPATCHER].drain()

    async def logged(self, user_id: str, *columns: Any) -> list[Any]:
        """``columns`` of the user's message-log rows, oldest first (write-behind drained)."""
        await self.drain()
        async with self.bot.sessions() as session:
            result = await session.execute(
                select(*columns)
                .where(InboundMessage.user_id == user_id)
                .order_by(InboundMessage.id)
            )
            return list(result.all())


@pytest.fixture
def clock() -> FakeClock:
    """The bot's clock, starting at the real current time."""
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def bot_config(
    request: pytest.FixtureRequest, db_url: str, tmp_path: Path, fake_wechat: FakeWeChatAPI
) -> Config:
    """Config pointing at the test database and the fake API; override in a test module, or
    per test with ``@pytest.mark.config(section={key: value})``."""
    marker = request.node.get_closest_marker("config")
    sections = dict(marker.kwargs) if marker else {}
    return make_config(db_url, tmp_path, fake_wechat.base_url, **sections)  # type: ignore[attr-defined]


@pytest.fixture
async def harness(
    bot_config: Config, fake_wechat: FakeWeChatAPI, fake_weibo: FakeWeiboAPI, clock: FakeClock
) -> AsyncIterator[BotHarness]:
    """The bot on a loopback port, talking to the fake APIs."""
    app = create_app(with_fake_weibo(bot_config, fake_weibo), clock=clock, migrate=False)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    async with ClientSession() as http:
        harness = BotHarness(server, http, fake_wechat, clock)
        harness.weibo_fake = fake_weibo
        yield harness
    await server.close()


@pytest.fixture
async def bot_context(
    bot_config: Config, fake_weibo: FakeWeiboAPI, clock: FakeClock
) -> AsyncIterator[BotContext]:
    """A context without a web server (CLI-level and repository tests)."""
    from bot.app import prepare_database

    bot = build_context(with_fake_weibo(bot_config, fake_weibo), clock)
    await prepare_database(bot, migrate=False)
    yield bot
    await close_context(bot)


# -- channel-neutral users -------------------------------------------------------------------
#
# Feature tests talk through ``chatter`` (or ``harness.chatter(channel)``) so the same test runs
# on every channel: the ``channel`` fixture is parametrised over the channels the bot serves.


class Chatter:
    """A user of one channel, talking to the bot over real HTTP."""

    channel: Channel
    user_id: str

    async def say(self, text: str) -> str:
        """Send text; the reply's readable text ('' when the bot answered nothing)."""
        raise NotImplementedError  # abstract

    async def image(self, data: bytes, content_type: str = "image/png") -> str:
        """Send an image (stored in the fake platform first, as a real upload would be)."""
        raise NotImplementedError  # abstract

    async def event(self, name: str, key: str | None = None) -> str:
        """Send an event: subscribe, unsubscribe, scan, click (with key)."""
        raise NotImplementedError  # abstract

    async def location(self, lat: float, lng: float, label: str = "") -> str:
        raise NotImplementedError  # abstract

    def late_messages(self) -> list[str]:
        """Texts the bot sent later through the platform's API (customer service / active)."""
        raise NotImplementedError  # abstract


class WeChatChatter(Chatter):
    channel = Channel.WECHAT

    def __init__(self, harness: BotHarness, user: WeChatUser) -> None:
        self.harness = harness
        self.user = user
        self.user_id = user.openid

    async def _send(self, xml: str) -> str:
        return reply_text(await self.harness.send(self.user, xml))

    async def say(self, text: str) -> str:
        return await self._send(self.user.text(text))

    async def image(self, data: bytes, content_type: str = "image/png") -> str:
        media_id = self.harness.fake.add_media(data, content_type)
        return await self._send(self.user.image(media_id))

    async def event(self, name: str, key: str | None = None) -> str:
        wechat_name = {"scan": "SCAN", "click": "CLICK", "view": "VIEW"}.get(name, name)
        if name == "subscribe" and key:
            key = f"qrscene_{key}"
        return await self._send(self.user.event(wechat_name, key))

    async def location(self, lat: float, lng: float, label: str = "") -> str:
        return await self._send(self.user.location(lat, lng, label))

    def late_messages(self) -> list[str]:
        out = []
        for body in self.harness.fake.sent_to(self.user_id):
            if body.get("msgtype") == "text":
                out.append(body["text"]["content"])
            elif body.get("msgtype") == "image":
                out.append(f"[图片 media_id={body['image']['media_id']}]")
            else:
                out.append(f"[{body.get('msgtype')}]")
        return out


class WeiboChatter(Chatter):
    """A Weibo fan: signed JSON pushes to /weibo, passive JSON replies, active replies."""

    channel = Channel.WEIBO

    def __init__(self, harness: BotHarness, user: WeiboUser) -> None:
        assert harness.weibo_fake is not None
        self.harness = harness
        self.fake = harness.weibo_fake
        self.user = user
        self.user_id = user.uid
        self._consumed = 0  # active replies already returned as the overflow of a passive text

    @property
    def url(self) -> str:
        return str(self.harness.server.make_url("/weibo"))

    async def post(self, push: dict[str, Any] | bytes, **kw: Any) -> tuple[int, str]:
        """POST a push; returns (status, body)."""
        req = self.user.request(push, **kw)
        async with self.harness.http.post(self.url, params=req.query, data=req.body) as resp:
            return resp.status, await resp.text()

    async def send(self, push: dict[str, Any]) -> dict[str, Any]:
        """POST and return the decoded passive reply; asserts HTTP 200."""
        status, body = await self.post(push)
        assert status == 200, body
        return self.user.read_reply(body)

    def _active(self) -> list[str]:
        return [weibo_reply_text(m) for m in self.fake.sent_to(self.user_id)]

    async def _send(self, push: dict[str, Any]) -> str:
        reply = await self.send(push)
        text = weibo_reply_text(reply)
        if reply.get("type") == "text":
            # A text over the platform's limit continues by active reply: read it back whole.
            await self.harness.drain()
            active = self._active()
            text = "\n".join([text, *active[self._consumed :]])
            self._consumed = len(active)
        return text

    async def say(self, text: str) -> str:
        return await self._send(self.user.text(text))

    async def image(self, data: bytes, content_type: str = "image/png") -> str:
        return await self._send(self.user.image(self.fake.add_media(data, content_type)))

    async def event(self, name: str, key: str | None = None) -> str:
        subtype = {"subscribe": "follow", "unsubscribe": "unfollow"}.get(name, name)
        if name == "subscribe" and key:
            subtype = "scan_follow"
        return await self._send(self.user.event(subtype, key))

    async def location(self, lat: float, lng: float, label: str = "") -> str:
        return await self._send(self.user.location(lat, lng, label))

    def late_messages(self) -> list[str]:
        active = self._active()
        return active[self._consumed :]


def _chatter_for(harness: BotHarness, channel: Channel) -> Chatter:
    if channel is Channel.WECHAT:
        return WeChatChatter(harness, harness.user())
    if channel is Channel.WEIBO:
        return WeiboChatter(harness, WeiboUser(WEIBO_SECRET, account=WEIBO_ACCOUNT))
    raise ValueError(f"no test chatter for {channel}")


BotHarness.chatter = lambda self, channel=Channel.WECHAT: _chatter_for(self, channel)  # type: ignore[attr-defined]


@pytest.fixture(params=[Channel.WECHAT, Channel.WEIBO], ids=lambda c: c.value)
def channel(request: pytest.FixtureRequest) -> Channel:
    """Every channel the bot serves; channel-neutral tests run once per channel."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def chatter(harness: BotHarness, channel: Channel) -> Chatter:
    """A fresh user on ``channel``."""
    return harness.chatter(channel)  # type: ignore[attr-defined,no-any-return]
