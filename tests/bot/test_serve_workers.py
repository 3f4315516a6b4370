"""``serve --workers N``: N web processes on one port and one scheduler, on PostgreSQL
(issue 15, part 10); a worker killed is replaced and a retry is answered once (part 13)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from aiohttp import ClientError, ClientSession
from sqlalchemy import func, select

from bot.cli import main
from bot.cli.workers import started_pids
from bot.simulate import WeChatUser
from storage.db import create_engine
from storage.models import Conversation, InboundMessage
from tests.bot.processes import free_port, serve, stop, wait_up, write_config
from tests.conftest import ACCOUNT, AES_KEY, APP_ID, PG_URL, TOKEN


def test_workers_refuse_sqlite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", free_port())
    assert main(["serve", "--workers", "2", "--config", str(path)]) == 1
    assert "--workers needs PostgreSQL" in capsys.readouterr().err


def _started(log: Path) -> dict[str, int]:
    return started_pids(log.read_text().splitlines())


@pytest.mark.slow
@pytest.mark.skipif(not PG_URL, reason="BOT_TEST_POSTGRES_URL not set")
async def test_two_workers_and_a_scheduler(db_url: str, tmp_path: Path) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    port, scheduler_port = free_port(), free_port()
    path = write_config(tmp_path, db_url, port)
    log = tmp_path / "serve.log"
    parent = await serve(path, log, "--workers", "2", "--scheduler-port", str(scheduler_port))
    try:
        async with ClientSession() as http:
            await wait_up(http, f"http://127.0.0.1:{port}/healthz")
            await wait_up(http, f"http://127.0.0.1:{scheduler_port}/healthz")
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
                    await asyncio.sleep(1)  # the platform's retries come seconds apart
            answered = [body for status, body in replies if status == 200]
            content = user.read_reply(first)["Content"]  # CreateTime is the answer's own
            assert answered and all(user.read_reply(b)["Content"] == content for b in answered)
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
        assert await stop(parent) == 0
