"""Volunteer activities by message: 活动, 参加 N, 我的活动, 取消报名 N, 签到 / 签退 CODE.

Every write here is guarded in SQL (see ``storage.activities``): places by a conditional
UPDATE of the counter, enrolment by UNIQUE(activity, volunteer), check-in by a conditional
UPDATE, hours by the ledger's UNIQUE(volunteer, activity). A retried message is answered from
the dispatcher's cache; two different messages racing each other still do one thing.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial, wraps

from bot.kernel.clock import as_utc, local
from bot.kernel.content import Texts
from bot.kernel.context import BotContext
from bot.kernel.message import Reply
from handlers.context import Ctx
from handlers.feature import ConsolePage, Feature, content_file
from handlers.notify import tell_then
from handlers.operations import Counter
from handlers.router import Click, Command, Handler, Router, Text
from handlers.volunteers import VOLUNTEERS, current_volunteer
from storage import activities as store
from storage.activities import ACTIVE, Activity, Enrolment
from storage.db import transaction
from storage.volunteers import Volunteer, total_hours

router = Router("activities")
NUMBER_RE = re.compile(r"[0-9]+")
# Activity numbers are database ids; longer input cannot be one (and would overflow BIGINT).
MAX_NUMBER_DIGITS = 9


def hours_text(hours: Decimal) -> str:
    """3.00 → '3', 2.50 → '2.5'."""
    return f"{hours.normalize():f}"


def moment(texts: Texts, when: datetime) -> str:
    """'12月5日（周六）09:00' in Asia/Shanghai."""
    at = local(as_utc(when))
    weekday = texts.get("activity.weekdays")[at.weekday()]
    return texts(
        "activity.moment", month=at.month, day=at.day, weekday=weekday, time=at.strftime("%H:%M")
    )


def span(texts: Texts, activity: Activity) -> str:
    """The activity's time: '12月5日（周六）09:00-12:00', or both ends when days differ."""
    start, end = local(as_utc(activity.starts_at)), local(as_utc(activity.ends_at))
    if start.date() == end.date():
        return f"{moment(texts, activity.starts_at)}-{end.strftime('%H:%M')}"
    return texts("activity.span", start=moment(texts, start), end=moment(texts, end))


def city_label(ctx: Ctx, activity: Activity) -> str:
    """The activity's city, or the all-cities label."""
    return activity.city or ctx.t("activity.all_cities")


async def _volunteer(ctx: Ctx) -> Volunteer | Reply:
    me = await current_volunteer(ctx)
    return ctx.reply("volunteer.not_registered") if me is None else me


async def _volunteer_and_activity(ctx: Ctx, usage: str) -> tuple[Volunteer, Activity] | Reply:
    """The sender and the activity numbered in the argument, or the reply explaining why not."""
    me = await _volunteer(ctx)
    if isinstance(me, Reply):
        return me
    text = ctx.arg.strip()
    if not NUMBER_RE.fullmatch(text):
        return ctx.reply(usage)
    if len(text) > MAX_NUMBER_DIGITS:
        return ctx.reply("activity.no_such", number=text)
    activity = await store.get_activity(ctx.session, int(text))
    if activity is None:
        return ctx.reply("activity.no_such", number=text)
    return me, activity


NumberedAction = Callable[[Ctx, Volunteer, Activity], Awaitable[Reply]]


def _numbered_activity(usage: str) -> Callable[[NumberedAction], Handler]:
    """Make ``action`` the handler of a "<command> N": it runs with the sender's volunteer
    record and activity N; a guest, or a missing, bad or unknown N (``usage``), gets the reply
    saying why not instead."""

    def wrap(action: NumberedAction) -> Handler:
        @wraps(action)
        async def handler(ctx: Ctx) -> Reply | None:
            found = await _volunteer_and_activity(ctx, usage)
            return found if isinstance(found, Reply) else await action(ctx, *found)

        return handler

    return wrap


