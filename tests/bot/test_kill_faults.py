"""Processes killed at the worst moment (issue 15, part 13), with real ``python -m bot serve``
processes and SIGKILL: a web worker inside a request's transaction, and the scheduler in the
middle of a run of mass sends. Nothing is lost and nothing happens twice."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import ClientError, ClientSession, TCPConnector
from sqlalchemy import func, make_url, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import build_context, close_context
from bot.cli.workers import started_pids
from bot.sandbox import FakeWeChatAPI
from bot.simulate import WeChatUser, reply_text
from schedules.service import PostSpec, add_post, rules_of
from storage import logo
from storage.db import create_engine, create_sessions
from storage.models import InboundMessage
from storage.schedules import SENT, OutboxItem
from tests.bot.processes import free_port, owner_of_connection, serve, stop, wait_up, write_config
from tests.conftest import ACCOUNT, AES_KEY, APP_ID, PG_URL, TOKEN, make_config

SHORT = os.environ.get("BOT_LOAD_SCALE") == "short"
SENDALL = "/cgi-bin/message/mass/sendall"
CUSTOM = "/cgi-bin/message/custom/send"


async def _blocked_by(conn: object, me: int, seconds: float = 60) -> int:
    """The client port of the database connection waiting on a lock ``me`` holds."""
    for _ in range(int(seconds * 20)):
        port = await conn.scalar(  # type: ignore[attr-defined]
            text("SELECT client_port FROM pg_stat_activity WHERE :me = ANY(pg_blocking_pids(pid))"),
            {"me": me},
        )
        if port is not None:
            return int(port)
        await asyncio.sleep(0.05)
    raise AssertionError("no request reached the locked row")


class _Vote:
    """One user's vote for ``entry``, delivered (and delivered again) as the platform does."""

    def __init__(self, http: ClientSession, port: int, entry: int) -> None:
        self.http = http
        self.user = WeChatUser(token=TOKEN, account=ACCOUNT, aes_key=AES_KEY, app_id=APP_ID)
        self.request = self.user.request(self.user.text(f"投票 {entry}"))
        self.url = f"http://127.0.0.1:{port}/wechat"

    async def deliver(self) -> tuple[int, str]:
        """POST the same message (same MsgId); (0, '') when the connection dies."""
        req = self.request
        try:
            async with self.http.post(self.url, params=req.query, data=req.body) as resp:
                return resp.status, await resp.text()
        except ClientError:
            return 0, ""

    async def retried(self, fake: FakeWeChatAPI) -> None:
        """The platform's retries until one is answered, and one more: "投票成功" answered
        once, passively or (past the deadline) by one message through the API."""
        for _ in range(3):  # the platform tries three times, a few seconds apart
            status, body = await self.deliver()
            if status:
                break
            await asyncio.sleep(1)
        assert status == 200, body
        again = await self.deliver()  # the same answer, nothing done twice
        assert again[0] == 200
        for _ in range(100):  # a late answer (the retry waited past the deadline)
            if body != "success" or fake.sent_to(self.user.openid):
                break
            await asyncio.sleep(0.1)
        late = [m["text"]["content"] for m in fake.sent_to(self.user.openid)]
        answers = [reply_text(self.user.read_reply(b)) for b in (body, again[1]) if b != "success"]
        assert answers + late and all("投票成功" in a for a in answers + late), answers + late
        assert len(late) == (1 if body == "success" else 0)

    async def counted_once(self, engine: AsyncEngine) -> None:
        """One vote and one message-log row in the database."""
        openid = self.user.openid
        async with engine.connect() as conn:
            votes = await conn.scalar(
                select(func.count(logo.LogoVote.id)).where(logo.LogoVote.user_id == openid)
            )
            mine = select(InboundMessage.status).where(InboundMessage.user_id == openid)
            logged = list((await conn.execute(mine)).scalars())
        assert votes == 1
        assert len(logged) == 1 and logged[0] in ("done", "late_sent")


