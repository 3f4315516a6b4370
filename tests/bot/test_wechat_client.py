"""The WeChat API client against the fake platform on loopback: tokens, retries, typed errors."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.clients.wechat import WeChatAPIError, WeChatClient, WeChatOutsideWindow
from bot.config import WeChatConfig
from bot.kernel.clients import ApiError
from bot.kernel.message import Reply
from bot.sandbox import FakeWeChatAPI
from tests.conftest import APP_ID

SECRET = "test-secret"
MENU = "/cgi-bin/menu/create"


@pytest.fixture
async def make_client(
    fake_wechat: FakeWeChatAPI,
) -> AsyncIterator[Callable[..., WeChatClient]]:
    """Clients (think: worker processes) talking to the fake."""
    made: list[WeChatClient] = []

    def make(**kw: Any) -> WeChatClient:
        values: dict[str, Any] = {
            "app_id": APP_ID,
            "app_secret": SECRET,
            "api_base_url": fake_wechat.base_url,  # type: ignore[attr-defined]
            "api_backoff_seconds": 0.01,
            **kw,
        }
        client = WeChatClient(WeChatConfig(**values), values["api_base_url"])
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


async def test_stable_token_is_shared_by_two_workers(
    fake_wechat: FakeWeChatAPI, make_client: Callable[..., WeChatClient]
) -> None:
    a, b = make_client(), make_client()
    fake_wechat.token_grace_seconds = 0
    token_a = await a.access_token()
    token_b = await b.access_token()
    assert token_a == token_b
    await a.create_menu([])  # a's token still works after b fetched
    assert fake_wechat.token_calls == 2


async def test_classic_token_endpoint_invalidates_the_other_worker(
    fake_wechat: FakeWeChatAPI, make_client: Callable[..., WeChatClient]
) -> None:
    """Why stable_token is the default: with /cgi-bin/token each fetch replaces the last, so
    once the platform's grace period is over the other worker's token fails."""
    fake_wechat.token_grace_seconds = 0
    a, b = make_client(token_endpoint="token"), make_client(token_endpoint="token")
    token_a = await a.access_token()
    token_b = await b.access_token()
    assert token_a != token_b
    await a.create_menu([])  # 40001 first; the client recovers with a third token...
    assert fake_wechat.token_calls == 3
    await b.create_menu([])  # ...which in turn broke b: another refetch
    assert fake_wechat.token_calls == 4


async def test_token_refreshed_ahead_of_expiry(
    fake_wechat: FakeWeChatAPI, make_client: Callable[..., WeChatClient]
) -> None:
    fake_wechat.token_lifetime = 2  # the client refreshes halfway, 1 s before expiry
    client = make_client()
    first = await client.access_token()
    await asyncio.sleep(1.1)
    fake_wechat.stable_token = None  # the platform would hand out a new one on request
    second = await client.access_token()
    assert second != first and fake_wechat.token_calls == 2
    await client.create_menu([])
    assert fake_wechat.token_calls == 2  # no token error needed a recovery


@pytest.mark.parametrize("code", [40001, 42001])
async def test_token_error_refreshes_once_and_retries(
    fake_wechat: FakeWeChatAPI, make_client: Callable[..., WeChatClient], code: int
) -> None:
    client = make_client()
    await client.access_token()
    fake_wechat.inject(MENU, code)
    await client.create_menu([{"type": "click", "name": "介绍", "key": "MENU_INTRO"}])
    assert len(fake_wechat.calls_to(MENU)) == 1
    assert fake_wechat.token_calls >= 2


async def test_second_token_error_surfaces(
    fake_wechat: FakeWeChatAPI, make_client: Callable[..., WeChatClient]
) -> None:
    client = make_client()
    fake_wechat.inject(MENU, 40001, times=2)
    with pytest.raises(WeChatAPIError) as info:
        await client.create_menu([])
    assert info.value.code == 40001 and isinstance(info.value, ApiError)


@pytest.mark.parametrize("code", [-1, 45009])
async def test_busy_backs_off_and_succeeds(
    fake_wechat: FakeWeChatAPI, make_client: Callable[..., WeChatClient], code: int
) -> None:
    client = make_client(api_max_retries=3)
    fake_wechat.inject(MENU, code, times=2)
    await client.create_menu([])
    assert len(fake_wechat.calls_to(MENU)) == 1


async def test_gives_up_after_max_retries(
    fake_wechat: FakeWeChatAPI, make_client: Callable[..., WeChatClient]
) -> None:
    client = make_client(api_max_retries=2)
    fake_wechat.inject(MENU, -1, times=10)
    with pytest.raises(WeChatAPIError) as info:
        await client.create_menu([])
    assert info.value.code == -1
    assert len(fake_wechat._injected[MENU]) == 10 - 3  # one try and two retries
    assert fake_wechat.calls_to(MENU) == []


async def test_outside_window_is_typed(
    fake_wechat: FakeWeChatAPI, make_client: Callable[..., WeChatClient]
) -> None:
    client = make_client()
    fake_wechat.closed_window.add("o-gone")
    with pytest.raises(WeChatOutsideWindow) as info:
        await client.send_reply("o-gone", Reply.of_text("你好"))
    assert info.value.code == 45015


async def test_bad_secret_is_typed(
    fake_wechat: FakeWeChatAPI, make_client: Callable[..., WeChatClient]
) -> None:
    client = make_client(app_secret="wrong")
    with pytest.raises(WeChatAPIError) as info:
        await client.access_token()
    assert info.value.code == 40125


async def test_secrets_never_logged(
    fake_wechat: FakeWeChatAPI,
    make_client: Callable[..., WeChatClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = make_client()
    with caplog.at_level(logging.DEBUG):
        token = await client.access_token()
        fake_wechat.inject(MENU, 40001)
        fake_wechat.inject(MENU, -1)
        await client.create_menu([])
        fake_wechat.inject(MENU, 40013)
        with pytest.raises(WeChatAPIError):
            await client.create_menu([])
    # The fake platform's own access log (aiohttp.access, in this process only because the
    # fake runs here) shows the query string the real platform would see; the bot's are checked.
    ours = [r for r in caplog.records if r.name != "aiohttp.access"]
    assert ours
    dumped = "\n".join(f"{r.getMessage()} {getattr(r, 'fields', '')} {r.args}" for r in ours)
    assert SECRET not in dumped and token not in dumped
    assert "access_token=" not in dumped
