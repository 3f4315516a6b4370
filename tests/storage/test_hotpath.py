"""The pure-message fast path: the flow/notice probe and the write-behind message log."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import make_url

from bot.appkeys import DISPATCHER
from bot.kernel.clock import as_utc
from bot.kernel.context import BotContext
from storage.db import create_engine, is_sqlite, on_loop
from storage.hotpath import (
    PROBE_APPLICATION_NAME,
    MessageLogWriter,
    PostgresProbe,
    SQLiteLogSink,
    SQLiteProbe,
    StateProbe,
    make_probe,
    sqlite_datetime,
)
from storage.messages import claim_message
from storage.models import Conversation, Follower, InboundMessage, Notice
from tests.conftest import ACCOUNT, BotHarness


def ask(probe: StateProbe, channel: str, user: str, key: str = "") -> Awaitable[bool]:
    """The probe's question for a new message (its own key) of ``user``."""
    return probe.needs_transaction(channel, ACCOUNT, user, key or f"k-{user}")


async def test_probe_sees_flows_and_pending_notices(bot_context: BotContext, db_url: str) -> None:
    probe = make_probe(db_url, bot_context.sessions.kw["bind"])
    now = bot_context.clock.now()
    try:
        assert not await ask(probe, "wechat", "u1")
        async with bot_context.sessions() as session, session.begin():
            session.add(
                Conversation(
                    channel="wechat",
                    account=ACCOUNT,
                    user_id="u1",
                    flow="f",
                    step="s",
                    data="{}",
                    version=0,
                    updated_at=now,
                    expires_at=now,
                )
            )
            session.add(
                Notice(
                    channel="wechat",
                    account=ACCOUNT,
                    user_id="u2",
                    text="hi",
                    created_at=now,
                    delivered_at=None,
                )
            )
            session.add(
                Notice(
                    channel="wechat",
                    account=ACCOUNT,
                    user_id="u3",
                    text="old",
                    created_at=now,
                    delivered_at=now,
                )
            )
        assert await ask(probe, "wechat", "u1")
        assert await ask(probe, "wechat", "u2")
        assert not await ask(probe, "wechat", "u3")  # already delivered
        assert not await ask(probe, "weibo", "u1")  # another channel's identity
        # A message key the transactional path took (running, or its answer cached) goes there
        # again; a pure answer's own log row does not.
        async with bot_context.sessions() as session, session.begin():
            for key, status, reply in (("kr", "processing", None), ("kc", "done", "sealed"),
                                       ("kp", "done", None)):  # fmt: skip
                session.add(
                    InboundMessage(
                        channel="wechat", account=ACCOUNT, msg_key=key, user_id="u9",
                        kind="text", status=status, reply=reply, received_at=now,
                    )
                )  # fmt: skip
        assert await ask(probe, "wechat", "u9", "kr") and await ask(probe, "wechat", "u9", "kc")
        assert not await ask(probe, "wechat", "u9", "kp")
        assert not await ask(probe, "weibo", "u9", "kc")
    finally:
        await probe.close()


async def test_probe_tells_a_message_another_delivery_took(
    bot_context: BotContext, db_url: str
) -> None:
    """``follows`` also says whether the message's key is taken: committed by the
    transactional path, or (PostgreSQL) claimed by a transaction still running, which is
    another process's delivery (this process's own wait in memory). ``cached_answer`` reads
    the committed outcome."""
    probe = make_probe(db_url, bot_context.sessions.kw["bind"])
    now = bot_context.clock.now()
    claim = {
        "channel": "wechat", "account": ACCOUNT, "user_id": "u7", "kind": "text",
        "event": None, "text": None, "status": "processing", "received_at": now,
    }  # fmt: skip
    try:
        assert await probe.follows("wechat", ACCOUNT, "u7", "k1") == (None, False)
        assert await probe.cached_answer("wechat", ACCOUNT, "k1") is None
        if not is_sqlite(db_url):
            with on_loop():
                async with bot_context.sessions() as session, session.begin():
                    await claim_message(session, {**claim, "msg_key": "k1"}, notices=True)
                    # In flight (not committed): another process would see it taken.
                    assert await probe.follows("wechat", ACCOUNT, "u7", "k1") == (None, True)
                    assert await probe.follows("wechat", ACCOUNT, "u7", "k2") == (None, False)
                    await session.rollback()
            assert await probe.follows("wechat", ACCOUNT, "u7", "k1") == (None, False)
        async with bot_context.sessions() as session, session.begin():
            await claim_message(session, {**claim, "msg_key": "k1"})
            session.add(
                Follower(
                    channel="wechat", account=ACCOUNT, user_id="u7", subscribed=False,
                    created_at=now, last_interaction_at=now,
                )
            )  # fmt: skip
        assert await probe.follows("wechat", ACCOUNT, "u7", "k1") == (False, True)
        answer = await probe.cached_answer("wechat", ACCOUNT, "k1")
        assert answer is not None and answer.status == "processing" and answer.reply is None
        assert await probe.follows("weibo", ACCOUNT, "u7", "k1") == (None, False)
    finally:
        await probe.close()


