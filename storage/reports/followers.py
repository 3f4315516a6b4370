"""Followers section: follows, unfollows and net growth per row, QR-code scenes, followers now."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.followers import FollowerDay, current_followers, top_scenes
from storage.reports.base import Chart, Scope, Section, Table, date_bucket, per_bucket


async def section(scope: Scope) -> Section:
    """Growth counted by the dispatcher per day (``follower_days``), summed per row."""
    bucket = date_bucket(scope, FollowerDay.day)
    query = (
        select(
            bucket,
            FollowerDay.channel,
            func.sum(FollowerDay.follows),
            func.sum(FollowerDay.unfollows),
        )
        .where(FollowerDay.day >= scope.period.first_day, FollowerDay.day < scope.period.end_day)
        .group_by(bucket, FollowerDay.channel)
    )
    per: dict[str, list[int]] = {}
    for label, channel, follows, unfollows in await scope.session.execute(query):
        row = per.setdefault(str(label), [0, 0, 0, 0])
        row[0] += int(follows)
        row[1] += int(unfollows)
        row[2 if channel == "wechat" else 3] += int(follows)
    rows = [
        (b, f, u, f - u, wx, wb)
        for b, f, u, wx, wb in per_bucket(scope, {k: tuple(v) for k, v in per.items()}, 4)
    ]
    follows = sum(r[1] for r in rows)
    unfollows = sum(r[2] for r in rows)
    scenes = await top_scenes(scope.session, scope.period.since, scope.period.until, limit=15)
    return Section(
        key="followers",
        totals=[
            ("follows", follows),
            ("unfollows", unfollows),
            ("net", follows - unfollows),
            ("followers_now", await current_followers(scope.session)),
        ],
        tables=[
            Table(
                "followers_by_" + scope.period.unit,
                (scope.period.unit, "follows", "unfollows", "net", "wechat", "weibo"),
                rows,
            ),
            Table("scenes", ("scene", "follows", "still_following"), scenes),
        ],
        charts=[Chart("followers_net", "followers_by_" + scope.period.unit, (1, 2))],
    )
