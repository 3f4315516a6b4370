"""A year of made-up campaign data (``python -m bot demo-data``) for trying the reports and for
the report benchmark.

The year has the campaign's shape: activity grows through the year, peaks on the key dates
(学雷锋日, the festivals, 中华慈善日, 扶贫日, 国际志愿者日) and on the days after a push, is
quieter at night and at weekends, and comes from two channels and the configured cities. Rows
are written with multi-row INSERTs through the storage models, in chunks, so a million
messages take seconds to minutes rather than hours; ids of the tables other rows refer to are
chosen here (the database must be empty) and PostgreSQL's sequences are moved past them.

Everything generated is also counted here (``Tally``), so tests can check the report's figures
against known counts.
"""

from __future__ import annotations

import json
import random
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import accumulate
from typing import Any

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.activities import Activity, Enrolment
from storage.db import Sessions, transaction
from storage.faq import FaqEvent
from storage.followers import FollowerDay
from storage.inbox import InboxItem
from storage.logo import LogoEntry, LogoVote, LogoVoteFlag
from storage.models import Follower, InboundMessage
from storage.schedules import CampaignPost, OutboxItem
from storage.stories import Story
from storage.volunteers import HoursEntry, Volunteer

ACCOUNTS = {"wechat": "gh_demo_account", "weibo": "5000000000"}
CHUNK = 20_000
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
# Where new followers came from (QR-code scenes on posters, in schools, at activities).
SCENES = (
    ("poster-metro", 5),
    ("school-1", 4),
    ("volunteer-signup", 3),
    ("activity-checkin", 2),
    ("poster-3", 2),
    ("library", 1),
)
# Relative activity by hour of day, Asia/Shanghai.
HOURS = (2, 1, 1, 1, 1, 1, 3, 8, 15, 12, 10, 11, 14, 10, 9, 9, 10, 11, 12, 15, 19, 20, 16, 8)
# (kind, event, weight) of what people send.
KINDS = (
    ("text", None, 64),
    ("event", "CLICK", 18),
    ("image", None, 7),
    ("voice", None, 5),
    ("location", None, 2),
    ("video", None, 2),
    ("link", None, 2),
)
COMMANDS = (
    "volunteers.show_info",
    "activities.list_activities",
    "stars.show_stars",
    "logo.vote",
    "logo.list_entries",
    "stories.my_stories",
)
SHIFT = timedelta(hours=8)  # Asia/Shanghai has no daylight saving
# How the message log's route names group in the report (storage/reports/messages.py).
ANSWER_GROUPS = {"keywords.reply": "keyword", "flow": "flow", "faq.answer": "free_text"}
FAQ_OUTCOMES = (("answered", 62), ("picked", 8), ("clarify", 15), ("handoff", 15))
# Watchlist categories (handlers/content/watchlist.toml) and their severity.
WATCHLIST = (
    ("self_harm", 3),
    ("help", 2),
    ("fundraising", 1),
    ("bullying", 2),
    ("fraud", 2),
    ("rumour", 1),
)


class DemoError(RuntimeError):
    """The demo data cannot be written (e.g. the database already holds campaign data)."""


@dataclass(frozen=True)
class DemoSize:
    followers: int
    messages: int
    volunteers: int
    year: int
    seed: int = 1


@dataclass(frozen=True)
class Material:
    """What the generated rows say (Chinese texts from the content file, the configured lists),
    and how personal fields are protected (the bot's cipher)."""

    surnames: Sequence[str]
    given: Sequence[str]
    questions: Sequence[str]
    activity_titles: Sequence[str]
    places: Sequence[str]
    logo_titles: Sequence[str]
    logo_statement: str
    stories: Sequence[str]
    cities: Sequence[str]
    skills: Sequence[str]
    availability: Sequence[str]
    key_dates: Sequence[tuple[date, str]]
    encrypt: Callable[[str], str]
    blind_index: Callable[[str], str]


