"""Engine and session factory for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

T = TypeVar("T")

Sessions = async_sessionmaker[AsyncSession]
# What handlers and operations hold: a unit of work they pass to repositories, never query.
Session = AsyncSession


class Conflict(Exception):
    """A unique constraint refused a write: someone else got there first."""


def is_sqlite(url: str) -> bool:
    """Whether ``url`` points at SQLite."""
    return make_url(url).get_backend_name() == "sqlite"


def _create_private(path: Path) -> None:
    """Create the SQLite file 0600 in a 0700 folder before SQLite does (it would use 0644);
    its -wal and -shm files take the database file's mode."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine tuned for the backend.

    SQLite allows one writer at a time. A deferred transaction that reads and then writes can
    fail at once with SQLITE_BUSY when another connection wrote in between, so every
    transaction starts with BEGIN IMMEDIATE; one pooled connection per process queues the
    process's transactions fairly instead of letting them spin in SQLite's busy handler.
    Other processes on the same file wait through busy_timeout.
    """
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            _create_private(Path(database))
        engine = create_async_engine(
            url,
            echo=echo,
            pool_size=1,
            max_overflow=0,
            pool_timeout=60,
            connect_args={"timeout": 30},
        )
        _tune_sqlite(engine)
        return engine
    return create_async_engine(url, echo=echo, pool_size=10, max_overflow=20, pool_pre_ping=True)


def _tune_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's implicit BEGIN is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_sessions(engine: AsyncEngine) -> Sessions:
    """The session factory; objects stay usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(sessions: Sessions) -> AsyncIterator[AsyncSession]:
    """A session whose work commits on success and rolls back on any exception: the one
    transaction boundary of CLI commands, operations, jobs and the dispatcher."""
    async with sessions() as session, session.begin():
        yield session


@asynccontextmanager
async def unique_transaction(sessions: Sessions) -> AsyncIterator[AsyncSession]:
    """``transaction`` whose commit may lose a unique-key race to another process (seeding at
    start-up, a name two operators add at once): that raises ``Conflict``."""
    try:
        async with transaction(sessions) as session:
            yield session
    except IntegrityError as exc:
        raise Conflict(str(exc.orig)) from exc


@asynccontextmanager
async def savepoint(session: AsyncSession) -> AsyncIterator[None]:
    """Writes that may lose a race on a unique key: on a conflict only they roll back (the
    message's transaction goes on) and ``Conflict`` is raised."""
    try:
        async with session.begin_nested():
            yield
    except IntegrityError as exc:
        raise Conflict(str(exc.orig)) from exc


def after_commit(session: AsyncSession, action: Callable[[], None]) -> None:
    """Run ``action`` once the session's transaction commits (never on a rollback)."""

    def run(_session: Any) -> None:
        action()

    event.listen(session.sync_session, "after_commit", run, once=True)


async def added(session: AsyncSession, row: T) -> T:
    """``row``, added to the session and flushed, so its id and defaults are set."""
    session.add(row)
    await session.flush()
    return row


async def ping(session: AsyncSession) -> None:
    """One round trip to the database (health checks)."""
    await session.execute(text("SELECT 1"))


def upsert_insert(session: AsyncSession) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (SQLite and PostgreSQL spell it alike), so
    a counter is created or incremented in one statement."""
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
