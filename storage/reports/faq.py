"""FAQ and watchlist section: free-text questions the FAQ answered (at once or after 您是想问),
asked to clarify or handed to staff, per row; what staff did with the inbox; watchlist flags by
severity and category (the inbox items the watchlist filed)."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.faq import FaqEvent
from storage.inbox import InboxItem
from storage.reports import base

OUTCOMES = ("answered", "picked", "clarify", "handoff")
SEVERITIES = (3, 2, 1)


async def section(scope: base.Scope) -> base.Section:
    """FAQ events by outcome per row; inbox items by reason, severity and category."""
    s, ev, item = scope.session, FaqEvent, InboxItem
    rows = await base.rows_per_bucket(
        scope, ev.at, *(func.count().filter(ev.outcome == o) for o in OUTCOMES)
    )
    where = base.in_period(scope, item.created_at)
    flagged = item.reason == "flagged"
    severity = dict(
        (int(sev), int(n))
        for sev, n in await s.execute(
            select(item.severity, func.count()).where(where, flagged).group_by(item.severity)
        )
    )
    categories = [
        (str(c), int(n))
        for c, n in await s.execute(
            select(item.category, func.count())
            .where(where, flagged)
            .group_by(item.category)
            .order_by(func.count().desc(), item.category)
        )
    ]
    handed, answered = (
        await s.execute(
            select(
                func.count().filter(item.reason == "unanswered"),
                func.count().filter(item.answered_at.is_not(None)),
            ).where(where)
        )
    ).one()
    totals = [sum(int(r[1 + i]) for r in rows) for i in range(len(OUTCOMES))]
    asked = sum(totals)
    unit = scope.period.unit
    return base.Section(
        key="faq",
        totals=[
            ("faq_questions", asked),
            *((f"faq_{o}", n) for o, n in zip(OUTCOMES, totals, strict=True)),
            ("faq_answer_rate", base.ratio(totals[0] + totals[1], asked)),
            ("inbox_handed", int(handed)),
            ("inbox_answered", int(answered)),
            ("flags", sum(severity.values())),
            *((f"flags_severity_{n}", severity.get(n, 0)) for n in SEVERITIES),
        ],
        tables=[
            base.Table(f"faq_by_{unit}", (unit, *(f"faq_{o}" for o in OUTCOMES)), rows),
            base.Table(
                "flags_by_severity",
                ("severity", "flags"),
                [(base.Label(f"flags_severity_{n}"), severity.get(n, 0)) for n in SEVERITIES],
            ),
            base.Table("flags_by_category", ("category", "flags"), categories),
        ],
        charts=[base.Chart("faq_per_row", f"faq_by_{unit}", (1, 4))],
    )