@dataclass
class Tally:
    """What was generated, counted per Asia/Shanghai month (``YYYY-MM``) where it matters."""

    follows: Counter[str] = field(default_factory=Counter)
    unfollows: Counter[str] = field(default_factory=Counter)
    messages: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    answered: Counter[str] = field(default_factory=Counter)
    texts: Counter[str] = field(default_factory=Counter)
    hours_of_day: Counter[int] = field(default_factory=Counter)
    volunteers: Counter[str] = field(default_factory=Counter)
    minors: Counter[str] = field(default_factory=Counter)
    cities: Counter[str] = field(default_factory=Counter)
    skills: Counter[str] = field(default_factory=Counter)
    activities_held: Counter[str] = field(default_factory=Counter)
    activities_cancelled: int = 0
    places: int = 0
    enrolled: int = 0
    checked_in: int = 0
    hours_activities: Decimal = Decimal(0)
    hours_adjusted: Decimal = Decimal(0)
    entries: Counter[str] = field(default_factory=Counter)
    votes: Counter[str] = field(default_factory=Counter)  # per channel, counted ones
    votes_voided: int = 0
    vote_flags: int = 0
    stories: Counter[str] = field(default_factory=Counter)  # per status, plus "featured"
    faq: Counter[str] = field(default_factory=Counter)  # per outcome
    flags: Counter[int] = field(default_factory=Counter)  # watchlist flags per severity
    inbox: Counter[str] = field(default_factory=Counter)  # per reason, plus "answered"
    pushes_sent: int = 0
    pushes_failed: int = 0
    reach_sent: int = 0
    reach_total: int = 0
    reach_errors: int = 0

    @property
    def stories_received(self) -> int:
        """Stories of every status (``stories`` also counts the featured ones apart)."""
        return sum(n for status, n in self.stories.items() if status != "featured")


Progress = Callable[[str, int, int], None]


def _quiet(_label: str, _done: int, _total: int) -> None:
    return None


@dataclass
class _Year:
    """The days of the year, their weights and sampling helpers."""

    rng: random.Random
    days: list[date]
    cum: list[float]
    hour_cum: list[float]

    @classmethod
    def build(cls, rng: random.Random, year: int, key_dates: Sequence[date]) -> _Year:
        first = date(year, 1, 1)
        days = [first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)]
        weights = []
        for i, d in enumerate(days):
            w = 0.6 + 0.9 * i / len(days)  # the campaign grows through the year
            weights.append(w * (0.8 if d.weekday() >= 5 else 1.0))
        index = {d: i for i, d in enumerate(days)}
        for kd in key_dates:
            for offset, factor in ((0, 4.0), (1, 2.0), (2, 1.3)):
                found = index.get(kd + timedelta(days=offset))
                if found is not None:
                    weights[found] *= factor
        for d in push_days(year, key_dates):
            for offset, factor in ((0, 2.0), (1, 1.4)):
                found = index.get(d + timedelta(days=offset))
                if found is not None:
                    weights[found] *= factor
        return cls(rng, days, list(accumulate(weights)), list(accumulate(HOURS)))

    def sample_days(self, n: int) -> list[date]:
        return self.rng.choices(self.days, cum_weights=self.cum, k=n)

    def moment(self, day: date) -> datetime:
        """A UTC instant on the local ``day``, at an hour drawn from the daily rhythm."""
        hour = self.rng.choices(range(24), cum_weights=self.hour_cum)[0]
        local = datetime(day.year, day.month, day.day, hour, tzinfo=UTC) + timedelta(
            seconds=self.rng.randrange(3600)
        )
        return local - SHIFT

    def moments(self, days: Sequence[date]) -> list[datetime]:
        hours = self.rng.choices(range(24), cum_weights=self.hour_cum, k=len(days))
        rand = self.rng.randrange
        return [
            datetime(d.year, d.month, d.day, h, tzinfo=UTC) + timedelta(seconds=rand(3600)) - SHIFT
            for d, h in zip(days, hours, strict=True)
        ]


