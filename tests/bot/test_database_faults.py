"""Database errors while messages arrive (issue 15, defects 1 and 6), over real HTTP on both
databases: a controlled answer, one log line, a request-log line, recovery by itself, and no
flow answer kept in clear."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import text

from storage.models import InboundMessage
from tests.conftest import BotHarness


@asynccontextmanager
async def _table_gone(
    harness: BotHarness, table: str, column: str | None = None
) -> AsyncIterator[None]:
    """``table`` (or one of its columns) unreachable for every connection: a real database
    error, no mock."""
    if column:
        away = f"ALTER TABLE {table} RENAME COLUMN {column} TO {column}_away"
        back = f"ALTER TABLE {table} RENAME COLUMN {column}_away TO {column}"
    else:
        away = f"ALTER TABLE {table} RENAME TO {table}_away"
        back = f"ALTER TABLE {table}_away RENAME TO {table}"
    async with harness.bot.sessions() as session, session.begin():
        await session.execute(text(away))
    try:
        yield
    finally:
        async with harness.bot.sessions() as session, session.begin():
            await session.execute(text(back))


def _errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


def _requests(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [getattr(r, "fields", {}) for r in caplog.records if r.name == "bot.request"]


async def test_database_error_in_the_state_probe_answers_the_apology(
    harness: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    """Regression (defect 1): the per-message probe's database error was an HTTP 500 with no
    request-log line (seen while PostgreSQL restarted)."""
    caplog.set_level(logging.INFO)
    apology = harness.bot.texts("common.error")
    user = harness.user()
    assert "网络公益" in await harness.say(user, "活动介绍")
    caplog.clear()
    async with _table_gone(harness, "notices"):
        for content in ("活动介绍", "帮助"):
            status, body = await harness.post(user, user.text(content))
            assert status == 200, body
            assert user.read_reply(body).get("Content") == apology
    # One error line a message, one request line a message, both answered 200.
    assert len(_errors(caplog)) == 2
    requests = _requests(caplog)
    assert [r.get("status") for r in requests] == [200, 200]
    assert {r.get("outcome") for r in requests} == {"failed"}
    # Recovers by itself once the database answers again.
    assert "网络公益" in await harness.say(user, "活动介绍")


async def test_database_error_on_the_transactional_path_answers_the_apology(
    harness: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    apology = harness.bot.texts("common.error")
    user = harness.user()
    caplog.clear()
    async with _table_gone(harness, "followers"):
        status, body = await harness.post(user, user.event("subscribe"))
        assert status == 200, body
        assert user.read_reply(body).get("Content") == apology
    assert len(_errors(caplog)) == 1
    assert [r.get("status") for r in _requests(caplog)] == [200]
    # The retry of the failed event gets the same apology; a new one is handled.
    assert await harness.say(user, "活动介绍") != apology


async def test_flow_answer_never_logged_in_clear_when_the_database_fails(
    harness: BotHarness,
) -> None:
    """Regression (defect 6): when the database failed while a flow answer was handled, the
    message log kept the answer (here the birth year, the sign-up's first question) in clear:
    privacy was decided only later."""
    user = harness.user()
    assert "出生年份" in await harness.say(user, "志愿者报名")
    # The conversation row cannot be read (the state probe still can): the flow engine fails
    # before it knows whether the user is in a flow.
    async with _table_gone(harness, "conversations", "data"):
        answer = await harness.say(user, "1987")
    assert answer == harness.bot.texts("common.error")
    rows = await harness.logged(user.openid, InboundMessage.text, InboundMessage.status)
    assert ("志愿者报名", "done") in [tuple(r) for r in rows]
    assert all("1987" not in (t or "") for t, _ in rows)
    assert [s for _, s in rows].count("failed") == 1


async def test_postgres_connections_ended_under_the_bot(harness: BotHarness, db_url: str) -> None:
    """What a PostgreSQL restart does to the bot's pools: every connection ended by the
    server. No 500 on either path; answers come back by themselves."""
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite has no server to restart")
    user = harness.user()
    assert "网络公益" in await harness.say(user, "活动介绍")
    async with harness.bot.sessions() as session:
        await session.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    apology = harness.bot.texts("common.error")
    for xml in (user.text("活动介绍"), user.event("subscribe"), user.text("帮助")):
        status, body = await harness.post(user, xml)
        assert status == 200, body
        # Not even an apology: a transaction whose connection turns out ended (the pool does
        # not ping one used moments ago) runs again on a fresh one.
        assert user.read_reply(body).get("Content") != apology
    assert "网络公益" in await harness.say(user, "活动介绍")
