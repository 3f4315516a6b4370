"""Follower growth: one counter row per channel, account and day (Asia/Shanghai).

The ``followers`` table keeps only each user's latest follow and unfollow, so it cannot say
how many people followed on a given day once someone re-follows. These counters can: the
dispatcher bumps them in the same transaction that claims the event's message key, so a
retried event is counted once, and the increment happens in SQL, so concurrent workers never
lose one.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple

from sqlalchemy import Date, Integer, String, Table, UniqueConstraint, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from bot.kernel.clock import as_utc, local
from storage.db import Prebuilt, upsert_insert
from storage.models import Base, BigId, Follower


class FollowerDay(Base):
    """Follows and unfollows of one account on one day."""

    __tablename__ = "follower_days"
    __table_args__ = (UniqueConstraint("channel", "account", "day"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date)
    follows: Mapped[int] = mapped_column(Integer, default=0)
    unfollows: Mapped[int] = mapped_column(Integer, default=0)


async def count_follow(
    session: AsyncSession, *, channel: str, account: str, day: date, follow: bool
) -> None:
    """Add one follow (or unfollow) to the day's counter, creating the row if needed."""
    column = "follows" if follow else "unfollows"
    stmt = upsert_insert(session)(FollowerDay).values(
        channel=channel,
        account=account,
        day=day,
        follows=1 if follow else 0,
        unfollows=0 if follow else 1,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["channel", "account", "day"],
        set_={column: getattr(FollowerDay, column) + 1},
    )
    await session.execute(stmt)


async def find_follower(
    session: AsyncSession, channel: str, account: str, user_id: str
) -> Follower | None:
    """The user's follower row, if the bot has seen them follow (or looked them up)."""
    result = await session.execute(
        select(Follower).where(
            Follower.channel == channel, Follower.account == account, Follower.user_id == user_id
        )
    )
    return result.scalar_one_or_none()


_FOLLOWERS: Table = Follower.__table__  # type: ignore[assignment]
# A vote's follower read and write, built once (see storage.db.Prebuilt).
_FOLLOWER_STATE = Prebuilt(
    select(_FOLLOWERS.c.subscribed, _FOLLOWERS.c.scene, _FOLLOWERS.c.subscribed_at).where(
        Follower.of_bound_user()
    )
)
_REMEMBER = Prebuilt(lambda insert: insert(_FOLLOWERS).on_conflict_do_nothing())


class FollowerState(NamedTuple):
    """What a vote needs of a follower row: whether they follow, and how and when they came."""

    subscribed: bool
    scene: str | None
    subscribed_at: datetime | None


async def follower_state(
    session: AsyncSession, channel: str, account: str, user_id: str
) -> FollowerState | None:
    """``find_follower``'s answer as a plain tuple (one prebuilt read, no ORM object)."""
    params = {"channel": channel, "account": account, "user_id": user_id}
    row = await _FOLLOWER_STATE.first(session, params)
    return None if row is None else FollowerState(row.subscribed, row.scene, row.subscribed_at)


def new_follower(
    channel: str, account: str, user_id: str, *, subscribed: bool, now: datetime
) -> Follower:
    """A follower row not yet added to a session."""
    return Follower(**_first_seen(channel, account, user_id, subscribed, now))


def _first_seen(
    channel: str, account: str, user_id: str, subscribed: bool, now: datetime
) -> dict[str, object]:
    """The columns of a follower row when the user is first seen (its row and its upsert)."""
    return {
        "channel": channel,
        "account": account,
        "user_id": user_id,
        "subscribed": subscribed,
        "created_at": now,
        "last_interaction_at": now,
    }


async def record_follow_event(
    session: AsyncSession,
    *,
    channel: str,
    account: str,
    user_id: str,
    follow: bool,
    scan: bool,
    scene: str | None,
    now: datetime,
) -> None:
    """Apply a subscribe (``follow``), unsubscribe or QR scan to the user's row, and count a
    follow or unfollow for the day (a scan comes from someone who already follows)."""
    follower = await find_follower(session, channel, account, user_id)
    if follower is None:
        follower = new_follower(channel, account, user_id, subscribed=True, now=now)
        session.add(follower)
    if not follow and not scan:
        follower.subscribed = False
        follower.unsubscribed_at = now
    else:
        if not scan or not follower.subscribed:
            follower.subscribed_at = now
        follower.subscribed = True
        if scene:
            follower.scene = scene[:64]
    follower.last_interaction_at = now
    if not scan:
        await count_follow(
            session, channel=channel, account=account, day=local(now).date(), follow=follow
        )
    await session.flush()


async def growth(
    session: AsyncSession, start: date, end: date, channel: str | None = None
) -> list[tuple[date, int, int]]:
    """(day, follows, unfollows) for every day from ``start`` to ``end``, zeros included."""
    query = (
        select(FollowerDay.day, func.sum(FollowerDay.follows), func.sum(FollowerDay.unfollows))
        .where(FollowerDay.day >= start, FollowerDay.day <= end)
        .group_by(FollowerDay.day)
    )
    if channel:
        query = query.where(FollowerDay.channel == channel)
    counted = {row[0]: (int(row[1]), int(row[2])) for row in await session.execute(query)}
    days = [date.fromordinal(n) for n in range(start.toordinal(), end.toordinal() + 1)]
    return [(d, *counted.get(d, (0, 0))) for d in days]


async def current_followers(session: AsyncSession, channel: str | None = None) -> int:
    """How many users follow now (as far as the bot has seen them)."""
    query = select(func.count(Follower.id)).where(Follower.subscribed.is_(True))
    if channel:
        query = query.where(Follower.channel == channel)
    return int(await session.scalar(query) or 0)


async def top_scenes(
    session: AsyncSession,
    since: datetime,
    until: datetime,
    channel: str | None = None,
    limit: int = 10,
) -> list[tuple[str, int, int]]:
    """(QR scene, followers who came through it in the period, of them still following)."""
    # SQLite keeps times as text and compares them as text: bounds must be in UTC like the rows.
    since, until = as_utc(since), as_utc(until)
    still = func.count(Follower.id).filter(Follower.subscribed.is_(True))
    query = (
        select(Follower.scene, func.count(Follower.id), still)
        .where(
            Follower.scene.is_not(None),
            Follower.subscribed_at >= since,
            Follower.subscribed_at < until,
        )
        .group_by(Follower.scene)
        .order_by(func.count(Follower.id).desc(), Follower.scene)
        .limit(limit)
    )
    if channel:
        query = query.where(Follower.channel == channel)
    return [(str(r[0]), int(r[1]), int(r[2])) for r in await session.execute(query)]


async def remember_follower(
    session: AsyncSession,
    channel: str,
    account: str,
    user_id: str,
    *,
    subscribed: bool,
    now: datetime,
) -> None:
    """Record what the platform said about a user not seen before; a follow event that
    recorded the row meanwhile wins (ON CONFLICT DO NOTHING: the message's transaction goes on,
    without a SAVEPOINT)."""
    await _REMEMBER.run(session, _first_seen(channel, account, user_id, subscribed, now))