@dataclass
class _Run:
    """One generation: where it writes, the year, the sizes, the texts, the counts so far."""

    sessions: Sessions
    year: _Year
    size: DemoSize
    material: Material
    tally: Tally
    progress: Progress


def push_days(year: int, key_dates: Sequence[date]) -> list[date]:
    """The year's push days: every key date and the 10th of each month."""
    monthly = [date(year, m, 10) for m in range(1, 13)]
    return sorted({*[d for d in key_dates if d.year == year], *monthly})


def month_of(moment: datetime) -> str:
    """``YYYY-MM`` of a UTC instant in Asia/Shanghai."""
    return (moment + SHIFT).strftime("%Y-%m")


async def _insert(
    sessions: Sessions, table: Any, rows: Sequence[dict[str, Any]], progress: Progress, label: str
) -> None:
    """Insert ``rows`` in chunks, one transaction each, reporting progress."""
    total = len(rows)
    for start in range(0, total, CHUNK):
        async with transaction(sessions) as session:
            await session.execute(insert(_table(table)), list(rows[start : start + CHUNK]))
        progress(label, min(start + CHUNK, total), total)
    if not total:
        progress(label, 0, 0)


def _table(model: Any) -> Table:
    """The Core table of a model: a Core INSERT with many rows is one executemany, where the
    ORM's bulk insert sends the rows one statement at a time on SQLite."""
    table: Table = model.__table__
    return table


async def _ensure_empty(sessions: Sessions) -> None:
    async with sessions() as session:
        for model in (
            Follower,
            InboundMessage,
            Volunteer,
            Activity,
            LogoEntry,
            Story,
            CampaignPost,
        ):
            if await session.scalar(select(func.count()).select_from(model)):
                raise DemoError(
                    f"the database already holds {model.__tablename__}: demo data is written "
                    "into an empty database only"
                )