def describe(texts: Texts, key: str, activity: Activity, **params: object) -> str:
    """The text at ``key`` about ``activity``: its number, title, time and place are filled in."""
    return texts(
        key,
        number=activity.id,
        title=activity.title,
        time=span(texts, activity),
        place=activity.place,
        **params,
    )


def _about(ctx: Ctx, key: str, activity: Activity, **params: object) -> Reply:
    return Reply.of_text(describe(ctx.bot.texts, key, activity, **params))


@router.on(Text("活动", "近期活动", "活动列表", "志愿活动") | Click("ACTIVITIES"), pure=True)
async def list_upcoming(ctx: Ctx) -> Reply | None:
    """Upcoming activities of the volunteer's city and all cities (everyone's for guests)."""
    me = await current_volunteer(ctx)
    city = me.city if me is not None else None
    now = ctx.bot.clock.now()
    found = await store.upcoming(
        ctx.session, now, city, VOLUNTEERS.of(ctx.bot.config).activities_listed
    )
    if not found:
        where = city or ctx.t("activity.all_cities")
        text = ctx.t("activity.none_upcoming", where=where)
        return Reply.of_text(text if me else f"{text}\n{ctx.t('activity.list_footer_guest')}")
    header = ctx.t("activity.list_header", city=city) if city else ctx.t("activity.list_header_all")
    blocks = [header]
    for a in found:
        blocks.append(
            describe(
                ctx.bot.texts,
                "activity.list_item",
                a,
                city=city_label(ctx, a),
                hours=hours_text(a.hours),
                left=a.capacity - a.enrolled,
                capacity=a.capacity,
            )
        )
    footer = "activity.list_footer" if me else "activity.list_footer_guest"
    blocks.append(ctx.t(footer, example=found[0].id))
    return Reply.of_text("\n\n".join(blocks))


@router.on(Command("参加活动", "参加", arg=r".*"))
@_numbered_activity("activity.join_usage")
async def join(ctx: Ctx, me: Volunteer, activity: Activity) -> Reply:
    """参加 N: take a place, if there is one."""
    outcome = await store.enrol(ctx.session, activity, me.id, ctx.bot.clock.now())
    if outcome.status != "ok":
        return _about(ctx, f"activity.join_{outcome.status}", activity)
    open_minutes = VOLUNTEERS.of(ctx.bot.config).checkin_open_minutes
    return _about(
        ctx, "activity.joined", activity, open_minutes=open_minutes, left=outcome.places_left
    )


@router.on(Command("取消报名", "退出活动", arg=r".*"))
@_numbered_activity("activity.withdraw_usage")
async def withdraw(ctx: Ctx, me: Volunteer, activity: Activity) -> Reply:
    """取消报名 N: give the place back before the activity starts."""
    if await store.enrolment_of(ctx.session, activity.id, me.id) is None:
        return _about(ctx, "activity.not_enrolled", activity)
    if activity.status != ACTIVE:
        return _about(ctx, "activity.join_cancelled", activity)
    if as_utc(activity.starts_at) <= ctx.bot.clock.now():
        return _about(ctx, "activity.withdraw_started", activity)
    if not await store.withdraw(ctx.session, activity, me.id):
        return _about(ctx, "activity.not_enrolled", activity)  # withdrawn by a racing message
    return _about(ctx, "activity.withdrawn", activity)


def _state(ctx: Ctx, enrolment: Enrolment, activity: Activity, now: datetime) -> str:
    if activity.status != ACTIVE:
        key = "cancelled"
    elif enrolment.checked_out_at is not None:
        key = "checked_out"
    elif enrolment.checked_in_at is not None:
        key = "checked_in"
    elif as_utc(activity.ends_at) < now:
        key = "missed"
    else:
        key = "enrolled"
    return ctx.t(f"activity.state_{key}")


