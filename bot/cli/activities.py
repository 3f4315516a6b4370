"""``activities add|list|cancel|roster``: volunteer activities for operators."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from bot.cli.common import (
    CommandError,
    Progress,
    Subcommands,
    columns,
    command_group,
    operator,
    parse_decimal,
    print_table,
    run,
)
from bot.cli.sheets import Sheet, format_of, output_path, write_sheets
from bot.kernel.clock import SHANGHAI, as_utc, local
from bot.kernel.content import Texts
from bot.kernel.context import BotContext
from handlers import activities_ops as ops
from handlers.activities import hours_text
from handlers.sheets import roster_headers, roster_rows
from storage import activities as store
from storage.activities import Activity, Enrolment

TIME_FORMAT = "%Y-%m-%d %H:%M"


def list_headers(t: Texts) -> list[str]:
    """Columns of ``activities list``."""
    return columns(
        t, "reports.activities", "id title time place city hours places checked_in code state"
    )


def register(sub: Subcommands) -> None:
    """Add the activities command."""
    action = command_group(sub, "activities", "volunteer activities: add, list, cancel, roster")

    add = action("add", "a new activity volunteers can enrol in", cmd_add)
    add.add_argument("--title", required=True)
    add.add_argument("--start", required=True, metavar="'YYYY-MM-DD HH:MM'", help="Asia/Shanghai")
    add.add_argument("--end", required=True, metavar="'YYYY-MM-DD HH:MM'", help="Asia/Shanghai")
    add.add_argument("--place", required=True)
    add.add_argument("--city", default="", help="only volunteers of this city see it (default all)")
    add.add_argument("--hours", required=True, help="service hours credited, e.g. 3 or 2.5")
    add.add_argument("--capacity", required=True, help="number of places")
    add.add_argument("--code", default=None, help="check-in code, 4-8 letters/digits (generated)")

    ls = action("list", "activities with enrolled/capacity and checked-in counts", cmd_list)
    ls.add_argument("--all", action="store_true", help="also past and cancelled ones")

    cancel = action("cancel", "cancel activity N and tell its enrolled volunteers", cmd_cancel)
    cancel.add_argument("number", type=int)
    cancel.add_argument("--reason", required=True, help="told to the volunteers")

    roster = action("roster", "who enrolled in activity N, and who checked in", cmd_roster)
    roster.add_argument("number", type=int)
    roster.add_argument("--output", default=None, metavar="FILE.csv|FILE.xlsx")


def parse_time(text: str, option: str) -> datetime:
    """'YYYY-MM-DD HH:MM' in Asia/Shanghai, as aware UTC."""
    try:
        naive = datetime.strptime(text.strip(), TIME_FORMAT)
    except ValueError:
        raise CommandError(f"{option}: expected 'YYYY-MM-DD HH:MM', got {text!r}") from None
    return naive.replace(tzinfo=SHANGHAI).astimezone(UTC)


def _capacity(text: str) -> int:
    if not text.strip().isdecimal():
        raise CommandError(f"--capacity: must be a whole number from 1 to {ops.MAX_CAPACITY}")
    return int(text)


def _local_span(activity: Activity) -> str:
    start, end = local(as_utc(activity.starts_at)), local(as_utc(activity.ends_at))
    end_format = "%H:%M" if start.date() == end.date() else TIME_FORMAT
    return f"{start.strftime(TIME_FORMAT)}-{end.strftime(end_format)}"


def _state(t: Texts, activity: Activity, now: datetime) -> str:
    if activity.status != store.ACTIVE:
        return t("reports.activities.state_cancelled")
    if now < as_utc(activity.starts_at):
        return t("reports.activities.state_upcoming")
    if now <= as_utc(activity.ends_at):
        return t("reports.activities.state_running")
    return t("reports.activities.state_ended")


def cmd_add(args: argparse.Namespace) -> int:
    """Add an activity (checked by the operation)."""
    new = ops.NewActivity(
        title=args.title,
        place=args.place,
        starts_at=parse_time(args.start, "--start"),
        ends_at=parse_time(args.end, "--end"),
        hours=parse_decimal(args.hours, "--hours", low=ops.MIN_HOURS, high=ops.MAX_HOURS),
        capacity=_capacity(args.capacity),
        city=args.city,
        code=args.code,
    )

    async def work(bot: BotContext) -> Activity:
        return await ops.add(bot, operator(args), new)

    activity = run(args, work)
    print(
        f"activity {activity.id} added: {activity.title}, {_local_span(activity)}, "
        f"{activity.capacity} places, {hours_text(activity.hours)} h; check-in code {activity.code}"
    )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """Print activities with their enrolled/capacity and checked-in counts."""

    async def work(bot: BotContext) -> tuple[list[tuple[Activity, int]], datetime, Texts]:
        async with bot.sessions() as session:
            now = bot.clock.now()
            return await store.with_checked_in(session, now, args.all), now, bot.texts

    found, now, t = run(args, work)
    rows = [
        [
            a.id,
            a.title,
            _local_span(a),
            a.place,
            a.city or t("reports.activities.any_city"),
            hours_text(a.hours),
            f"{a.enrolled}/{a.capacity}",
            checked,
            a.code,
            _state(t, a, now),
        ]
        for a, checked in found
    ]
    print_table(list_headers(t), rows)
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    """Cancel an activity (audited) and tell its volunteers."""

    async def work(bot: BotContext) -> ops.Cancelled:
        progress = Progress("telling volunteers", 0)
        done = await ops.cancel(bot, operator(args), args.number, args.reason, progress)
        progress.finish()
        return done

    done = run(args, work)
    activity, counts = done.activity, done.told
    state = "was already cancelled" if done.again else "cancelled"
    print(
        f"activity {activity.id} {state}; volunteers told: {counts['sent']} by message, "
        f"{counts['notice']} at their next message ({counts['erased']} erased, not told)"
    )
    return 0


def _checked_in(enrolment: Enrolment) -> bool:
    """Whether the volunteer checked in (a check-out counts too)."""
    return enrolment.checked_in_at is not None or enrolment.checked_out_at is not None


def cmd_roster(args: argparse.Namespace) -> int:
    """Print or write who enrolled in an activity, names and phones masked."""
    path = output_path(args.output) if args.output else None
    fmt = format_of(path) if path is not None else ""

    async def work(bot: BotContext) -> tuple[Activity, list[list[Any]], int, Texts]:
        if path is None:
            found = await ops.roster(bot, args.number)
        else:
            found = await ops.export_roster(bot, operator(args), args.number)
        activity, entries = found.activity, found.entries
        progress = Progress("roster", len(entries)) if path is not None else None
        rows = roster_rows(bot, entries, progress)
        checked = sum(1 for enrolment, _v in entries if _checked_in(enrolment))
        if progress is not None:
            progress.finish()
        return activity, rows, checked, bot.texts

    activity, rows, checked, t = run(args, work)
    if path is None:
        print(f"{activity.id} {activity.title}  {_local_span(activity)}  {activity.place}")
        print_table(roster_headers(t), rows)
    else:
        sheet = t("reports.activities.roster_sheet", number=activity.id)
        write_sheets(path, fmt, [Sheet(sheet, roster_headers(t), rows)])
    print(f"{len(rows)} enrolled, {checked} checked in" + (f"; written to {path}" if path else ""))
    return 0