async def test_probe_answers_a_loop_iterations_messages_together(
    bot_context: BotContext, db_url: str, tmp_path: Path
) -> None:
    probe = make_probe(db_url, bot_context.sessions.kw["bind"])
    assert isinstance(probe, SQLiteProbe | PostgresProbe)
    now = bot_context.clock.now()
    async with bot_context.sessions() as session, session.begin():
        session.add(
            Conversation(
                channel="wechat", account=ACCOUNT, user_id="u7", flow="f", step="s", data="{}",
                version=0, updated_at=now, expires_at=now,
            )
        )  # fmt: skip
        session.add(
            Notice(channel="wechat", account=ACCOUNT, user_id="u150", text="hi", created_at=now)
        )
    try:
        # More than one batch's worth at once, one of them cancelled while it waits.
        users = [f"u{i}" for i in range(300)]
        asks = [asyncio.ensure_future(ask(probe, "wechat", u)) for u in users]
        other = asyncio.ensure_future(ask(probe, "weibo", "u7"))
        asks[3].cancel()
        answers = await asyncio.gather(*asks, other, return_exceptions=True)
        assert isinstance(answers[3], asyncio.CancelledError)
        assert [users[i] for i, a in enumerate(answers[:-1]) if a is True] == ["u7", "u150"]
        assert answers[-1] is False  # another channel's identity
        # The next iteration's messages make a batch of their own.
        assert await ask(probe, "wechat", "u7")
    finally:
        await probe.close()
    if not is_sqlite(db_url):
        return
    # A failing lookup fails each message of the batch, as it would have alone.
    broken = SQLiteProbe(str(tmp_path / "no-tables.db"))
    try:
        results = await asyncio.gather(
            *(broken.needs_transaction("wechat", ACCOUNT, f"u{i}", "k") for i in range(3)),
            return_exceptions=True,
        )
        assert all(isinstance(r, sqlite3.OperationalError) for r in results)
    finally:
        await broken.close()


async def test_postgres_probe_survives_a_connection_the_server_dropped(
    bot_context: BotContext, db_url: str
) -> None:
    if is_sqlite(db_url):
        pytest.skip("the probe's own connection pool is PostgreSQL's")
    engine = bot_context.sessions.kw["bind"]
    probe = make_probe(db_url, engine)
    try:
        assert not await ask(probe, "wechat", "u1")
        # A server restart or an idle timeout ends the pool's idle connection.
        async with engine.begin() as conn:
            ended = await conn.scalar(
                text(
                    # This database's only: a suite running on another must not lose its own.
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE application_name = :name AND datname = current_database()"
                ),
                {"name": PROBE_APPLICATION_NAME},
            )
        assert ended == 1
        assert not await ask(probe, "wechat", "u1")
    finally:
        await probe.close()


async def test_log_writer_batches_and_ignores_duplicates(
    bot_context: BotContext, db_url: str
) -> None:
    writer = MessageLogWriter(bot_context.sessions, db_url, interval=0.01, batch=7)
    now = bot_context.clock.now()
    for i in range(20):
        for _ in range(2):  # every row twice, as a retried message would be
            writer.add(_log_row(f"k{i}", now))
    await asyncio.sleep(0.05)
    await writer.close()
    async with bot_context.sessions() as session:
        count = await session.scalar(select(func.count(InboundMessage.id)))
        row = (
            await session.execute(select(InboundMessage).where(InboundMessage.msg_key == "k3"))
        ).scalar_one()
    assert count == 20
    # Read back through the ORM exactly as written (SQLite's batch path formats datetimes).
    assert (row.text, row.event, row.status, row.handler) == (
        "活动介绍",
        None,
        "done",
        "keywords.reply",
    )
    assert as_utc(row.received_at) == now
    assert as_utc(row.finished_at) == now


def _log_row(key: str, now: datetime, channel: str | None = "wechat") -> dict[str, Any]:
    return {
        "channel": channel, "account": ACCOUNT, "msg_key": key, "user_id": "u",
        "kind": "text", "event": None, "text": "活动介绍", "status": "done",
        "handler": "keywords.reply", "reply": None, "received_at": now, "finished_at": now,
    }  # fmt: skip


async def test_sqlite_log_batches_never_make_the_loop_wait_for_the_lock(
    bot_context: BotContext, db_url: str
) -> None:
    if not is_sqlite(db_url):
        pytest.skip("SQLite's sink")
    path = make_url(db_url).database
    assert path
    sink = SQLiteLogSink(path)
    sink.CHECKPOINT_EVERY = 3
    now = bot_context.clock.now()
    try:
        # The lock is free: written on the loop's own connection, no thread involved.
        await sink.write([_log_row("a1", now), _log_row("a2", now)])
        assert sink._conn is None
        # Another writer holds the lock: the batch waits on the thread, the loop goes on.
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        loop = asyncio.get_running_loop()
        started = loop.time()
        pending = asyncio.ensure_future(sink.write([_log_row("b1", now)]))
        await asyncio.sleep(0.05)
        assert loop.time() - started < 1 and not pending.done()
        holder.execute("COMMIT")
        holder.close()
        await asyncio.wait_for(pending, 5)
        assert sink._loop_conn is not None and not sink._loop_conn.in_transaction
        # The third batch triggers the checkpoint, on the thread's connection.
        await sink.write([_log_row("c1", now)])
        assert sink._since_checkpoint == 0 and sink._conn is not None
    finally:
        await sink.close()
    async with bot_context.sessions() as session:
        keys = (await session.scalars(select(InboundMessage.msg_key))).all()
    assert sorted(keys) == ["a1", "a2", "b1", "c1"]


