"""Prebuilt statements on the session's driver connection (storage.db.Prebuilt), on both
databases: same rows and types as SQLAlchemy's execute, same exceptions, writes ordered after
the session's pending ORM changes, and the claim that reads the pending notices and the
conversation state with it."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, event, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from bot.kernel.context import BotContext
from bot.kernel.message import Channel, UserKey
from storage.conversations import FlowState, SqlConversationStore
from storage.db import Prebuilt, on_loop
from storage.messages import claim_message
from storage.models import Follower, InboundMessage, Notice
from storage.notices import add_notice, pending_notices

ACCOUNT = "gh_test"
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
_FOLLOWERS = Follower.__table__
_STATE = Prebuilt(
    select(_FOLLOWERS.c.subscribed, _FOLLOWERS.c.created_at).where(
        _FOLLOWERS.c.user_id == bindparam("user_id")
    )
)
_INSERT = Prebuilt(lambda insert: insert(_FOLLOWERS))


def _follower(user: str) -> dict[str, object]:
    return {
        "channel": "wechat",
        "account": ACCOUNT,
        "user_id": user,
        "subscribed": True,
        "created_at": NOW,
        "last_interaction_at": NOW,
    }


def _claim(user: str, key: str) -> dict[str, object]:
    return {
        "channel": "wechat",
        "account": ACCOUNT,
        "msg_key": key,
        "user_id": user,
        "kind": "text",
        "event": None,
        "text": None,
        "status": "processing",
        "received_at": NOW,
    }


async def test_rows_types_and_errors_as_sqlalchemy_gives_them(
    bot_context: BotContext, db_url: str
) -> None:
    with on_loop():
        async with bot_context.sessions() as session, session.begin():
            assert await _INSERT.run(session, _follower("u1")) == 1
            row = await _STATE.first(session, {"user_id": "u1"})
            assert row.subscribed is True and row.created_at == NOW
            assert row == tuple(
                (await session.execute(_STATE.of(session), {"user_id": "u1"})).one()
            )
            assert await _STATE.first(session, {"user_id": "nobody"}) is None
        with pytest.raises(IntegrityError):
            async with bot_context.sessions() as session, session.begin():
                await _INSERT.run(session, _follower("u1"))


async def test_pending_orm_changes_are_flushed_first(bot_context: BotContext, db_url: str) -> None:
    async with bot_context.sessions() as session, session.begin():
        await _INSERT.run(session, _follower("u0"))  # the transaction's driver is known
        session.add(Follower(**_follower("u2")))  # not flushed yet
        assert (await _STATE.first(session, {"user_id": "u2"})) is not None


async def test_statement_listeners_see_every_statement(
    bot_context: BotContext, db_url: str
) -> None:
    seen: list[str] = []
    engine = bot_context.sessions.kw["bind"].sync_engine

    def count(_c: object, _cur: object, statement: str, *_: object) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        async with bot_context.sessions() as session, session.begin():
            await _STATE.first(session, {"user_id": "u3"})
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert any("FROM followers" in s for s in seen)


async def test_claim_reads_the_pending_notices_with_it(
    bot_context: BotContext, db_url: str
) -> None:
    key = UserKey(Channel.WECHAT, ACCOUNT, "u4")
    async with bot_context.sessions() as session, session.begin():
        add_notice(session, key, "first", NOW)
        add_notice(session, key, "second", NOW)
    with on_loop():
        async with bot_context.sessions() as session, session.begin():
            assert await claim_message(session, _claim("u4", "k1"), notices=True) is not None
            assert [n.text for n in await pending_notices(session, key)] == ["first", "second"]
            # A retry of the same key: no claim, the notices read again all the same.
            assert await claim_message(session, _claim("u4", "k1"), notices=True) is None
            # Kept for one call: a second one reads the table.
            assert len(await pending_notices(session, key)) == 2
        async with bot_context.sessions() as session, session.begin():
            # Another person's claim: their own notices (none), never u4's.
            assert await claim_message(session, _claim("u5", "k2"), notices=True) is not None
            assert await pending_notices(session, UserKey(Channel.WECHAT, ACCOUNT, "u5")) == []
            assert len(await pending_notices(session, key)) == 2
    async with bot_context.sessions() as session:
        claimed = (await session.execute(select(InboundMessage.msg_key))).scalars().all()
        assert sorted(claimed) == ["k1", "k2"]
        assert len((await session.execute(select(Notice.id))).all()) == 2


async def test_claim_reads_the_conversation_state_with_it(
    bot_context: BotContext, db_url: str
) -> None:
    key = UserKey(Channel.WECHAT, ACCOUNT, "u6")
    state = FlowState("signup", "name", "{}", NOW, NOW + timedelta(hours=1))
    async with bot_context.sessions() as session, session.begin():
        await SqlConversationStore(session).set(key, state)
    with on_loop():
        async with bot_context.sessions() as session, session.begin():
            assert await claim_message(session, _claim("u6", "k3"), notices=True) is not None
            store = SqlConversationStore(session)
            got = await store.get(key, lock=True)
            assert got == dataclasses.replace(state, version=0)
            # Saved on the version read with the claim: an update, version 1.
            assert (await store.set(key, dataclasses.replace(state, step="phone"))).version == 1
        async with bot_context.sessions() as session, session.begin():
            # No state for this person: the claim says so, the store agrees.
            assert await claim_message(session, _claim("u7", "k4"), notices=True) is not None
            other = UserKey(Channel.WECHAT, ACCOUNT, "u7")
            assert await SqlConversationStore(session).get(other, lock=True) is None
            assert (await SqlConversationStore(session).get(key)).step == "phone"


async def test_a_connection_ended_moments_after_use_is_dropped(
    bot_context: BotContext, db_url: str
) -> None:
    """The pool does not ping a connection given back moments ago (PING_BYPASS_SECONDS): when
    the server ended it meanwhile, its first statement raises a disconnect that invalidates it
    (and the pool), and the next transaction gets a fresh connection."""
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite has no server to end connections")
    sessions = bot_context.sessions
    async with sessions() as holding, holding.begin():
        # ``holding`` keeps one connection busy: the next checkouts get the other one.
        await _STATE.first(holding, {"user_id": "u4"})
        async with sessions() as session, session.begin():
            await _STATE.first(session, {"user_id": "u4"})
            pid = (await session.execute(select(func.pg_backend_pid()))).scalar()
        # Ended by the server while it sits in the pool, just given back.
        await holding.execute(select(func.pg_terminate_backend(pid)))
        await asyncio.sleep(0.05)
        with pytest.raises(DBAPIError) as raised:
            async with sessions() as session, session.begin():
                await _STATE.first(session, {"user_id": "u4"})
        assert raised.value.connection_invalidated
        async with sessions() as session, session.begin():
            assert await _STATE.first(session, {"user_id": "u4"}) is None
