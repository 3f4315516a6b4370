"""``volunteers list|export|stars`` and ``hours adjust|export``: the volunteer programme for
operators."""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from bot.cli.charts import bar_chart
from bot.cli.common import (
    CommandError,
    Progress,
    Subcommands,
    channel_name,
    columns,
    command_group,
    operator,
    parse_decimal,
    print_table,
    run,
    shown,
)
from bot.cli.sheets import Sheet, output_path, write_sheets
from bot.kernel.clock import SHANGHAI, as_utc, local
from bot.kernel.content import Texts
from bot.kernel.context import BotContext
from bot.kernel.privacy import mask_name, mask_phone
from handlers import volunteers_ops as ops
from handlers.activities import hours_text
from handlers.sheets import display_name, export_headers, export_row, ledger_sheets
from handlers.stars import month_bounds, month_of
from handlers.volunteers import VOLUNTEERS, configured_cities
from storage.activities import LedgerRow, monthly_hours

TIME_FORMAT = "%Y-%m-%d %H:%M"


def register(sub: Subcommands) -> None:
    """Add the volunteers and hours commands."""
    action = command_group(sub, "volunteers", "registered volunteers")
    ls = action("list", "volunteers with masked names and phones", cmd_list)
    ls.add_argument("--city", default=None, help="only this city")
    ex = action("export", "one row per volunteer, csv or xlsx", cmd_export)
    ex.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    ex.add_argument("--output", required=True, metavar="FILE")
    ex.add_argument("--city", default=None, help="only this city")
    ex.add_argument(
        "--include-phones",
        action="store_true",
        help="full phone numbers instead of masked ones (recorded in the audit log)",
    )
    stars = action("stars", "star volunteers: a month's top volunteers per city", cmd_stars)
    stars.add_argument("--month", default=None, metavar="YYYY-MM", help="default: this month")
    stars.add_argument("--city", default=None, help="only this city")
    stars.add_argument("--chart", default=None, metavar="FILE.png", help="also a bar chart")

    h_action = command_group(sub, "hours", "volunteer service hours")
    adj = h_action("adjust", "add (or with a minus sign remove) hours, with a reason", cmd_adjust)
    adj.add_argument("volunteer", type=int, help="volunteer id (see volunteers list)")
    adj.add_argument("hours", help="hours to add, e.g. 2.5 or -1")
    adj.add_argument("--reason", required=True, help="why (kept in the hours ledger)")
    hx = h_action("export", "every hours-ledger row and totals, csv or xlsx", cmd_hours_export)
    hx.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    hx.add_argument("--output", required=True, metavar="FILE")
    hx.add_argument("--city", default=None, help="only volunteers of this city")
    hx.add_argument("--from", dest="date_from", default=None, metavar="YYYY-MM-DD")
    hx.add_argument("--to", dest="date_to", default=None, metavar="YYYY-MM-DD (inclusive)")
    hx.add_argument("--chart", default=None, metavar="FILE.png", help="hours per month")


def cmd_list(args: argparse.Namespace) -> int:
    """Print the volunteers; personal fields masked."""

    async def work(bot: BotContext) -> None:
        rows = []
        for found in await ops.registered(bot, args.city):
            v, hours = found.volunteer, found.hours
            rows.append(
                [
                    v.id,
                    channel_name(bot, v.channel),
                    shown(bot, v.name_enc, mask_name),
                    shown(bot, v.phone_enc, mask_phone),
                    v.city,
                    bot.texts("reports.volunteers.yes") if v.minor else "",
                    f"{hours.normalize():f}",
                ]
            )
        print_table(list_headers(bot.texts), rows)

    run(args, work)
    return 0


def cmd_adjust(args: argparse.Namespace) -> int:
    """Record an operator's change of a volunteer's hours."""
    hours = parse_decimal(args.hours, "hours", low=-ops.MAX_ADJUST, high=ops.MAX_ADJUST)

    async def work(bot: BotContext) -> Decimal:
        return await ops.adjust_hours(bot, operator(args), args.volunteer, hours, args.reason)

    total = run(args, work)
    print(f"volunteer {args.volunteer}: {hours:+} h recorded; total now {total.normalize():f} h")
    return 0


def list_headers(t: Texts) -> list[str]:
    """Columns of ``volunteers list``."""
    return [
        "id",
        *columns(t, "reports.volunteers", "channel name phone city minor hours"),
    ]


async def _export_rows(args: argparse.Namespace, bot: BotContext) -> list[list[Any]]:
    full_phones = args.include_phones
    progress = Progress("volunteers", 0)
    found = await ops.export(
        bot, operator(args), city=args.city, full_phones=full_phones, progress=progress
    )
    progress.finish()
    return [export_row(bot, f.volunteer, f.hours, full_phones) for f in found]


def cmd_export(args: argparse.Namespace) -> int:
    """Write the volunteers to a CSV or XLSX file."""
    path = output_path(args.output)

    async def work(bot: BotContext) -> tuple[Sheet, list[list[Any]]]:
        rows = await _export_rows(args, bot)
        t = bot.texts
        return Sheet(t("reports.volunteers.sheet"), export_headers(t), rows), rows

    sheet, rows = run(args, work)
    write_sheets(path, args.format, [sheet])
    print(f"{len(rows)} volunteers written to {path}")
    return 0


