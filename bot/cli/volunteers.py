"""``volunteers list|export`` and ``hours adjust``: the volunteer programme for operators."""

from __future__ import annotations

import argparse
import asyncio
import csv
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.cli.common import (
    CommandError,
    Progress,
    add_config_arg,
    load,
    print_table,
    ready_context,
)
from bot.clock import as_utc
from bot.context import BotContext
from bot.privacy import mask_name, mask_phone
from storage.models import AuditEvent
from storage.volunteers import Volunteer, add_hours, total_hours

MAX_REASON = 200


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the volunteers and hours commands."""
    p = sub.add_parser("volunteers", help="registered volunteers")
    vsub = p.add_subparsers(dest="vol_command", metavar="ACTION", required=True)
    ls = vsub.add_parser("list", help="volunteers with masked names and phones")
    add_config_arg(ls)
    ls.add_argument("--city", default=None, help="only this city")
    ls.set_defaults(func=cmd_list)
    ex = vsub.add_parser("export", help="one row per volunteer, csv or xlsx")
    add_config_arg(ex)
    ex.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    ex.add_argument("--output", required=True, metavar="FILE")
    ex.add_argument("--city", default=None, help="only this city")
    ex.add_argument(
        "--include-phones",
        action="store_true",
        help="full phone numbers instead of masked ones (recorded in the audit log)",
    )
    ex.set_defaults(func=cmd_export)

    h = sub.add_parser("hours", help="volunteer service hours")
    hsub = h.add_subparsers(dest="hours_command", metavar="ACTION", required=True)
    adj = hsub.add_parser("adjust", help="add (or with a minus sign remove) hours, with a reason")
    add_config_arg(adj)
    adj.add_argument("volunteer", type=int, help="volunteer id (see volunteers list)")
    adj.add_argument("hours", help="hours to add, e.g. 2.5 or -1")
    adj.add_argument("--reason", required=True, help="why (kept in the hours ledger)")
    adj.set_defaults(func=cmd_adjust)


def cmd_list(args: argparse.Namespace) -> int:
    """Print the volunteers; personal fields masked."""

    async def go() -> None:
        async with ready_context(load(args)) as bot, bot.sessions() as session:
            query = select(Volunteer).where(Volunteer.name_enc != "").order_by(Volunteer.id)
            if args.city:
                query = query.where(Volunteer.city == args.city)
            rows = []
            for v in (await session.execute(query)).scalars():
                hours = await total_hours(session, v.id)
                rows.append(
                    [
                        v.id,
                        mask_name(bot.cipher.decrypt(v.name_enc)),
                        mask_phone(bot.cipher.decrypt(v.phone_enc)),
                        v.city,
                        "是" if v.minor else "",
                        f"{hours.normalize():f}",
                    ]
                )
            print_table(["id", "姓名", "手机", "城市", "未成年", "时长"], rows)

    asyncio.run(go())
    return 0


def _parse_hours(text: str) -> Decimal:
    try:
        hours = Decimal(text)
    except InvalidOperation:
        raise CommandError(f"hours must be a number, got {text!r}") from None
    if not hours.is_finite() or hours == 0 or abs(hours) > 1000:
        raise CommandError("hours must be non-zero and at most 1000 either way")
    if hours != hours.quantize(Decimal("0.01")):
        raise CommandError("hours take at most two decimals")
    return hours


def cmd_adjust(args: argparse.Namespace) -> int:
    """Record an operator's change of a volunteer's hours."""
    hours = _parse_hours(args.hours)
    reason = args.reason.strip()
    if not reason or len(reason) > MAX_REASON:
        raise CommandError(f"--reason must be 1-{MAX_REASON} characters")

    async def go() -> Decimal:
        async with ready_context(load(args)) as bot, bot.sessions() as session, session.begin():
            volunteer = await session.get(Volunteer, args.volunteer, with_for_update=True)
            if volunteer is None:
                raise CommandError(f"no volunteer {args.volunteer}")
            total = await total_hours(session, volunteer.id) + hours
            if total < 0:
                raise CommandError(f"that would make the total negative ({total})")
            await add_hours(session, volunteer.id, hours, reason, "operator", bot.clock.now())
            return total

    total = asyncio.run(go())
    print(f"volunteer {args.volunteer}: {hours:+} h recorded; total now {total.normalize():f} h")
    return 0


EXPORT_HEADERS = [
    "编号",
    "姓名",
    "手机",
    "城市",
    "区县",
    "出生年份",
    "未成年",
    "特长兴趣",
    "服务时间",
    "服务时长",
    "报名时间",
]


async def _export_rows(bot: BotContext, city: str | None, full_phones: bool) -> list[list[Any]]:
    async with bot.sessions() as session:
        query = select(Volunteer).where(Volunteer.name_enc != "").order_by(Volunteer.id)
        if city:
            query = query.where(Volunteer.city == city)
        volunteers = list((await session.execute(query)).scalars())
        progress = Progress("volunteers", len(volunteers))
        rows: list[list[Any]] = []
        for v in volunteers:
            phone = bot.cipher.decrypt(v.phone_enc)
            hours = await total_hours(session, v.id)
            rows.append(
                [
                    v.id,
                    bot.cipher.decrypt(v.name_enc),
                    phone if full_phones else mask_phone(phone),
                    v.city,
                    v.district,
                    v.birth_year,
                    "是" if v.minor else "否",
                    v.skills.replace(",", "、"),
                    v.availability.replace(",", "、"),
                    float(hours),
                    as_utc(v.created_at).strftime("%Y-%m-%d %H:%M"),
                ]
            )
            progress.advance()
        progress.finish()
    if full_phones:
        async with bot.sessions() as session, session.begin():
            detail = f"rows={len(rows)} city={city or '*'}"
            session.add(
                AuditEvent(
                    at=bot.clock.now(),
                    actor="operator",
                    action="volunteers.export_phones",
                    detail=detail,
                )
            )
    return rows


def _write(path: Path, fmt: str, rows: list[list[Any]]) -> None:
    if fmt == "csv":
        # utf-8-sig: Excel opens a BOM-marked CSV with the Chinese intact.
        with path.open("w", newline="", encoding="utf-8-sig") as fh:
            writer = csv.writer(fh)
            writer.writerow(EXPORT_HEADERS)
            writer.writerows(rows)
        return
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook always has one sheet
    sheet.title = "志愿者"
    sheet.append(EXPORT_HEADERS)
    for row in rows:
        sheet.append(row)
    book.save(path)


def cmd_export(args: argparse.Namespace) -> int:
    """Write the volunteers to a CSV or XLSX file."""
    path = Path(args.output)
    if not path.parent.is_dir():
        raise CommandError(f"no such directory: {path.parent}")

    async def go() -> list[list[Any]]:
        async with ready_context(load(args)) as bot:
            return await _export_rows(bot, args.city, args.include_phones)

    rows = asyncio.run(go())
    _write(path, args.format, rows)
    print(f"{len(rows)} volunteers written to {path}")
    return 0