async def test_keyword_messages_are_logged_without_a_transaction(harness: BotHarness) -> None:
    user = harness.user()
    for _ in range(3):
        assert "绿色上网" in await harness.say(user, "绿色上网")
    # The same MsgId three times at once: answered three times, logged once.
    req = user.request(user.text("家长课堂"))
    results = await asyncio.gather(
        *(harness.http.post(harness.url, params=req.query, data=req.body) for _ in range(3))
    )
    bodies = [await r.text() for r in results]
    assert all("家长" in user.read_reply(b).get("Content", "") for b in bodies)
    rows = await harness.logged(user.openid, InboundMessage.handler, InboundMessage.status)
    assert len(rows) == 4
    assert {tuple(r) for r in rows} == {("keywords.reply", "done")}
    assert harness.app[DISPATCHER].message_log is not None


def test_sqlite_datetime_matches_sqlalchemys_storage_format() -> None:
    dialect = sqlite.dialect()
    column = InboundMessage.__table__.c.received_at
    processor = column.type.dialect_impl(dialect).bind_processor(dialect)
    assert processor is not None
    for value in (
        datetime(2025, 3, 5, 9, 0, tzinfo=UTC),
        datetime(2025, 3, 5, 9, 0, 1, 123456, tzinfo=UTC),
        datetime(2025, 12, 31, 23, 59, 59, 999999),
        datetime(999, 1, 2, 3, 4, 5, 6),
    ):
        assert sqlite_datetime(value) == processor(value)
    assert sqlite_datetime(None) is None


async def test_one_bad_row_never_loses_the_rest_of_a_log_batch(
    bot_context: BotContext, db_url: str
) -> None:
    """Regression (issue 15, defect 3): forty good rows written with one whose key has 300
    digits (too long for PostgreSQL's column) and one missing a required value: the batch used
    to be lost whole. Now the good rows are kept, row by row."""
    writer = MessageLogWriter(bot_context.sessions, db_url, interval=10, batch=500)
    now = bot_context.clock.now()

    for i in range(20):
        writer.add(_log_row(f"good{i}", now))
    writer.add(_log_row("9" * 300, now))
    writer.add(_log_row("no-channel", now, channel=None))
    for i in range(20, 40):
        writer.add(_log_row(f"good{i}", now))
    await writer.flush()
    if isinstance(writer.sink, SQLiteLogSink):  # the failed batch was rolled back whole
        assert writer.sink._loop_conn is not None and not writer.sink._loop_conn.in_transaction
    await writer.close()
    async with bot_context.sessions() as session:
        keys = set((await session.execute(select(InboundMessage.msg_key))).scalars())
    assert {f"good{i}" for i in range(40)} <= keys
    assert "no-channel" not in keys
    # SQLite does not enforce a string column's length; PostgreSQL refuses the long key.
    assert ("9" * 300 in keys) is is_sqlite(db_url)


async def test_postgres_plans_use_the_unique_key_without_statistics(db_url: str) -> None:
    """The dedupe lookup and the probe's message-key condition take the unique key even on a
    table the planner knows nothing about (a copy of inbound_messages, never analysed)."""
    if is_sqlite(db_url):
        pytest.skip("PostgreSQL's planner")
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn, conn.begin():
            await conn.execute(
                text("CREATE TEMP TABLE plan_check (LIKE inbound_messages INCLUDING ALL)")
            )
            await conn.execute(
                text(
                    "INSERT INTO plan_check (channel, account, msg_key, user_id, kind, status,"
                    " received_at) SELECT 'wechat', 'gh_a', 'k' || g, 'u' || (g % 50), 'text',"
                    " 'done', now() FROM generate_series(1, 6000) g"
                )
            )
            where = "channel = 'wechat' AND account = 'gh_a' AND msg_key = 'k5'"
            for query in (
                f"SELECT status, reply, handler FROM plan_check WHERE {where}",
                f"SELECT 1 FROM plan_check WHERE {where}"
                " AND (reply IS NOT NULL OR status <> 'done')",
            ):
                plan = "\n".join(r[0] for r in await conn.execute(text(f"EXPLAIN {query}")))
                assert "msg_key_key" in plan and "user_id" not in plan.split("Filter")[0], plan
            await conn.rollback()
    finally:
        await engine.dispose()
