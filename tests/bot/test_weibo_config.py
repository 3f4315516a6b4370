"""The [weibo] config section: validation and switching the channel off."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from bot.app import build_context, close_context, create_app
from bot.config import ConfigError, load_config
from bot.kernel.message import Channel
from tests.conftest import make_config


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("api_base_url", "ftp://x"),
        ("timestamp_unit", "minutes"),
        ("text_limit", 301),
        ("media_id_field", "fid"),
        ("post_interval_seconds", -1),
    ],
)
def test_bad_values_name_the_key(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"weibo.{key}"):
        load_config(None, env={}, overrides={"weibo": {key: value}})


def test_sandbox_is_the_default() -> None:
    config = load_config(None, env={})
    bot = build_context(config)
    client = bot.client(Channel.WEIBO)
    assert client.base_url.endswith("/sandbox/weibo")  # type: ignore[attr-defined]


async def test_empty_app_secret_switches_the_channel_off(tmp_path: Path) -> None:
    config = make_config(
        f"sqlite+aiosqlite:///{tmp_path}/off.db", tmp_path, "sandbox", weibo={"app_secret": ""}
    )
    bot = build_context(config)
    assert Channel.WEIBO not in bot.clients
    await close_context(bot)
    app = create_app(config, migrate=True)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    async with ClientSession() as http, http.get(server.make_url("/weibo")) as resp:
        assert resp.status == 404
    await server.close()
