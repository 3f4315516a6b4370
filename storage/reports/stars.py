"""志愿之星 section: the volunteers with the most hours credited, per month and over the period
(names masked, as in the bot's own 志愿之星 reply; erased volunteers never appear)."""

from __future__ import annotations

from storage.activities import monthly_hours
from storage.reports.base import Case, Scope, Section, Table


async def section(scope: Scope) -> Section:
    """The top ``stars_top`` of the period, and the top three of each month."""
    top = await monthly_hours(
        scope.session, scope.period.since, scope.period.until, limit=scope.stars_top
    )
    period_rows = [
        (rank, scope.masked_name(star.name_enc), star.city, float(star.hours))
        for rank, star in enumerate(top, 1)
    ]
    month_rows = []
    for label, since, until in scope.period.month_bounds():
        for rank, star in enumerate(await monthly_hours(scope.session, since, until, limit=3), 1):
            month_rows.append(
                (label, rank, scope.masked_name(star.name_enc), star.city, float(star.hours))
            )
    return Section(
        key="stars",
        totals=[("stars_listed", len(period_rows))],
        tables=[
            Table("stars_period", ("rank", "name", "city", "hours"), period_rows),
            Table("stars_by_month", ("month", "rank", "name", "city", "hours"), month_rows),
        ],
        cases=[
            Case("star", {"rank": rank, "name": name, "city": city, "hours": f"{hours:g}"})
            for rank, name, city, hours in period_rows
        ],
    )
