"""Cheap per-message storage for messages whose handlers change nothing.

Most traffic is keyword questions. Answering them needs no transaction: a retried question
just gets the same answer again. What they do need is (1) one read telling whether the user is
in a flow or has a notice waiting (then the message takes the transactional path), and (2) a
row in the message log, written behind in batches.

On SQLite the read runs on the event loop's thread on a dedicated read-only connection, once
per loop iteration for all the messages that arrived in it: an indexed lookup takes
microseconds, far less than a hop to aiosqlite's thread, and WAL readers never wait for the
writer. On PostgreSQL it is one asyncpg round trip on a small pool of the probe's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

import asyncpg
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import Sessions, is_sqlite
from storage.models import InboundMessage

log = logging.getLogger("storage.hotpath")


class StateProbe(Protocol):
    async def needs_transaction(self, channel: str, account: str, user: str, key: str) -> bool:
        """Whether the message must take the transactional path: the user is in a flow or has
        a notice waiting, or this message key was already taken by that path (a retry: it gets
        the first delivery's answer, even when the flow it answered has ended since)."""
        ...

    async def follows(
        self, channel: str, account: str, user: str, key: str
    ) -> tuple[bool | None, bool]:
        """Whether the user follows as far as the followers table knows (None: no row), and
        whether message ``key`` is already taken by the transactional path (another delivery
        of it committed, or on PostgreSQL is being handled by another process: its answer
        will come from the claim, and asking the platform about the sender would be wasted).
        Read outside any transaction: nothing waits for the write lock."""
        ...

    async def cached_answer(self, channel: str, account: str, key: str) -> CachedAnswer | None:
        """(status, reply, handler) of a claimed message key as committed, or None: a
        retry's answer, read outside any transaction."""
        ...

    async def close(self) -> None:
        """Release the probe's connections."""
        ...


# A message key the transactional path took (a pure answer's own log row, done with nothing
# cached, does not count: its retry is simply answered again). Parameters: channel, account,
# message key.
_TAKEN = (
    "EXISTS (SELECT 1 FROM inbound_messages WHERE channel = {0} AND account = {1}"
    " AND msg_key = {2} AND (reply IS NOT NULL OR status <> 'done'))"
)
# PostgreSQL: the advisory lock of a message key (channel, account, message key), tried, never
# waited for. The claim (``storage.messages``) takes it and holds it until its transaction
# ends; the probe's follower lookup reads a failed try as "another process handles this key".
KEY_LOCK_SQL = "pg_try_advisory_xact_lock(hashtextextended(concat_ws(' ', {0}, {1}, {2}), 0))"
# Parameters: channel, account, user, message key.
_FOLLOWS_SQL = (
    "SELECT (SELECT subscribed FROM followers WHERE channel = {0} AND account = {1}"
    " AND user_id = {2}), " + _TAKEN.format("{0}", "{1}", "{3}")
)
_CACHED_SQL = (
    "SELECT status, reply, handler FROM inbound_messages"
    " WHERE channel = {0} AND account = {1} AND msg_key = {2}"
)


class CachedAnswer(NamedTuple):
    """A claimed message's outcome as its retries read it."""

    status: str
    reply: str | None
    handler: str | None


def _cached(row: Any) -> CachedAnswer | None:
    """A ``_CACHED_SQL`` row (any driver's) as a ``CachedAnswer``."""
    return None if row is None else CachedAnswer(*row)


def _follows(row: Any) -> tuple[bool | None, bool]:
    """A ``_FOLLOWS_SQL`` row (any driver's): subscribed as far as known, and taken."""
    subscribed, taken = row
    return None if subscribed is None else bool(subscribed), bool(taken)


Key = tuple[str, str, str, str]  # channel, account, user, message key
Waiting = list[tuple[Key, "asyncio.Future[bool]"]]


def _resolve(batch: Waiting, found: set[int] | Exception) -> None:
    """Answer each waiting message: its index in ``found``, or the error the lookup met."""
    for index, (_key, answer) in enumerate(batch):
        if answer.done():  # its request was cancelled meanwhile
            continue
        if isinstance(found, Exception):
            answer.set_exception(found)
        else:
            answer.set_result(index in found)


class SQLiteProbe:
    """The lookup for every message that arrived in one event-loop iteration, as one query on
    the event loop's thread, on a dedicated read-only connection.

    Each message's task awaits a future; the first of an iteration schedules the lookup for the
    next. One statement then answers them all: one read transaction instead of one per
    message, and the tasks go on to routing together, which keeps the CPU's caches warm
    (measured: a fifth more messages per second than a lookup per message). Freshness is
    unchanged: the read starts after each message has arrived. (PostgreSQL's probe is not
    batched: see ``PostgresProbe``.)
    """

    MAX_BATCH = 128  # 5 parameters a key: well under SQLite's oldest limit of 999

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._pending: Waiting = []

    async def needs_transaction(self, channel: str, account: str, user: str, key: str) -> bool:
        """See ``StateProbe`` (answered with the batch)."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[bool] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._answer_pending)
        self._pending.append(((channel, account, user, key), answer))
        return await answer

    def _answer_pending(self) -> None:
        pending, self._pending = self._pending, []
        for start in range(0, len(pending), self.MAX_BATCH):
            self._answer(pending[start : start + self.MAX_BATCH])

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = _connect(self.path, "query_only = 1", "busy_timeout = 200")
        return self._conn

    def _answer(self, batch: Waiting) -> None:
        found: set[int] | Exception
        try:
            found = self._lookup([key for key, _ in batch])
        except Exception as exc:  # the same error each message would have met alone
            found = exc
        _resolve(batch, found)

    def _lookup(self, keys: list[Key]) -> set[int]:
        """Indexes of ``keys`` that need the transactional path (see ``_BATCH_CONDITION``)."""
        # Padded to a power of two with keys that match nothing: a handful of statement texts
        # for the connection's statement cache, whatever the batch sizes.
        size = 1 << (len(keys) - 1).bit_length()
        params: list[Any] = []
        for index, key in enumerate(keys):
            params += (index, *key)
        params += [-1, None, None, None, None] * (size - len(keys))
        rows = self._connection().execute(_sqlite_batch_sql(size), params)
        return {row[0] for row in rows}

    async def follows(
        self, channel: str, account: str, user: str, key: str
    ) -> tuple[bool | None, bool]:
        """See ``StateProbe``: indexed lookups on the loop's thread (another delivery in
        flight is this process's: the dispatcher already made this one wait for it)."""
        sql = _FOLLOWS_SQL.format("?1", "?2", "?3", "?4")
        return _follows(self._connection().execute(sql, (channel, account, user, key)).fetchone())

    async def cached_answer(self, channel: str, account: str, key: str) -> CachedAnswer | None:
        """See ``StateProbe``: an indexed lookup on the loop's thread."""
        sql = _CACHED_SQL.format("?", "?", "?")
        return _cached(self._connection().execute(sql, (channel, account, key)).fetchone())

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# For keys q(i, ch, ac, us, mk): a flow, a pending notice, or the message key taken by the
# transactional path (``_TAKEN``).
_BATCH_CONDITION = (
    " WHERE EXISTS (SELECT 1 FROM conversations c"
    " WHERE c.channel = q.ch AND c.account = q.ac AND c.user_id = q.us)"
    " OR EXISTS (SELECT 1 FROM notices n WHERE n.channel = q.ch AND n.account = q.ac"
    " AND n.user_id = q.us AND n.delivered_at IS NULL)"
    " OR " + _TAKEN.format("q.ch", "q.ac", "q.mk")
)


@functools.cache
def _sqlite_batch_sql(size: int) -> str:
    """The probe's query for ``size`` keys given as (index, channel, account, user, key)."""
    keys = ", ".join(["(?, ?, ?, ?, ?)"] * size)
    return f"WITH q(i, ch, ac, us, mk) AS (VALUES {keys}) SELECT i FROM q" + _BATCH_CONDITION


PROBE_APPLICATION_NAME = "campaign-bot probe"
# What a connection the server has ended raises (the error depends on what arrived first).
_BROKEN = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """The probe pool's reset: its one query changes no session state to undo."""


class PostgresProbe:
    """The lookup as one asyncpg round trip per message, on a small pool of its own.

    Through the SQLAlchemy engine a probe took three round trips (the pool's pre-ping, the
    query, the rollback when the connection went back) and most of a request's CPU. Here the
    connection goes back without even asyncpg's reset query: a single autocommit SELECT leaves
    nothing behind, and it reads committed state exactly as before. Not batched like SQLite's:
    keys passed as arrays hide their values from the planner, which then may pick the user
    index and scan an account's whole message log; with one key each condition is an equality
    on a unique index, and the message log's user index no longer fits the key's condition at
    all (migration 0017: without statistics the planner used to take it).
    """

    _sql = (
        "SELECT EXISTS (SELECT 1 FROM conversations"
        " WHERE channel = $1 AND account = $2 AND user_id = $3)"
        " OR EXISTS (SELECT 1 FROM notices WHERE channel = $1 AND account = $2"
        " AND user_id = $3 AND delivered_at IS NULL)"
        " OR EXISTS (SELECT 1 FROM inbound_messages WHERE channel = $1 AND account = $2"
        " AND msg_key = $4 AND (reply IS NOT NULL OR status <> 'done'))"
    )

    def __init__(self, engine: AsyncEngine, max_size: int = 10) -> None:
        # The engine's own connect arguments, less the ones only SQLAlchemy's adapter takes.
        _, self._connect_args = engine.dialect.create_connect_args(engine.url)
        for adapter_only in ("prepared_statement_cache_size", "prepared_statement_name_func"):
            self._connect_args.pop(adapter_only, None)
        self.max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def _ready(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        min_size=1,
                        max_size=self.max_size,
                        reset=_keep_session,
                        # Names the pool in pg_stat_activity.
                        server_settings={"application_name": PROBE_APPLICATION_NAME},
                        **self._connect_args,
                    )
        return self._pool

    async def needs_transaction(self, channel: str, account: str, user: str, key: str) -> bool:
        """See ``StateProbe``."""
        pool = await self._ready()
        try:
            return await self._ask(pool, (channel, account, user, key))
        except _BROKEN:
            # A connection the server ended while it sat idle (a restart, an idle timeout):
            # that one was dropped, so this asks on a fresh one.
            return await self._ask(pool, (channel, account, user, key))

    # Taken also while another process handles the key: its claim holds the key's advisory
    # lock until it commits (``storage.messages``; the try here releases at once if it gets
    # it, the statement being its own transaction).
    _follows_sql = (
        _FOLLOWS_SQL.format("$1", "$2", "$3", "$4")
        + " OR NOT "
        + KEY_LOCK_SQL.format("$1", "$2", "$4")
    )

    async def follows(
        self, channel: str, account: str, user: str, key: str
    ) -> tuple[bool | None, bool]:
        """See ``StateProbe``: one round trip on the probe's pool."""
        return _follows(await self._fetchrow(self._follows_sql, channel, account, user, key))

    async def cached_answer(self, channel: str, account: str, key: str) -> CachedAnswer | None:
        """See ``StateProbe``: one round trip on the probe's pool (a retry that reached the
        database had taken a transaction of three just to read it)."""
        sql = _CACHED_SQL.format("$1", "$2", "$3")
        return _cached(await self._fetchrow(sql, channel, account, key))

    async def _fetchrow(self, sql: str, *args: Any) -> Any:
        pool = await self._ready()
        async with pool.acquire() as conn:
            try:
                return await conn.fetchrow(sql, *args)
            except _BROKEN:
                conn.terminate()
                raise

    async def _ask(self, pool: asyncpg.Pool, key: Key) -> bool:
        async with pool.acquire() as conn:
            try:
                return bool(await conn.fetchval(self._sql, *key))
            except _BROKEN:
                # Without the reset query nothing else would notice it is unusable.
                conn.terminate()
                raise

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


class EngineProbe:
    """The lookup through the async engine (in-memory SQLite)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sql = text(
            "WITH q(i, ch, ac, us, mk) AS (VALUES (0, :c, :a, :u, :k)) SELECT i FROM q"
            + _BATCH_CONDITION
        )

    async def needs_transaction(self, channel: str, account: str, user: str, key: str) -> bool:
        """See ``StateProbe``: one query on the async engine."""
        async with self.engine.connect() as conn:
            params = {"c": channel, "a": account, "u": user, "k": key}
            return (await conn.execute(self._sql, params)).first() is not None

    async def follows(
        self, channel: str, account: str, user: str, key: str
    ) -> tuple[bool | None, bool]:
        """See ``StateProbe``: one query on the async engine."""
        async with self.engine.connect() as conn:
            sql = text(_FOLLOWS_SQL.format(":c", ":a", ":u", ":k"))
            params = {"c": channel, "a": account, "u": user, "k": key}
            return _follows((await conn.execute(sql, params)).one())

    async def cached_answer(self, channel: str, account: str, key: str) -> CachedAnswer | None:
        """See ``StateProbe``: one query on the async engine."""
        async with self.engine.connect() as conn:
            sql = text(_CACHED_SQL.format(":c", ":a", ":k"))
            return _cached(
                (await conn.execute(sql, {"c": channel, "a": account, "k": key})).first()
            )

    async def close(self) -> None:
        return None


def make_probe(url: str, engine: AsyncEngine) -> StateProbe:
    """The fastest safe probe for the database at ``url``."""
    if not is_sqlite(url):
        return PostgresProbe(engine)
    database = make_url(url).database
    if database and database != ":memory:":
        return SQLiteProbe(database)
    return EngineProbe(engine)


# The message-log columns a writer receives, in the order of the SQLite batch statement
# (the two datetimes last: the SQLite sink converts them in place).
LOG_COLUMNS = (
    "channel",
    "account",
    "msg_key",
    "user_id",
    "kind",
    "event",
    "text",
    "status",
    "handler",
    "reply",
    "received_at",
    "finished_at",
)

# On the writer thread a whole batch is one statement over one JSON parameter: sqlite3's
# executemany steps (and releases the GIL) once per row, which under load turns into a GIL
# ping-pong between that thread and the event loop that cost more than the inserts themselves.
_LOG_INSERT = f"INSERT INTO inbound_messages ({', '.join(LOG_COLUMNS)}) "
_ON_KEY_CONFLICT = " ON CONFLICT (channel, account, msg_key) DO NOTHING"
_SQLITE_BATCH_INSERT = (
    _LOG_INSERT
    + "SELECT "
    + ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(LOG_COLUMNS)))
    # WHERE true: SQLite needs it to tell the upsert clause from a join constraint.
    + " FROM json_each(?) WHERE true"
    + _ON_KEY_CONFLICT
)
# On the loop's thread, where no other thread wants the GIL, executemany is the cheaper way:
# no JSON to write and then to take apart twelve times a row (4.2 against 5.8 µs a row in
# batches of 350, 5.7 against 7.3 in batches of 40).
_SQLITE_ROW_INSERT = (
    _LOG_INSERT + f"VALUES ({', '.join('?' * len(LOG_COLUMNS))})" + _ON_KEY_CONFLICT
)


def sqlite_datetime(value: datetime | None) -> str | None:
    """``value`` as SQLAlchemy's SQLite DateTime stores it ('YYYY-MM-DD HH:MM:SS.ffffff').

    A third of the cost of SQLAlchemy's own bind processor, which formats through a dict;
    stored in UTC, as ``UTCDateTime`` binds them (the clock's values already are)."""
    if value is None:
        return None
    if value.tzinfo is not None and value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


def _sqlite_values(row: dict[str, Any]) -> list[Any]:
    values = [row[c] for c in LOG_COLUMNS]
    received, finished = values[-2], values[-1]
    values[-2] = text = sqlite_datetime(received)
    values[-1] = text if finished is received else sqlite_datetime(finished)
    return values


def _connect(path: str, *pragmas: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in pragmas:
        conn.execute(f"PRAGMA {pragma}")
    return conn


class SQLiteLogSink:
    """Writes batches through connections of its own: on the event loop's thread when the write
    lock is free at once, else on a thread of its own, which waits for it.

    A batch's insert takes a millisecond or two; handing every batch to a thread and back cost
    more than that (measured: about 30 µs of CPU a message under load, in GIL and thread
    switches). The loop never waits, though: its connection has no busy timeout, so when the
    transactional path or another process holds the lock, the batch goes to the thread, whose
    busy timeout queues it. Checkpoints, which may fsync, run on the thread too: the loop's
    connection never checkpoints by itself.
    """

    CHECKPOINT_EVERY = 64  # batches: about three seconds at full load

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None  # the thread's
        self._loop_conn: sqlite3.Connection | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="message-log")
        self._since_checkpoint = 0

    def _thread_conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = _connect(self.path, "synchronous = NORMAL", "busy_timeout = 30000")
        return self._conn

    def _insert(self, payload: str) -> None:
        # One statement in autocommit: atomic, and it waits for the write lock by busy_timeout.
        self._thread_conn().execute(_SQLITE_BATCH_INSERT, (payload,))

    def _checkpoint(self) -> None:
        self._thread_conn().execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _insert_now(self, values: list[list[Any]]) -> bool:
        """Insert on the loop's thread if the write lock is free; whether it was."""
        if self._loop_conn is None:
            self._loop_conn = _connect(
                self.path, "synchronous = NORMAL", "busy_timeout = 0", "wal_autocheckpoint = 0"
            )
        conn = self._loop_conn
        try:
            conn.execute("BEGIN IMMEDIATE")  # the write lock now, or SQLITE_BUSY at once
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                return False
            raise
        try:
            conn.executemany(_SQLITE_ROW_INSERT, values)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # an error may have ended it already
                conn.execute("ROLLBACK")  # the batch is all or nothing, as on the thread
            raise
        return True

    async def write(self, rows: list[dict[str, Any]]) -> None:
        """Insert ``rows`` (duplicates ignored)."""
        values = [_sqlite_values(row) for row in rows]
        loop = asyncio.get_running_loop()
        if not self._insert_now(values):
            payload = json.dumps(values, ensure_ascii=False)
            await loop.run_in_executor(self._thread, self._insert, payload)
        self._since_checkpoint += 1
        if self._since_checkpoint >= self.CHECKPOINT_EVERY:
            self._since_checkpoint = 0
            await loop.run_in_executor(self._thread, self._checkpoint)

    async def close(self) -> None:
        """Close the connections and stop the thread."""
        if self._loop_conn is not None:
            self._loop_conn.close()
            self._loop_conn = None
        if self._conn is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._conn.close)
            self._conn = None
        self._thread.shutdown(wait=True)


class EngineLogSink:
    """Writes batches as one Core executemany on the async engine (PostgreSQL, in-memory)."""

    def __init__(self, url: str, engine: AsyncEngine) -> None:
        self.engine = engine
        insert: Any = sqlite_insert if is_sqlite(url) else pg_insert
        # Core, not the ORM bulk path: a fraction of the CPU per row.
        self._stmt = insert(InboundMessage.__table__).on_conflict_do_nothing(
            index_elements=["channel", "account", "msg_key"]
        )

    async def write(self, rows: list[dict[str, Any]]) -> None:
        """Insert ``rows`` (duplicates ignored)."""
        async with self.engine.begin() as conn:
            await conn.execute(self._stmt, rows)

    async def close(self) -> None:
        return None


class MessageLogWriter:
    """Buffers message-log rows and inserts them in batches (duplicates ignored)."""

    def __init__(
        self, sessions: Sessions, url: str, *, interval: float = 0.05, batch: int = 500
    ) -> None:
        engine: AsyncEngine = sessions.kw["bind"]
        path = make_url(url).database if is_sqlite(url) else None
        self.sink: SQLiteLogSink | EngineLogSink = (
            SQLiteLogSink(path) if path and path != ":memory:" else EngineLogSink(url, engine)
        )
        self.interval = interval
        self.batch = batch
        self._rows: list[dict[str, Any]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def add(self, row: dict[str, Any]) -> None:
        """Queue one row (the ``LOG_COLUMNS`` of InboundMessage)."""
        self._rows.append(row)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        if len(self._rows) >= self.batch:
            self._wake.set()

    async def _run(self) -> None:
        while self._rows:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        """Write everything queued so far."""
        async with self._lock:
            while self._rows:
                rows, self._rows = self._rows[: self.batch], self._rows[self.batch :]
                try:
                    await self.sink.write(rows)
                except Exception as exc:
                    # The log is a record, not a control path: never let it break replies.
                    await self._row_by_row(rows, exc)

    async def _row_by_row(self, rows: list[dict[str, Any]], batch_error: Exception) -> None:
        """After a failed batch, each row on its own: one bad row (a value its column refuses)
        must not take the others with it. Stops at the first error that is not about a row's
        data (the database is away: every row would fail alike). One log line."""
        lost = 0
        error: Exception = batch_error
        for index, row in enumerate(rows):
            try:
                await self.sink.write([row])
            except Exception as exc:
                error = exc
                if not _is_row_error(exc):
                    lost += len(rows) - index
                    break
                lost += 1
        if lost:
            log.error(
                "message log: %d of a batch of %d rows lost (%s)",
                lost,
                len(rows),
                type(error).__name__,
            )

    async def close(self) -> None:
        """Flush and stop."""
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.sink.close()


def _is_row_error(exc: Exception) -> bool:
    """Whether ``exc`` is about the row's values (not the database being unreachable)."""
    if isinstance(
        exc, IntegrityError | DataError | sqlite3.IntegrityError | sqlite3.DataError | ValueError
    ):
        return True
    # asyncpg's errors reach SQLAlchemy's wrapper as a plain DBAPIError: read the SQLSTATE
    # (class 22 data exception, 23 integrity constraint violation).
    state = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return isinstance(state, str) and state[:2] in ("22", "23")
