"""Run Alembic migrations programmatically (``python -m bot db upgrade`` and tests)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import create_engine, is_sqlite

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> AlembicConfig:
    """An Alembic config pointing at our migrations and ``url``."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


async def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the database at ``url`` to ``revision`` (all heads by default)."""
    # Alembic's command API is synchronous and env.py runs its own event loop for the async
    # driver, so it runs in a worker thread.
    await asyncio.to_thread(command.upgrade, alembic_config(url), revision)
    await analyze(url)


async def analyze(url: str) -> None:
    """Fresh planner statistics after a migration (PostgreSQL): a new or rebuilt index has
    none, and the planner's guesses for a table it knows nothing about are what once made it
    scan an account's message log (migration 0017). SQLite's planner needs none to prefer a
    unique key for an equality."""
    if is_sqlite(url):
        return
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("ANALYZE")
    finally:
        await engine.dispose()


async def current_heads(engine: AsyncEngine) -> set[str]:
    """Revisions recorded in the database (empty for a fresh one)."""
    async with engine.connect() as conn:
        has_table = await conn.run_sync(lambda c: inspect(c).has_table("alembic_version"))
        if not has_table:
            return set()
        rows = await conn.exec_driver_sql("SELECT version_num FROM alembic_version")
        return {r[0] for r in rows}


async def ensure_schema(url: str) -> bool:
    """Upgrade ``url`` if it is behind; returns whether anything ran."""
    from alembic.script import ScriptDirectory

    engine = create_engine(url)
    try:
        heads = await current_heads(engine)
    finally:
        await engine.dispose()
    wanted = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
    if heads == wanted:
        return False
    await upgrade(url)
    return True


async def schema_status(url: str) -> tuple[set[str], list[tuple[str, str]]]:
    """The revisions recorded in the database at ``url`` and the migrations not applied yet
    (revision id and first docstring line, oldest first)."""
    from alembic.script import ScriptDirectory

    engine = create_engine(url)
    try:
        current = await current_heads(engine)
    finally:
        await engine.dispose()
    script = ScriptDirectory.from_config(alembic_config(url))
    applied: set[str] = set()
    for head in current:
        applied.update(rev.revision for rev in script.iterate_revisions(head, "base"))
    pending = [
        (rev.revision, (rev.doc or "").splitlines()[0] if rev.doc else "")
        for rev in script.walk_revisions()
        if rev.revision not in applied
    ]
    return current, list(reversed(pending))
