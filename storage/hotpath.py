"""Cheap per-message storage for messages whose handlers change nothing.

Most traffic is keyword questions. Answering them needs no transaction: a retried question
just gets the same answer again. What they do need is (1) one read telling whether the user is
in a flow or has a notice waiting (then the message takes the transactional path), and (2) a
row in the message log, written behind in batches.

On SQLite the read runs inline on a dedicated read-only connection: an indexed lookup takes
microseconds, far less than a hop to aiosqlite's thread, and WAL readers never wait for the
writer. On PostgreSQL it is one asyncpg round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import Sessions, is_sqlite
from storage.models import InboundMessage

log = logging.getLogger("storage.hotpath")

_STATE_SQL = (
    "SELECT EXISTS (SELECT 1 FROM conversations WHERE channel = :c AND account = :a"
    " AND user_id = :u) OR EXISTS (SELECT 1 FROM notices WHERE channel = :c AND account = :a"
    " AND user_id = :u AND delivered_at IS NULL)"
)


class StateProbe(Protocol):
    async def has_state(self, channel: str, account: str, user: str) -> bool:
        """Whether the user is in a flow or has a notice waiting."""
        ...

    def close(self) -> None:
        """Release the probe's connection."""
        ...


class SQLiteProbe:
    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA query_only = 1")
            conn.execute("PRAGMA busy_timeout = 200")
            self._conn = conn
        return self._conn

    async def has_state(self, channel: str, account: str, user: str) -> bool:
        """The lookup, inline (microseconds; see the module docstring)."""
        row = self._connection().execute(_STATE_SQL, {"c": channel, "a": account, "u": user})
        return bool(row.fetchone()[0])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class EngineProbe:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sql = text(_STATE_SQL)

    async def has_state(self, channel: str, account: str, user: str) -> bool:
        """The lookup as one round trip on the async engine."""
        async with self.engine.connect() as conn:
            result = await conn.execute(self._sql, {"c": channel, "a": account, "u": user})
            return bool(result.scalar())

    def close(self) -> None:
        return None


def make_probe(url: str, engine: AsyncEngine) -> StateProbe:
    """The fastest safe probe for the database at ``url``."""
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            return SQLiteProbe(database)
    return EngineProbe(engine)


class MessageLogWriter:
    """Buffers message-log rows and inserts them in batches (duplicates ignored)."""

    def __init__(
        self, sessions: Sessions, url: str, *, interval: float = 0.05, batch: int = 500
    ) -> None:
        self.engine: AsyncEngine = sessions.kw["bind"]
        self.insert: Any = sqlite_insert if is_sqlite(url) else pg_insert
        self.interval = interval
        self.batch = batch
        self._rows: list[dict[str, Any]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def add(self, row: dict[str, Any]) -> None:
        """Queue one row (InboundMessage columns)."""
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
                # Core, not the ORM bulk path: a fraction of the CPU per row.
                stmt = self.insert(InboundMessage.__table__).on_conflict_do_nothing(
                    index_elements=["channel", "account", "msg_key"]
                )
                try:
                    async with self.engine.begin() as conn:
                        await conn.execute(stmt, rows)
                except Exception:
                    # The log is a record, not a control path: never let it break replies.
                    log.exception("message log batch of %d rows lost", len(rows))

    async def close(self) -> None:
        """Flush and stop."""
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
