"""A per-user rate limit shared by every web process through the database.

Why PostgreSQL and not Redis: a campaign-scale deployment already runs PostgreSQL, backs it up
and watches it; Redis would be one more service to install, secure and monitor for a
politeness limit. Why not one query per message: the hot path costs about 300 µs of CPU a
message on PostgreSQL, and an upsert per message would add a round trip to each. So each
process decides locally, exactly as the in-memory ``RateLimiter`` does (same call shape:
``allow(key, now) -> bool``), from the counts of all processes as of the last sync plus its own
hits since, and a background task syncs every ``interval`` seconds in one statement for all
keys touched. A user can get past the limit only by what the other processes admitted within
one interval (at most ``limit`` each, and only in a burst faster than the interval).

Counts are kept per key and wall-clock minute; the limit applies to a sliding minute estimated
from the current and the previous minute (the previous one weighted by how much of it the
sliding window still covers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Integer,
    String,
    column,
    delete,
    func,
    select,
    text,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Prebuilt, Sessions, upsert_insert
from storage.models import Base

log = logging.getLogger("storage.ratelimit")


# A counter's slot, (key, minute), and hits by slot: what the processes add up.
Slot = tuple[str, int]
Hits = dict[Slot, int]


class RateCounter(Base):
    """Hits of one key in one wall-clock minute, summed over all processes."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    # epoch seconds // 60; indexed for the periodic read of busy keys of the last two minutes
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True, index=True)
    hits: Mapped[int] = mapped_column(Integer)


# PostgreSQL's sync (``SharedRateLimiter._sync_postgres``): our hits added, and the totals of
# the keys touched (this minute and the one before) and of every key past half the limit.
# The main query reads the table as the statement began (a data-modifying CTE's rows are not
# visible to it), so the upserted rows come back from RETURNING as well, marked.
_SYNC_POSTGRES = Prebuilt(
    text(
        "WITH up AS (INSERT INTO rate_counters (key, minute, hits)"
        " SELECT * FROM unnest(CAST(:keys AS VARCHAR[]), CAST(:minutes AS BIGINT[]),"
        " CAST(:hits AS INTEGER[]))"
        " ON CONFLICT (key, minute) DO UPDATE SET hits = rate_counters.hits + excluded.hits"
        " RETURNING key, minute, hits)"
        " SELECT key, minute, hits, false AS upserted FROM rate_counters"
        " WHERE (minute >= :since AND hits >= :hot)"
        " OR (key, minute) IN (SELECT * FROM unnest(CAST(:touched_keys AS VARCHAR[]),"
        " CAST(:touched_minutes AS BIGINT[])))"
        " UNION ALL SELECT key, minute, hits, true FROM up"
    ).columns(
        column("key", String),
        column("minute", BigInteger),
        column("hits", Integer),
        column("upserted", Boolean),
    )
)