def _platform() -> ClientSession:
    """The platform's side: a new connection for every delivery, as its retries come (a
    pooled keep-alive connection to the killed worker would fail the retry)."""
    return ClientSession(connector=TCPConnector(force_close=True))


async def _entry(engine: AsyncEngine) -> int:
    async with create_sessions(engine)() as session, session.begin():
        now = datetime.now(UTC)
        entry = await logo.add_entry(
            session, channel="wechat", user_id="author", title="作品", now=now, status="approved"
        )
        return entry.id


@pytest.mark.slow
@pytest.mark.skipif(not PG_URL, reason="BOT_TEST_POSTGRES_URL not set")
async def test_web_worker_killed_inside_a_vote_the_retry_counts_it_once(
    db_url: str, tmp_path: Path, fake_wechat: FakeWeChatAPI
) -> None:
    """Two web workers on PostgreSQL. A vote is held inside its transaction (the test locks
    the entry's row, so the vote's insert waits on it), the worker holding it is SIGKILLed, and
    the platform's retry of the same MsgId reaches the other worker: one vote, one answer."""
    if not db_url.startswith("postgresql"):
        pytest.skip("several web workers need PostgreSQL")
    port = free_port()
    path = write_config(tmp_path, db_url, port, api_base_url=fake_wechat.base_url)  # type: ignore[attr-defined]
    log = tmp_path / "serve.log"
    parent = await serve(path, log, "--workers", "2", "--scheduler-port", str(free_port()))
    engine = create_engine(db_url)
    try:
        entry = await _entry(engine)
        async with _platform() as http:
            await wait_up(http, f"http://127.0.0.1:{port}/healthz")
            vote = _Vote(http, port, entry)
            async with engine.connect() as hold:
                await hold.begin()
                await hold.execute(
                    text("SELECT id FROM logo_entries WHERE id = :id FOR UPDATE"), {"id": entry}
                )
                me = int(await hold.scalar(text("SELECT pg_backend_pid()")))
                first = asyncio.create_task(vote.deliver())
                client_port = await _blocked_by(hold, me)
                pids = started_pids(log.read_text().splitlines())
                web = [pid for name, pid in pids.items() if name.startswith("web-")]
                victim = owner_of_connection(client_port, web)
                assert victim is not None, "the waiting connection belongs to no web worker"
                os.kill(victim, signal.SIGKILL)
                assert await first == (0, "")
                await hold.rollback()  # the killed worker's transaction can go on, and fails
            await vote.retried(fake_wechat)  # reaches the other worker (or web-1 restarted)
        await vote.counted_once(engine)
    finally:
        await engine.dispose()
        assert await stop(parent) == 0


@pytest.mark.slow
async def test_sqlite_process_killed_during_a_vote_the_retry_after_restart_counts_it_once(
    db_url: str, tmp_path: Path, fake_wechat: FakeWeChatAPI
) -> None:
    """SQLite: one process. The test holds the database's write lock, so a vote waits at the
    start of its transaction (SQLite's busy wait); the process is SIGKILLed there and started
    again, and the platform's retry is answered by the new process: one vote, one answer."""
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL runs several workers: the test above")
    port = free_port()
    path = write_config(tmp_path, db_url, port, api_base_url=fake_wechat.base_url)  # type: ignore[attr-defined]
    log = tmp_path / "serve.log"
    engine = create_engine(db_url)
    process = await serve(path, log, "--role", "web")
    try:
        entry = await _entry(engine)
        async with _platform() as http:
            await wait_up(http, f"http://127.0.0.1:{port}/healthz")
            vote = _Vote(http, port, entry)
            hold = sqlite3.connect(make_url(db_url).database or "", isolation_level=None)
            try:
                hold.execute("BEGIN IMMEDIATE")
                first = asyncio.create_task(vote.deliver())
                await asyncio.sleep(1.5)  # within the reply deadline: still waiting
                assert not first.done()
                process.kill()
                await process.wait()
                assert await first == (0, "")
            finally:
                hold.execute("ROLLBACK")
                hold.close()
            process = await serve(path, log, "--role", "web")
            await wait_up(http, f"http://127.0.0.1:{port}/healthz")
            await vote.retried(fake_wechat)
        await vote.counted_once(engine)
    finally:
        await engine.dispose()
        assert await stop(process) == 0


