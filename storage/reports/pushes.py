"""Pushes section: deliveries of scheduled posts (sent, failed, missed, unknown) per row and
channel, and the reach WeChat reported in MASSSENDJOBFINISH (SentCount of TotalCount,
ErrorCount). Previews to operators are not pushes and are left out."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.reports.base import (
    Chart,
    Scope,
    Section,
    Table,
    in_period,
    json_int,
    rows_per_bucket,
)
from storage.schedules import FAILED, MISSED, SENT, UNKNOWN, OutboxItem

REPORT_FIELDS = ("TotalCount", "SentCount", "ErrorCount")


async def section(scope: Scope) -> Section:
    """Counted by the occurrence (when the push was due)."""
    s, o = scope.session, OutboxItem
    push = o.purpose == "push"
    where = in_period(scope, o.occurrence) & push
    reach = [func.coalesce(func.sum(json_int(scope, o.report, k)), 0) for k in REPORT_FIELDS]
    rows = await rows_per_bucket(
        scope,
        o.occurrence,
        func.count().filter(o.status == SENT),
        func.count().filter((o.status == SENT) & (o.channel == "wechat")),
        func.count().filter((o.status == SENT) & (o.channel == "weibo")),
        func.count().filter(o.status.in_((FAILED, MISSED, UNKNOWN))),
        *reach,
        where=[push],
    )
    reported = int(await s.scalar(select(func.count()).where(where, o.report.is_not(None))) or 0)
    unit = scope.period.unit
    totals = [sum(int(r[i]) for r in rows) for i in range(1, 8)]
    return Section(
        key="pushes",
        totals=[
            ("pushes_sent", totals[0]),
            ("pushes_wechat", totals[1]),
            ("pushes_weibo", totals[2]),
            ("pushes_failed", totals[3]),
            ("pushes_reported", reported),
            ("reach_total", totals[4]),
            ("reach_sent", totals[5]),
            ("reach_errors", totals[6]),
        ],
        tables=[
            Table(
                f"pushes_by_{unit}",
                (
                    unit,
                    "pushes_sent",
                    "pushes_wechat",
                    "pushes_weibo",
                    "pushes_failed",
                    "reach_total",
                    "reach_sent",
                    "reach_errors",
                ),
                rows,
            )
        ],
        charts=[Chart("pushes_reach", f"pushes_by_{unit}", (6,))],
    )
