"""``volunteers list`` and ``hours adjust``: the volunteer programme for operators."""

from __future__ import annotations

import argparse
import asyncio
from decimal import Decimal, InvalidOperation

from sqlalchemy import select

from bot.cli.common import CommandError, add_config_arg, load, print_table, ready_context
from bot.privacy import mask_name, mask_phone
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