def _city(bot: BotContext, city: str | None) -> str | None:
    return ops.known_city(bot, city)


def _day(text: str | None, option: str) -> datetime | None:
    """The start of day ``text`` (YYYY-MM-DD) in Asia/Shanghai."""
    if text is None:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise CommandError(f"{option}: expected YYYY-MM-DD, got {text!r}") from None
    return day.replace(tzinfo=SHANGHAI)


def _months(entries: list[LedgerRow]) -> tuple[list[str], list[float]]:
    """Hours per Asia/Shanghai month, every month from the first to the last present."""
    per: dict[str, Decimal] = defaultdict(Decimal)
    for r in entries:
        per[local(as_utc(r.entry.at)).strftime("%Y-%m")] += Decimal(r.entry.hours)
    if not per:
        return [], []
    year, month = (int(x) for x in min(per).split("-"))
    labels: list[str] = []
    while (label := f"{year:04d}-{month:02d}") <= max(per):
        labels.append(label)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return labels, [float(per.get(label, 0)) for label in labels]


def cmd_hours_export(args: argparse.Namespace) -> int:
    """Write every ledger row of the selection, totals per volunteer and optionally a chart."""
    path = output_path(args.output)
    chart = output_path(args.chart, "--chart") if args.chart else None
    since, until = _day(args.date_from, "--from"), _day(args.date_to, "--to")
    if until is not None:
        until += timedelta(days=1)  # --to is inclusive

    async def work(bot: BotContext) -> tuple[list[Sheet], list[LedgerRow], str, str]:
        city = args.city or None
        entries = await ops.export_hours(bot, operator(args), city=city, since=since, until=until)
        title = bot.texts(
            "volunteer.hours_chart_title", where=city or bot.texts("stars.everywhere")
        )
        axis = bot.texts("reports.volunteers.chart_axis")
        progress = Progress("hours", len(entries))
        sheets = ledger_sheets(bot, entries, progress)
        progress.finish()
        return sheets, entries, title, axis

    sheets, entries, title, axis = run(args, work)
    write_sheets(path, args.format, sheets)
    print(f"{len(entries)} ledger rows of {len(sheets[1].rows)} volunteers written to {path}")
    if chart is not None:
        labels, values = _months(entries)
        if not labels:
            raise CommandError("--chart: no hours in the selection to draw")
        bar_chart(chart, labels, values, title=title, value_label=axis, horizontal=False)
        print(f"chart written to {chart}")
    return 0


def _month(text: str | None, now: datetime) -> tuple[int, int]:
    if text is None:
        return month_of(now)
    if not re.fullmatch(r"\d{4}-\d{2}", text) or not 1 <= int(text[5:]) <= 12:
        raise CommandError(f"--month: expected YYYY-MM, got {text!r}")
    return int(text[:4]), int(text[5:])


def stars_headers(t: Texts) -> list[str]:
    """Columns of ``volunteers stars``."""
    return columns(t, "reports.volunteers", "rank id name hours")


def cmd_stars(args: argparse.Namespace) -> int:
    """Print the month's top volunteers of each city (names masked), optionally a chart."""
    chart = output_path(args.chart, "--chart") if args.chart else None

    async def work(
        bot: BotContext,
    ) -> tuple[int, int, dict[str, list[list[Any]]], dict[str, Decimal], str, Texts]:
        year, month = _month(args.month, bot.clock.now())
        city = _city(bot, args.city)
        since, until = month_bounds(year, month)
        async with bot.sessions() as session:
            stars = await monthly_hours(session, since, until, city)
        order = {c: i for i, c in enumerate(configured_cities(bot))}
        top = VOLUNTEERS.of(bot.config).stars_top
        tables: dict[str, list[list[Any]]] = {}
        sums: dict[str, Decimal] = defaultdict(Decimal)
        for star in sorted(stars, key=lambda s: order.get(s.city, len(order))):
            sums[star.city] += star.hours
            table = tables.setdefault(star.city, [])
            if len(table) < top:
                name = display_name(bot, star.name_enc)
                table.append([len(table) + 1, star.volunteer_id, name, hours_text(star.hours)])
        where = city or bot.texts("stars.everywhere")
        title = bot.texts("stars.chart_title", year=year, month=month, where=where)
        return year, month, tables, sums, title, bot.texts

    year, month, tables, sums, title, t = run(args, work)
    if not tables:
        print(f"no hours credited in {year:04d}-{month:02d}")
        return 0
    for city, rows in tables.items():
        print(f"{city} {year:04d}-{month:02d}")
        print_table(stars_headers(t), rows)
        print()
    if chart is not None:
        if args.city:
            rows = tables[args.city]
            labels, values = [r[2] for r in rows], [float(r[3]) for r in rows]
        else:
            labels, values = list(sums), [float(v) for v in sums.values()]
        axis = t("reports.volunteers.chart_axis")
        bar_chart(chart, labels, values, title=title, value_label=axis, horizontal=bool(args.city))
        print(f"chart written to {chart}")
    return 0
