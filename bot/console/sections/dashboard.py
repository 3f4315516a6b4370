"""The dashboard: followers, messages, volunteers, hours, votes, pushes and the quota."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from aiohttp import web

from bot.console.call import Call
from bot.console.charts import chart
from bot.console.pages import Role, Section
from handlers.faq import operations as faq_ops
from schedules.posts import next_occurrences
from schedules.service import quota_left, rules_of
from storage import dashboard as stats
from storage.followers import current_followers, growth, top_scenes
from storage.schedules import active_posts

section = Section("dashboard", nav="console.nav.dashboard", order=10)
NEXT_PUSHES = 5
TOP_QUESTIONS = 5


@section.get("/", role=Role.VIEWER)
async def dashboard(call: Call) -> web.StreamResponse:
    """Every figure of the dashboard (aggregates only: viewers may see it)."""
    bot = call.bot
    rules = rules_of(bot)
    calendar, tz, quota = rules.calendar, rules.tz, rules.quota
    now = bot.clock.now()
    today = now.astimezone(tz).date()
    day_start = datetime.combine(today, datetime.min.time(), tzinfo=tz)
    month_start = day_start.replace(day=1)
    async with bot.sessions() as session:
        followers = await current_followers(session)
        days = await growth(session, today - timedelta(days=29), today)
        times = await stats.message_times(session, day_start, day_start + timedelta(days=1))
        cities = await stats.volunteers_by_city(session)
        hours = await stats.hours_between(session, month_start, now + timedelta(seconds=1))
        votes = await stats.counted_votes(session)
        failed = await stats.failed_deliveries(session)
        unanswered, flagged = await stats.open_inbox(session)
        posts = await active_posts(session)
        left = await quota_left(session, rules, now)
        scenes = await top_scenes(
            session, day_start - timedelta(days=29), now + timedelta(seconds=1)
        )
    # This week's most frequent unanswered questions (texts masked, as on the inbox page).
    top = await faq_ops.top_unanswered(bot, 7, limit=TOP_QUESTIONS)
    upcoming = sorted(
        ((when, post) for post in posts for when in next_occurrences(post, calendar, tz, now, 1)),
        key=lambda pair: pair[0],
    )[:NEXT_PUSHES]
    by_hour = Counter(t.astimezone(tz).hour for t in times)
    net = [f - u for _d, f, u in days]
    running, total = [], followers - sum(net)
    for change in net:
        total += change
        running.append(total)
    charts = [
        await chart(
            [d.strftime("%m-%d") for d, _f, _u in days],
            running,
            title=call.t("console.dashboard.chart_growth"),
            axis=call.t("console.dashboard.axis_people"),
            kind="line",
        ),
        await chart(
            [f"{h:02d}" for h in range(24)],
            [by_hour.get(h, 0) for h in range(24)],
            title=call.t("console.dashboard.chart_hours"),
            axis=call.t("console.dashboard.axis_messages"),
        ),
    ]
    if cities:
        charts.append(
            await chart(
                [c for c, _n in cities[:15]],
                [n for _c, n in cities[:15]],
                title=call.t("console.dashboard.chart_cities"),
                axis=call.t("console.dashboard.axis_people"),
                kind="barh",
            )
        )
    figures = [
        ("followers", followers),
        ("net_growth", sum(net)),
        ("messages_today", len(times)),
        ("unanswered", unanswered),
        ("flagged", flagged),
        ("volunteers", sum(n for _c, n in cities)),
        ("hours_month", f"{hours.normalize():f}"),
        ("votes", votes),
        ("failed_deliveries", len(failed)),
    ]
    # The figures of features the campaign pack switches off are not shown.
    of_feature = {"volunteers": "volunteers", "hours_month": "activities", "votes": "logo"}
    figures = [(k, v) for k, v in figures if bot.pack.on(of_feature.get(k, ""))]
    return call.render(
        "dashboard.html",
        figures=figures,
        quota_left=left,
        quota_period=call.t(f"console.dashboard.period_{quota.period}"),
        charts=[c for c in charts if c],
        upcoming=upcoming,
        failed=failed,
        scenes=scenes,
        top=top,
    )