async def _sync_sequences(session: AsyncSession) -> None:
    """Move PostgreSQL's id sequences past the ids chosen here."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for model in (Volunteer, Activity, LogoEntry, Story, CampaignPost):
        table = model.__tablename__
        await session.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )
        )


async def generate(
    sessions: Sessions, size: DemoSize, material: Material, progress: Progress = _quiet
) -> Tally:
    """Fill an empty database with a year of data of ``size``; returns what was written."""
    if size.volunteers > size.followers:
        raise DemoError("--volunteers: at most as many as --followers")
    await _ensure_empty(sessions)
    rng = random.Random(size.seed)
    year = _Year.build(rng, size.year, [d for d, _n in material.key_dates])
    run = _Run(sessions, year, size, material, Tally(), progress)
    users = await _followers(run)
    await _messages(run, users)
    await _volunteers(run, users)
    await _logo(run, users)
    await _stories(run, users)
    await _pushes(run)
    async with transaction(sessions) as session:
        await _sync_sequences(session)
    return run.tally


async def _followers(run: _Run) -> list[tuple[str, str]]:
    """Followers (one row each) and the per-day counters the dispatcher would have kept."""
    rng = run.year.rng
    days = run.year.sample_days(run.size.followers)
    moments = run.year.moments(days)
    scene_names = [s for s, _w in SCENES]
    scene_cum = list(accumulate(w for _s, w in SCENES))
    last = run.year.days[-1]
    counters: dict[tuple[str, date], list[int]] = defaultdict(lambda: [0, 0])
    rows, users = [], []
    for i, (day, at) in enumerate(zip(days, moments, strict=True)):
        channel = "wechat" if rng.random() < 0.75 else "weibo"
        user = f"demo-{channel[:2]}-{i:07d}"
        users.append((channel, user))
        left = None
        if rng.random() < 0.12:
            gone = day + timedelta(days=rng.randint(1, 150))
            if gone <= last:
                left = run.year.moment(gone)
                counters[(channel, gone)][1] += 1
                run.tally.unfollows[month_of(left)] += 1
        counters[(channel, day)][0] += 1
        run.tally.follows[month_of(at)] += 1
        scene = None
        if rng.random() < 0.35:
            scene = rng.choices(scene_names, cum_weights=scene_cum)[0]
        rows.append(
            {
                "channel": channel,
                "account": ACCOUNTS[channel],
                "user_id": user,
                "subscribed": left is None,
                "subscribed_at": at,
                "unsubscribed_at": left,
                "scene": scene,
                "last_interaction_at": left or at,
                "created_at": at,
            }
        )
    await _insert(run.sessions, Follower, rows, run.progress, "followers")
    day_rows = [
        {
            "channel": channel,
            "account": ACCOUNTS[channel],
            "day": day,
            "follows": f,
            "unfollows": u,
        }
        for (channel, day), (f, u) in sorted(counters.items())
    ]
    await _insert(run.sessions, FollowerDay, day_rows, run.progress, "follower days")
    return users


def _message_rows(
    run: _Run,
    start: int,
    days: Sequence[date],
    users: Sequence[tuple[str, str]],
    free: list[tuple[str, str, str, datetime, str]],
) -> Iterator[dict[str, Any]]:
    """Log rows of one chunk; free-text ones (the FAQ's route) are also put in ``free`` as
    (channel, user, message key, time, text) for their FAQ events and inbox items."""
    rng = run.year.rng
    n = len(days)
    moments = sorted(run.year.moments(days))
    kinds = rng.choices(range(len(KINDS)), cum_weights=list(accumulate(k[2] for k in KINDS)), k=n)
    q_cum = list(accumulate(1 / (i + 1) for i in range(len(run.material.questions))))
    n_users = len(users)
    for j in range(n):
        channel, user = users[rng.randrange(n_users)]
        kind, event, _w = KINDS[kinds[j]]
        at = moments[j]
        text_: str | None = None
        roll = rng.random()
        if kind == "text":
            if roll < 0.15:
                handler = "flow"  # an answer inside a flow: the log keeps no text
            else:
                text_ = rng.choices(run.material.questions, cum_weights=q_cum)[0]
                if roll < 0.65:
                    handler = "keywords.reply"
                elif roll < 0.85:
                    handler = "faq.answer"  # free text: watchlist, FAQ or the staff inbox
                    free.append((channel, user, f"demo{start + j}", at, text_))
                else:
                    handler = rng.choice(COMMANDS)
                run.tally.texts[text_] += 1
        elif kind == "event":
            handler = "keywords.reply" if roll < 0.6 else rng.choice(COMMANDS)
        else:
            handler = "flow" if roll < 0.3 else "media.reply_media"
        run.tally.messages[month_of(at)] += 1
        run.tally.kinds[kind] += 1
        run.tally.hours_of_day[(at + SHIFT).hour] += 1
        run.tally.answered[ANSWER_GROUPS.get(handler, "command")] += 1
        yield {
            "channel": channel,
            "account": ACCOUNTS[channel],
            "msg_key": f"demo{start + j}",
            "user_id": user,
            "kind": kind,
            "event": event,
            "text": text_,
            "status": "done",
            "handler": handler,
            "reply": None,
            "received_at": at,
            "finished_at": at + timedelta(milliseconds=40),
        }


async def _messages(run: _Run, users: Sequence[tuple[str, str]]) -> None:
    """The message log, generated and written one chunk at a time (bounded memory), in time
    order as the bot appends it (the days list holds references to 365 date objects)."""
    total = run.size.messages
    days = sorted(run.year.sample_days(total))
    done = 0
    while done < total:
        n = min(CHUNK, total - done)
        free: list[tuple[str, str, str, datetime, str]] = []
        rows = list(_message_rows(run, done, days[done : done + n], users, free))
        events, items = _free_text(run, free)
        async with transaction(run.sessions) as session:
            await session.execute(insert(_table(InboundMessage)), rows)
            if events:
                await session.execute(insert(_table(FaqEvent)), events)
            if items:
                await session.execute(insert(_table(InboxItem)), items)
        done += n
        run.progress("messages", done, total)
    if not total:
        run.progress("messages", 0, 0)


def _free_text(
    run: _Run, free: Sequence[tuple[str, str, str, datetime, str]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """What the FAQ route did with free text: 2 % flagged by the watchlist (filed for staff),
    the rest an FAQ event (answered, picked from 您是想问, clarify, handoff); a handoff is
    filed in the inbox too, and staff answer 70 % of what is filed."""
    rng = run.year.rng
    outcome_cum = list(accumulate(w for _o, w in FAQ_OUTCOMES))
    events, items = [], []
    for channel, user, key, at, text_ in free:
        outcome = None
        severity = 0
        category = ""
        if rng.random() < 0.02:
            category, severity = rng.choice(WATCHLIST)
            reason = "flagged"
            run.tally.flags[severity] += 1
        else:
            outcome = rng.choices(FAQ_OUTCOMES, cum_weights=outcome_cum)[0][0]
            run.tally.faq[outcome] += 1
            events.append(
                {
                    "channel": channel,
                    "account": ACCOUNTS[channel],
                    "msg_key": key,
                    "outcome": outcome,
                    "entry_id": None,
                    "confidence": round(rng.uniform(0.2, 0.95), 4),
                    "at": at,
                }
            )
            if outcome != "handoff":
                continue
            reason = "unanswered"
        answered = rng.random() < 0.7
        run.tally.inbox[reason] += 1
        run.tally.inbox["answered"] += answered
        items.append(
            {
                "channel": channel,
                "account": ACCOUNTS[channel],
                "user_id": user,
                "msg_key": key,
                "text_enc": run.material.encrypt(text_),
                "reason": reason,
                "category": category,
                "severity": severity,
                "status": "answered" if answered else "new",
                "assignee": None,
                "created_at": at,
                "updated_at": at,
                "answered_at": at + timedelta(hours=2) if answered else None,
            }
        )
    return events, items


def _name(rng: random.Random, material: Material) -> str:
    return rng.choice(material.surnames) + "".join(
        rng.choice(material.given) for _ in range(rng.randint(1, 2))
    )


async def _volunteers(run: _Run, users: Sequence[tuple[str, str]]) -> None:
    """Volunteers, activities with enrolments and check-ins, and the hours ledger."""
    rng = run.year.rng
    enc = run.material.encrypt
    picked = rng.sample(range(len(users)), run.size.volunteers)
    phones = rng.sample(range(10**8), run.size.volunteers)
    city_cum = list(accumulate(1 / (i + 1) for i in range(len(run.material.cities))))
    days = run.year.sample_days(run.size.volunteers)
    moments = run.year.moments(days)
    rows = []
    by_city: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for i, (u, phone, at) in enumerate(zip(picked, phones, moments, strict=True), 1):
        channel, user = users[u]
        phone_text = f"139{phone:08d}"
        roll = rng.random()
        age = rng.randint(12, 17) if roll < 0.08 else rng.randint(18, 70)
        guardian = None
        if age < 14:
            guardian = enc(
                json.dumps(
                    {"name": _name(rng, run.material), "phone": f"138{rng.randrange(10**8):08d}"},
                    ensure_ascii=False,
                )
            )
        city = rng.choices(run.material.cities, cum_weights=city_cum)[0]
        skills = rng.sample(
            list(run.material.skills), rng.randint(1, min(3, len(run.material.skills)))
        )
        month = month_of(at)
        run.tally.volunteers[month] += 1
        run.tally.cities[city] += 1
        run.tally.skills.update(skills)
        if age < 18:
            run.tally.minors[month] += 1
        by_city[city].append((at, i))
        rows.append(
            {
                "id": i,
                "channel": channel,
                "account": ACCOUNTS[channel],
                "user_id": user,
                "name_enc": enc(_name(rng, run.material)),
                "phone_enc": enc(phone_text),
                "phone_index": run.material.blind_index(phone_text),
                "city": city,
                "district": "",
                "birth_year": run.year.days[0].year - age,
                "minor": age < 18,
                "guardian_enc": guardian,
                "skills": ",".join(skills),
                "availability": ",".join(
                    rng.sample(
                        list(run.material.availability), min(2, len(run.material.availability))
                    )
                ),
                "created_at": at,
                "updated_at": at,
            }
        )
    await _insert(run.sessions, Volunteer, rows, run.progress, "volunteers")
    for city_rows in by_city.values():
        city_rows.sort()
    await _activities(run, by_city)


async def _activities(run: _Run, by_city: dict[str, list[tuple[datetime, int]]]) -> None:
    rng = run.year.rng
    count = max(6, run.size.volunteers // 70)
    days = run.year.sample_days(count)
    codes: set[str] = set()
    acts, enrolments, hours = [], [], []
    for i, day in enumerate(days, 1):
        start = datetime(day.year, day.month, day.day, 9, tzinfo=UTC) - SHIFT
        end = start + timedelta(hours=3)
        city = rng.choice(run.material.cities)
        capacity = rng.randint(15, 60)
        cancelled = rng.random() < 0.04
        while True:
            code = "".join(rng.choice(CODE_ALPHABET) for _ in range(6))
            if code not in codes:
                codes.add(code)
                break
        people = by_city.get(city, [])
        available = bisect_left(people, (start, 0))
        taken = (
            []
            if cancelled
            else rng.sample(
                people[:available], min(available, int(capacity * rng.uniform(0.5, 1.0)))
            )
        )
        title = rng.choice(run.material.activity_titles)
        acts.append(
            {
                "id": i,
                "title": title,
                "starts_at": start,
                "ends_at": end,
                "place": city + rng.choice(run.material.places),
                "city": city,
                "hours": Decimal(3),
                "capacity": capacity,
                "enrolled": len(taken),
                "code": code,
                "status": "cancelled" if cancelled else "active",
                "cancel_reason": None,
                "created_at": start - timedelta(days=10),
                "cancelled_at": start - timedelta(days=1) if cancelled else None,
            }
        )
        if cancelled:
            run.tally.activities_cancelled += 1
            continue
        run.tally.activities_held[month_of(start)] += 1
        run.tally.places += capacity
        for _at, volunteer in taken:
            came = rng.random() < 0.82
            enrolments.append(
                {
                    "activity_id": i,
                    "volunteer_id": volunteer,
                    "enrolled_at": start - timedelta(days=rng.randint(1, 9)),
                    "checked_in_at": start + timedelta(minutes=rng.randint(-20, 20))
                    if came
                    else None,
                    "checked_out_at": end if came else None,
                    "told_at": None,
                }
            )
            run.tally.enrolled += 1
            if came:
                run.tally.checked_in += 1
                run.tally.hours_activities += Decimal(3)
                hours.append(
                    {
                        "volunteer_id": volunteer,
                        "hours": Decimal(3),
                        "reason": title,
                        "actor": "checkin",
                        "at": start,
                        "activity_id": i,
                    }
                )
    volunteer_ids = [v for rows in by_city.values() for _at, v in rows]
    for _ in range(max(1, run.size.volunteers // 100)):
        amount = Decimal(rng.randint(1, 8)) / 2
        run.tally.hours_adjusted += amount
        hours.append(
            {
                "volunteer_id": rng.choice(volunteer_ids),
                "hours": amount,
                "reason": rng.choice(run.material.activity_titles),
                "actor": "operator",
                "at": run.year.moment(rng.choice(run.year.days)),
                "activity_id": None,
            }
        )
    await _insert(run.sessions, Activity, acts, run.progress, "activities")
    await _insert(run.sessions, Enrolment, enrolments, run.progress, "enrolments")
    await _insert(run.sessions, HoursEntry, hours, run.progress, "hours")


async def _logo(run: _Run, users: Sequence[tuple[str, str]]) -> None:
    """Entries sent in March, votes from 1 to 20 April, one burst of votes voided."""
    rng = run.year.rng
    y = run.year.days[0].year
    count = max(8, min(80, run.size.followers // 1000))
    entries, approved = [], []
    for i in range(1, count + 1):
        channel, user = users[rng.randrange(len(users))]
        roll = rng.random()
        status = (
            "approved"
            if roll < 0.75
            else "rejected"
            if roll < 0.9
            else "pending"
            if roll < 0.96
            else "withdrawn"
        )
        at = run.year.moment(date(y, 3, rng.randint(1, 31)))
        image = f"{rng.getrandbits(256):064x}"
        gone = status == "withdrawn"
        entries.append(
            {
                "id": i,
                "channel": channel,
                "account": ACCOUNTS[channel],
                "user_id": user,
                "title": f"{rng.choice(run.material.logo_titles)}{i}",
                "statement": run.material.logo_statement,
                "image_hash": image,
                "image_path": None if gone else f"{image}.png",
                "author_name_enc": None if gone else run.material.encrypt(_name(rng, run.material)),
                "author_phone_enc": None
                if gone
                else run.material.encrypt(f"137{rng.randrange(10**8):08d}"),
                "phone_index": None,
                "status": status,
                "reason": None,
                "created_at": at,
                "reviewed_at": at + timedelta(days=2) if status != "pending" else None,
                "withdrawn_at": at + timedelta(days=5) if gone else None,
            }
        )
        run.tally.entries[status] += 1
        if status == "approved":
            approved.append(i)
    votes = []
    slots: Counter[tuple[str, str, date]] = Counter()
    taken: set[tuple[int, str, str, date]] = set()
    voting = [date(y, 4, d) for d in range(1, 21)]
    weights = list(accumulate(1 + d / 4 for d in range(len(voting))))
    entry_cum = list(accumulate(1 / (k + 1) ** 0.8 for k in range(len(approved))))
    burst_day = date(y, 4, 12)
    for _ in range(run.size.followers // 2):
        channel, user = users[rng.randrange(len(users))]
        day = rng.choices(voting, cum_weights=weights)[0]
        entry = rng.choices(approved, cum_weights=entry_cum)[0]
        if slots[(channel, user, day)] >= 3 or (entry, channel, user, day) in taken:
            continue
        slots[(channel, user, day)] += 1
        taken.add((entry, channel, user, day))
        voided = day == burst_day and entry == approved[0] and rng.random() < 0.5
        at = (
            datetime(day.year, day.month, day.day, tzinfo=UTC)
            - SHIFT
            + timedelta(seconds=rng.randrange(86400))
        )
        votes.append(
            {
                "entry_id": entry,
                "channel": channel,
                "user_id": user,
                "vote_date": day,
                "slot": slots[(channel, user, day)],
                "entry_slot": 1,
                "voided": voided,
                "void_reason": "burst" if voided else None,
                "created_at": at,
            }
        )
        if voided:
            run.tally.votes_voided += 1
        else:
            run.tally.votes[channel] += 1
    # The burst for the leading entry on the burst day, as the bot would have flagged it.
    burst_start = datetime(y, 4, 12, 2, tzinfo=UTC)
    flags = [
        {
            "scene": "poster-3",
            "window_start": burst_start + timedelta(minutes=10 * k),
            "vote_count": 40 + k,
            "created_at": burst_start + timedelta(minutes=10 * k),
            "updated_at": burst_start + timedelta(minutes=10 * k + 5),
        }
        for k in range(2)
    ]
    run.tally.vote_flags = len(flags)
    await _insert(run.sessions, LogoEntry, entries, run.progress, "logo entries")
    await _insert(run.sessions, LogoVote, votes, run.progress, "votes")
    await _insert(run.sessions, LogoVoteFlag, flags, run.progress, "vote flags")


async def _stories(run: _Run, users: Sequence[tuple[str, str]]) -> None:
    rng = run.year.rng
    count = max(10, run.size.followers // 250)
    rows = []
    last = run.year.days[-1]
    for i, day in enumerate(sorted(run.year.sample_days(count)), 1):
        channel, user = users[rng.randrange(len(users))]
        at = run.year.moment(day)
        roll = rng.random()
        late = day > last - timedelta(days=10)
        status = "pending" if late or roll > 0.85 else "approved" if roll < 0.65 else "rejected"
        featured = status == "approved" and rng.random() < 0.1
        run.tally.stories[status] += 1
        if featured:
            run.tally.stories["featured"] += 1
        reviewed = at + timedelta(days=2) if status != "pending" else None
        rows.append(
            {
                "id": i,
                "channel": channel,
                "account": ACCOUNTS[channel],
                "user_id": user,
                "text": rng.choice(run.material.stories),
                "status": status,
                "consent": True,
                "consent_at": at,
                "contact_name_enc": None,
                "contact_phone_enc": None,
                "created_at": at,
                "reviewed_at": reviewed,
                "review_note": None,
                "featured": featured,
            }
        )
    await _insert(run.sessions, Story, rows, run.progress, "stories")


async def _pushes(run: _Run) -> None:
    """A post on each push day to both channels; WeChat reports reach for its mass sends."""
    rng = run.year.rng
    names = dict(run.material.key_dates)
    posts, items = [], []
    wechat_share = 0.75 * run.size.followers / 365
    days = push_days(run.year.days[0].year, [d for d, _n in run.material.key_dates])
    for i, day in enumerate(days, 1):
        at = datetime(day.year, day.month, day.day, 1, tzinfo=UTC)  # 09:00 Asia/Shanghai
        label = names.get(day, day.isoformat())
        posts.append(
            {
                "id": i,
                "label": label,
                "kind": "text",
                "body": json.dumps({"text": label}, ensure_ascii=False),
                "channels": "wechat,weibo",
                "tag_id": None,
                "link": "https://example.org/campaign",
                "at": at,
                "key_date": None,
                "time_of_day": None,
                "preview_to": "",
                "preview_minutes": 0,
                "status": "active",
                "created_at": at - timedelta(days=7),
            }
        )
        for channel in ("wechat", "weibo"):
            failed = rng.random() < 0.05
            report = None
            if channel == "wechat" and not failed:
                total = int(wechat_share * (day - run.year.days[0]).days * 0.9) + 100
                errors = rng.randint(0, max(1, total // 500))
                report = {
                    "MsgID": str(1000 + i),
                    "Status": "send success",
                    "TotalCount": str(total),
                    "FilterCount": str(total),
                    "SentCount": str(total - errors),
                    "ErrorCount": str(errors),
                }
                run.tally.reach_total += total
                run.tally.reach_sent += total - errors
                run.tally.reach_errors += errors
            if failed:
                run.tally.pushes_failed += 1
            else:
                run.tally.pushes_sent += 1
            items.append(
                {
                    "post_id": i,
                    "channel": channel,
                    "purpose": "push",
                    "occurrence": at,
                    "status": "failed" if failed else "sent",
                    "attempts": 3 if failed else 1,
                    "next_attempt_at": at,
                    "client_msg_id": f"demo-{i}-{channel}",
                    "platform_id": str(1000 + i) if not failed else None,
                    "error": "errcode=-1" if failed else None,
                    "report": json.dumps(report) if report else None,
                    "created_at": at - timedelta(days=7),
                    "updated_at": at,
                }
            )
    await _insert(run.sessions, CampaignPost, posts, run.progress, "posts")
    await _insert(run.sessions, OutboxItem, items, run.progress, "pushes")
