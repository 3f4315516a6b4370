"""``serve --workers N``: N web processes on one port and one scheduler, on PostgreSQL
(issue 15, part 10); a worker killed is replaced and a retry is answered once (part 13)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import pytest
from aiohttp import ClientError, ClientSession
from sqlalchemy import func, select

from bot.cli import main
from bot.cli.workers import started_pids
from bot.simulate import WeChatUser
from storage.db import create_engine
from storage.models import Conversation, InboundMessage
from tests.conftest import ACCOUNT, AES_KEY, APP_ID, DATA_KEY, PG_URL, TOKEN

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(tmp_path: Path, db_url: str, port: int) -> Path:
    path = tmp_path / "bot.toml"
    path.write_text(
        f'[server]\nport = {port}\ndata_dir = "{tmp_path / "data"}"\n'
        f'[database]\nurl = "{db_url}"\n'
        f'[wechat]\ntoken = "{TOKEN}"\nencoding_aes_key = "{AES_KEY}"\napp_id = "{APP_ID}"\n'
        f'[security]\ndata_key = "{DATA_KEY}"\n[log]\nformat = "json"\n'
    )
    return path


def test_workers_refuse_sqlite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", _free_port())
    assert main(["serve", "--workers", "2", "--config", str(path)]) == 1
    assert "--workers needs PostgreSQL" in capsys.readouterr().err


async def _up(http: ClientSession, url: str, seconds: float = 60) -> None:
    for _ in range(int(seconds * 4)):
        try:
            async with http.get(url) as resp:
                if resp.status == 200:
                    return
        except ClientError:
            pass
        await asyncio.sleep(0.25)
    raise AssertionError(f"{url} did not come up")


def _started(log: Path) -> dict[str, int]:
    return started_pids(log.read_text().splitlines())


@pytest.mark.slow
@pytest.mark.skipif(not PG_URL, reason="BOT_TEST_POSTGRES_URL not set")
async def test_two_workers_and_a_scheduler(db_url: str, tmp_path: Path) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    port, scheduler_port = _free_port(), _free_port()
    path = _config(tmp_path, db_url, port)
    log = tmp_path / "serve.log"
    argv = [sys.executable, "-m", "bot", "serve", "--workers", "2", "--config", str(path)]
    argv += ["--scheduler-port", str(scheduler_port)]
    with log.open("w") as err:
        parent = await asyncio.create_subprocess_exec(*argv, cwd=ROOT, stderr=err)
    try:
        async with ClientSession() as http:
            await _up(http, f"http://127.0.0.1:{port}/healthz")
            await _up(http, f"http://127.0.0.1:{scheduler_port}/healthz")
            assert set(_started(log)) == {"web-1", "web-2", "scheduler"}
            user = WeChatUser(token=TOKEN, account=ACCOUNT, aes_key=AES_KEY, app_id=APP_ID)
            message = user.text("志愿者报名")
            req = user.request(message)
            url = f"http://127.0.0.1:{port}/wechat"
            async with http.post(url, params=req.query, data=req.body) as resp:
                first = await resp.text()
            # One worker dies (as if killed mid-request); the platform's retry of the same
            # message reaches the other one and is answered with the same reply, once.
            os.kill(_started(log)["web-1"], signal.SIGKILL)
            replies = []
            for _ in range(3):
                try:
                    async with http.post(url, params=req.query, data=req.body) as resp:
                        replies.append((resp.status, await resp.text()))
                except ClientError:  # a connection the dying worker had accepted
                    replies.append((0, ""))
            answered = [body for status, body in replies if status == 200]
            assert answered and all(user.read_reply(b) == user.read_reply(first) for b in answered)
            for _ in range(120):  # the supervisor starts a new web-1
                if len([ln for ln in log.read_text().splitlines() if "worker_started" in ln]) > 3:
                    break
                await asyncio.sleep(0.25)
            else:
                raise AssertionError("web-1 was not restarted")
        engine = create_engine(db_url)
        try:
            async with engine.connect() as conn:
                flows = await conn.scalar(select(func.count()).select_from(Conversation))
                logged = await conn.scalar(select(func.count()).select_from(InboundMessage))
        finally:
            await engine.dispose()
        assert flows == 1 and logged == 1
    finally:
        parent.send_signal(signal.SIGTERM)
        try:
            assert await asyncio.wait_for(parent.wait(), 30) == 0
        finally:
            if parent.returncode is None:
                parent.kill()