class SharedRateLimiter:
    """At most ``limit`` hits per key per sliding minute across all processes."""

    def __init__(
        self,
        sessions: Sessions,
        limit: int,
        *,
        interval: float = 0.2,
        max_keys: int = 100_000,
    ) -> None:
        self.sessions = sessions
        self.limit = limit
        # A sync reads back every key with at least this many hits (past half the limit).
        self.hot_hits = max(1, limit // 2)
        self.interval = interval
        self.max_keys = max_keys
        # key -> (minute, hits this minute, hits the minute before), all processes, last sync
        self._known: OrderedDict[str, tuple[int, int, int]] = OrderedDict()
        self._pending: Hits = {}  # our hits not yet synced
        # Our hits a sync is writing: counted until the totals it reads back include them
        # (else a busy user gets extra messages through while the database is slow).
        self._syncing: Hits = {}
        self._task: asyncio.Task[None] | None = None
        self._last_hit = 0.0
        self.sync_failures = 0

    def allow(self, key: str, now: float) -> bool:
        """Record a hit for ``key`` at ``now`` (epoch seconds); False when over the limit."""
        minute = int(now // 60)
        covered = 1.0 - (now % 60) / 60  # share of the previous minute in the sliding window
        current, previous = self._global(key, minute)
        for ours in (self._pending, self._syncing):
            current += ours.get((key, minute), 0)
            previous += ours.get((key, minute - 1), 0)
        if previous * covered + current >= self.limit:
            return False
        self._pending[(key, minute)] = self._pending.get((key, minute), 0) + 1
        self._last_hit = time.time()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._sync_soon())
        return True

    def _global(self, key: str, minute: int) -> tuple[int, int]:
        known = self._known.get(key)
        if known is None:
            return 0, 0
        self._known.move_to_end(key)
        at, current, previous = known
        if at == minute:
            return current, previous
        if at == minute - 1:
            return 0, current
        return 0, 0

    async def _sync_soon(self) -> None:
        # Runs while this process saw hits in the last minute: besides our own hits, each
        # sync reads the keys any process has taken past half the limit, so a process learns
        # of a busy user within one interval even before that user writes to it.
        while self._pending or time.time() - self._last_hit < 60:
            await asyncio.sleep(self.interval)
            await self.sync()

    async def sync(self, now: float | None = None) -> None:
        """Add our hits to the shared counts; read back the totals of the keys touched and
        of every key past half the limit."""
        batch, self._pending = self._pending, {}
        self._syncing = batch
        minute = int((time.time() if now is None else now) // 60)
        if batch:
            minute = max(minute, *(m for _, m in batch))
        pairs = {(k, m) for k, _ in batch for m in (minute - 1, minute)}
        try:
            async with self.sessions() as session, session.begin():
                if session.get_bind().dialect.name == "postgresql":
                    totals = await self._sync_postgres(session, batch, pairs, minute)
                else:
                    totals = await self._sync_generic(session, batch, pairs, minute)
        except Exception:
            # The database is away: keep the hits for the next sync; meanwhile each process
            # limits on what it knows (its own hits on top of the last shared counts).
            self._syncing = {}
            for item, hits in batch.items():
                self._pending[item] = self._pending.get(item, 0) + hits
            self.sync_failures += 1
            if self.sync_failures == 1:
                log.warning("rate limit sync failed; limiting per process until it recovers")
            await asyncio.sleep(self.interval * 5)
            return
        self.sync_failures = 0
        for key in {k for k, _ in pairs} | {k for k, _ in totals}:
            current = totals.get((key, minute), 0)
            self._known[key] = (minute, current, totals.get((key, minute - 1), 0))
            self._known.move_to_end(key)
        self._syncing = {}
        while len(self._known) > self.max_keys:
            self._known.popitem(last=False)

    async def _sync_generic(
        self, session: AsyncSession, batch: Hits, pairs: set[Slot], minute: int
    ) -> Hits:
        """The upsert, then the totals: statements built for the batch's size."""
        if batch:
            await session.execute(self._upsert(session, batch))
        hot = (RateCounter.minute >= minute - 1) & (RateCounter.hits >= self.hot_hits)
        touched = tuple_(RateCounter.key, RateCounter.minute).in_(sorted(pairs))
        rows = await session.execute(
            select(RateCounter.key, RateCounter.minute, RateCounter.hits).where(
                (hot | touched) if pairs else hot
            )
        )
        return {(k, m): h for k, m, h in rows}

    async def _sync_postgres(
        self, session: AsyncSession, batch: Hits, pairs: set[Slot], minute: int
    ) -> Hits:
        """The upsert and the totals in one prebuilt statement, whatever the batch's size:
        built per batch (a VALUES row and an IN pair per key), both statements cost a compile
        and a new server-side prepare at nearly every sync, and a round trip each."""
        items = sorted(batch.items())
        touched = sorted(pairs)
        rows = await _SYNC_POSTGRES.rows(
            session,
            {
                "keys": [k for (k, _), _ in items],
                "minutes": [m for (_, m), _ in items],
                "hits": [n for _, n in items],
                "touched_keys": [k for k, _ in touched],
                "touched_minutes": [m for _, m in touched],
                "since": minute - 1,
                "hot": self.hot_hits,
            },
        )
        # The table's rows as the statement began, then the upserted rows' new totals.
        totals = {(r.key, r.minute): r.hits for r in rows if not r.upserted}
        totals.update({(r.key, r.minute): r.hits for r in rows if r.upserted})
        return totals

    @staticmethod
    def _upsert(session: AsyncSession, batch: Hits) -> Any:
        insert = upsert_insert(session)
        stmt = insert(RateCounter).values(
            [{"key": k, "minute": m, "hits": n} for (k, m), n in sorted(batch.items())]
        )
        return stmt.on_conflict_do_update(
            index_elements=[RateCounter.key, RateCounter.minute],
            set_={"hits": RateCounter.hits + stmt.excluded.hits},
        )

    async def close(self) -> None:
        """Sync what is left and stop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.sync()


# Keys of WindowCounter start with this; their rows live as long as the longest window.
WINDOW_PREFIX = "window:"
MAX_WINDOW_MINUTES = 24 * 60


class WindowCounter:
    """Exact counts of an event per key over the last ``minutes`` whole minutes, shared by
    every process through the same table as ``SharedRateLimiter``.

    For rare events that guard something, such as failed console logins: there a lock must
    hold exactly whichever process the next try reaches, so each event is one transaction
    (an upsert, then the window's sum) instead of the limiter's batched sync. The upsert
    takes the row's lock (SQLite: the write lock), so concurrent events are counted in
    order and each sees every one before it: the n-th event of a window is told n, exactly.
    """

    def __init__(self, sessions: Sessions, scope: str, minutes: int) -> None:
        if not 1 <= minutes <= MAX_WINDOW_MINUTES:
            raise ValueError(f"a window of {minutes} minutes (1..{MAX_WINDOW_MINUTES})")
        self.sessions = sessions
        self.scope = scope
        self.minutes = minutes

    def key(self, name: str) -> str:
        """The table's key of ``name`` in this counter's scope."""
        return window_key(self.scope, name)

    async def add(self, name: str, now: float, hits: int = 1) -> int:
        """Count ``hits`` events of ``name`` at ``now`` (epoch seconds); returns the window's
        count including them. Negative ``hits`` with the ``now`` they were added at give
        them back."""
        key, minute = self.key(name), int(now // 60)
        async with self.sessions() as session, session.begin():
            insert = upsert_insert(session)
            stmt = insert(RateCounter).values(key=key, minute=minute, hits=max(hits, 0))
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=[RateCounter.key, RateCounter.minute],
                    set_={"hits": RateCounter.hits + hits},
                )
            )
            return await self._sum(session, key, minute)

    async def count(self, name: str, now: float) -> tuple[int, float | None]:
        """The window's count of ``name``, and when its newest events leave the window (epoch
        seconds; None when there are none)."""
        key, minute = self.key(name), int(now // 60)
        async with self.sessions() as session:
            rows = (
                await session.execute(
                    select(RateCounter.minute, RateCounter.hits).where(
                        RateCounter.key == key,
                        RateCounter.minute > minute - self.minutes,
                        RateCounter.hits > 0,
                    )
                )
            ).all()
        total = sum(h for _, h in rows)
        latest = max((m for m, _ in rows), default=None)
        return total, None if latest is None else float((latest + self.minutes) * 60)

    async def _sum(self, session: AsyncSession, key: str, minute: int) -> int:
        total = await session.scalar(
            select(func.coalesce(func.sum(RateCounter.hits), 0)).where(
                RateCounter.key == key, RateCounter.minute > minute - self.minutes
            )
        )
        return int(total or 0)


def window_key(scope: str, name: str) -> str:
    """The table's key of ``name`` counted by a ``WindowCounter`` of ``scope``."""
    return f"{WINDOW_PREFIX}{scope}:{name}"[:160]


async def clear_window(session: AsyncSession, scope: str, name: str) -> None:
    """Forget the events of ``name`` in ``scope`` (in the caller's transaction)."""
    await session.execute(delete(RateCounter).where(RateCounter.key == window_key(scope, name)))


async def purge_rate_counters(session: AsyncSession, now: float) -> int:
    """Forget minutes no window covers any more (the message limit's two, a WindowCounter's
    at most a day); returns how many rows went."""
    minute = int(now // 60)
    windowed = RateCounter.key.startswith(WINDOW_PREFIX, autoescape=True)
    result = await session.execute(
        delete(RateCounter).where(
            ((RateCounter.minute < minute - 1) & ~windowed)
            | (RateCounter.minute < minute - MAX_WINDOW_MINUTES)
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