@router.on(Text("我的活动"), pure=True)
async def my_activities(ctx: Ctx) -> Reply | None:
    """The volunteer's enrolments, latest first, with their check-in state."""
    me = await _volunteer(ctx)
    if isinstance(me, Reply):
        return me
    mine = await store.enrolments_of(ctx.session, me.id, limit=10)
    if not mine:
        return ctx.reply("activity.mine_none")
    now = ctx.bot.clock.now()
    lines = [ctx.t("activity.mine_header")]
    for enrolment, a in mine:
        state = _state(ctx, enrolment, a, now)
        lines.append(describe(ctx.bot.texts, "activity.mine_item", a, state=state))
    lines.append(ctx.t("activity.mine_footer"))
    return Reply.of_text("\n".join(lines))


def _code(ctx: Ctx, usage: str) -> str | Reply:
    raw = ctx.arg.strip()
    if not raw:
        return ctx.reply(usage)
    code = store.fold_code(raw)
    return code if store.valid_code(code) else ctx.reply("activity.bad_code")


def _pick(
    pairs: list[tuple[Enrolment, Activity]], now: datetime, early: timedelta
) -> tuple[Enrolment, Activity]:
    """Of enrolments sharing a code: the one open now, else the next, else the latest."""
    for enrolment, a in pairs:
        if as_utc(a.starts_at) - early <= now <= as_utc(a.ends_at):
            return enrolment, a
    future = [p for p in pairs if as_utc(p[1].starts_at) - early > now]
    if future:
        return min(future, key=lambda p: as_utc(p[1].starts_at))
    return pairs[0]  # listed latest start first


async def _attendance(ctx: Ctx, usage: str) -> tuple[Volunteer, Enrolment, Activity, str] | Reply:
    """The sender, their enrolment in the activity the code names, and the code."""
    code = _code(ctx, usage)
    if isinstance(code, Reply):
        return code
    me = await _volunteer(ctx)
    if isinstance(me, Reply):
        return me
    pairs = await store.enrolments_of(ctx.session, me.id, code=code)
    if not pairs:
        other = await store.any_with_code(ctx.session, code)
        if other is None:
            return ctx.reply("activity.wrong_code")
        if other.status == ACTIVE and as_utc(other.starts_at) > ctx.bot.clock.now():
            return _about(ctx, "activity.code_not_enrolled_join", other)
        return _about(ctx, "activity.code_not_enrolled", other)
    early = timedelta(minutes=VOLUNTEERS.of(ctx.bot.config).checkin_open_minutes)
    enrolment, activity = _pick(pairs, ctx.bot.clock.now(), early)
    if activity.status != ACTIVE:
        return _about(ctx, "activity.join_cancelled", activity)
    return me, enrolment, activity, code


async def _record(
    ctx: Ctx, me: Volunteer, enrolment: Enrolment, activity: Activity, event: str, code: str
) -> Reply:
    """Stamp 签到 (``event`` 'in') or 签退 ('out') once; credit the hours if it is the
    configured crediting event."""
    column, now = f"checked_{event}_at", ctx.bot.clock.now()
    if not await store.stamp(ctx.session, enrolment, column, now):
        await ctx.session.refresh(enrolment)  # stamped by a racing message: show its time
        at = moment(ctx.bot.texts, getattr(enrolment, column) or now)
        return _about(ctx, f"activity.already_{event}", activity, at=at)
    hours = hours_text(activity.hours)
    if VOLUNTEERS.of(ctx.bot.config).credit_on != f"check{event}":
        return _about(ctx, f"activity.checked_{event}", activity, hours=hours, code=code)
    reason = ctx.t("activity.ledger_reason", title=activity.title)[:200]
    await store.credit(ctx.session, me.id, activity, reason, f"check{event}", now)
    total = hours_text(await total_hours(ctx.session, me.id))
    return _about(ctx, f"activity.checked_{event}_credit", activity, hours=hours, total=total)


