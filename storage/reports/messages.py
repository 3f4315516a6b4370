"""Messages section: messages per row by kind and channel, by hour of day, and how they were
answered (keyword reply, feature command, inside a flow, free text, nothing).

"How answered" is read from the message log's ``handler`` column, the route that answered:
``keywords.reply`` (a keyword rule), ``flow`` (an answer inside a multi-step flow),
``faq.answer`` (free text: the watchlist, the FAQ or the staff inbox; the FAQ section splits it
by what the FAQ did) and every other route name (a feature command such as 投票 or 活动).
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import case, func, select
from sqlalchemy.sql.elements import ColumnElement

from storage.models import InboundMessage
from storage.reports import base

KINDS = ("text", "event", "image", "voice", "video", "location", "link")
ANSWERS = ("keyword", "command", "flow", "free_text", "none")


def answered_by() -> ColumnElement[str]:
    """The answer group of a message, in SQL."""
    h = InboundMessage.handler
    return case(
        (h == "keywords.reply", "keyword"),
        (h == "flow", "flow"),
        (h == "faq.answer", "free_text"),
        (h.is_(None) | (h == "none") | (h == ""), "none"),
        else_="command",
    )


async def section(scope: base.Scope) -> base.Section:
    """Two aggregate queries over the period's message log: one scan grouped by row, kind,
    channel, hour and answer (a few thousand groups, summed here), and the distinct senders."""
    s, m = scope.session, InboundMessage
    where = base.in_period(scope, m.received_at)
    bucket, hour, group = (
        base.local_bucket(scope, m.received_at),
        base.local_hour(scope, m.received_at),
        answered_by(),
    )
    by_kind: dict[str, list[int]] = {}
    hours: Counter[int] = Counter()
    answers: Counter[str] = Counter()
    for label, kind, channel, h, answer, n in await s.execute(
        select(bucket, m.kind, m.channel, hour, group, func.count())
        .where(where)
        .group_by(bucket, m.kind, m.channel, hour, group)
    ):
        row = by_kind.setdefault(str(label), [0] * (len(KINDS) + 3))
        row[0] += n
        row[1 + (KINDS.index(kind) if kind in KINDS else len(KINDS) - 1)] += n
        row[len(KINDS) + 1 if channel == "wechat" else len(KINDS) + 2] += n
        hours[int(h)] += n
        answers[str(answer)] += n
    rows = base.per_bucket(scope, {k: tuple(v) for k, v in by_kind.items()}, len(KINDS) + 3)
    senders = int(await s.scalar(select(func.count(func.distinct(m.user_id))).where(where)) or 0)
    unit = scope.period.unit
    return base.Section(
        key="messages",
        totals=[
            ("messages", sum(r[1] for r in rows)),
            ("senders", senders),
            *((f"kind_{k}", sum(r[2 + i] for r in rows)) for i, k in enumerate(KINDS)),
            *((f"answered_{a}", answers.get(a, 0)) for a in ANSWERS),
        ],
        tables=[
            base.Table(
                f"messages_by_{unit}",
                (unit, "messages", *(f"kind_{k}" for k in KINDS), "wechat", "weibo"),
                rows,
            ),
            base.Table(
                "messages_by_hour", ("hour", "messages"), [(h, hours.get(h, 0)) for h in range(24)]
            ),
            base.Table(
                "messages_answered",
                ("answered_by", "messages"),
                [(base.Label(f"answered_{a}"), answers.get(a, 0)) for a in ANSWERS],
            ),
        ],
        charts=[
            base.Chart("messages_per_row", f"messages_by_{unit}", (1,)),
            base.Chart("messages_hour", "messages_by_hour", (1,)),
        ],
    )
