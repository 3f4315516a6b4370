"""The shared datetime column type: UTC in, aware UTC out, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.kernel.clock import SHANGHAI
from bot.kernel.context import BotContext
from storage.hotpath import sqlite_datetime
from storage.models import Follower


def _follower(user: str, created_at: datetime) -> Follower:
    return Follower(
        channel="wechat", account="gh_test", user_id=user, subscribed=True, created_at=created_at
    )


async def test_bounds_in_another_zone_select_the_right_rows(bot_context: BotContext) -> None:
    # 15:30 UTC is 23:30 in Shanghai on 1 March; 16:30 UTC is 00:30 on 2 March.
    late = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)
    next_day = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)
    async with bot_context.sessions() as session, session.begin():
        # One written in UTC, one in Shanghai time: both are stored as UTC.
        session.add_all([_follower("a", late), _follower("b", next_day.astimezone(SHANGHAI))])
    shanghai_midnight = datetime(2026, 3, 2, tzinfo=SHANGHAI)
    async with bot_context.sessions() as session:
        after = (
            await session.scalars(
                select(Follower.user_id).where(Follower.created_at >= shanghai_midnight)
            )
        ).all()
        before = (
            await session.scalars(
                select(Follower.user_id).where(Follower.created_at < shanghai_midnight)
            )
        ).all()
        stored = {
            row.user_id: row.created_at for row in (await session.scalars(select(Follower))).all()
        }
    assert after == ["b"] and before == ["a"]
    # Read back aware and in UTC on SQLite too, which keeps no zone.
    assert stored == {"a": late, "b": next_day}
    assert all(value.tzinfo is UTC for value in stored.values())


def test_hot_path_formats_times_in_utc() -> None:
    moment = datetime(2026, 3, 2, 0, 30, tzinfo=SHANGHAI)
    assert sqlite_datetime(moment) == "2026-03-01 16:30:00.000000"
    assert sqlite_datetime(moment.astimezone(UTC)) == sqlite_datetime(moment)
    assert sqlite_datetime(moment - timedelta(hours=8)) == "2026-03-01 08:30:00.000000"
