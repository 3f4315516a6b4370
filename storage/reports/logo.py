"""Logo contest section: entries by status, votes by day and channel, burst flags and voided
votes. Votes count by their ``vote_date`` (the Asia/Shanghai day the limits use)."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.logo import LogoEntry, LogoVote, LogoVoteFlag
from storage.reports.base import Chart, Label, Scope, Section, Table, in_period

STATUSES = ("pending", "approved", "rejected", "withdrawn")


async def section(scope: Scope) -> Section:
    """Entries received in the period, votes cast in it (every day with votes), flags."""
    s, e, v, f = scope.session, LogoEntry, LogoVote, LogoVoteFlag
    entries = dict(
        (str(st), int(n))
        for st, n in await s.execute(
            select(e.status, func.count()).where(in_period(scope, e.created_at)).group_by(e.status)
        )
    )
    in_days = (v.vote_date >= scope.period.first_day) & (v.vote_date < scope.period.end_day)
    counted = func.count().filter(v.voided.is_(False))
    days: dict[str, list[int]] = {}
    for day, channel, n, ok in await s.execute(
        select(v.vote_date, v.channel, func.count(), counted)
        .where(in_days)
        .group_by(v.vote_date, v.channel)
        .order_by(v.vote_date)
    ):
        row = days.setdefault(str(day)[:10], [0, 0, 0, 0])
        row[0 if channel == "wechat" else 1] += int(ok)
        row[2] += int(ok)
        row[3] += int(n) - int(ok)
    day_rows = [(d, *vals) for d, vals in sorted(days.items())]
    top = [
        (int(number), str(title), int(n))
        for number, title, n in await s.execute(
            select(e.id, e.title, func.count(v.id))
            .join(v, v.entry_id == e.id)
            .where(in_days, v.voided.is_(False), e.status == "approved")
            .group_by(e.id, e.title)
            .order_by(func.count(v.id).desc(), e.id)
            .limit(10)
        )
    ]
    flags = int(await s.scalar(select(func.count()).where(in_period(scope, f.window_start))) or 0)
    voters = int(
        await s.scalar(
            select(func.count(func.distinct(v.channel + ":" + v.user_id))).where(
                in_days, v.voided.is_(False)
            )
        )
        or 0
    )
    return Section(
        key="logo",
        totals=[
            ("entries", sum(entries.values())),
            *((f"entries_{st}", entries.get(st, 0)) for st in STATUSES),
            ("votes", sum(r[3] for r in day_rows)),
            ("voters", voters),
            ("votes_voided", sum(r[4] for r in day_rows)),
            ("vote_flags", flags),
        ],
        tables=[
            Table(
                "votes_by_day",
                ("day", "wechat", "weibo", "votes", "votes_voided"),
                day_rows,
            ),
            Table(
                "entries_by_status",
                ("status", "entries"),
                [(Label(f"entries_{st}"), entries.get(st, 0)) for st in STATUSES],
            ),
            Table("top_entries", ("entry_number", "entry_title", "votes"), top),
        ],
        charts=[Chart("votes_per_day", "votes_by_day", (1, 2), kind="line")],
    )
