"""Engine and session factory for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import contextvars
import os
import sqlite3
import time
from collections import namedtuple
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import aiosqlite
from sqlalchemy import event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.engine.base import ExceptionContextImpl
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import await_

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

    async def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(ValueError):  # aiosqlite's "connection closed"
                await super()._execute(_roll_back, self._connection)
        await super().close()

    def stop(self) -> asyncio.Future[Any] | None:
        # SQLAlchemy's terminate (a check-in cancelled mid-way) comes here, not to close().
        conn = self._connection
        if conn is not None and self._running:
            self._tx.put_nowait((None, partial(_roll_back, conn)))
        return super().stop()


def _roll_back(conn: sqlite3.Connection) -> None:
    """End ``conn``'s transaction before it is closed. sqlite3 (before Python 3.12) closes
    without a rollback, and a connection closed while a cursor still holds a statement (a
    cancelled task's frame keeps it) lives on in SQLite as a zombie, holding the write lock
    until the garbage collector finds that cursor: every other writer waited on it."""
    with contextlib.suppress(sqlite3.Error):
        if conn.in_transaction:
            conn.execute("ROLLBACK")


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
    # Every connection the pool may open is kept once opened (no overflow): under a burst of
    # votes 30 transactions run at once, and overflow connections were closed at every
    # check-in and opened again by the next message (connect, TLS attempt, SQLAlchemy's setup
    # queries, and asyncpg's prepared statements lost with them: measured, a sixth of the
    # bot's CPU on PostgreSQL). The most connections a process holds is unchanged.
    engine = create_async_engine(url, echo=echo, pool_size=30, max_overflow=0, pool_pre_ping=True)
    if engine.dialect.driver == "asyncpg":
        recent = _RecentlyUsed()
        event.listen(engine.sync_engine, "checkin", recent.checkin)
        event.listen(engine.sync_engine, "close", recent.forget)
        event.listen(engine.sync_engine, "close_detached", recent.forget)
        engine.dialect.do_ping = partial(_ping_asyncpg, recent)  # type: ignore[method-assign]
    return engine


# A connection given back to the pool this recently is not pinged when checked out again
# (HikariCP's aliveBypassWindowMs, 500 ms by default, skips its validation the same way): under
# load connections come back within milliseconds, and the ping was one round trip of every
# message's transaction (measured: about 120 µs of the bot's CPU on a transaction of one
# statement, a fifth of it). A connection the server ended within the window fails its first
# statement instead: the pool is then invalidated as on any disconnect (``_raise``), and the
# dispatcher runs the message again on a fresh connection.
PING_BYPASS_SECONDS = 0.5


class _RecentlyUsed:
    """When each pooled connection last went back to the pool, by the connection's id
    (forgotten when it is closed, so an id is never taken for another connection's)."""

    def __init__(self) -> None:
        self.since: dict[int, float] = {}

    def checkin(self, dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is not None:  # None: the connection was invalidated
            self.since[id(dbapi_connection)] = time.monotonic()

    def forget(self, dbapi_connection: Any, _record: Any = None) -> None:
        self.since.pop(id(dbapi_connection), None)

    def fresh(self, dbapi_connection: Any) -> bool:
        since = self.since.get(id(dbapi_connection))
        return since is not None and time.monotonic() - since < PING_BYPASS_SECONDS


def _ping_asyncpg(recent: _RecentlyUsed, dbapi_connection: Any) -> bool:
    """The pool's pre-ping in one round trip, none for a connection used moments ago
    (``PING_BYPASS_SECONDS``). SQLAlchemy's asyncpg adapter pings inside a transaction of its
    own (BEGIN, the ping, ROLLBACK: three round trips, for pgbouncer's transaction mode, which
    the bot does not use); every message's transaction checks a connection out, so that was
    three of its dozen round trips. A connection being checked out has no transaction open, so
    the ping runs in autocommit, as the adapter's own does inside a transaction."""
    if recent.fresh(dbapi_connection):
        return True
    try:
        await_(dbapi_connection._connection.fetchrow(";"))
    except Exception as error:
        dbapi_connection._handle_exception(error)
    return True


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
        driver = conn.connection.driver_connection
        if isinstance(driver, LoopFirstConnection):
            # Straight to sqlite3 (on the loop's thread within ``on_loop``): through
            # exec_driver_sql the BEGIN took an execution context and three hops through
            # aiosqlite's adapter, on every message's transaction.
            try:
                await_(driver._execute(_begin_immediate, driver._conn))
            except sqlite3.Error as exc:
                raise DBAPIError.instance("BEGIN IMMEDIATE", (), exc, sqlite3.Error) from exc
            return
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _begin_immediate(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE").close()


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
    """A statement of the transactional path, built once (``build`` gets the dialect's
    ``insert``, which knows ON CONFLICT; or the statement itself), compiled once per dialect
    and set of parameter names, and run on the session's driver connection.

    Through ``AsyncSession.execute`` each statement of a message cost more CPU than the SQL:
    a greenlet hop, the ORM's execute path, the compiled cache's key, the execution context,
    the cursor result, and on SQLite four or five more hops through aiosqlite's adapter. Here
    a statement is one call to the driver (sqlite3 on the event loop's thread within
    ``on_loop``, else aiosqlite's thread; asyncpg's own prepared statement) with the
    compiled SQL and the type's bind and result processors, in the session's transaction.
    When the session holds ORM changes not yet flushed, the statement goes through
    ``session.execute`` instead, which flushes them first (the order of writes is kept).
    Rows come back as named tuples (attribute access like SQLAlchemy's rows).
    """

    def __init__(self, build: Callable[[Any], Any] | Any) -> None:
        self._build = build if callable(build) else None
        self._statement = None if callable(build) else build
        self._built: dict[str, Any] = {}
        self._compiled: dict[tuple[str, frozenset[str]], _Compiled | None] = {}

    def of(self, session: AsyncSession) -> Any:
        """The statement for ``session``'s dialect."""
        return self._for(session.get_bind().dialect.name)

    def _for(self, name: str) -> Any:
        if self._statement is not None:
            return self._statement
        statement = self._built.get(name)
        if statement is None:
            insert = pg_insert if name == "postgresql" else sqlite_insert
            statement = self._built[name] = self._build(insert)  # type: ignore[misc]
        return statement

    async def rows(self, session: AsyncSession, params: dict[str, Any]) -> list[Any]:
        """All rows the statement returns."""
        return (await self._execute(session, params))[0]

    async def first(self, session: AsyncSession, params: dict[str, Any]) -> Any:
        """The first row, or None."""
        rows = (await self._execute(session, params))[0]
        return rows[0] if rows else None

    async def scalar(self, session: AsyncSession, params: dict[str, Any]) -> Any:
        """The first column of the first row, or None."""
        rows = (await self._execute(session, params))[0]
        return rows[0][0] if rows else None

    async def run(self, session: AsyncSession, params: dict[str, Any]) -> int:
        """Run it; the number of rows it changed."""
        return (await self._execute(session, params))[1]

    async def _execute(
        self, session: AsyncSession, params: dict[str, Any]
    ) -> tuple[list[Any], int]:
        driver = await _driver(session)
        if driver is not None:
            compiled = self._compile(driver.dialect, params)
            if compiled is not None:
                return await driver.execute(compiled, params)
        result: Any = await session.execute(self.of(session), params)
        rows = result.all() if getattr(result, "returns_rows", True) else []
        return rows, int(getattr(result, "rowcount", -1))

    def _compile(self, dialect: Any, params: dict[str, Any]) -> _Compiled | None:
        key = (dialect.name, frozenset(params))
        try:
            return self._compiled[key]
        except KeyError:
            pass
        compiled = self._compiled[key] = _Compiled.of(self._for(dialect.name), dialect, key[1])
        return compiled


class _Compiled:
    """A statement compiled for one dialect and set of parameter names: its SQL, how to make
    the driver's positional arguments from the parameters, and the row type."""

    __slots__ = ("args", "results", "returns_rows", "row", "sql")

    def __init__(
        self, sql: str, args: list[tuple[str | None, Any, Any]], compiled: Any, dialect: Any
    ) -> None:
        self.sql = sql
        self.args = args  # (parameter name or None for a constant, constant, bind processor)
        columns = compiled._result_columns
        self.returns_rows = bool(columns)
        names = [column[0] for column in columns]
        self.row: Any = (
            namedtuple("Row", names)
            if names
            and all(n.isidentifier() and not n.startswith("_") for n in names)
            and len(set(names)) == len(names)
            else tuple
        )
        processors = [column[3]._cached_result_processor(dialect, None) for column in columns]
        self.results = processors if any(processors) else None

    @classmethod
    def of(cls, statement: Any, dialect: Any, keys: frozenset[str]) -> _Compiled | None:
        """None when the statement needs what only SQLAlchemy's execution does (Python-side
        defaults, expanding IN lists, escaped names): it then runs through the session."""
        compiled = statement.compile(dialect=dialect, column_keys=sorted(keys))
        if (
            compiled.insert_prefetch
            or compiled.update_prefetch
            or compiled.post_compile_params
            or compiled.literal_execute_params
            or compiled.escaped_bind_names
            or compiled.positiontup is None
        ):
            return None
        processors = compiled._bind_processors
        args: list[tuple[str | None, Any, Any]] = []
        for name in compiled.positiontup:
            bind = compiled.binds[name]
            if bind.key in keys:
                args.append((bind.key, None, processors.get(name)))
            elif bind.callable is None and bind.value is not None and not bind.required:
                value = bind.value
                process = processors.get(name)
                args.append((None, process(value) if process else value, None))
            else:
                return None
        return cls(compiled.string, args, compiled, dialect)

    def arguments(self, params: dict[str, Any]) -> list[Any]:
        """The driver's positional arguments for ``params``."""
        out = []
        for name, constant, process in self.args:
            if name is None:
                out.append(constant)
            else:
                value = params[name]
                out.append(value if process is None or value is None else process(value))
        return out

    def make_rows(self, raw: Any) -> list[Any]:
        """The driver's rows as named tuples, through the types' result processors."""
        row = self.row
        results = self.results
        if results is None:
            return [row(*r) for r in raw] if row is not tuple else [tuple(r) for r in raw]
        made = []
        for r in raw:
            values = [v if p is None or v is None else p(v) for p, v in zip(results, r)]  # noqa: B905
            made.append(row(*values) if row is not tuple else tuple(values))
        return made


class _Driver(abc.ABC):
    """A session's driver connection, as ``Prebuilt`` runs statements on it."""

    dialect: Any
    adapted: Any  # SQLAlchemy's adapter of the driver's connection
    connection: Any  # SQLAlchemy's Connection (its engine's error listeners)

    @abc.abstractmethod
    async def execute(self, compiled: _Compiled, params: dict[str, Any]) -> tuple[list[Any], int]:
        """``compiled`` with ``params``: its rows (empty if it returns none) and row count."""


def _run_sqlite(conn: sqlite3.Connection, sql: str, args: list[Any]) -> tuple[list[Any], int]:
    cursor = conn.execute(sql, args)
    try:
        return cursor.fetchall(), cursor.rowcount
    finally:
        cursor.close()


class _SQLiteDriver(_Driver):
    """The statement on aiosqlite's connection: on the event loop's thread within ``on_loop``
    (see LoopFirstConnection), else on aiosqlite's thread."""

    def __init__(self, connection: Any, adapted: Any, driver: aiosqlite.Connection) -> None:
        self.dialect = connection.dialect
        self.connection = connection
        self.adapted = adapted
        self.driver = driver

    async def execute(self, compiled: _Compiled, params: dict[str, Any]) -> tuple[list[Any], int]:
        args = compiled.arguments(params)
        conn = self.driver
        try:
            rows, count = await conn._execute(_run_sqlite, conn._conn, compiled.sql, args)
        except Exception as error:
            _raise(self, compiled.sql, args, error)
        return compiled.make_rows(rows) if compiled.returns_rows else [], count


class _PostgresDriver(_Driver):
    """The statement on asyncpg's connection (its prepared-statement cache), in the
    transaction SQLAlchemy's adapter began (or begins now, as the adapter would)."""

    def __init__(self, connection: Any, adapted: Any) -> None:
        self.dialect = connection.dialect
        self.connection = connection
        self.adapted = adapted
        self.driver = adapted._connection

    async def execute(self, compiled: _Compiled, params: dict[str, Any]) -> tuple[list[Any], int]:
        args = compiled.arguments(params)
        adapted = self.adapted
        try:
            if adapted._transaction is None and adapted.isolation_level != "autocommit":
                await adapted._start_transaction()
            if compiled.returns_rows:
                rows = await self.driver.fetch(compiled.sql, *args)
                return compiled.make_rows(rows), len(rows)
            status = await self.driver.execute(compiled.sql, *args)
        except Exception as error:
            _raise(self, compiled.sql, args, error)
        count = status.rpartition(" ")[2]
        return [], int(count) if count.isdigit() else -1


def _raise(driver: _Driver, sql: str, args: list[Any], error: Exception) -> NoReturn:
    """``error`` as SQLAlchemy would have raised it (IntegrityError and so on), through the
    adapter's translation of the driver's exceptions, told to the engine's ``handle_error``
    listeners (the metrics count database errors there)."""
    adapted = driver.adapted
    try:
        adapted._handle_exception(error)
    except adapted.dbapi.Error as translated:
        dialect = driver.dialect
        conn = driver.connection
        # A connection the server ended: dropped, with every connection opened before it (as
        # SQLAlchemy's own execute does), so the next checkout opens a fresh one.
        gone = not conn.invalidated and dialect.is_disconnect(translated, adapted, None)
        wrapped = DBAPIError.instance(
            sql, args, translated, adapted.dbapi.Error, connection_invalidated=gone
        )
        if gone:
            conn.engine.pool._invalidate(conn._dbapi_connection, wrapped)
            conn.invalidate(wrapped)
        if dialect._has_events:
            context = ExceptionContextImpl(
                translated, wrapped, conn.engine, dialect, conn, None, sql, args,
                None, gone, True, False,
            )  # fmt: skip
            for listener in dialect.dispatch.handle_error:
                instead = listener(context)
                if instead is not None:  # as SQLAlchemy does: a listener may replace it
                    raise instead from error
        raise wrapped from error
    raise error


_DRIVER = "storage.db.driver"


async def _driver(session: AsyncSession) -> _Driver | None:
    """The driver connection of ``session``'s transaction, or None when a statement must go
    through ``session.execute``: no transaction begun, or ORM changes waiting for a flush."""
    sync = session.sync_session
    transaction = sync._transaction
    if transaction is None or not sync._is_clean():
        return None
    while transaction._parent is not None:
        transaction = transaction._parent
    cached = sync.info.get(_DRIVER)
    if cached is not None and cached[0] is transaction:
        return cached[1]
    conn = await session.connection()
    fairy = await conn.get_raw_connection()
    adapted = fairy.dbapi_connection
    sync_conn = conn.sync_connection
    dialect = conn.dialect
    driver: _Driver | None = None
    if sync_conn is None or sync_conn._echo or _watched(sync_conn):
        pass  # statements someone logs or watches go through SQLAlchemy's execute
    elif dialect.name == "postgresql" and dialect.driver == "asyncpg":
        driver = _PostgresDriver(sync_conn, adapted)
    elif dialect.name == "sqlite" and isinstance(fairy.driver_connection, aiosqlite.Connection):
        driver = _SQLiteDriver(sync_conn, adapted, fairy.driver_connection)
    sync.info[_DRIVER] = (transaction, driver)
    return driver


def _watched(conn: Any) -> bool:
    """Whether the engine has listeners for each statement (tests count them; tracing)."""
    dispatch = conn.dispatch
    return bool(
        dispatch.before_cursor_execute
        or dispatch.after_cursor_execute
        or dispatch.before_execute
        or dispatch.after_execute
    )