def _checkin_refusal(ctx: Ctx, enrolment: Enrolment, activity: Activity) -> Reply | None:
    """Why 签到 is refused now: before the window opens or after the end."""
    now = ctx.bot.clock.now()
    opens = as_utc(activity.starts_at) - timedelta(
        minutes=VOLUNTEERS.of(ctx.bot.config).checkin_open_minutes
    )
    if now < opens:
        return _about(ctx, "activity.too_early", activity, opens=moment(ctx.bot.texts, opens))
    if now > as_utc(activity.ends_at):
        ended = moment(ctx.bot.texts, activity.ends_at)
        return _about(ctx, "activity.too_late", activity, ended=ended)
    return None


def _checkout_refusal(ctx: Ctx, enrolment: Enrolment, activity: Activity) -> Reply | None:
    """Why 签退 is refused now: not checked in, not started, or past the grace time."""
    now, grace = ctx.bot.clock.now(), VOLUNTEERS.of(ctx.bot.config).checkout_grace_minutes
    if enrolment.checked_in_at is None:
        return _about(ctx, "activity.checkout_before_in", activity)
    if now < as_utc(activity.starts_at):
        return _about(ctx, "activity.checkout_early", activity)
    if now > as_utc(activity.ends_at) + timedelta(minutes=grace):
        return _about(ctx, "activity.checkout_late", activity, grace=grace)
    return None


Refusal = Callable[[Ctx, Enrolment, Activity], Reply | None]


async def _attend(ctx: Ctx, event: str, refusal: Refusal) -> Reply:
    found = await _attendance(ctx, f"activity.check{event}_usage")
    if isinstance(found, Reply):
        return found
    me, enrolment, activity, code = found
    return refusal(ctx, enrolment, activity) or await _record(
        ctx, me, enrolment, activity, event, code
    )


@router.on(Command("签到", arg=r".*"))
async def check_in(ctx: Ctx) -> Reply | None:
    """签到 CODE during the window (from before the start until the end)."""
    return await _attend(ctx, "in", _checkin_refusal)


@router.on(Command("签退", arg=r".*"))
async def check_out(ctx: Ctx) -> Reply | None:
    """签退 CODE after checking in, from the start until a grace time after the end."""
    return await _attend(ctx, "out", _checkout_refusal)


def cancellation_text(texts: Texts, activity: Activity) -> str:
    """What an enrolled volunteer is told when the activity is cancelled."""
    reason = activity.cancel_reason or ""
    return describe(texts, "activity.cancelled_notice", activity, reason=reason)


async def tell_enrolled(
    bot: BotContext, activity: Activity, progress: Counter | None = None
) -> dict[str, int]:
    """Tell every enrolled volunteer of a cancelled activity not told yet, recording
    ``told_at`` with each, so a re-run after an interruption tells only the rest. Returns how
    many were told by message (sent), at their next message (notice), or not at all (erased)."""
    async with bot.sessions() as session:
        pending = [
            (e.id, v) for e, v in await store.roster(session, activity.id) if e.told_at is None
        ]
    counts = {"sent": 0, "notice": 0, "erased": 0}
    text = cancellation_text(bot.texts, activity)
    if progress is not None:
        progress.total = len(pending)
    for enrolment_id, volunteer in pending:
        told = partial(store.mark_told, enrolment_id=enrolment_id, now=bot.clock.now())
        if volunteer.name_enc:
            how = await tell_then(bot, volunteer.user_key, text, told)
        else:  # 注销: nobody left to tell
            async with transaction(bot.sessions) as session:
                await told(session)
            how = "erased"
        counts[how] += 1
        if progress is not None:
            progress.advance()
    return counts


FEATURE = Feature(
    name="activities",
    routers=[router],
    cli=["bot.cli.activities:register"],
    console=[
        ConsolePage.section("activities"),
    ],
    content=[content_file("activity")],
    audit_actions=[
        "activities.add",
        "activities.edit",
        "activities.cancel",
        "activities.roster_export",
    ],
    report=["storage.reports.activities:section"],
)
