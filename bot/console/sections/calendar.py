"""The campaign calendar: the year's key dates (lunar ones computed) with the pushes on them."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time

from aiohttp import web

from bot.console.call import Call
from bot.console.pages import Role, Section
from schedules.outbox import calendar_of, zone_of
from schedules.posts import occurrences
from storage.schedules import list_posts

section = Section("calendar", nav="console.nav.calendar", order=20)


@section.get("/calendar", role=Role.VIEWER)
async def year_page(call: Call) -> web.StreamResponse:
    """Key dates and scheduled (and draft) pushes of one year, month by month."""
    bot = call.bot
    tz = zone_of(bot)
    this_year = bot.clock.now().astimezone(tz).year
    year = call.query_int("year", this_year, 2200)
    if not 1901 <= year <= 2099:  # the lunar library's range
        year = this_year
    cal = calendar_of(bot)
    start = datetime.combine(date(year, 1, 1), time(), tzinfo=tz)
    end = datetime.combine(date(year + 1, 1, 1), time(), tzinfo=tz)
    months: dict[int, list[tuple[date, str, str, object]]] = defaultdict(list)
    for key_date in cal.year(year):
        months[key_date.day.month].append((key_date.day, "date", key_date.name, None))
    async with bot.sessions() as session:
        posts = [p for p in await list_posts(session) if p.status in ("draft", "active")]
    for post in posts:
        for when in occurrences(post, cal, tz, start, end):
            local = when.astimezone(tz)
            months[local.month].append((local.date(), "push", local.strftime("%H:%M"), post))
    for items in months.values():
        items.sort(key=lambda item: (item[0], item[1] != "date", item[2]))
    return call.render(
        "calendar.html",
        year=year,
        months=sorted(months.items()),
        today=bot.clock.now().astimezone(tz).date(),
    )
