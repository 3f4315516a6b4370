"""Stories section: stories received, approved, rejected and featured per row, and the featured
ones themselves for 典型案例 (the public story text, never the contact).

A story belongs to the period it was received in, featured or not: an operator who picks the
typical cases after the month has ended still sees them in that month's report."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.reports.base import (
    Case,
    Chart,
    Scope,
    Section,
    Table,
    in_period,
    local_bucket,
    per_bucket,
)
from storage.stories import Story

EXCERPT_CHARS = 300
MAX_CASES = 6


async def section(scope: Scope) -> Section:
    """Counted by when a story was received."""
    s, st = scope.session, Story
    bucket = local_bucket(scope, st.created_at)
    rows = per_bucket(
        scope,
        await s.execute(
            select(
                bucket,
                func.count(),
                func.count().filter(st.status == "approved"),
                func.count().filter(st.status == "rejected"),
                func.count().filter(st.status == "pending"),
                func.count().filter(st.channel == "wechat"),
                func.count().filter(st.channel == "weibo"),
            )
            .where(in_period(scope, st.created_at))
            .group_by(bucket)
        ),
        6,
    )
    featured = list(
        (
            await s.execute(
                select(st.id, st.channel, st.created_at, st.text)
                .where(
                    in_period(scope, st.created_at),
                    st.featured.is_(True),
                    st.status == "approved",
                )
                .order_by(st.id)
            )
        ).all()
    )
    unit = scope.period.unit
    return Section(
        key="stories",
        totals=[
            ("stories_received", sum(r[1] for r in rows)),
            ("stories_approved", sum(r[2] for r in rows)),
            ("stories_rejected", sum(r[3] for r in rows)),
            ("stories_pending", sum(r[4] for r in rows)),
            ("stories_featured", len(featured)),
        ],
        tables=[
            Table(
                f"stories_by_{unit}",
                (
                    unit,
                    "stories_received",
                    "stories_approved",
                    "stories_rejected",
                    "stories_pending",
                    "wechat",
                    "weibo",
                ),
                rows,
            ),
            Table(
                "stories_featured_list",
                ("story_number", "channel", "received", "story_text"),
                [
                    (n, ch, created.date().isoformat(), text[:EXCERPT_CHARS])
                    for n, ch, created, text in featured
                ],
            ),
        ],
        charts=[Chart("stories_per_row", f"stories_by_{unit}", (1, 2))],
        cases=[
            Case(
                "story",
                {"number": n, "channel": ch, "text": text[:EXCERPT_CHARS].strip()},
            )
            for n, ch, _created, text in featured[:MAX_CASES]
        ],
    )
