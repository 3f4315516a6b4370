"""The built-in sandbox mounted in the bot: it accepts what the platforms accept (issue 15,
defect 7) and keeps its tokens and recorded calls to loopback callers (defect 9)."""

from __future__ import annotations

import io
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from bot.app import SANDBOX_KEY, WEIBO_SANDBOX_KEY, create_app
from bot.config import SANDBOX
from bot.fonts import has_cjk_font
from bot.kernel.clock import FakeClock
from tests.conftest import BotHarness, WeChatChatter, make_config
from tests.handlers.test_volunteers import _sign_up_to_confirm


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def sandboxed(db_url: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[BotHarness]:
    """The bot in its default configuration: WeChat and Weibo API calls go to the sandbox
    it mounts itself, reached through its own public URL."""
    port = _free_port()
    config = make_config(
        db_url, tmp_path, SANDBOX, server={"port": port, "public_url": f"http://127.0.0.1:{port}"}
    )
    app = create_app(config, clock=clock, migrate=False)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    async with ClientSession() as http:
        harness = BotHarness(server, http, app[SANDBOX_KEY], clock)
        harness.weibo_fake = app[WEIBO_SANDBOX_KEY]
        yield harness
    await server.close()


async def test_certificate_works_out_of_the_box(sandboxed: BotHarness) -> None:
    """The certificate PNG (well over the webhooks' 64 KB) goes through the sandbox upload."""
    if not has_cjk_font():
        pytest.skip("no CJK font installed")
    chatter = WeChatChatter(sandboxed, sandboxed.user())
    await _sign_up_to_confirm(chatter)
    assert "报名成功" in await chatter.say("确认")
    reply = await sandboxed.send(chatter.user, chatter.user.text("志愿证书"))
    assert reply.get("MsgType") == "image", reply
    uploads = sandboxed.fake.calls_to("/cgi-bin/media/upload")
    assert len(uploads) == 1 and uploads[0].body["size"] > 64 * 1024


async def test_sandbox_takes_media_up_to_the_documented_sizes(sandboxed: BotHarness) -> None:
    base = str(sandboxed.server.make_url("/sandbox/wechat"))
    http = sandboxed.http
    async with http.get(f"{base}/cgi-bin/token", params={"secret": "test-secret"}) as resp:
        token = (await resp.json())["access_token"]

    async def upload(kind: str, size: int) -> dict[str, object]:
        form = aiohttp.FormData()
        form.add_field("media", io.BytesIO(b"0" * size), filename="a.png")
        params = {"access_token": token, "type": kind}
        async with http.post(f"{base}/cgi-bin/media/upload", params=params, data=form) as resp:
            assert resp.status == 200
            return dict(await resp.json())

    assert "media_id" in await upload("image", 2 * 1024 * 1024)
    assert (await upload("image", 10 * 1024 * 1024 + 1))["errcode"] == 40009
    assert (await upload("voice", 2 * 1024 * 1024 + 1))["errcode"] == 40010
    # /image of `chat`: a picture the user sends, stored in the sandbox first.
    async with http.post(
        f"{base}/simulate/media", data=b"x" * 300_000, headers={"Content-Type": "image/png"}
    ) as resp:
        assert resp.status == 200 and "media_id" in await resp.json()
    # The webhooks keep their small limit.
    user = sandboxed.user()
    status, _ = await sandboxed.post(user, user.text("长" * 30_000))
    assert status == 413


async def test_chat_sends_a_large_picture_through_the_sandbox(sandboxed: BotHarness) -> None:
    """``chat``'s /image with a file over 64 KB (it stores the picture in the sandbox first)."""
    from bot.cli.chat import WeChatChat

    config = sandboxed.bot.config
    base = str(sandboxed.server.make_url("")).rstrip("/")
    chat = WeChatChat(config, base, sandboxed.http, print, sandbox=True, user=sandboxed.user())
    picture = config.data_path / "big.png"
    picture.parent.mkdir(parents=True, exist_ok=True)
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 200_000)
    assert "已收到您发来的图片" in await chat.send(f"/image {picture}")


@pytest.mark.parametrize(
    "path",
    ["/sandbox/wechat/cgi-bin/token", "/sandbox/wechat/recorded", "/sandbox/weibo/recorded"],
)
async def test_tokens_and_recorded_calls_only_for_loopback(
    sandboxed: BotHarness, path: str
) -> None:
    """Behind a reverse proxy every caller is loopback: a forwarded request is refused."""
    url = str(sandboxed.server.make_url(path))
    async with sandboxed.http.get(url, headers={"X-Forwarded-For": "203.0.113.9"}) as resp:
        assert resp.status == 403
    async with sandboxed.http.get(url, headers={"X-Real-IP": "203.0.113.9"}) as resp:
        assert resp.status == 403
    async with sandboxed.http.get(url) as resp:
        assert resp.status == 200
