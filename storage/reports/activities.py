"""Activities section: activities held, places offered and taken, attendance rate, hours credited.

An activity counts in the period it starts in; cancelled ones are counted apart and never as
held. Hours are the ledger's rows dated in the period: credited for an activity, or adjusted
by an operator."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.activities import ACTIVE, CANCELLED, Activity, Enrolment
from storage.reports.base import (
    Chart,
    Scope,
    Section,
    Table,
    in_period,
    local_bucket,
    ratio,
)
from storage.volunteers import HoursEntry


async def section(scope: Scope) -> Section:
    """Per row: held, places, enrolled, checked in, attendance rate, hours credited."""
    s, a, e, h = scope.session, Activity, Enrolment, HoursEntry
    held = (a.status == ACTIVE) & (a.starts_at < scope.period.until)
    bucket = local_bucket(scope, a.starts_at)
    acts = {
        str(b): (int(n), int(p or 0))
        for b, n, p in await s.execute(
            select(bucket, func.count(), func.sum(a.capacity))
            .where(in_period(scope, a.starts_at), held)
            .group_by(bucket)
        )
    }
    enrol = {
        str(b): (int(n), int(c))
        for b, n, c in await s.execute(
            select(bucket, func.count(e.id), func.count(e.checked_in_at))
            .join(a, a.id == e.activity_id)
            .where(in_period(scope, a.starts_at), held)
            .group_by(bucket)
        )
    }
    hours_bucket = local_bucket(scope, h.at)
    credited = {
        str(b): (float(x or 0), float(y or 0))
        for b, x, y in await s.execute(
            select(
                hours_bucket,
                func.sum(h.hours).filter(h.activity_id.is_not(None)),
                func.sum(h.hours).filter(h.activity_id.is_(None)),
            )
            .where(in_period(scope, h.at))
            .group_by(hours_bucket)
        )
    }
    cancelled = int(
        await s.scalar(
            select(func.count()).where(in_period(scope, a.starts_at), a.status == CANCELLED)
        )
        or 0
    )
    cities = int(
        await s.scalar(
            select(func.count(func.distinct(a.city))).where(in_period(scope, a.starts_at), held)
        )
        or 0
    )
    rows = []
    for b in scope.period.buckets():
        n, places = acts.get(b, (0, 0))
        enrolled, checked = enrol.get(b, (0, 0))
        by_activity, adjusted = credited.get(b, (0.0, 0.0))
        rows.append(
            (b, n, places, enrolled, checked, ratio(checked, enrolled), by_activity, adjusted)
        )
    unit = scope.period.unit
    enrolled_total = sum(r[3] for r in rows)
    checked_total = sum(r[4] for r in rows)
    return Section(
        key="activities",
        totals=[
            ("activities_held", sum(r[1] for r in rows)),
            ("activities_cancelled", cancelled),
            ("activity_cities", cities),
            ("places", sum(r[2] for r in rows)),
            ("enrolled", enrolled_total),
            ("checked_in", checked_total),
            ("attendance_rate", ratio(checked_total, enrolled_total)),
            ("hours_activities", round(sum(r[6] for r in rows), 2)),
            ("hours_adjusted", round(sum(r[7] for r in rows), 2)),
        ],
        tables=[
            Table(
                f"activities_by_{unit}",
                (
                    unit,
                    "activities_held",
                    "places",
                    "enrolled",
                    "checked_in",
                    "attendance_rate",
                    "hours_activities",
                    "hours_adjusted",
                ),
                rows,
            )
        ],
        charts=[Chart("activities_hours", f"activities_by_{unit}", (6,))],
    )
