"""Engine and session factory for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import contextlib
import contextvars
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
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


# Set while a message's transaction runs (``on_loop``): its SQLite statements run on the event
# loop's thread when they can (see LoopFirstConnection).
_ON_LOOP: contextvars.ContextVar[bool] = contextvars.ContextVar("sqlite_on_loop", default=False)
BUSY_TIMEOUT_MS = 30_000


@contextlib.contextmanager
def on_loop() -> Iterator[None]:
    """Within: SQLite statements of this task run on the event loop's thread while the write
    lock is free (the transactional path of a message: short statements on indexed rows)."""
    token = _ON_LOOP.set(True)
    try:
        yield
    finally:
        _ON_LOOP.reset(token)


class LoopFirstConnection(aiosqlite.Connection):
    """aiosqlite's connection, running statements on the event loop's own thread when a task
    asks for it (``on_loop``) and the write lock is free, and on aiosqlite's thread otherwise.

    Each statement handed to aiosqlite's thread and back cost about 70 µs of CPU in thread and
    GIL switches, more than the statement itself, and a message's transaction takes a dozen
    or more; the process's one connection is held meanwhile, so the hand-offs also set the
    rate of transactions. On the loop's thread a statement never waits: the busy timeout is 0
    there, and a statement that meets SQLITE_BUSY (another connection holds the write lock:
    the message-log writer, another process) is run again on the thread, whose busy timeout
    queues it as before. Statements of other work (reports, console pages, jobs) stay on the
    thread: a long query must not stall the loop. SQLAlchemy issues one statement at a time
    per connection, so the two threads never use the connection at once.
    """

    _loop_timeout = False  # the connection's busy timeout is 0 (set for the loop's thread)

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        conn = self._connection
        if _ON_LOOP.get() and conn is not None and self._running:
            if not self._loop_timeout:
                conn.execute("PRAGMA busy_timeout = 0")
                self._loop_timeout = True
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                    raise
        if self._loop_timeout and conn is not None:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._loop_timeout = False
        return await super()._execute(fn, *args, **kwargs)


async def _connect_loop_first(path: str) -> aiosqlite.Connection:
    conn = LoopFirstConnection(
        partial(sqlite3.connect, path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False),
        64,
    )
    conn._thread.daemon = True  # as SQLAlchemy's aiosqlite dialect does
    return await conn


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
        file_args: dict[str, Any] = {}
        if database and database != ":memory:" and not database.startswith("file:"):
            _create_private(Path(database))
            file_args["async_creator"] = partial(_connect_loop_first, database)
        engine = create_async_engine(
            url,
            echo=echo,
            pool_size=1,
            max_overflow=0,
            pool_timeout=60,
            connect_args={"timeout": 30},
            **file_args,
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
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
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


class Prebuilt:
    """An INSERT … ON CONFLICT statement built once per dialect (``build`` gets the dialect's
    ``insert``). On the transactional path, building a statement per call (coercion and the
    cache key) costs more CPU than running it; execute it with its values as parameters."""

    def __init__(self, build: Callable[[Any], Any]) -> None:
        self._build = build
        self._built: dict[str, Any] = {}

    def of(self, session: AsyncSession) -> Any:
        """The statement for ``session``'s dialect."""
        name = session.get_bind().dialect.name
        statement = self._built.get(name)
        if statement is None:
            insert = pg_insert if name == "postgresql" else sqlite_insert
            statement = self._built[name] = self._build(insert)
        return statement
