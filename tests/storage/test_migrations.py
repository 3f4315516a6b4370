"""Migrations and models agree on both backends; the message log is purged by age only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

import storage.schema  # noqa: F401  (registers every feature's tables on Base.metadata)
from bot.app import purge_message_log
from bot.kernel.context import BotContext
from storage.db import create_engine
from storage.models import Base, InboundMessage


async def test_migrations_match_models(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:

            def diff(sync_conn: Any) -> list[Any]:
                context = MigrationContext.configure(
                    sync_conn, opts={"compare_type": True, "compare_server_default": False}
                )
                return list(compare_metadata(context, Base.metadata))

            differences = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    assert differences == []


async def test_purge_deletes_only_old_rows(bot_context: BotContext) -> None:
    now = bot_context.clock.now()
    days = bot_context.config.database.message_retention_days
    ages = {"old": days + 1, "edge": days - 1, "new": 0}
    async with bot_context.sessions() as session, session.begin():
        for key, age in ages.items():
            session.add(
                InboundMessage(
                    channel="wechat",
                    account="gh_x",
                    msg_key=key,
                    user_id="u",
                    kind="text",
                    status="done",
                    received_at=now - timedelta(days=age),
                )
            )
    assert await purge_message_log(bot_context) == 1
    async with bot_context.sessions() as session:
        keys = set((await session.execute(select(InboundMessage.msg_key))).scalars())
        count = (await session.execute(select(func.count()).select_from(InboundMessage))).scalar()
    assert keys == {"edge", "new"} and count == 2


def test_one_migration_head() -> None:
    """Feature migrations join into one line, so `db upgrade` has a single target."""
    from alembic.script import ScriptDirectory

    from storage.migrate import alembic_config

    heads = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://")).get_heads()
    assert len(heads) == 1, heads
