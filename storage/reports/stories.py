"""Stories section: stories received, approved, rejected and featured per row, and the featured
ones themselves for 典型案例 (the public story text, never the contact).

A story belongs to the period it was received in, featured or not: an operator who picks the
typical cases after the month has ended still sees them in that month's report."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.kernel.clock import as_utc, local
from storage.reports.base import (
    Case,
    Chart,
    Scope,
    Section,
    Table,
    in_period,
    rows_per_bucket,
)
from storage.stories import Story, StoryStatus

EXCERPT_CHARS = 300
# The columns' order in the section's table.
REVIEW_ORDER = (StoryStatus.APPROVED, StoryStatus.REJECTED, StoryStatus.PENDING)
MAX_CASES = 6


async def section(scope: Scope) -> Section:
    """Counted by when a story was received."""
    s, st = scope.session, Story
    rows = await rows_per_bucket(
        scope,
        st.created_at,
        func.count(),
        *(func.count().filter(st.status == status.value) for status in REVIEW_ORDER),
        *(func.count().filter(st.channel == channel) for channel in ("wechat", "weibo")),
    )
    featured = list(
        (
            await s.execute(
                select(st.id, st.channel, st.created_at, st.text)
                .where(
                    in_period(scope, st.created_at),
                    st.featured.is_(True),
                    st.status == StoryStatus.APPROVED.value,
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
                    (n, ch, local(as_utc(created)).date().isoformat(), text[:EXCERPT_CHARS])
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
