"""Volunteers section: new registrations per row, by city and by skill, the minors' share.

Volunteers who later deleted themselves (注销) keep their row without personal data, so they
still count where they registered; their city and skills are kept for these statistics."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.reports import base
from storage.volunteers import Volunteer


async def section(scope: base.Scope) -> base.Section:
    """New volunteers of the period (rows, cities, skills) and everyone registered so far."""
    s, v = scope.session, Volunteer
    where = base.in_period(scope, v.created_at)
    minors = func.count().filter(v.minor.is_(True))
    rows = await base.rows_per_bucket(scope, v.created_at, func.count(), minors)
    cities = [
        (str(c), int(n), int(k))
        for c, n, k in await s.execute(
            select(v.city, func.count(), minors)
            .where(where)
            .group_by(v.city)
            .order_by(func.count().desc(), v.city)
        )
    ]
    # Skills are stored as the chosen labels joined by commas: one COUNT per configured skill.
    skill_counts = []
    if scope.skills:
        found = (
            await s.execute(
                select(
                    *(
                        func.count().filter(("," + v.skills + ",").like(f"%,{skill},%"))
                        for skill in scope.skills
                    )
                ).where(where)
            )
        ).one()
        skill_counts = sorted(
            zip(scope.skills, (int(n) for n in found), strict=True), key=lambda r: -r[1]
        )
    registered = int(
        await s.scalar(select(func.count()).select_from(v).where(v.created_at < scope.period.until))
        or 0
    )
    new = sum(r[1] for r in rows)
    new_minors = sum(r[2] for r in rows)
    unit = scope.period.unit
    return base.Section(
        key="volunteers",
        totals=[
            ("new_volunteers", new),
            ("new_minors", new_minors),
            ("minors_share", base.ratio(new_minors, new)),
            ("registered_total", registered),
            ("cities_count", len(cities)),
        ],
        tables=[
            base.Table(f"volunteers_by_{unit}", (unit, "new_volunteers", "new_minors"), rows),
            base.Table("volunteers_by_city", ("city", "new_volunteers", "new_minors"), cities),
            base.Table("volunteers_by_skill", ("skill", "new_volunteers"), skill_counts),
        ],
        charts=[
            base.Chart("volunteers_per_row", f"volunteers_by_{unit}", (1,)),
            base.Chart("volunteers_city", "volunteers_by_city", (1,), kind="barh"),
        ],
    )
