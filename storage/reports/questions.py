"""Top questions: the texts netizens sent most often in the period.

The message log keeps texts redacted (phones and ID numbers masked) and keeps none for answers
inside a flow, so this lists what people typed to the bot outside flows, as typed."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.models import InboundMessage
from storage.reports.base import Chart, Scope, Section, Table, in_period

MAX_CHARS = 60


async def section(scope: Scope) -> Section:
    """The ``scope.top_questions`` most frequent texts, with how the bot answered them."""
    m = InboundMessage
    n = func.count()
    query = (
        select(m.text, n, func.count().filter(m.handler == "keywords.reply"))
        .where(m.kind == "text", m.text.is_not(None), m.text != "", in_period(scope, m.received_at))
        .group_by(m.text)
        .order_by(n.desc(), m.text)
        .limit(scope.top_questions)
    )
    rows = [
        (rank, str(text)[:MAX_CHARS], int(count), int(by_keyword))
        for rank, (text, count, by_keyword) in enumerate(await scope.session.execute(query), 1)
    ]
    return Section(
        key="questions",
        totals=[("distinct_top", len(rows)), ("top_share_messages", sum(r[2] for r in rows))],
        tables=[Table("top_questions", ("rank", "question", "messages", "answered_keyword"), rows)],
        charts=[Chart("top_questions", "top_questions", (2,), label=1, kind="barh")],
    )
