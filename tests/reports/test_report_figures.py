"""The office report's figures against data with known counts, on SQLite and PostgreSQL: a
generated demo year (the generator counts what it writes) and a few hand-made rows around the
edges (a month's last evening in Asia/Shanghai, attendance, voided votes)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from bot.cli.report import material
from bot.kernel.context import BotContext
from bot.reports.build import Report, gather, section_queries
from handlers.feature import Feature
from storage.activities import Activity, Enrolment
from storage.demo import DemoError, DemoSize, Tally, generate
from storage.followers import FollowerDay
from storage.logo import LogoEntry, LogoVote
from storage.models import InboundMessage
from storage.reports.base import Period, PeriodError
from storage.stories import Story
from storage.volunteers import HoursEntry, Volunteer

YEAR = 2027
SIZE = DemoSize(followers=600, messages=4000, volunteers=150, year=YEAR, seed=3)


def test_period_parse() -> None:
    march = Period.parse("2027-03")
    assert (march.kind, march.unit, march.code) == ("month", "day", "2027-03")
    assert march.buckets()[0] == "2027-03-01" and march.buckets()[-1] == "2027-03-31"
    # The month starts at midnight Asia/Shanghai: 16:00 UTC the day before.
    assert march.since == datetime(2027, 2, 28, 16, tzinfo=UTC)
    q4 = Period.parse("2027-Q4")
    assert q4.buckets() == ["2027-10", "2027-11", "2027-12"]
    assert q4.until == datetime(2027, 12, 31, 16, tzinfo=UTC)
    assert len(Period.parse("2027").buckets()) == 12
    for bad in ("2027-13", "2027-Q5", "27", "2027-3", "march"):
        with pytest.raises(PeriodError):
            Period.parse(bad)


async def _demo(bot: BotContext) -> Tally:
    return await generate(bot.sessions, SIZE, material(bot, YEAR))


def _rows(report: Report, section: str, table: str) -> dict[str, tuple[object, ...]]:
    return {str(r[0]): tuple(r[1:]) for r in report.section(section).table(table).rows}


async def test_annual_figures_match_the_generated_year(bot_context: BotContext) -> None:
    tally = await _demo(bot_context)
    report = await gather(bot_context, Period.parse(str(YEAR)))
    months = [f"{YEAR}-{m:02d}" for m in range(1, 13)]

    followers = report.section("followers")
    assert followers.total("follows") == SIZE.followers == sum(tally.follows.values())
    assert followers.total("unfollows") == sum(tally.unfollows.values())
    assert followers.total("net") == SIZE.followers - sum(tally.unfollows.values())
    by_month = _rows(report, "followers", "followers_by_month")
    assert [by_month[m][:2] for m in months] == [
        (tally.follows[m], tally.unfollows[m]) for m in months
    ]

    messages = report.section("messages")
    assert messages.total("messages") == SIZE.messages
    for kind, n in tally.kinds.items():
        assert messages.total(f"kind_{kind}") == n, kind
    assert [_rows(report, "messages", "messages_by_month")[m][0] for m in months] == [
        tally.messages[m] for m in months
    ]
    hours = _rows(report, "messages", "messages_by_hour")
    assert [hours[str(h)][0] for h in range(24)] == [tally.hours_of_day[h] for h in range(24)]
    for group in ("keyword", "flow", "command", "free_text"):
        assert messages.total(f"answered_{group}") == tally.answered[group], group
    assert messages.total("answered_none") == 0

    faq = report.section("faq")
    for outcome in ("answered", "picked", "clarify", "handoff"):
        assert faq.total(f"faq_{outcome}") == tally.faq[outcome], outcome
    assert faq.total("faq_questions") + sum(tally.flags.values()) == tally.answered["free_text"]
    assert faq.total("inbox_handed") == tally.inbox["unanswered"] == tally.faq["handoff"]
    assert faq.total("inbox_answered") == tally.inbox["answered"]
    assert faq.total("flags") == sum(tally.flags.values()) == tally.inbox["flagged"]
    for severity in (1, 2, 3):
        assert faq.total(f"flags_severity_{severity}") == tally.flags[severity]

    top = report.section("questions").table("top_questions").rows[0]
    ((text, count),) = tally.texts.most_common(1)
    assert (top[1], top[2]) == (text, count)

    volunteers = report.section("volunteers")
    assert volunteers.total("new_volunteers") == SIZE.volunteers
    assert volunteers.total("new_minors") == sum(tally.minors.values())
    assert volunteers.total("minors_share") == round(
        sum(tally.minors.values()) / SIZE.volunteers, 4
    )
    assert {c: r[0] for c, r in _rows(report, "volunteers", "volunteers_by_city").items()} == dict(
        tally.cities
    )
    assert {c: r[0] for c, r in _rows(report, "volunteers", "volunteers_by_skill").items()} == {
        s: tally.skills[s] for s in _rows(report, "volunteers", "volunteers_by_skill")
    }
    assert sum(r[0] for r in _rows(report, "volunteers", "volunteers_by_skill").values()) == sum(
        tally.skills.values()
    )

    activities = report.section("activities")
    assert activities.total("activities_held") == sum(tally.activities_held.values())
    assert activities.total("activities_cancelled") == tally.activities_cancelled
    assert activities.total("places") == tally.places
    assert activities.total("enrolled") == tally.enrolled
    assert activities.total("checked_in") == tally.checked_in
    assert activities.total("attendance_rate") == round(tally.checked_in / tally.enrolled, 4)
    assert Decimal(str(activities.total("hours_activities"))) == tally.hours_activities
    assert Decimal(str(activities.total("hours_adjusted"))) == tally.hours_adjusted

    stars = report.section("stars").table("stars_period").rows
    assert stars and all("*" in str(r[1]) for r in stars)  # names masked

    logo = report.section("logo")
    for status in ("approved", "rejected", "pending", "withdrawn"):
        assert logo.total(f"entries_{status}") == tally.entries[status], status
    assert logo.total("votes") == sum(tally.votes.values())
    assert logo.total("votes_voided") == tally.votes_voided > 0
    assert logo.total("vote_flags") == tally.vote_flags
    days = report.section("logo").table("votes_by_day").rows
    assert sum(int(r[1]) for r in days) == tally.votes["wechat"]
    assert sum(int(r[2]) for r in days) == tally.votes["weibo"]

    stories = report.section("stories")
    assert stories.total("stories_received") == tally.stories_received
    for status in ("approved", "rejected", "pending", "featured"):
        assert stories.total(f"stories_{status}") == tally.stories[status], status
    assert len(stories.cases) == min(tally.stories["featured"], 6)

    pushes = report.section("pushes")
    assert pushes.total("pushes_sent") == tally.pushes_sent
    assert pushes.total("pushes_failed") == tally.pushes_failed
    assert pushes.total("reach_sent") == tally.reach_sent
    assert pushes.total("reach_total") == tally.reach_total
    assert pushes.total("reach_errors") == tally.reach_errors


async def test_month_and_quarter_rows_add_up_to_the_year(bot_context: BotContext) -> None:
    tally = await _demo(bot_context)
    march = await gather(bot_context, Period.parse(f"{YEAR}-03"))
    days = march.section("messages").table("messages_by_day").rows
    assert len(days) == 31
    assert sum(int(r[1]) for r in days) == tally.messages[f"{YEAR}-03"]
    assert march.section("followers").total("follows") == tally.follows[f"{YEAR}-03"]
    april = await gather(bot_context, Period.parse(f"{YEAR}-04"))
    assert april.section("logo").total("votes") == sum(tally.votes.values())  # voting in April
    q1 = await gather(bot_context, Period.parse(f"{YEAR}-Q1"))
    assert q1.section("volunteers").total("new_volunteers") == sum(
        tally.volunteers[f"{YEAR}-{m:02d}"] for m in (1, 2, 3)
    )


async def test_sections_come_from_the_features_declarations(bot_context: BotContext) -> None:
    """A feature's ``report`` references are its sections; the registry order is the report's."""
    assert [q.__module__ for q in section_queries()][:3] == [
        "storage.reports.messages",
        "storage.reports.questions",
        "storage.reports.faq",
    ]
    only = [
        Feature(name="pushes_only", report=["storage.reports.pushes:section"]),
        Feature(name="nothing"),
    ]
    report = await gather(bot_context, Period.parse("2027"), features=only)
    assert [s.key for s in report.sections] == ["pushes"]


async def test_demo_data_refuses_a_database_with_data(bot_context: BotContext) -> None:
    await _demo(bot_context)
    with pytest.raises(DemoError):
        await _demo(bot_context)


def _at(y: int, m: int, d: int, h: int, mi: int = 0) -> datetime:
    """An Asia/Shanghai wall time as aware UTC."""
    return datetime(y, m, d, h, mi, tzinfo=UTC) - timedelta(hours=8)


async def test_hand_made_rows_land_in_the_right_day_hour_and_rate(
    bot_context: BotContext,
) -> None:
    """Rows at the edges: 23:30 on 31 March (Shanghai) is March, hour 23; 00:30 on 1 April is
    April, hour 0 — though both are on 31 March in UTC."""
    cipher = bot_context.cipher
    async with bot_context.sessions() as s, s.begin():
        for key, at, handler, text in (
            ("m1", _at(2027, 3, 31, 23, 30), "keywords.reply", "活动"),
            ("m2", _at(2027, 4, 1, 0, 30), "faq.answer", "活动"),
            ("m3", _at(2027, 3, 1, 0, 5), "stars.show_stars", "志愿之星"),
        ):
            s.add(
                InboundMessage(
                    channel="wechat",
                    account="gh",
                    msg_key=key,
                    user_id="u1",
                    kind="text",
                    text=text,
                    status="done",
                    handler=handler,
                    received_at=at,
                )
            )
        s.add(
            FollowerDay(channel="weibo", account="w", day=date(2027, 3, 31), follows=5, unfollows=2)
        )
        for i in range(4):
            s.add(
                Volunteer(
                    id=i + 1,
                    channel="wechat",
                    account="gh",
                    user_id=f"v{i}",
                    name_enc=cipher.encrypt(f"张三{i}"),
                    phone_enc="",
                    phone_index=f"p{i}",
                    city="郑州市",
                    birth_year=2015 if i == 0 else 1990,
                    minor=i == 0,
                    skills="宣传,摄影摄像" if i else "宣传",
                    created_at=_at(2027, 3, 31, 23),
                    updated_at=_at(2027, 3, 31, 23),
                )
            )
        s.add(
            Activity(
                id=1,
                title="t",
                starts_at=_at(2027, 3, 31, 9),
                ends_at=_at(2027, 3, 31, 12),
                place="p",
                city="郑州市",
                hours=Decimal("2.5"),
                capacity=10,
                enrolled=4,
                code="ABCD",
                status="active",
                created_at=_at(2027, 3, 1, 9),
            )
        )
        await s.flush()
        for i in range(4):
            came = i < 3
            s.add(
                Enrolment(
                    activity_id=1,
                    volunteer_id=i + 1,
                    enrolled_at=_at(2027, 3, 20, 9),
                    checked_in_at=_at(2027, 3, 31, 9) if came else None,
                )
            )
            if came:
                s.add(
                    HoursEntry(
                        volunteer_id=i + 1,
                        hours=Decimal("2.5"),
                        reason="t",
                        actor="checkin",
                        at=_at(2027, 3, 31, 9),
                        activity_id=1,
                    )
                )
        s.add(
            LogoEntry(
                id=1,
                channel="wechat",
                user_id="a",
                title="e",
                status="approved",
                created_at=_at(2027, 3, 2, 9),
            )
        )
        await s.flush()
        for slot, voided in ((1, False), (2, False), (3, True)):
            s.add(
                LogoVote(
                    entry_id=1,
                    channel="weibo",
                    user_id="x",
                    vote_date=date(2027, 3, 31),
                    slot=slot,
                    entry_slot=slot,
                    voided=voided,
                    created_at=_at(2027, 3, 31, 10),
                )
            )
        s.add(
            Story(
                id=1,
                channel="weibo",
                account="w",
                user_id="s",
                text="故事",
                status="approved",
                consent=True,
                consent_at=_at(2027, 3, 3, 7),
                created_at=_at(2027, 3, 3, 7),  # still Mar 2 in UTC
                featured=True,
            )
        )

    march = await gather(bot_context, Period.parse("2027-03"))
    messages = march.section("messages")
    assert messages.total("messages") == 2
    assert (messages.total("answered_keyword"), messages.total("answered_command")) == (1, 1)
    assert messages.total("answered_free_text") == 0
    hours = _rows(march, "messages", "messages_by_hour")
    assert (hours["23"][0], hours["0"][0]) == (1, 1)
    days = _rows(march, "messages", "messages_by_day")
    assert (days["2027-03-31"][0], days["2027-03-01"][0]) == (1, 1)
    followers = _rows(march, "followers", "followers_by_day")["2027-03-31"]
    assert followers == (5, 2, 3, 0, 5)
    volunteers = march.section("volunteers")
    assert (volunteers.total("new_volunteers"), volunteers.total("minors_share")) == (4, 0.25)
    skills = dict((str(r[0]), r[1]) for r in volunteers.table("volunteers_by_skill").rows)
    assert (skills["宣传"], skills["摄影摄像"], skills["网络技术"]) == (4, 3, 0)
    activities = march.section("activities")
    assert activities.total("attendance_rate") == 0.75
    assert activities.total("hours_activities") == 7.5
    logo = march.section("logo")
    assert (logo.total("votes"), logo.total("votes_voided"), logo.total("voters")) == (2, 1, 1)
    assert march.section("logo").table("votes_by_day").rows == [("2027-03-31", 0, 2, 2, 1)]
    stars = march.section("stars").table("stars_period").rows
    assert [(r[1], r[3]) for r in stars] == [("张*0", 2.5), ("张*1", 2.5), ("张*2", 2.5)]
    assert march.section("stories").total("stories_featured") == 1
    featured = march.section("stories").table("stories_featured_list").rows
    assert [r[2] for r in featured] == ["2027-03-03"]  # the campaign's day, not UTC's

    april = await gather(bot_context, Period.parse("2027-04"))
    assert april.section("messages").total("answered_free_text") == 1
    assert april.section("stories").total("stories_featured") == 0
