"""Dispatch over real HTTP: exactly-once under retries (one and two workers) and the deadline."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from cryptography.fernet import Fernet
from sqlalchemy import event, func, select, update

from bot.app import create_app, purge_message_log
from bot.appkeys import BOT, DISPATCHER
from bot.config import Config
from bot.dispatch import Deadlines
from bot.kernel.clock import FakeClock
from bot.kernel.context import BotContext
from bot.kernel.message import Reply
from bot.kernel.privacy import Cipher
from bot.sandbox import FakeWeChatAPI
from bot.simulate import WeChatUser
from handlers.context import Ctx
from handlers.router import Router, Text
from storage.db import create_engine
from storage.hotpath import PostgresProbe
from storage.models import Follower, InboundMessage, Notice
from tests.conftest import ACCOUNT, AES_KEY, APP_ID, TOKEN, BotHarness, make_config


@pytest.fixture
def bot_config(
    request: pytest.FixtureRequest, db_url: str, tmp_path: Path, fake_wechat: FakeWeChatAPI
) -> Config:
    """A short deadline so the slow handler below misses it quickly (unless a test's
    ``config`` marker sets its own: tests that must answer in time on a loaded machine)."""
    marker = request.node.get_closest_marker("config")
    wechat = {"reply_deadline_seconds": 0.5, **(marker.kwargs.get("wechat", {}) if marker else {})}
    return make_config(db_url, tmp_path, fake_wechat.base_url, wechat=wechat)


def _side_effect_router(calls: list[str], delay: float = 0.0) -> Router:
    """A handler with a database side effect (a Notice row) that counts its runs."""
    router = Router("test_effect")

    @router.on(Text("记一笔", "慢慢来"))
    async def effect(ctx: Ctx) -> Reply | None:
        calls.append(ctx.inbound.key)
        if ctx.inbound.text == "慢慢来":
            await asyncio.sleep(delay)
        ctx.session.add(
            Notice(
                channel=ctx.inbound.channel.value,
                account=ctx.inbound.account,
                user_id="effect-" + ctx.inbound.user,
                text="side effect",
                created_at=ctx.bot.clock.now(),
            )
        )
        return Reply.of_text("已记录")

    return router


def _install(app: Any, router: Router) -> None:
    dispatcher = app[DISPATCHER]
    dispatcher.routers = [router, *dispatcher.routers]


async def _count(bot: BotContext, model: Any, *where: Any) -> int:
    """Rows of ``model`` (call after a drain: the pure handlers' log is written behind)."""
    async with bot.sessions() as session:
        stmt = select(func.count()).select_from(model).where(*where)
        return int((await session.execute(stmt)).scalar() or 0)


async def _post(http: ClientSession, url: Any, user: WeChatUser, xml: str) -> tuple[int, str]:
    req = user.request(xml)
    async with http.post(url, params=req.query, data=req.body) as resp:
        return resp.status, await resp.text()


async def test_same_msgid_three_times_runs_once(harness: BotHarness) -> None:
    calls: list[str] = []
    _install(harness.app, _side_effect_router(calls))
    user = harness.user()
    xml = user.text("记一笔")
    results = await asyncio.gather(*(harness.post(user, xml) for _ in range(3)))
    assert len(calls) == 1
    assert all(status == 200 for status, _ in results)
    texts = {user.read_reply(body).get("Content", "") for _, body in results}
    assert texts <= {"已记录", ""} and "已记录" in texts
    assert await _count(harness.bot, InboundMessage, InboundMessage.user_id == user.openid) == 1
    assert await _count(harness.bot, Notice, Notice.user_id == "effect-" + user.openid) == 1
    # A later retry gets the cached reply.
    assert user.read_reply((await harness.post(user, xml))[1])["Content"] == "已记录"
    assert len(calls) == 1


# The platform's own deadline: answers in time even when the machine is busy.
IN_TIME = pytest.mark.config(wechat={"reply_deadline_seconds": 4.5})


def _count_transactions(bot: BotContext) -> list[int]:
    """A one-item list counting the message claims (one a transaction of the transactional
    path) the bot's engine sends from now on."""
    begun = [0]

    def claim(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # On PostgreSQL the claim is a CTE that also reads the pending notices.
        if statement.startswith(("INSERT INTO inbound_messages", "WITH claim AS")):
            begun[0] += 1

    event.listen(bot.sessions.kw["bind"].sync_engine, "before_cursor_execute", claim)
    return begun


@IN_TIME
async def test_retries_in_flight_wait_for_the_first_delivery(harness: BotHarness) -> None:
    # The handler takes a while: the retries arrive while its transaction is open, and get
    # its answer without a transaction of their own.
    calls: list[str] = []
    _install(harness.app, _side_effect_router(calls, delay=0.2))
    user = harness.user()
    xml = user.text("慢慢来")
    begun = _count_transactions(harness.bot)
    first = asyncio.create_task(harness.post(user, xml))
    await asyncio.sleep(0.05)
    retries = await asyncio.gather(*(harness.post(user, xml) for _ in range(2)))
    results = [await first, *retries]
    assert [user.read_reply(body)["Content"] for _, body in results] == ["已记录"] * 3
    assert len(calls) == 1 and begun[0] == 1
    assert await _count(harness.bot, Notice, Notice.user_id == "effect-" + user.openid) == 1


@IN_TIME
async def test_a_retry_after_commit_is_answered_without_the_database(
    harness: BotHarness,
) -> None:
    calls: list[str] = []
    _install(harness.app, _side_effect_router(calls))
    user = harness.user()
    xml = user.text("记一笔")
    assert user.read_reply((await harness.post(user, xml))[1])["Content"] == "已记录"
    begun = _count_transactions(harness.bot)
    probe = harness.app[DISPATCHER].probe
    asked: list[str] = []
    original = probe.needs_transaction

    async def counting(*args: Any) -> bool:
        asked.append(args[-1])
        return bool(await original(*args))

    probe.needs_transaction = counting
    assert user.read_reply((await harness.post(user, xml))[1])["Content"] == "已记录"
    assert begun[0] == 0 and asked == [] and len(calls) == 1
    # Past the retry horizon the answer is the database's again (here: the cached reply, after
    # the claim found the key taken; no pure route answers this text, so the probe is not
    # asked: the message takes the transactional path whatever it would say).
    harness.clock.advance(minutes=2)
    assert user.read_reply((await harness.post(user, xml))[1])["Content"] == "已记录"
    assert len(calls) == 1 and begun[0] == 1 and asked == []


async def test_events_dedupe_by_user_and_create_time(harness: BotHarness) -> None:
    user = harness.user()
    xml = user.event("subscribe", "qrscene_a", create_time=1_700_000_000)
    results = await asyncio.gather(*(harness.post(user, xml) for _ in range(3)))
    assert all(status == 200 for status, _ in results)
    assert await _count(harness.bot, InboundMessage, InboundMessage.user_id == user.openid) == 1
    assert await _count(harness.bot, Follower, Follower.user_id == user.openid) == 1


async def test_two_workers_sharing_a_database_run_once(
    bot_config: Config, fake_wechat: FakeWeChatAPI, clock: FakeClock
) -> None:
    calls: list[str] = []
    apps, servers = [], []
    for _ in range(2):
        app = create_app(bot_config, clock=clock, migrate=False)
        _install(app, _side_effect_router(calls))
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        apps.append(app)
        servers.append(server)
    try:
        user = WeChatUser(token=TOKEN, account=ACCOUNT, aes_key=AES_KEY, app_id=APP_ID)
        xml = user.text("记一笔")
        event = user.event("subscribe", create_time=1_700_000_001)
        async with ClientSession() as http:
            urls = [s.make_url("/wechat") for s in servers] * 2
            results = await asyncio.gather(*(_post(http, u, user, xml) for u in urls))
            events = await asyncio.gather(*(_post(http, u, user, event) for u in urls))
        assert all(status == 200 for status, _ in results + events)
        assert len(calls) == 1
        bot = apps[0][BOT]
        assert await _count(bot, InboundMessage, InboundMessage.user_id == user.openid) == 2
        assert await _count(bot, Notice, Notice.user_id == "effect-" + user.openid) == 1
        assert await _count(bot, Follower, Follower.user_id == user.openid) == 1
    finally:
        for server in servers:
            await server.close()


async def test_slow_handler_answers_success_then_sends_late(harness: BotHarness) -> None:
    calls: list[str] = []
    _install(harness.app, _side_effect_router(calls, delay=1.0))
    user = harness.user()
    xml = user.text("慢慢来")
    started = time.perf_counter()
    assert await harness.post(user, xml) == (200, "success")
    assert time.perf_counter() - started < 0.9
    # A retry while the handler still runs: nothing, and no second run.
    assert await harness.post(user, xml) == (200, "success")
    await harness.drain()
    assert [b["text"]["content"] for b in harness.fake.sent_to(user.openid)] == ["已记录"]
    # A retry after the late delivery: still nothing, no second delivery.
    assert await harness.post(user, xml) == (200, "success")
    await harness.drain()
    assert len(harness.fake.sent_to(user.openid)) == 1
    assert len(calls) == 1
    async with harness.bot.sessions() as session:
        status = (
            await session.execute(
                select(InboundMessage.status).where(InboundMessage.user_id == user.openid)
            )
        ).scalar_one()
    assert status == "late_sent"


async def test_late_send_outside_window_is_marked_late_failed(harness: BotHarness) -> None:
    _install(harness.app, _side_effect_router([], delay=0.8))
    user = harness.user()
    harness.fake.closed_window.add(user.openid)
    assert await harness.post(user, user.text("慢慢来")) == (200, "success")
    await harness.drain()
    assert harness.fake.sent_to(user.openid) == []
    async with harness.bot.sessions() as session:
        status = (
            await session.execute(
                select(InboundMessage.status).where(InboundMessage.user_id == user.openid)
            )
        ).scalar_one()
    assert status == "late_failed"
    # The bot keeps working.
    assert "新时代“e”起行动" in await harness.say(harness.user(), "活动介绍")


async def test_rate_limit_answers_politely(
    db_url: str, tmp_path: Path, fake_wechat: FakeWeChatAPI, clock: FakeClock
) -> None:
    config = make_config(db_url, tmp_path, fake_wechat.base_url, limits={"messages_per_minute": 2})
    app = create_app(config, clock=clock, migrate=False)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        user = WeChatUser(token=TOKEN, account=ACCOUNT, aes_key=AES_KEY, app_id=APP_ID)
        async with ClientSession() as http:
            url = server.make_url("/wechat")
            bodies = [(await _post(http, url, user, user.text("活动介绍")))[1] for _ in range(3)]
        assert "新时代“e”起行动" in user.read_reply(bodies[0])["Content"]
        assert "新时代“e”起行动" not in user.read_reply(bodies[2])["Content"]
    finally:
        await server.close()


async def test_first_message_after_start_can_be_a_menu_click(harness: BotHarness) -> None:
    """Regression: the keyword index's first load inside the message transaction waited for
    SQLite's only pooled connection (held by that transaction) until the pool timeout."""
    user = harness.user()
    started = time.perf_counter()
    reply = await harness.send(user, user.event("CLICK", "MENU_INTRO"))
    assert "新时代“e”起行动" in reply["Content"]
    assert time.perf_counter() - started < 0.4  # well inside the 0.5 s deadline


async def test_slow_pure_handler_replies_late_instead_of_never(harness: BotHarness) -> None:
    """Regression: the pure path cancelled a handler at the deadline, so the user got nothing."""
    router = Router("slow_pure")

    async def slow_answer(ctx: Ctx) -> Reply | None:
        await asyncio.sleep(0.8)
        return Reply.of_text("慢回复")

    router.add(Text("慢问题"), slow_answer, "slow_pure.answer", pure=True)
    _install(harness.app, router)
    user = harness.user()
    started = time.perf_counter()
    assert await harness.post(user, user.text("慢问题")) == (200, "success")
    assert time.perf_counter() - started < 0.75
    await harness.drain()
    assert [b["text"]["content"] for b in harness.fake.sent_to(user.openid)] == ["慢回复"]
    async with harness.bot.sessions() as session:
        status = (
            await session.execute(
                select(InboundMessage.status).where(InboundMessage.user_id == user.openid)
            )
        ).scalar_one()
    assert status == "late_sent"


async def test_a_retried_flow_answer_gets_the_same_reply_until_the_retry_horizon(
    harness: BotHarness,
) -> None:
    user = harness.user()
    assert "出生年份" in await harness.say(user, "报名")
    assert "真实姓名" in await harness.say(user, "1990")
    answer = user.text("李四")
    first = user.read_reply((await harness.post(user, answer))[1])
    retry = user.read_reply((await harness.post(user, answer))[1])
    assert "手机号码" in first["Content"] and retry["Content"] == first["Content"]
    assert "手机号码" in await harness.say(user, "帮助")  # a step answered once: still at phone

    async def replies() -> dict[str, str | None]:
        rows = await harness.logged(user.openid, InboundMessage.text, InboundMessage.reply)
        return {text or "(private)": reply for text, reply in rows}

    before = await replies()
    # Every cached reply is encrypted: the entry's prompt and the answer's alike.
    assert all(r is not None and not r.startswith("{") for r in before.values())
    assert "李四" not in "".join(r or "" for r in before.values())
    harness.clock.advance(minutes=11)
    await purge_message_log(harness.bot)
    after = await replies()
    assert after == {"报名": None, "(private)": None}  # dropped past the retry horizon
    # A very late retry of the answer: recognised, answered with nothing, not re-applied.
    assert await harness.post(user, answer) == (200, "success")


# -- the shared deadline of the pure path ---------------------------------------------------------


async def test_deadlines_cancel_only_what_overruns() -> None:
    deadlines = Deadlines(0.05)
    outcomes: dict[str, str] = {}

    async def job(name: str, seconds: float) -> None:
        watch = deadlines.watch()
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            task = watch.task
            if deadlines.release(watch) and not task.cancelling():
                outcomes[name] = "expired"
                return
            raise
        deadlines.release(watch)
        outcomes[name] = "done"

    await asyncio.gather(job("slow", 0.3), job("quick", 0.01), job("in time", 0.03))
    assert outcomes == {"slow": "expired", "quick": "done", "in time": "done"}
    assert not deadlines._watched  # nothing left watched
    await asyncio.sleep(0.06)
    assert deadlines._timer is None  # and no timer left running


async def test_a_cancellation_from_elsewhere_is_not_taken_for_the_deadline() -> None:
    deadlines = Deadlines(10)
    released: list[bool] = []

    async def job() -> None:
        watch = deadlines.watch()
        try:
            await asyncio.sleep(1)
        finally:
            released.append(deadlines.release(watch))

    task = asyncio.create_task(job())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert released == [False]


async def test_a_retry_after_a_data_key_change_is_answered_with_nothing(
    harness: BotHarness,
) -> None:
    user = harness.user()
    await harness.say(user, "报名")
    await harness.say(user, "1990")
    answer = user.text("李四")
    assert "手机号码" in user.read_reply((await harness.post(user, answer))[1])["Content"]
    harness.app[DISPATCHER].forget_answers()  # a new data key means a restart
    other_key = Cipher(Fernet.generate_key().decode())
    async with harness.bot.sessions() as session, session.begin():
        await session.execute(
            update(InboundMessage)
            .where(InboundMessage.user_id == user.openid, InboundMessage.text.is_(None))
            .values(reply=other_key.encrypt('{"kind": "text", "text": "x"}'))
        )
    assert await harness.post(user, answer) == (200, "success")


async def test_a_hanging_database_gets_the_apology_within_the_deadline(
    harness: BotHarness,
) -> None:
    """The state probe talks to a database that accepts connections and never answers (a
    hung server, not a refusing one): the message gets the apology by the reply deadline."""
    accepted: list[asyncio.StreamWriter] = []

    async def hang(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # read nothing, answer nothing

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    hung = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/hung")
    dispatcher = harness.app[DISPATCHER]
    real_probe, dispatcher.probe = dispatcher.probe, PostgresProbe(hung)
    try:
        user = harness.user()
        started = time.monotonic()
        status, body = await harness.post(user, user.text("活动"))
        elapsed = time.monotonic() - started
        assert status == 200 and accepted  # the probe did reach the hung server
        assert user.read_reply(body)["Content"] == harness.bot.texts("common.error")
        assert elapsed < dispatcher.deadline + 1.0
    finally:
        dispatcher.probe = real_probe
        server.close()
        for writer in accepted:
            writer.close()
        await hung.dispose()