async def _add_posts(config_db: str, tmp_path: Path, fake: FakeWeChatAPI, n: int) -> list[str]:
    """``n`` WeChat text posts due in two seconds; returns their texts."""
    config = make_config(
        config_db, tmp_path, fake.base_url,  # type: ignore[attr-defined]
        schedules={"mass_quota": 10_000, "mass_quota_period": "day"},
    )  # fmt: skip
    bot = build_context(config)
    texts = [f"第{i}条：学雷锋，做公益" for i in range(n)]
    try:
        at = bot.clock.now() + timedelta(seconds=2)
        async with bot.sessions() as session, session.begin():
            for i, body in enumerate(texts):
                spec = PostSpec(
                    label=f"post {i}", kind="text", body={"text": body}, channels=["wechat"], at=at
                )
                await add_post(session, spec, rules_of(bot), bot.clock.now())
    finally:
        await close_context(bot)
    return texts


async def _outbox(db_url: str) -> list[tuple[str, str | None]]:
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(select(OutboxItem.status, OutboxItem.error))
            return [(r[0], r[1]) for r in rows]
    finally:
        await engine.dispose()


@pytest.mark.slow
async def test_scheduler_killed_mid_send_every_post_goes_out_once(
    db_url: str, tmp_path: Path, fake_wechat: FakeWeChatAPI
) -> None:
    """Posts due at once go out through a slow mass-send API; the scheduler process is
    SIGKILLed while a send is in flight (the platform takes it, the bot never hears), then
    started again: each post reaches the followers once, by the fake platform's records."""
    posts = 8 if SHORT else 40
    texts = await _add_posts(db_url, tmp_path, fake_wechat, posts)
    fake_wechat.delay_seconds[SENDALL] = 0.3
    extra = (
        "[schedules]\npoll_seconds = 1\nlease_seconds = 3\nstale_sending_seconds = 2\n"
        'mass_quota = 10000\nmass_quota_period = "day"\n'
    )
    api = fake_wechat.base_url  # type: ignore[attr-defined]
    path = write_config(tmp_path, db_url, free_port(), api_base_url=api, extra=extra)
    log = tmp_path / "scheduler.log"

    def accepted() -> Counter[str]:
        # A repeat refused with 45065 is not kept by the fake: what is here went out.
        return Counter(c.body["text"]["content"] for c in fake_wechat.calls_to(SENDALL))

    first = await serve(path, log, "--role", "scheduler")
    try:
        for _ in range(1200):
            if sum(accepted().values()) >= posts // 3 and fake_wechat.in_flight[SENDALL] == 1:
                break
            assert first.returncode is None, log.read_text()
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(
                f"no moment with a send in flight after {posts // 3} of {posts}: "
                f"{sum(accepted().values())} accepted, in flight {fake_wechat.in_flight[SENDALL]}"
            )
        first.kill()  # SIGKILL: no clean shutdown, the lease stays taken until it expires
        await first.wait()
    finally:
        await stop(first)
    for _ in range(100):  # the call in flight finishes on the platform
        if not fake_wechat.in_flight[SENDALL]:
            break
        await asyncio.sleep(0.05)
    at_kill = sum(accepted().values())
    assert at_kill < posts
    second = await serve(path, log, "--role", "scheduler")
    try:
        for _ in range(1200):
            rows = await _outbox(db_url)
            if len(rows) == posts and all(s == SENT for s, _ in rows):
                break
            assert second.returncode is None, log.read_text()
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"not all sent: {Counter(s for s, _ in rows)}")
    finally:
        assert await stop(second) == 0
    # Every post went out exactly once; the one in flight at the kill was re-asked with its
    # clientmsgid after the restart and refused by the platform as already sent.
    assert accepted() == Counter(texts)
    refused = [e for _, e in rows if e and "already sent" in e]
    assert len(refused) == 1
