"""The operator command line, run as operators run it, against the test database and fake."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from bot.app import close_context, create_app
from bot.appkeys import BOT
from bot.cli import main
from bot.cli.serve import new_loop
from bot.sandbox import FakeWeChatAPI
from bot.simulate import WeChatUser, reply_text
from tests.conftest import ACCOUNT, APP_ID, DATA_KEY, TOKEN, make_config

ROOT = Path(__file__).resolve().parents[2]


def _write_config(tmp_path: Path, db_url: str, api_base_url: str) -> Path:
    path = tmp_path / "bot.toml"
    path.write_text(
        f"""
[server]
data_dir = "{tmp_path / "data"}"
[database]
url = "{db_url}"
[wechat]
app_id = "{APP_ID}"
app_secret = "test-secret"
token = "{TOKEN}"
api_base_url = "{api_base_url}"
api_backoff_seconds = 0.01
[[wechat.menu]]
name = "公益活动"
  [[wechat.menu.sub_button]]
  type = "click"
  name = "活动介绍"
  key = "MENU_INTRO"
[[wechat.menu]]
type = "view"
name = "官网"
url = "http://127.0.0.1/site"
[security]
data_key = "{DATA_KEY}"
"""
    )
    return path


@pytest.fixture
def config_file(tmp_path: Path, db_url: str, fake_wechat: FakeWeChatAPI) -> Path:
    return _write_config(tmp_path, db_url, fake_wechat.base_url)  # type: ignore[attr-defined]


async def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        await _cli(capsys, "--help")
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("serve", "db", "menu", "keywords", "chat"):
        assert command in out


async def test_db_upgrade_twice(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = _write_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'new.db'}", "sandbox")
    for _ in range(2):
        code, out, _ = await _cli(capsys, "db", "upgrade", "--config", str(path))
        assert code == 0 and "up to date" in out
    assert (tmp_path / "new.db").exists()


async def test_keywords_add_list_remove_seed(
    capsys: pytest.CaptureFixture[str], config_file: Path, db_url: str
) -> None:
    c = ("--config", str(config_file))
    code, out, _ = await _cli(capsys, "keywords", "add", "活动介绍", "运营方的新回复", *c)
    assert code == 0
    rule_id = int(out.split()[1])
    code, out, _ = await _cli(capsys, "keywords", "list", *c)
    assert code == 0 and "运营方的新回复" in out and "operator" in out
    # Seeding again adds nothing and leaves the operator's rule alone.
    code, out, _ = await _cli(capsys, "keywords", "seed", *c)
    assert code == 0 and "0 added, 0 updated" in out
    code, out, _ = await _cli(capsys, "keywords", "list", *c)
    assert "运营方的新回复" in out
    code, out, _ = await _cli(capsys, "keywords", "remove", str(rule_id), *c)
    assert code == 0
    code, _, err = await _cli(capsys, "keywords", "remove", str(rule_id), *c)
    assert code == 1 and "no rule" in err
    code, _, err = await _cli(capsys, "keywords", "add", "空", "  ", *c)
    assert code == 1 and "empty" in err


async def test_menu_show_and_push(
    capsys: pytest.CaptureFixture[str], config_file: Path, fake_wechat: FakeWeChatAPI
) -> None:
    code, out, _ = await _cli(capsys, "menu", "show", "--config", str(config_file))
    assert code == 0
    shown = json.loads(out)["button"]
    assert shown[0]["sub_button"][0]["key"] == "MENU_INTRO"
    code, out, _ = await _cli(capsys, "menu", "push", "--config", str(config_file))
    assert code == 0 and "2 buttons" in out
    (call,) = fake_wechat.calls_to("/cgi-bin/menu/create")
    assert call.body == {"button": shown}


async def test_menu_push_refused_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], config_file: Path, fake_wechat: FakeWeChatAPI
) -> None:
    fake_wechat.inject("/cgi-bin/menu/create", 40016)
    code, _, err = await _cli(capsys, "menu", "push", "--config", str(config_file))
    assert code == 1 and "40016" in err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_serve_creates_the_database_and_answers(tmp_path: Path) -> None:
    db_file = tmp_path / "fresh" / "bot.db"
    port = _free_port()
    path = tmp_path / "serve.toml"
    path.write_text(
        f'[server]\nport = {port}\ndata_dir = "{tmp_path / "data"}"\n'
        f'[database]\nurl = "sqlite+aiosqlite:///{db_file}"\n'
        f'[wechat]\ntoken = "{TOKEN}"\n[log]\nformat = "text"\n'
    )
    db_file.parent.mkdir()
    assert not db_file.exists()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    proc = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "bot", "serve", "--config", str(path)],
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        async with ClientSession() as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    async with http.get(f"{base}/healthz") as resp:
                        assert resp.status == 200
                        break
                except OSError:
                    assert proc.returncode is None, "serve exited early"
                    assert time.monotonic() < deadline, "serve did not start"
                    await asyncio.sleep(0.2)
            assert db_file.exists()
            user = WeChatUser(token=TOKEN, account=ACCOUNT)
            req = user.request(user.text("活动介绍"))
            async with http.post(f"{base}/wechat", params=req.query, data=req.body) as resp:
                assert resp.status == 200
                assert "新时代“e”起行动" in reply_text(user.read_reply(await resp.text()))
    finally:
        proc.terminate()
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert b"starting" in out
    # The default loop is uvloop, which the server names as it starts.
    assert b"event_loop=uvloop" in out, out.decode(errors="replace")


def test_new_loop_is_the_kind_asked_for() -> None:
    import uvloop

    for kind, cls in (("uvloop", uvloop.Loop), ("asyncio", asyncio.BaseEventLoop)):
        loop, name = new_loop(kind)
        try:
            assert isinstance(loop, cls) and name == kind
            assert loop.run_until_complete(asyncio.sleep(0, "ran")) == "ran"
        finally:
            loop.close()


def test_new_loop_falls_back_to_asyncio_without_uvloop(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop raises ImportError
    with caplog.at_level(logging.WARNING, logger="bot"):
        loop, name = new_loop("uvloop")
    try:
        assert name == "asyncio" and type(loop).__module__.startswith("asyncio")
    finally:
        loop.close()
    warned = [r for r in caplog.records if r.getMessage() == "event_loop_fallback"]
    assert [getattr(r, "fields", {}) for r in warned] == [
        {"wanted": "uvloop", "running": "asyncio", "reason": "uvloop is not installed"}
    ]


async def test_healthz(harness: Any, tmp_path: Path, fake_wechat: FakeWeChatAPI) -> None:
    async with harness.http.get(harness.server.make_url("/healthz")) as resp:
        assert resp.status == 200
    # A database nobody listens on: 503, not 500.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{closed}/nothing"
    config = make_config(url, tmp_path, fake_wechat.base_url)  # type: ignore[attr-defined]
    app = create_app(config, migrate=False)
    app.cleanup_ctx.clear()  # start-up would seed keywords into the missing database
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with harness.http.get(server.make_url("/healthz")) as resp:
            assert resp.status == 503
            assert (await resp.json())["status"] == "unavailable"
    finally:
        await server.close()
        await close_context(app[BOT])
